"""How each run state and check status is shown in Slack: its emoji and its words."""

from __future__ import annotations

from checks.results import Status

__all__ = ["CHECK_EMOJI", "CHECK_WORDS", "FINISHED_STATES", "RUN_EMOJI", "RUN_STATES",
           "STOPPED_TABLE_STATES", "TABLE_STATES", "run_state_word"]

RUN_STATES = ("queued", "running", "passed", "failed", "cancelled", "interrupted",
              "superseded", "error")
FINISHED_STATES = frozenset(RUN_STATES) - {"queued", "running"}
RUN_EMOJI = {"queued": ":hourglass:", "running": ":hourglass_flowing_sand:",
             "passed": ":white_check_mark:", "failed": ":x:", "cancelled": ":octagonal_sign:",
             "interrupted": ":warning:", "superseded": ":fast_forward:", "error": ":boom:"}
_RUN_WORDS = {"error": "could not run"}
CHECK_EMOJI = {Status.PASS: ":white_check_mark:", Status.FAIL: ":x:", Status.ERROR: ":no_entry:",
               Status.WARN: ":warning:", Status.SKIP: ":next_track_button:",
               Status.FLAKY: ":arrows_counterclockwise:", Status.SLOW: ":snail:"}
CHECK_WORDS = {Status.PASS: "passed", Status.FAIL: "failed", Status.ERROR: "could not run",
               Status.WARN: "warning", Status.SKIP: "skipped",
               Status.FLAKY: "flaky (passed on a retry)", Status.SLOW: "slow (passed)"}
# A category's state (checks.report._summary.category_state): FLAKY and SLOW passed.
TABLE_STATES = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.WARN: "WARN",
                Status.SKIP: "SKIP", Status.FLAKY: "FLAKY", Status.SLOW: "SLOW"}
# A category (or total) of a run that ended early, with checks that never ran, is not PASS.
STOPPED_TABLE_STATES = {"cancelled": "CANCELLED", "interrupted": "INTERRUPTED",
                        "superseded": "SUPERSEDED", "error": "NOT RUN"}


def run_state_word(status: str) -> str:
    """`failed`, `cancelled`, ...; `error` reads as `could not run`."""
    return _RUN_WORDS.get(status, status)
