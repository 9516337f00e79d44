"""smokebot's error tree.

    SmokebotError                 base; carries `exit_code` and renders itself for a user
    ├── ConfigError               the suite file is wrong (file:line:column, what was expected); exit 2
    ├── UsageError                a command was called wrongly (unknown environment, bad filter); exit 2
    └── CheckError                a check could not be carried out (refused connection, bad DSN, ...)
                                  `permanent=True` tells the runner that retrying cannot help

A failing target is not an exception: a check that ran and saw the wrong thing returns a failed
`Outcome`. CheckError is for "could not look", and the runner turns it into an ERROR result.
Third-party exceptions are translated into CheckError at each check kind's I/O edge.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckError", "ConfigError", "Location", "SmokebotError", "UsageError"]


class SmokebotError(Exception):
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def render(self) -> str:
        return self.message


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class ConfigError(SmokebotError):
    """The suite file is invalid. `location` points at the offending node."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None, field: str | None = None):
        super().__init__(message)
        self.location = location
        self.field = field

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"


class UsageError(SmokebotError):
    exit_code = 2


class CheckError(SmokebotError):
    """A check could not be carried out. Retried unless `permanent`."""

    def __init__(self, message: str, *, permanent: bool = False, details: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.details = details
