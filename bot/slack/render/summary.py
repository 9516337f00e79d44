"""The run's parent message: a progress bar while the run goes, then the verdict, the
per-category table, the failed checks (acknowledged ones marked), the flaky and slow passes,
the skipped checks with their reasons and the Re-run / Acknowledge buttons; and the group
mention posted in the thread when a run fails."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bot.slack.render._blocks import (
    SlackMessage,
    button,
    clip,
    code,
    context,
    escape,
    escape_keeping_users,
    group_mention,
    header,
    inline,
    local_datetime,
    mrkdwn_link,
    plural,
    section,
    short_id,
    slack_message,
    user_mention,
)
from bot.slack.render._flakiness import FlakyHistoryRecord
from bot.slack.render._run_table import (
    acknowledged_note,
    failure_lines,
    remarked_lines,
    skipped_lines,
    summary_table,
)
from bot.slack.render._states import FINISHED_STATES, RUN_EMOJI, RUN_STATES, run_state_word
from checks.report._summary import Tally, verdict_detail
from checks.report._text import format_duration, one_line
from checks.results import CheckResult, RunResult

__all__ = ["RunView", "render_failure_mention", "render_summary"]

_HEX_SHA = re.compile(r"^[0-9a-f]{12,64}$")
_BAR_CELLS = 20
_PROGRESS_SHOWN = 3  # long checks' progress lines under the bar


@dataclass(frozen=True)
class RunView:
    """One run as Slack shows it, live or finished. Text in it is already redacted."""

    run_id: str
    environment: str
    status: str  # one of RUN_STATES
    trigger: str = ""  # "/smoketest staging by <@U123>", "deployment_status 4242"
    requested_by: str | None = None
    version: str | None = None  # the deploy's facts, when a deploy triggered the run
    commit: str | None = None
    ref: str | None = None
    deployer: str | None = None
    deploy_url: str | None = None
    total: int = 0  # checks planned
    results: tuple[CheckResult, ...] = ()  # finished so far
    categories: tuple[str, ...] = ()  # in suite order
    started_at: datetime | None = None
    finished_at: datetime | None = None
    superseded_by: str | None = None
    mention: str | None = None  # a user group id, mentioned when the run fails
    interrupted_reason: str | None = None  # why it was interrupted, superseded, cancelled ...
    acknowledged: tuple[str, ...] = ()  # check ids whose failure someone acknowledged
    read_version: str | None = None  # no deploy said: what the suite's `version:` check read
    # How often each flaky check of the run was flaky lately (the store's FlakyHistory).
    flaky_history: tuple[FlakyHistoryRecord, ...] = ()
    # (check id, latest progress text) of the running checks that say how far they are
    progress: tuple[tuple[str, str], ...] = ()
    # The run's page (bot/pages/), a signed link; None when the bot has no public URL.
    run_url: str | None = None

    def __post_init__(self) -> None:
        if self.status not in RUN_STATES:
            raise ValueError(f"unknown run status {self.status!r}; expected one of "
                             f"{', '.join(RUN_STATES)}")
        if not self.run_id or len(self.run_id) > 255:
            raise ValueError("a run id must be 1 to 255 characters (it is a button value)")
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "acknowledged", tuple(self.acknowledged))
        object.__setattr__(self, "flaky_history", tuple(self.flaky_history))
        object.__setattr__(self, "progress", tuple(self.progress))

    @property
    def is_deploy(self) -> bool:
        return any((self.version, self.commit, self.ref, self.deployer, self.deploy_url))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATES


def render_summary(view: RunView) -> SlackMessage:
    """The parent message: progress while the run goes, then verdict, table and buttons."""
    blocks: list[dict[str, Any]] = [header(_headline(view))]
    deploy = _deploy_line(view)
    if deploy:
        blocks.append(section(deploy))
    if not view.finished:
        blocks.append(context(_context_parts(view)))
        blocks.append(section(_progress_line(view)))
        return slack_message(_summary_fallback(view), blocks)
    blocks.append(section(_verdict_line(view)))
    for text in (summary_table(view), failure_lines(view), remarked_lines(view),
                 skipped_lines(view)):
        if text:
            blocks.append(section(text))
    blocks.append(context(_context_parts(view)))
    actions = _summary_actions(view)
    if actions:
        blocks.append({"type": "actions", "elements": actions})
    return slack_message(_summary_fallback(view), blocks)


def render_failure_mention(view: RunView) -> SlackMessage | None:
    """The group mention as a message of its own, for the run's thread: Slack does not notify
    anyone of a mention added by chat.update, which is how the final summary is delivered.
    None unless the run failed and a group is to be mentioned."""
    if view.status != "failed" or not view.mention:
        return None
    line = f"{group_mention(view.mention)} {_summary_fallback(view).split(' ', 1)[1]}"
    return slack_message(line, [section(line)])


# --- the header, the deploy line and the context ------------------------------------------------

def _deploy_label(view: RunView) -> str:
    if view.version:
        return one_line(view.version)
    if view.commit:
        return _short_commit(view.commit)
    return one_line(view.ref) if view.ref else "a new version"


def _short_commit(commit: str) -> str:
    commit = one_line(commit)
    return commit[:7] if _HEX_SHA.match(commit) else commit


def _headline(view: RunView) -> str:
    """Plain text: `Deploy of v1.4.2 to staging: smoke tests running`."""
    env = clip(one_line(view.environment), 40)
    if view.is_deploy:
        line = (f"Deploy of {clip(_deploy_label(view), 60)} to {env}: "
                f"smoke tests {run_state_word(view.status)}")
    else:
        line = f"Smoke test: {env}"
        if view.finished:
            line += f" {run_state_word(view.status)}"
    return f"{RUN_EMOJI[view.status]} {line}" if view.finished else line


def _deploy_line(view: RunView) -> str:
    if not view.is_deploy:
        return ""
    parts = []
    if view.commit:
        parts.append(f"Commit {code(_short_commit(view.commit), 64)}")
    if view.ref:
        parts.append(f"ref {code(view.ref, 100)}")
    if view.deployer:
        parts.append(f"by {user_mention(view.deployer)}")
    link = mrkdwn_link(view.deploy_url, "deployment")
    if link:
        parts.append(link)
    return " · ".join(parts)


def _context_parts(view: RunView) -> list[str]:
    parts = [clip(escape_keeping_users(one_line(view.trigger)), 300) if view.trigger else "",
             f"Run {code(short_id(view.run_id))}"]
    if view.version or view.read_version:
        parts.append(f"Version {code(view.version or view.read_version or '', 100)}")
    if view.started_at is not None:
        parts.append(f"Started {local_datetime(view.started_at)}")
    if view.finished and view.started_at is not None and view.finished_at is not None:
        seconds = (view.finished_at - view.started_at).total_seconds()
        parts.append(f"Took {format_duration(seconds)}")
    parts.append(mrkdwn_link(view.run_url, "View run"))  # "" without a link: left out
    return parts


def _progress_line(view: RunView) -> str:
    """`▓` bar and `7/14 checks done · 1 failed · running…`, then a line per long check saying
    how far it is: `api-load: 812/3000 requests · 98 rps`."""
    done = len(view.results)
    filled = min(_BAR_CELLS, round(_BAR_CELLS * done / view.total)) if view.total else 0
    bar = "█" * filled + "░" * (_BAR_CELLS - filled)
    failed = Tally.of(view.results).failed
    line = f"`{bar}` {done}/{view.total} checks done"
    if failed:
        line += f" · {failed} failed"
    line += " · running…" if view.status == "running" else " · queued…"
    for check_id, text in view.progress[-_PROGRESS_SHOWN:]:
        line += f"\n{code(check_id, 60)}: {inline(text, 200)}"
    return line


# --- the verdict -------------------------------------------------------------------------------

def _as_run_result(view: RunView) -> RunResult:
    moment = view.started_at or view.finished_at or datetime.fromtimestamp(0, timezone.utc)
    return RunResult(suite="", environment=view.environment, started_at=moment,
                     finished_at=view.finished_at or moment, results=view.results,
                     categories=view.categories, cancelled=view.status == "cancelled")


def _verdict_detail(view: RunView) -> str:
    """The same words as the Markdown and terminal reports, plus the states only the bot has."""
    reason = clip(escape_keeping_users(one_line(view.interrupted_reason or "")), 500)
    if view.status in ("passed", "failed"):
        # The table says why.
        return escape(verdict_detail(_as_run_result(view))) + acknowledged_note(view)
    if view.status == "cancelled" and view.total > len(view.results):
        # Cut short by its worker: the checks still going left no result at all.
        tally = Tally.of(view.results)
        detail = f"stopped after {tally.total - tally.skipped} of {plural(view.total, 'check')}"
        detail += (f", {tally.failed} failed" if tally.failed else "") + acknowledged_note(view)
    elif view.status == "cancelled":
        detail = escape(verdict_detail(_as_run_result(view))) + acknowledged_note(view)
    elif view.status == "interrupted":
        tally = Tally.of(view.results)
        detail = f"stopped after {tally.total} of {plural(view.total, 'check')}"
        detail += f", {tally.failed} failed" if tally.failed else ""
        reason = reason or "its worker stopped"
    elif view.status == "superseded":
        detail = "a newer deploy of the environment replaced this run"
        if view.superseded_by:
            detail += f" (run {code(short_id(view.superseded_by))})"
    else:
        detail = "the run could not be carried out"
    return f"{detail}: {reason}" if reason else detail


def _verdict_line(view: RunView) -> str:
    line = (f"{RUN_EMOJI[view.status]} *SMOKE TESTS {run_state_word(view.status).upper()}*: "
            f"{_verdict_detail(view)}")
    if view.status == "failed" and view.mention:
        line = f"{group_mention(view.mention)} {line}"
    return line


def _summary_fallback(view: RunView) -> str:
    env = inline(view.environment, 100)
    if view.is_deploy:
        start = f"Deploy of {inline(_deploy_label(view), 100)} to {env}: smoke tests"
    else:
        start = f"Smoke test of {env}"
    if not view.finished:
        failed = Tally.of(view.results).failed
        text = (f"{start} {view.status}: {len(view.results)}/{view.total} checks done"
                + (f", {failed} failed" if failed else ""))
    else:
        text = f"{start} {run_state_word(view.status)}: {_verdict_detail(view)}"
    if view.status == "failed" and view.mention:
        text = f"{group_mention(view.mention)} {text}"
    return text


# --- the buttons ------------------------------------------------------------------------------

def _summary_actions(view: RunView) -> list[dict[str, Any]]:
    """Re-run (and Acknowledge, when something failed) once the run has a verdict; a
    cancelled run's checks that never ran are worth running again too."""
    if view.status not in ("passed", "failed", "cancelled"):
        return []
    something_failed = any(r.status.is_problem for r in view.results)
    buttons = []
    if something_failed:
        buttons.append(button("Re-run failed", "rerun_failed", view.run_id, "primary"))
    buttons.append(button("Re-run all", "rerun_all", view.run_id))
    if something_failed:
        buttons.append(button("Acknowledge", "acknowledge", view.run_id))
    return buttons
