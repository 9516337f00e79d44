"""`slack-manifest`: the Slack app manifest to create (or update) smokebot's Slack app with.
Prints it; nothing is sent to Slack."""

from __future__ import annotations

import click

from bot.slack.manifest import build_manifest, render_manifest

__all__ = ["slack_manifest"]


@click.command(name="slack-manifest")
@click.option("--url", metavar="https://HOST",
              help="Where Slack reaches the bot's web process (`smokebot serve`); requests go "
                   "to its /slack/events.")
@click.option("--socket-mode", is_flag=True,
              help="For `smokebot serve --socket-mode`: no request URLs, Slack connects over "
                   "a websocket.")
@click.option("--name", default="smokebot", show_default=True,
              help="The app's and its bot user's name (e.g. smokebot-staging).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of YAML.")
def slack_manifest(url: str | None, socket_mode: bool, name: str, as_json: bool) -> None:
    """Print the Slack app manifest: /smoketest, interactivity, the app_mention event and the
    bot scopes smokebot calls for. Paste it at api.slack.com/apps -> Create New App -> From an
    app manifest."""
    manifest = build_manifest(url=url, socket_mode=socket_mode, name=name)
    click.echo(render_manifest(manifest, "json" if as_json else "yaml"), nl=False)
