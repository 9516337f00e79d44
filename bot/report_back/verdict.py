"""What an ended run says about its deploy, in one plain line for any source: pure, so the same
run gives the same words on every attempt (an attempt in doubt is recognised by them)."""

from __future__ import annotations

import re
from uuid import UUID

from bot.records import Run, RunStatus

__all__ = ["plain", "run_mark", "verdict_words"]

# Slack's markup in a status reason ("cancelled by <@U0123>"): plain text for other sources.
_SLACK_MARKUP = re.compile(r"<([@#!]?)([^<>|\s]+)(?:\|([^<>]*))?>")


def run_mark(run_id: UUID | str) -> str:
    """`(run 1a2b3c4d)`: ends every report's description, so an attempt in doubt is found."""
    return f"(run {str(run_id)[:8]})"


def plain(text: str) -> str:
    def shown(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        return f"{'@' if sigil == '@' else ''}{label or target}"
    return " ".join(_SLACK_MARKUP.sub(shown, text).split())


def verdict_words(run: Run) -> str:
    """`staging passed: 12 of 12 checks`, `staging failed: 2 of 12 checks failed`, ..."""
    counts, env = run.counts, run.environment
    reason = f": {plain(run.status_reason)}" if run.status_reason else ""
    if run.status is RunStatus.PASSED:
        remarks = [f"{n} {word}" for n, word in ((counts.flaky, "flaky"), (counts.slow, "slow"),
                                                  (counts.skipped, "skipped")) if n]
        extra = f" ({', '.join(remarks)})" if remarks else ""
        return f"{env} passed: {counts.passed} of {counts.total} checks{extra}"
    if run.status is RunStatus.FAILED:
        return f"{env} failed: {counts.failed + counts.errors} of {counts.total} checks failed"
    if run.status is RunStatus.SUPERSEDED:
        return f"{env}: not tested, superseded by a newer deploy"
    if run.status is RunStatus.CANCELLED:
        return f"{env}: smoke test cancelled{reason}"
    if run.status is RunStatus.INTERRUPTED:
        return f"{env}: smoke test interrupted{reason}"
    if run.status is RunStatus.ERROR:
        return f"{env}: could not be tested{reason}"
    return f"{env}: {run.status.value}"  # an active run is never reported
