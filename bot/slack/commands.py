"""What `/smoketest ...` asks for, parsed from the command's text (no I/O here)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Command", "CommandKind", "parse_command"]


class CommandKind(str, enum.Enum):
    RUN = "run"
    HELP = "help"
    LIST = "list"
    HISTORY = "history"
    STATUS = "status"
    CANCEL = "cancel"


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    environment: str | None = None
    filters: tuple[str, ...] = ()


_SUBCOMMANDS = {"help", "list", "history", "status", "cancel"}


def parse_command(text: str) -> Command:
    """`staging`, `staging db,health`, `staging db health`, `help`, `list`,
    `history [ENV]`, `status`, `cancel [ENV]`. Empty text is `help`."""
    words = text.replace(",", " ").split()
    if not words or words[0].lower() in ("help", "-h", "--help"):
        return Command(CommandKind.HELP)
    first = words[0].lower()
    if first in _SUBCOMMANDS:
        kind = CommandKind(first)
        environment = words[1] if len(words) > 1 and kind in (
            CommandKind.HISTORY, CommandKind.CANCEL) else None
        return Command(kind, environment)
    return Command(CommandKind.RUN, words[0], tuple(words[1:]))
