"""The `smokebot` group and the commands it holds; its errors go through the bridge."""

from __future__ import annotations

import click

from bot.cli._audit import audit
from bot.cli._bridge import BridgedGroup
from bot.cli._engine import list_checks, run, schema, validate
from bot.cli._history import deliveries, history
from bot.cli._service import migrate, serve, worker

__all__ = ["cli", "main"]


@click.group(cls=BridgedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smokebot")
def cli() -> None:
    """Smoke-test a deployed environment and report what works and what does not."""


for command in (run, validate, list_checks, schema, serve, worker, migrate, history, deliveries,
                audit):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="smokebot")
