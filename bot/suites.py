"""The suite file as the long-running bot sees it: loaded once, reloaded when it changes on
disk; a broken edit keeps the last good version and says why."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from checks.config import Suite, load_suite
from checks.errors import ConfigError

__all__ = ["SuiteSource"]

log = logging.getLogger("smokebot.suites")


class SuiteSource:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._suite: Suite | None = None
        self._mtime: float | None = None
        self.last_error: ConfigError | None = None

    def current(self) -> Suite:
        """The suite; raises ConfigError only when no good version was ever loaded."""
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError:
            mtime = None
        if self._suite is None or mtime != self._mtime:
            try:
                self._suite = load_suite(self.path)
                self.last_error = None
            except ConfigError as exc:
                self.last_error = exc
                if self._suite is None:
                    raise
                log.error("keeping the last good suite: %s", exc.render())
            self._mtime = mtime
        return self._suite
