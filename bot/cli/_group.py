"""The `smokebot` group and the commands it holds; its errors go through the bridge.

Each command is imported when it is called (or listed by --help), so `smokebot validate`
does not pay for the store, the queue and the web server that `serve` and `history` need."""

from __future__ import annotations

import gc
import importlib

import click

from bot.cli._bridge import BridgedGroup

__all__ = ["cli", "main"]

# command name -> "module:attribute"
_COMMANDS = {
    "run": "bot.cli._engine:run",
    "validate": "bot.cli._engine:validate",
    "list": "bot.cli._engine:list_checks",
    "schema": "bot.cli._engine:schema",
    "serve": "bot.cli._service:serve",
    "worker": "bot.cli._service:worker",
    "migrate": "bot.cli._service:migrate",
    "history": "bot.cli._history:history",
    "deliveries": "bot.cli._history:deliveries",
    "audit": "bot.cli._audit:audit",
    "slack-manifest": "bot.cli._slack:slack_manifest",
}


class _LazyGroup(BridgedGroup):
    """A bridged group that imports a command's module the first time it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, _, attribute = _COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smokebot")
def cli() -> None:
    """Smoke-test a deployed environment and report what works and what does not."""


def main() -> None:
    # What start-up made (modules, classes, the suite models' schemas) lives as long as the
    # process: out of the collector's sight, it is not walked at every collection (~15 ms of
    # a one-check run; `serve` keeps collecting what it makes afterwards).
    gc.freeze()
    cli(prog_name="smokebot")
