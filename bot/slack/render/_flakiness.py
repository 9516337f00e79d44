"""How often a check was flaky lately, in words: `flaky 3 of the last 10 runs`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

__all__ = ["FlakyHistoryRecord", "flaky_history_words", "history_of"]


class FlakyHistoryRecord(Protocol):
    """A read-only view of the store's `bot.records.FlakyHistory`."""

    @property
    def check_id(self) -> str: ...
    @property
    def flaky(self) -> int: ...  # runs in which the check was flaky
    @property
    def runs(self) -> int: ...  # the latest runs of the environment that ran it, looked at


def flaky_history_words(history: FlakyHistoryRecord) -> str:
    """`flaky 3 of the last 10 runs`; a check with one run on record says so."""
    if history.runs <= 1:
        return "flaky in its only run on record" if history.flaky else "no earlier runs on record"
    return f"flaky {history.flaky} of the last {history.runs} runs"


def history_of(histories: Iterable[FlakyHistoryRecord],
               check_id: str) -> FlakyHistoryRecord | None:
    return next((h for h in histories if h.check_id == check_id), None)
