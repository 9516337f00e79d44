"""Everything smokebot says in Slack, as Block Kit: the live run summary, one thread reply per
failure, the Acknowledge modal, and the ephemeral replies to `/smoketest`.

Pure functions, no I/O: each takes frozen data and returns a `SlackMessage` (or a view dict)
that fits Slack's limits whatever the input (50 blocks, section text 3,000 characters, header
150, context 10 elements, button text 75 and value 2,000), so a 200-check suite or a megabyte
of evidence still posts. Text from targets and people is escaped for mrkdwn (`&`, `<`, `>`),
so a check's summary cannot mention a group or smuggle a link. Secrets are redacted before
anything reaches this module; nothing here adds text that was not given to it.

Block Kit and emoji live here only; `checks/` knows neither.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol

from checks.report._summary import Tally, category_state, verdict_detail
from checks.report._text import format_duration, format_value, one_line, show_controls
from checks.results import CheckResult, RunResult, Status

__all__ = [
    "ACK_CALLBACK_ID",
    "AckSubmission",
    "AckSubmissionError",
    "KnownKind",
    "KnownState",
    "RunView",
    "SlackMessage",
    "escape",
    "known_state",
    "permalink",
    "read_ack_submission",
    "render_ack_modal",
    "render_acknowledged",
    "render_confirm_production",
    "render_error",
    "render_failure_mention",
    "render_failure_reply",
    "render_help",
    "render_history",
    "render_interrupted",
    "render_joined",
    "render_list",
    "render_not_in_channel",
    "render_refusal",
    "render_status",
    "render_summary",
]

# Slack's documented limits (docs.slack.dev, Block Kit reference).
MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
SECTION_TEXT_MAX = 3_000
FIELD_TEXT_MAX = 2_000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2_000
OPTION_TEXT_MAX = 75
CHECKBOX_OPTIONS_MAX = 10
SELECT_OPTIONS_MAX = 100
# Slack takes 40,000 characters of `text`; a notification shows a line, so stay far below.
FALLBACK_TEXT_MAX = 4_000

ACK_CALLBACK_ID = "ack_submit"
ACK_EXPIRY_DAYS = (1, 7, 30)
ACK_DEFAULT_DAYS = 7
ACK_MAX_DAYS = 365
ACK_REASON_MAX = 500
TRUNCATED = "_… truncated, full report attached_"
BOT_HANDLE = "@smokebot"

RUN_STATES = ("queued", "running", "passed", "failed", "cancelled", "interrupted",
              "superseded", "error")
_FINISHED = frozenset(RUN_STATES) - {"queued", "running"}
_RUN_EMOJI = {"queued": ":hourglass:", "running": ":hourglass_flowing_sand:",
              "passed": ":white_check_mark:", "failed": ":x:", "cancelled": ":octagonal_sign:",
              "interrupted": ":warning:", "superseded": ":fast_forward:", "error": ":boom:"}
_RUN_WORDS = {"error": "could not run"}
_CHECK_EMOJI = {Status.PASS: ":white_check_mark:", Status.FAIL: ":x:", Status.ERROR: ":no_entry:",
                Status.WARN: ":warning:", Status.SKIP: ":next_track_button:"}
_CHECK_WORDS = {Status.PASS: "passed", Status.FAIL: "failed", Status.ERROR: "could not run",
                Status.WARN: "warning", Status.SKIP: "skipped"}
_TABLE_STATES = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.WARN: "WARN",
                 Status.SKIP: "SKIP"}

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
# A single user's mention, as our own code writes it into triggers and reasons ("by <@U1>").
_ESCAPED_USER_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,})&gt;")
# Every mention bot/authz.py writes into a refusal: a user, a channel, a user group.
_ESCAPED_MENTION = re.compile(
    r"&lt;(@[UW][A-Z0-9]{2,}|#[CG][A-Z0-9]{2,}|!subteam\^S[A-Z0-9]{2,})&gt;")
_URL = re.compile(r"^https?://[^\s<>|]+$")
_HEX_SHA = re.compile(r"^[0-9a-f]{12,64}$")
_TABLE_NAME_WIDTH = 28
_BAR_CELLS = 20


# --- what goes in and out ----------------------------------------------------------------------

@dataclass(frozen=True)
class SlackMessage:
    """A message as chat.postMessage takes it: `text` is the notification fallback."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


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

    def __post_init__(self) -> None:
        if self.status not in RUN_STATES:
            raise ValueError(f"unknown run status {self.status!r}; expected one of "
                             f"{', '.join(RUN_STATES)}")
        if not self.run_id or len(self.run_id) > 255:
            raise ValueError("a run id must be 1 to 255 characters (it is a button value)")
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "categories", tuple(self.categories))

    @property
    def is_deploy(self) -> bool:
        return any((self.version, self.commit, self.ref, self.deployer, self.deploy_url))

    @property
    def finished(self) -> bool:
        return self.status in _FINISHED


class KnownKind(str, enum.Enum):
    NEW = "new"  # no earlier failure of this check on record
    STILL_FAILING = "still_failing"  # failed in an earlier run and has not passed since
    FAILED_BEFORE = "failed_before"  # failed before, passed since: a regression
    ACKNOWLEDGED = "acknowledged"  # someone said it is known, until the acknowledgement expires


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

    @classmethod
    def new(cls) -> KnownState:
        return cls(KnownKind.NEW)


# Read-only views of the store's records (`bot.store.Acknowledgement`, `PreviousFailure`,
# `Run`): rendering needs a few attributes, not the store and its database driver.

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


class RunRecord(Protocol):
    @property
    def id(self) -> Any: ...
    @property
    def environment(self) -> str: ...
    @property
    def status(self) -> Any: ...
    @property
    def trigger_kind(self) -> Any: ...
    @property
    def trigger_detail(self) -> str: ...
    @property
    def requested_by(self) -> str | None: ...
    @property
    def deploy(self) -> Any: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def counts(self) -> Any: ...
    @property
    def status_reason(self) -> str | None: ...


@dataclass(frozen=True)
class AckSubmission:
    check_ids: tuple[str, ...]
    reason: str
    days: int


class AckSubmissionError(ValueError):
    """A modal submission to refuse; `block_id` is the input Slack shows the message under."""

    def __init__(self, block_id: str, message: str) -> None:
        super().__init__(message)
        self.block_id = block_id


# --- text ---------------------------------------------------------------------------------------

def escape(text: str) -> str:
    """Text shown literally in mrkdwn: `<!channel>` or `<https://x|y>` cannot become live."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_keeping_users(text: str) -> str:
    """Escaped, but a single user's `<@U123>` (our own "by <@U123>") stays a mention."""
    return _ESCAPED_USER_MENTION.sub(r"<@\1>", escape(text))


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut; never splits an `&amp;`."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _inline(text: str, limit: int = 500) -> str:
    """User or target text on one line, escaped and clipped."""
    return _clip(escape(one_line(text)), limit)


def _code(text: str, limit: int = 200) -> str:
    """An inline code span; a backtick inside would end it, so it becomes a look-alike."""
    return f"`{_clip(escape(one_line(text)).replace('`', 'ˋ'), limit)}`"


def _code_body(text: str) -> str:
    """Text for inside a ``` block: escaped, controls shown, and no run of three backticks
    (a zero-width space between them) so the evidence cannot close the block early."""
    return re.sub(r"`(?=`)", "`\u200b", escape(show_controls(text).rstrip()))


def _plain(text: str, limit: int) -> dict[str, Any]:
    # plain_text is never parsed for mentions or links, so it is clipped, not escaped.
    return {"type": "plain_text", "text": _clip(one_line(text) or "-", limit), "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(_clip(text, SECTION_TEXT_MAX))}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": _plain(text, HEADER_TEXT_MAX)}


def _context(parts: Iterable[str]) -> dict[str, Any]:
    elements = [p for p in parts if p]
    if len(elements) > CONTEXT_ELEMENTS_MAX:
        hidden = len(elements) - (CONTEXT_ELEMENTS_MAX - 1)
        elements = elements[:CONTEXT_ELEMENTS_MAX - 1] + [f"… and {hidden} more"]
    return {"type": "context",
            "elements": [_mrkdwn(_clip(e, SECTION_TEXT_MAX)) for e in elements]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id,
                              "text": _plain(text, BUTTON_TEXT_MAX), "value": value}
    if style:
        button["style"] = style
    return button


def _message(text: str, blocks: list[dict[str, Any]]) -> SlackMessage:
    return SlackMessage(text=_clip(text, FALLBACK_TEXT_MAX), blocks=blocks[:MAX_BLOCKS])


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _short_id(run_id: Any) -> str:
    return str(run_id)[:8]


def _user(user: str | None) -> str:
    """A Slack user id as a mention; anything else (a GitHub login, a CI job) as text."""
    if not user:
        return "someone"
    return f"<@{user}>" if _USER_ID.match(user) else _inline(user, 100)


def _channel(channel: str) -> str:
    if _CHANNEL_ID.match(channel):
        return f"<#{channel}>"
    return _inline(f"#{channel.lstrip('#')}", 100)


def _group_mention(group: str) -> str:
    """`S0123` (or `<!subteam^S0123|@oncall>`) as a user group mention."""
    bare = group.strip().removeprefix("<!subteam^").removesuffix(">").split("|")[0]
    return f"<!subteam^{bare}>" if _GROUP_ID.match(bare) else _inline(group, 100)


def _link(url: str | None, label: str) -> str:
    """`<url|label>` for an http(s) URL; anything else is not made a link."""
    if not url or not _URL.match(url) or len(url) > 2_000:
        return ""
    return f"<{url.replace('&', '&amp;')}|{label}>"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None \
        else moment.astimezone(timezone.utc)


def _when(moment: datetime, token: str = "{date_short_pretty} {time}") -> str:
    """Shown in each reader's time zone; the fallback is UTC."""
    at = _utc(moment)
    return f"<!date^{int(at.timestamp())}^{token}|{at.strftime('%Y-%m-%d %H:%M UTC')}>"


def _day(moment: datetime) -> str:
    at = _utc(moment)
    return f"<!date^{int(at.timestamp())}^{{date_short}}|{at.strftime('%Y-%m-%d')}>"


def permalink(channel: str, ts: str, thread_ts: str | None = None) -> str:
    """A message's permalink built without a Slack call (as chat.getPermalink shapes it)."""
    link = f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


def _value(thing: Any) -> str:
    return str(getattr(thing, "value", thing))


def _sections(lines: Sequence[str], *, max_blocks: int, more: str = "more") -> list[dict[str, Any]]:
    """Lines packed into as few sections as fit; what does not fit in `max_blocks` becomes
    one closing "… and N more" line."""
    blocks: list[dict[str, Any]] = []
    current: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        line = _clip(line, SECTION_TEXT_MAX - 100)
        if current and size + 1 + len(line) > SECTION_TEXT_MAX - 100:
            if len(blocks) + 1 >= max_blocks:
                current.append(f"… and {len(lines) - index} {more}")
                break
            blocks.append(_section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(_section("\n".join(current)))
    return blocks


# --- the run summary ---------------------------------------------------------------------------

def render_summary(view: RunView) -> SlackMessage:
    """The parent message: progress while the run goes, then verdict, table and buttons."""
    blocks: list[dict[str, Any]] = [_header(_headline(view))]
    deploy = _deploy_line(view)
    if deploy:
        blocks.append(_section(deploy))
    if not view.finished:
        blocks.append(_context(_context_parts(view)))
        blocks.append(_section(_progress_line(view)))
        return _message(_summary_fallback(view), blocks)
    blocks.append(_section(_verdict_line(view)))
    table = _summary_table(view)
    if table:
        blocks.append(_section(table))
    failures = _failure_lines(view)
    if failures:
        blocks.append(_section(failures))
    blocks.append(_context(_context_parts(view)))
    actions = _summary_actions(view)
    if actions:
        blocks.append({"type": "actions", "elements": actions})
    return _message(_summary_fallback(view), blocks)


def render_failure_mention(view: RunView) -> SlackMessage | None:
    """The group mention as a message of its own, for the run's thread: Slack does not notify
    anyone of a mention added by chat.update, which is how the final summary is delivered.
    None unless the run failed and a group is to be mentioned."""
    if view.status != "failed" or not view.mention:
        return None
    line = f"{_group_mention(view.mention)} {_summary_fallback(view).split(' ', 1)[1]}"
    return _message(line, [_section(line)])


def _state_word(status: str) -> str:
    return _RUN_WORDS.get(status, status)


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
    env = _clip(one_line(view.environment), 40)
    if view.is_deploy:
        line = (f"Deploy of {_clip(_deploy_label(view), 60)} to {env}: "
                f"smoke tests {_state_word(view.status)}")
    else:
        line = f"Smoke test: {env}"
        if view.finished:
            line += f" {_state_word(view.status)}"
    return f"{_RUN_EMOJI[view.status]} {line}" if view.finished else line


def _deploy_line(view: RunView) -> str:
    if not view.is_deploy:
        return ""
    parts = []
    if view.commit:
        parts.append(f"Commit {_code(_short_commit(view.commit), 64)}")
    if view.ref:
        parts.append(f"ref {_code(view.ref, 100)}")
    if view.deployer:
        parts.append(f"by {_user(view.deployer)}")
    link = _link(view.deploy_url, "deployment")
    if link:
        parts.append(link)
    return " · ".join(parts)


def _context_parts(view: RunView) -> list[str]:
    parts = [_clip(_escape_keeping_users(one_line(view.trigger)), 300) if view.trigger else "",
             f"Run {_code(_short_id(view.run_id))}"]
    if view.version:
        parts.append(f"Version {_code(view.version, 100)}")
    if view.started_at is not None:
        parts.append(f"Started {_when(view.started_at)}")
    if view.finished and view.started_at is not None and view.finished_at is not None:
        seconds = (view.finished_at - view.started_at).total_seconds()
        parts.append(f"Took {format_duration(seconds)}")
    return parts


def _progress_line(view: RunView) -> str:
    """`▓` bar and `7/14 checks done · 1 failed · running…`."""
    done = len(view.results)
    filled = min(_BAR_CELLS, round(_BAR_CELLS * done / view.total)) if view.total else 0
    bar = "█" * filled + "░" * (_BAR_CELLS - filled)
    failed = Tally.of(view.results).failed
    line = f"`{bar}` {done}/{view.total} checks done"
    if failed:
        line += f" · {failed} failed"
    return line + (" · running…" if view.status == "running" else " · queued…")


def _as_run_result(view: RunView) -> RunResult:
    moment = view.started_at or view.finished_at or datetime.fromtimestamp(0, timezone.utc)
    return RunResult(suite="", environment=view.environment, started_at=moment,
                     finished_at=view.finished_at or moment, results=view.results,
                     categories=view.categories, cancelled=view.status == "cancelled")


def _verdict_detail(view: RunView) -> str:
    """The same words as the Markdown and terminal reports, plus the states only the bot has."""
    reason = _clip(_escape_keeping_users(one_line(view.interrupted_reason or "")), 500)
    if view.status in ("passed", "failed"):
        return escape(verdict_detail(_as_run_result(view)))  # the table says why
    if view.status == "cancelled":
        detail = escape(verdict_detail(_as_run_result(view)))
    elif view.status == "interrupted":
        tally = Tally.of(view.results)
        detail = f"stopped after {tally.total} of {_plural(view.total, 'check')}"
        detail += f", {tally.failed} failed" if tally.failed else ""
        reason = reason or "its worker stopped"
    elif view.status == "superseded":
        detail = "a newer deploy of the environment replaced this run"
        if view.superseded_by:
            detail += f" (run {_code(_short_id(view.superseded_by))})"
    else:
        detail = "the run could not be carried out"
    return f"{detail}: {reason}" if reason else detail


def _verdict_line(view: RunView) -> str:
    line = (f"{_RUN_EMOJI[view.status]} *SMOKE TESTS {_state_word(view.status).upper()}*: "
            f"{_verdict_detail(view)}")
    if view.status == "failed" and view.mention:
        line = f"{_group_mention(view.mention)} {line}"
    return line


def _summary_fallback(view: RunView) -> str:
    env = _inline(view.environment, 100)
    if view.is_deploy:
        start = f"Deploy of {_inline(_deploy_label(view), 100)} to {env}: smoke tests"
    else:
        start = f"Smoke test of {env}"
    if not view.finished:
        failed = Tally.of(view.results).failed
        text = (f"{start} {view.status}: {len(view.results)}/{view.total} checks done"
                + (f", {failed} failed" if failed else ""))
    else:
        text = f"{start} {_state_word(view.status)}: {_verdict_detail(view)}"
    if view.status == "failed" and view.mention:
        text = f"{_group_mention(view.mention)} {text}"
    return text


def _groups(view: RunView) -> list[tuple[str, list[CheckResult]]]:
    """Results by category in suite order; a category only results name comes last, so no
    result is ever left out of the table."""
    names = list(dict.fromkeys(view.categories))
    for result in view.results:
        if result.category not in names:
            names.append(result.category)
    return [(n, [r for r in view.results if r.category == n]) for n in names]


def _table_state(results: list[CheckResult]) -> str:
    return _TABLE_STATES[category_state(results)] if results else "NOT RUN"


def _summary_table(view: RunView) -> str:
    """A monospace table like the reference report's, collapsed to fit one section: failing
    categories are kept first, the rest become `… and N more categories`."""
    groups = _groups(view)
    if not groups:
        return ""
    width = max(8, min(_TABLE_NAME_WIDTH, max(len(one_line(n)) for n, _ in groups)))

    def row(name: str, checks: Any, passed: Any, failed: Any, state: str) -> str:
        name = _clip(one_line(name), width)
        return f"{name:<{width}}  {checks:>6}  {passed:>6}  {failed:>6}  {state}".rstrip()

    def group_row(name: str, results: list[CheckResult]) -> str:
        tally = Tally.of(results)
        return _code_body(row(name, tally.total, tally.passed, tally.failed,
                              _table_state(results)))

    overall = Tally.of(view.results)
    head = [_code_body(row("Category", "Checks", "Passed", "Failed", "Status")),
            "-" * (width + 34)]
    tail = ["-" * (width + 34),
            _code_body(row("TOTAL", overall.total, overall.passed, overall.failed,
                           _table_state(list(view.results))))]
    rows = [group_row(n, rs) for n, rs in groups]
    fixed = len("```\n\n```") + sum(len(line) + 1 for line in head + tail)
    budget = SECTION_TEXT_MAX - fixed
    if sum(len(r) + 1 for r in rows) <= budget:
        shown = rows
    else:
        budget -= len("… and 9999 more categories (9999 failing)") + 1
        failing = {i for i, (_, rs) in enumerate(groups) if Tally.of(rs).failed}
        order = sorted(range(len(groups)), key=lambda i: (i not in failing, i))
        keep: set[int] = set()
        for i in order:
            if len(rows[i]) + 1 > budget:
                break
            keep.add(i)
            budget -= len(rows[i]) + 1
        hidden = len(groups) - len(keep)
        hidden_failing = len(failing - keep)
        shown = [rows[i] for i in sorted(keep)]
        shown.append(f"… and {hidden} more {'category' if hidden == 1 else 'categories'}"
                     + (f" ({hidden_failing} failing)" if hidden_failing else ""))
    return "```\n" + "\n".join(head + shown + tail) + "\n```"


def _failure_lines(view: RunView) -> str:
    problems = [r for r in view.results if r.status.is_problem]
    if not problems:
        return ""
    lines = ["*Failed checks* (details in the thread)"]
    size = len(lines[0])
    for index, result in enumerate(problems):
        line = (f"• {_CHECK_EMOJI[result.status]} *{_inline(result.name, 150)}* "
                f"{_code(result.check_id, 90)}: {_inline(result.summary, 200)}")
        if size + 1 + len(line) > SECTION_TEXT_MAX - 40:
            lines.append(f"… and {len(problems) - index} more")
            break
        lines.append(line)
        size += 1 + len(line)
    return "\n".join(lines)


def _summary_actions(view: RunView) -> list[dict[str, Any]]:
    if view.status not in ("passed", "failed"):
        return []
    something_failed = any(r.status.is_problem for r in view.results)
    buttons = []
    if something_failed:
        buttons.append(_button("Re-run failed", "rerun_failed", view.run_id, "primary"))
    buttons.append(_button("Re-run all", "rerun_all", view.run_id))
    if something_failed:
        buttons.append(_button("Acknowledge", "acknowledge", view.run_id))
    return buttons


# --- one failure, in the thread ----------------------------------------------------------------

def known_state(ack: AcknowledgementRecord | None,
                previous: PreviousFailureRecord | None) -> KnownState:
    """From the store's active acknowledgement and latest earlier failure of a check."""
    since_run = str(previous.run_id) if previous is not None else None
    since = previous.run_created_at if previous is not None else None
    link = None
    if previous is not None and previous.channel and previous.thread_ts:
        link = permalink(previous.channel, previous.reply_ts or previous.thread_ts,
                          previous.thread_ts if previous.reply_ts else None)
    if ack is not None:
        return KnownState(KnownKind.ACKNOWLEDGED, acknowledged_by=ack.acknowledged_by,
                          reason=ack.reason, expires_at=ack.expires_at, since_run_id=since_run,
                          since=since, earlier_link=link)
    if previous is None:
        return KnownState.new()
    kind = KnownKind.STILL_FAILING if previous.still_failing else KnownKind.FAILED_BEFORE
    return KnownState(kind, since_run_id=since_run, since=since, earlier_link=link)


def render_failure_reply(result: CheckResult, *, known: KnownState | None) -> SlackMessage:
    """One thread reply: what failed, expected vs actual, whether it is news, the evidence."""
    word = _CHECK_WORDS[result.status]
    title = (f"{_CHECK_EMOJI[result.status]} *{_inline(result.name, 200)}* "
             f"{_code(result.check_id, 90)} {word}")
    summary = _inline(result.summary, 2_000) or "_no summary_"
    blocks: list[dict[str, Any]] = [
        _section(f"{title}\n>{summary}"),
        {"type": "section", "fields": [
            _mrkdwn(f"*Category*\n{_inline(result.category, 300)}"),
            _mrkdwn(f"*Severity*\n{_value(result.severity)}"),
            _mrkdwn(f"*Status*\n{word}"),
            _mrkdwn(f"*Kind*\n{_inline(result.kind, 100)}"),
        ]},
    ]
    if known is not None:
        blocks.append(_context([_known_line(known)]))
    evidence = _evidence_section(result)
    if evidence:
        blocks.append(_section(evidence))
    measured = _measurement_parts(result)
    if measured:
        blocks.append(_context(measured))
    text = (f"{_inline(result.name, 200)} ({_inline(result.check_id, 90)}) {word}: "
            f"{_inline(result.summary, 2_000)}")
    return _message(text, blocks)


def _known_line(known: KnownState) -> str:
    earlier = ""
    if known.since_run_id:
        earlier = f"run {_code(_short_id(known.since_run_id))}"
        if known.since is not None:
            earlier += f" ({_day(known.since)})"
        link = _link(known.earlier_link, "earlier thread")
        if link:
            earlier += f", {link}"
    if known.kind is KnownKind.ACKNOWLEDGED:
        until = f"until {_day(known.expires_at)}" if known.expires_at else "until further notice"
        line = (f":shushing_face: *Known*: acknowledged by {_user(known.acknowledged_by)} "
                f"{until}: {_inline(known.reason or 'no reason given', 500)}")
        return line + (f" · failing since {earlier}" if earlier else "")
    if known.kind is KnownKind.STILL_FAILING:
        return f":repeat: *Still failing* since {earlier or 'an earlier run'}"
    if known.kind is KnownKind.FAILED_BEFORE:
        return (f":leftwards_arrow_with_hook: *Failing again*: it passed since it last failed "
                f"in {earlier or 'an earlier run'}")
    return ":new: *New failure*: not failing in earlier runs"


def _evidence_text(result: CheckResult) -> str:
    if result.details.strip():
        return result.details
    if result.evidence:
        return json.dumps(result.evidence, indent=2, ensure_ascii=False, default=str)
    return ""


def _evidence_section(result: CheckResult) -> str:
    """The evidence in a code block, the whole section within 3,000 characters."""
    body = _code_body(_evidence_text(result))
    if not body:
        return ""
    fences = len("```\n\n```")
    if len(body) + fences <= SECTION_TEXT_MAX:
        return f"```\n{body}\n```"
    budget = SECTION_TEXT_MAX - fences - len(TRUNCATED) - 1
    return f"```\n{_clip(body, budget)}\n```\n{TRUNCATED}"


def _measurement_parts(result: CheckResult) -> list[str]:
    parts = []
    if result.duration_s:
        parts.append(f"took {format_duration(result.duration_s)}")
    if result.attempts > 1:
        parts.append(f"{result.attempts} attempts")
    parts += [_code(f"{key}={format_value(value)}", 300)
              for key, value in result.measurements.items()]
    return parts


# --- acknowledgements --------------------------------------------------------------------------

def render_acknowledged(ack: AcknowledgementRecord) -> SlackMessage:
    """Posted in the run's thread when someone acknowledges a failure."""
    until = f"until {_day(ack.expires_at)}" if ack.expires_at else "until further notice"
    line = (f":shushing_face: {_user(ack.acknowledged_by)} acknowledged "
            f"{_code(ack.check_id, 90)} {until}: {_inline(ack.reason, ACK_REASON_MAX)}\n"
            "It shows as known in later runs until then.")
    text = (f"{_user(ack.acknowledged_by)} acknowledged {_inline(ack.check_id, 90)}: "
            f"{_inline(ack.reason, ACK_REASON_MAX)}")
    return _message(text, [_section(line)])


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text, OPTION_TEXT_MAX), "value": value}


def render_ack_modal(run_id: str, failed_checks: Sequence[CheckResult]) -> dict[str, Any]:
    """The views.open view behind Acknowledge: which checks, why, and for how long."""
    view: dict[str, Any] = {
        "type": "modal", "callback_id": ACK_CALLBACK_ID, "private_metadata": run_id,
        "title": _plain("Acknowledge failures", 24),
        "close": _plain("Cancel", 24),
    }
    checks = list(dict.fromkeys(r.check_id for r in failed_checks))
    names = {r.check_id: r.name for r in failed_checks}
    if not checks:
        view["blocks"] = [_section("Nothing failed in this run, so there is nothing to "
                                   "acknowledge.")]
        return view
    options = [_option(f"{one_line(names[c])} ({c})", c) for c in checks[:SELECT_OPTIONS_MAX]]
    if len(options) <= CHECKBOX_OPTIONS_MAX:
        element: dict[str, Any] = {"type": "checkboxes", "action_id": "checks",
                                   "options": options, "initial_options": options}
    else:
        element = {"type": "multi_static_select", "action_id": "checks", "options": options,
                   "placeholder": _plain("Choose the failures", 150)}
    expiry = [_option(_plural(days, "day"), str(days)) for days in ACK_EXPIRY_DAYS]
    blocks: list[dict[str, Any]] = [
        _section("An acknowledged failure shows as *known* in later runs until the "
                 "acknowledgement expires."),
        {"type": "input", "block_id": "checks", "label": _plain("Failures", 2_000),
         "element": element},
    ]
    if len(checks) > SELECT_OPTIONS_MAX:
        blocks.append(_context([f"{len(checks) - SELECT_OPTIONS_MAX} more failures are not "
                                "listed; acknowledge them after these."]))
    blocks += [
        {"type": "input", "block_id": "reason", "label": _plain("Reason", 2_000),
         "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True,
                     "max_length": ACK_REASON_MAX,
                     "placeholder": _plain("Why is this failure known or expected?", 150)}},
        {"type": "input", "block_id": "expiry", "label": _plain("Expires after", 2_000),
         "element": {"type": "static_select", "action_id": "expiry", "options": expiry,
                     "initial_option": expiry[ACK_EXPIRY_DAYS.index(ACK_DEFAULT_DAYS)]}},
        {"type": "input", "block_id": "until", "optional": True,
         "label": _plain("Or until this date", 2_000),
         "hint": _plain("A date here replaces the choice above.", 2_000),
         "element": {"type": "datepicker", "action_id": "until",
                     "placeholder": _plain("Pick a date", 150)}},
    ]
    view["submit"] = _plain("Acknowledge", 24)
    view["blocks"] = blocks
    return view


def read_ack_submission(view: Mapping[str, Any], *, today: date | None = None) -> AckSubmission:
    """The modal's answers. Raises AckSubmissionError (a ValueError) naming the input to fix."""
    values = view.get("state", {}).get("values", {})

    def entry(block_id: str) -> dict[str, Any]:
        return dict(values.get(block_id, {}).get(block_id) or {})

    chosen = entry("checks").get("selected_options") or []
    check_ids = tuple(str(o["value"]) for o in chosen if isinstance(o, dict) and o.get("value"))
    if not check_ids:
        raise AckSubmissionError("checks", "Choose at least one failure to acknowledge.")
    reason = " ".join(str(entry("reason").get("value") or "").split())
    if not reason:
        raise AckSubmissionError("reason", "Say why this failure is known or expected.")
    if len(reason) > ACK_REASON_MAX:
        raise AckSubmissionError("reason", f"Keep the reason under {ACK_REASON_MAX} characters.")
    picked = entry("until").get("selected_date")
    if picked:
        try:
            until = date.fromisoformat(str(picked))
        except ValueError:
            raise AckSubmissionError("until", f"{picked!r} is not a date.") from None
        days = (until - (today or datetime.now(timezone.utc).date())).days
        if not 1 <= days <= ACK_MAX_DAYS:
            raise AckSubmissionError("until", f"Pick a date from tomorrow to {ACK_MAX_DAYS} "
                                              "days ahead.")
        return AckSubmission(check_ids, reason, days)
    selected = (entry("expiry").get("selected_option") or {}).get("value")
    try:
        days = int(selected) if selected is not None else ACK_DEFAULT_DAYS
    except ValueError:
        raise AckSubmissionError("expiry", "Choose how long the acknowledgement lasts.") from None
    if days not in ACK_EXPIRY_DAYS:
        raise AckSubmissionError("expiry", "Choose how long the acknowledgement lasts.")
    return AckSubmission(check_ids, reason, days)


# --- ephemeral replies -------------------------------------------------------------------------

def render_confirm_production(environment: str, filters: Sequence[str]) -> SlackMessage:
    """Asks before a run on a protected environment; the button carries the request."""
    value = json.dumps({"environment": environment, "filters": list(filters)},
                       separators=(",", ":"))
    if len(value) > BUTTON_VALUE_MAX:
        return render_error("Too many filters to confirm in one click; run fewer at a time.")
    env = _inline(environment, 100)
    line = f":warning: *{env}* is protected: confirm before the smoke tests run on it."
    if filters:
        line += "\nOnly: " + " ".join(_code(f, 90) for f in filters)
    blocks = [_section(line), {"type": "actions", "elements": [
        _button(f"Run on {one_line(environment)}", "confirm_run", value, "danger"),
        _button("Cancel", "cancel_confirm", environment[:BUTTON_VALUE_MAX] or "-"),
    ]}]
    return _message(f"Confirm: run the smoke tests on {env}?", blocks)


def render_help(environments: Sequence[str]) -> SlackMessage:
    envs = ", ".join(_code(e, 60) for e in environments[:50]) or "_none configured_"
    if len(environments) > 50:
        envs += f" and {len(environments) - 50} more"
    lines = [
        "*smokebot* smoke-tests an environment and reports here, failures in the thread.",
        "`/smoketest ENV [filters]` runs the checks of ENV; filters are categories, tags or "
        "check ids (`/smoketest staging database health`).",
        "`/smoketest list` shows the checks of each environment.",
        "`/smoketest history [ENV]` shows the last runs, with links to their threads.",
        "`/smoketest status` shows what is queued and running.",
        "`/smoketest cancel [ENV]` stops a run.",
        f"`{BOT_HANDLE} rerun` in a run's thread runs it again into the same thread.",
        f"Environments: {envs}",
    ]
    return _message("How to use /smoketest", [_section("\n".join(lines))])


def render_list(environment_names: Sequence[str],
                checks_by_env: Mapping[str, Sequence[str]]) -> SlackMessage:
    if not environment_names:
        return render_error("No environment is configured in the suite file.")
    lines = []
    for env in environment_names:
        checks = list(checks_by_env.get(env, ()))
        shown = " ".join(_code(c, 90) for c in checks)
        line = _clip(f"*{_inline(env, 100)}* ({_plural(len(checks), 'check')}): "
                     f"{shown or '_none_'}", SECTION_TEXT_MAX - 200)
        lines.append(line)
    blocks = _sections(lines, max_blocks=MAX_BLOCKS, more="more environments")
    return _message(f"Checks of {_plural(len(environment_names), 'environment')}", blocks)


def _run_line(run: RunRecord, link: str | None = None) -> str:
    status = _value(run.status)
    counts = run.counts
    parts = [f"{_RUN_EMOJI.get(status, ':grey_question:')} *{_inline(run.environment, 100)}* "
             f"{_state_word(status)}"]
    total = getattr(counts, "total", 0)
    if total:
        failed = getattr(counts, "failed", 0) + getattr(counts, "errors", 0)
        parts.append(f"{counts.passed}/{total} passed" + (f", {failed} failed" if failed else ""))
    parts.append(_when(run.started_at or run.created_at))
    trigger = run.trigger_detail or _value(run.trigger_kind)
    if run.requested_by and _USER_ID.match(run.requested_by) and "<@" not in trigger:
        trigger += f" by <@{run.requested_by}>"
    parts.append(_clip(_escape_keeping_users(one_line(trigger)), 200))
    version = getattr(run.deploy, "version", None) if run.deploy is not None else None
    if version:
        parts.append(f"version {_code(version, 100)}")
    thread = _link(link, "thread")
    if thread:
        parts.append(thread)
    line = " · ".join(parts)
    if status in ("interrupted", "superseded", "cancelled", "error") and run.status_reason:
        line += f" ({_clip(_escape_keeping_users(one_line(run.status_reason)), 200)})"
    return line


def _run_link(links: Mapping[Any, Any] | None, run_id: Any) -> str | None:
    if not links:
        return None
    ref = links.get(run_id, links.get(str(run_id)))
    if ref is None or isinstance(ref, str):
        return ref
    return permalink(ref.channel, ref.ts, getattr(ref, "thread_ts", None))


def render_history(runs: Sequence[RunRecord],
                   links: Mapping[Any, Any] | None = None) -> SlackMessage:
    """The last runs with verdict, trigger, version and a link to each run's thread.
    `links` maps a run id to its summary message (`bot.store.SlackMessage`) or a URL."""
    if not runs:
        return _message("No runs yet.", [_section("No runs yet.")])
    lines = [f"*Last {_plural(len(runs), 'run')}*"]
    lines += [_run_line(run, _run_link(links, run.id)) for run in runs]
    return _message(f"Last {_plural(len(runs), 'run')}",
                    _sections(lines, max_blocks=MAX_BLOCKS, more="more runs"))


def render_status(queued: Sequence[RunRecord], running: Sequence[RunRecord]) -> SlackMessage:
    if not queued and not running:
        return _message("Nothing is queued or running.",
                        [_section("Nothing is queued or running.")])
    lines = []
    for title, runs in (("Running", running), ("Queued", queued)):
        if runs:
            lines.append(f"*{title}* ({len(runs)})")
            lines += ["• " + _run_line(run) for run in runs]
    text = f"{len(running)} running, {len(queued)} queued"
    return _message(text, _sections(lines, max_blocks=MAX_BLOCKS, more="more runs"))


def render_error(message: str) -> SlackMessage:
    """A user mistake or an unavailable service, said with what to do about it."""
    body = _clip(escape(show_controls(message).strip()) or "Something went wrong.",
                 SECTION_TEXT_MAX - 20)
    return _message(body, [_section(f":warning: {body}")])


def render_refusal(reason: str) -> SlackMessage:
    """Why a request was not allowed; the channels, users and groups it names stay mentions
    (clickable), everything else is escaped like any other text."""
    text = escape(show_controls(f"Not allowed: {reason}").strip())
    body = _clip(_ESCAPED_MENTION.sub(r"<\1>", text), SECTION_TEXT_MAX - 20)
    return _message(body, [_section(f":warning: {body}")])


def render_joined(environment: str, link: str | None = None) -> SlackMessage:
    """A second request for an environment that is already being tested joins that run."""
    env = _inline(environment, 100)
    line = f":arrows_counterclockwise: *{env}* is already being smoke-tested; you joined that run."
    summary = _link(link, "Follow its summary")
    line += f" {summary}." if summary else " Its summary is in the channel."
    return _message(f"{env} is already being smoke-tested; you joined that run.",
                    [_section(line)])


def render_interrupted(environment: str, run_id: str, reason: str | None = None) -> SlackMessage:
    """Posted in a run's thread when its worker died or stopped heartbeating."""
    why = _inline(reason or "its worker stopped", 500)
    line = (f":warning: Run {_code(_short_id(run_id))} of *{_inline(environment, 100)}* was "
            f"interrupted: {why}. The results so far are stored; re-run it to get a verdict.")
    blocks = [_section(line),
              {"type": "actions", "elements": [_button("Re-run all", "rerun_all", run_id)]}]
    return _message(f"Run {_short_id(run_id)} of {_inline(environment, 100)} was interrupted: "
                    f"{why}", blocks)


def render_not_in_channel(channel: str, problem: str | None = None) -> SlackMessage:
    """Why the bot could not post a run, and how to fix it. The run's results are stored."""
    where = _channel(channel) if channel else "the channel"
    stored = "The run's results are stored: `/smoketest history` shows them."
    if problem == "is_archived":
        line = (f"{where} is archived, so I can't post there. Unarchive it, or map the "
                "environment to another channel in the suite file.")
    elif problem == "channel_not_found":
        line = (f"I can't see {where}: it does not exist, or it is private and I'm not in it. "
                f"Invite me there with `/invite {BOT_HANDLE}`, or fix the channel in the suite "
                "file.")
    elif problem in (None, "", "not_in_channel"):
        line = f"I'm not in {where}. Invite me with `/invite {BOT_HANDLE}` and try again."
    else:
        line = (f"Slack refused my message to {where} ({_code(problem, 60)}). Check my "
                f"scopes and that I'm in the channel (`/invite {BOT_HANDLE}`).")
    return _message(f"{line} {stored}", [_section(f":warning: {line}\n{stored}")])
