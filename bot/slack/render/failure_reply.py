"""One thread reply per failed check (what failed, expected vs actual, whether it is news, the
evidence), and per flaky check (what its failed attempts said, how often it was flaky lately),
and the notice posted in the thread when someone acknowledges a failure."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.slack.render._blocks import (
    SECTION_TEXT_MAX,
    SlackMessage,
    clip,
    code,
    code_body,
    context,
    enum_value,
    inline,
    local_date,
    mrkdwn,
    mrkdwn_link,
    permalink,
    section,
    short_id,
    slack_message,
    user_mention,
)
from bot.slack.render._flakiness import FlakyHistoryRecord, flaky_history_words
from bot.slack.render._states import CHECK_EMOJI, CHECK_WORDS
from bot.slack.render.modal import ACK_REASON_MAX
from checks.report._summary import failed_attempts, remark
from checks.report._text import format_duration, format_value
from checks.results import CheckResult, Status

__all__ = ["AcknowledgementRecord", "KnownKind", "KnownState", "PreviousFailureRecord",
           "known_state", "render_acknowledged", "render_failure_reply"]

TRUNCATED = "_… truncated, full report attached_"


class KnownKind(str, enum.Enum):
    NEW = "new"  # no earlier failure of this check on record
    STILL_FAILING = "still_failing"  # failed in an earlier run and has not passed since
    FAILED_BEFORE = "failed_before"  # failed before, passed since: a regression
    ACKNOWLEDGED = "acknowledged"  # someone said it is known, until the acknowledgement expires
    FLAKY = "flaky"  # it passed, on a retry: not a failure, but how often has it been flaky?


@dataclass(frozen=True)
class KnownState:
    """Whether a failure is news, and where it was discussed before."""

    kind: KnownKind
    acknowledged_by: str | None = None
    reason: str | None = None
    expires_at: datetime | None = None
    since_run_id: str | None = None  # the earlier run it failed in
    since: datetime | None = None
    earlier_link: str | None = None  # that run's thread (the check's own reply when known)
    flaky: FlakyHistoryRecord | None = None  # how often it was flaky in the latest runs

    @classmethod
    def new(cls) -> KnownState:
        return cls(KnownKind.NEW)

    @classmethod
    def of_flaky(cls, history: FlakyHistoryRecord | None) -> KnownState:
        """A flaky check's: its reply says how often it was flaky lately."""
        return cls(KnownKind.FLAKY, flaky=history)


# Read-only views of the store's records (`bot.records.Acknowledgement`, `PreviousFailure`):
# rendering needs a few attributes, not the store and its database driver.

class AcknowledgementRecord(Protocol):
    @property
    def check_id(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def acknowledged_by(self) -> str: ...
    @property
    def expires_at(self) -> datetime | None: ...


class PreviousFailureRecord(Protocol):
    @property
    def run_id(self) -> Any: ...
    @property
    def run_created_at(self) -> datetime: ...
    @property
    def still_failing(self) -> bool: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def thread_ts(self) -> str | None: ...
    @property
    def reply_ts(self) -> str | None: ...


def known_state(ack: AcknowledgementRecord | None, previous: PreviousFailureRecord | None, *,
                workspace_url: str | None = None,
                flaky: FlakyHistoryRecord | None = None) -> KnownState:
    """From the store's active acknowledgement and latest earlier failure of a check;
    `workspace_url` (auth.test's) makes the earlier thread's link the workspace's own;
    `flaky`, how often the check was flaky lately, is said when it was at all."""
    if flaky is not None and not flaky.flaky:
        flaky = None
    since_run = str(previous.run_id) if previous is not None else None
    since = previous.run_created_at if previous is not None else None
    link = None
    if previous is not None and previous.channel and previous.thread_ts:
        link = permalink(previous.channel, previous.reply_ts or previous.thread_ts,
                         previous.thread_ts if previous.reply_ts else None,
                         workspace_url=workspace_url)
    if ack is not None:
        return KnownState(KnownKind.ACKNOWLEDGED, acknowledged_by=ack.acknowledged_by,
                          reason=ack.reason, expires_at=ack.expires_at, since_run_id=since_run,
                          since=since, earlier_link=link, flaky=flaky)
    if previous is None:
        return KnownState(KnownKind.NEW, flaky=flaky)
    kind = KnownKind.STILL_FAILING if previous.still_failing else KnownKind.FAILED_BEFORE
    return KnownState(kind, since_run_id=since_run, since=since, earlier_link=link, flaky=flaky)


def render_failure_reply(result: CheckResult, *, known: KnownState | None) -> SlackMessage:
    """One thread reply: what failed, expected vs actual, whether it is news, the evidence.
    A flaky check's says which attempt passed and what the failed ones said."""
    word = CHECK_WORDS[result.status]
    title = (f"{CHECK_EMOJI[result.status]} *{inline(result.name, 200)}* "
             f"{code(result.check_id, 90)} {word}")
    summary = inline(result.summary, 2_000) or "_no summary_"
    blocks: list[dict[str, Any]] = [
        section(f"{title}\n>{summary}"),
        {"type": "section", "fields": [
            mrkdwn(f"*Category*\n{inline(result.category, 300)}"),
            mrkdwn(f"*Severity*\n{enum_value(result.severity)}"),
            mrkdwn(f"*Status*\n{word}"),
            mrkdwn(f"*Kind*\n{inline(result.kind, 100)}"),
        ]},
    ]
    if known is not None:
        blocks.append(context([_known_line(known)]))
    evidence = _evidence_section(result)
    if evidence:
        blocks.append(section(evidence))
    measured = _measurement_parts(result)
    if measured:
        blocks.append(context(measured))
    text = (f"{inline(result.name, 200)} ({inline(result.check_id, 90)}) {word}: "
            f"{inline(result.summary, 2_000)}")
    return slack_message(text, blocks)


def render_acknowledged(ack: AcknowledgementRecord) -> SlackMessage:
    """Posted in the run's thread when someone acknowledges a failure."""
    until = f"until {local_date(ack.expires_at)}" if ack.expires_at else "until further notice"
    line = (f":shushing_face: {user_mention(ack.acknowledged_by)} acknowledged "
            f"{code(ack.check_id, 90)} {until}: {inline(ack.reason, ACK_REASON_MAX)}\n"
            "It shows as known in later runs until then.")
    text = (f"{user_mention(ack.acknowledged_by)} acknowledged {inline(ack.check_id, 90)}: "
            f"{inline(ack.reason, ACK_REASON_MAX)}")
    return slack_message(text, [section(line)])


def _known_line(known: KnownState) -> str:
    line = _known_words(known)
    if known.flaky is not None and known.kind is not KnownKind.FLAKY:
        line += f" · {flaky_history_words(known.flaky)}"
    return line


def _known_words(known: KnownState) -> str:
    if known.kind is KnownKind.FLAKY:
        lately = flaky_history_words(known.flaky) if known.flaky is not None else \
            "no history on record"
        return f":arrows_counterclockwise: *Flaky*: passed on a retry; {lately}"
    earlier = ""
    if known.since_run_id:
        earlier = f"run {code(short_id(known.since_run_id))}"
        if known.since is not None:
            earlier += f" ({local_date(known.since)})"
        link = mrkdwn_link(known.earlier_link, "earlier thread")
        if link:
            earlier += f", {link}"
    if known.kind is KnownKind.ACKNOWLEDGED:
        until = (f"until {local_date(known.expires_at)}" if known.expires_at
                 else "until further notice")
        line = (f":shushing_face: *Known*: acknowledged by {user_mention(known.acknowledged_by)} "
                f"{until}: {inline(known.reason or 'no reason given', 500)}")
        return line + (f" · failing since {earlier}" if earlier else "")
    if known.kind is KnownKind.STILL_FAILING:
        return f":repeat: *Still failing* since {earlier or 'an earlier run'}"
    if known.kind is KnownKind.FAILED_BEFORE:
        return (f":leftwards_arrow_with_hook: *Failing again*: it passed since it last failed "
                f"in {earlier or 'an earlier run'}")
    return ":new: *New failure*: not failing in earlier runs"


def _evidence_text(result: CheckResult) -> str:
    attempts = failed_attempts(result) if result.status is Status.FLAKY else []
    if attempts:
        lines = [f"{remark(result)}; before that:",
                 *(f"attempt {n} failed: {text}" for n, text in enumerate(attempts, 1))]
        return "\n".join(lines) + (f"\n\n{result.details}" if result.details.strip() else "")
    if result.details.strip():
        return result.details
    if result.evidence:
        return json.dumps(result.evidence, indent=2, ensure_ascii=False, default=str)
    return ""


def _evidence_section(result: CheckResult) -> str:
    """The evidence in a code block, the whole section within 3,000 characters."""
    body = code_body(_evidence_text(result))
    if not body:
        return ""
    fences = len("```\n\n```")
    if len(body) + fences <= SECTION_TEXT_MAX:
        return f"```\n{body}\n```"
    budget = SECTION_TEXT_MAX - fences - len(TRUNCATED) - 1
    return f"```\n{clip(body, budget)}\n```\n{TRUNCATED}"


def _measurement_parts(result: CheckResult) -> list[str]:
    parts = []
    if result.duration_s:
        parts.append(f"took {format_duration(result.duration_s)}")
    if result.attempts > 1:
        parts.append(f"{result.attempts} attempts")
    parts += [code(f"{key}={format_value(value)}", 300)
              for key, value in result.measurements.items()]
    return parts
