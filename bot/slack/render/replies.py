"""The replies to `/smoketest` and the buttons (help, list, history, status, the production
confirmation, queued, joined, cancelling, errors and refusals) and the notices posted for a
run that could not go as planned (interrupted, not in the channel)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.slack.render._blocks import (
    BUTTON_VALUE_MAX,
    MAX_BLOCKS,
    SECTION_TEXT_MAX,
    SlackMessage,
    button,
    channel_mention,
    clip,
    code,
    enum_value,
    escape,
    escape_keeping_users,
    inline,
    is_user_id,
    local_datetime,
    mrkdwn_link,
    packed_sections,
    permalink,
    plural,
    section,
    short_id,
    slack_message,
)
from bot.slack.render._states import RUN_EMOJI, run_state_word
from checks.report._text import one_line, show_controls

__all__ = ["RunRecord", "render_cancelling", "render_confirm_production", "render_error",
           "render_help", "render_history", "render_interrupted", "render_joined",
           "render_list", "render_mention_help", "render_not_in_channel", "render_queued",
           "render_refusal", "render_status"]

BOT_HANDLE = "@smokebot"
# Every mention bot/authz.py writes into a refusal: a user, a channel, a user group.
_ESCAPED_MENTION = re.compile(
    r"&lt;(@[UW][A-Z0-9]{2,}|#[CG][A-Z0-9]{2,}|!subteam\^S[A-Z0-9]{2,})&gt;")


# A read-only view of the store's record (`bot.records.Run`): rendering needs a few
# attributes, not the store and its database driver.
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


# --- /smoketest ---------------------------------------------------------------------------------

def render_confirm_production(environment: str, filters: Sequence[str], *,
                              value: str | None = None, rerun_of: str | None = None,
                              only_failed: bool = False) -> SlackMessage:
    """Asks before a run on a protected environment, or before a re-run of run `rerun_of`
    there (of its failed checks only, or all); `filters` are the checks it would run. Both
    buttons carry `value`, the request as bot.records.StartRequest writes it (default: the
    environment and filters)."""
    # Cancel carries the request too when there is one to audit, else the environment.
    cancel = value if value is not None else environment
    if value is None:
        value = json.dumps({"environment": environment, "filters": list(filters)},
                           separators=(",", ":"))
    if len(value) > BUTTON_VALUE_MAX:
        return render_error("Too many filters to confirm in one click; run fewer at a time.")
    env = inline(environment, 100)
    if rerun_of is None:
        what, verb = "the smoke tests run on it", "Run"
        text = f"Confirm: run the smoke tests on {env}?"
    else:
        checks = "the failed checks" if only_failed else "all the checks"
        what, verb = f"{checks} of run {code(short_id(rerun_of))} are re-run on it", "Re-run"
        text = f"Confirm: re-run {checks} of run {short_id(rerun_of)} on {env}?"
    line = f":warning: *{env}* is protected: confirm before {what}."
    if filters:
        line += "\nOnly: " + " ".join(code(f, 90) for f in filters)
    blocks = [section(clip(line, SECTION_TEXT_MAX)), {"type": "actions", "elements": [
        button(f"{verb} on {one_line(environment)}", "confirm_run", value, "danger"),
        button("Cancel", "cancel_confirm", cancel[:BUTTON_VALUE_MAX] or "-"),
    ]}]
    return slack_message(text, blocks)


def render_help(environments: Sequence[str]) -> SlackMessage:
    envs = ", ".join(code(e, 60) for e in environments[:50]) or "_none configured_"
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
    return slack_message("How to use /smoketest", [section("\n".join(lines))])


def render_mention_help() -> SlackMessage:
    """The answer to a mention that asks nothing the bot does (`@smokebot hello`, or `rerun`
    outside a run's thread)."""
    line = (f"`{BOT_HANDLE} rerun` in a smoke test run's thread runs it again into that "
            "thread; that is all I answer to mentions. Everything else is `/smoketest` "
            "(`/smoketest help` says what it does).")
    return slack_message(line.replace("`", ""), [section(line)])


def render_list(environment_names: Sequence[str],
                checks_by_env: Mapping[str, Sequence[str]], *,
                refused: str | None = None, in_use_since: datetime | None = None) -> SlackMessage:
    """`refused`: why a changed suite file was not taken (file:line: reason); the checks
    listed are those of the version in use, loaded at `in_use_since`."""
    if not environment_names:
        return render_error("No environment is configured in the suite file.")
    lines = []
    if refused is not None:
        since = f" loaded at {local_datetime(in_use_since, '{time}')}" if in_use_since else ""
        lines.append(f":warning: The suite file changed but was refused ({inline(refused, 600)}); "
                     f"still using the version{since}.")
    for env in environment_names:
        checks = list(checks_by_env.get(env, ()))
        shown = " ".join(code(c, 90) for c in checks)
        line = clip(f"*{inline(env, 100)}* ({plural(len(checks), 'check')}): "
                    f"{shown or '_none_'}", SECTION_TEXT_MAX - 200)
        lines.append(line)
    blocks = packed_sections(lines, max_blocks=MAX_BLOCKS, more="more environments")
    return slack_message(f"Checks of {plural(len(environment_names), 'environment')}", blocks)


def render_history(runs: Sequence[RunRecord], links: Mapping[Any, Any] | None = None, *,
                   workspace_url: str | None = None) -> SlackMessage:
    """The last runs with verdict, trigger, version and a link to each run's thread.
    `links` maps a run id to its summary message (`bot.records.SlackMessage`) or a URL;
    `workspace_url` (auth.test's) is where a message's link points."""
    if not runs:
        return slack_message("No runs yet.", [section("No runs yet.")])
    lines = [f"*Last {plural(len(runs), 'run')}*"]
    lines += [_run_line(run, _run_link(links, run.id, workspace_url)) for run in runs]
    return slack_message(f"Last {plural(len(runs), 'run')}",
                         packed_sections(lines, max_blocks=MAX_BLOCKS, more="more runs"))


def render_status(queued: Sequence[RunRecord], running: Sequence[RunRecord]) -> SlackMessage:
    if not queued and not running:
        return slack_message("Nothing is queued or running.",
                             [section("Nothing is queued or running.")])
    lines = []
    for title, runs in (("Running", running), ("Queued", queued)):
        if runs:
            lines.append(f"*{title}* ({len(runs)})")
            lines += ["• " + _run_line(run) for run in runs]
    text = f"{len(running)} running, {len(queued)} queued"
    return slack_message(text, packed_sections(lines, max_blocks=MAX_BLOCKS, more="more runs"))


def render_cancelling(environments: Sequence[str]) -> SlackMessage:
    """The answer to `/smoketest cancel`: one environment per run being cancelled."""
    names = ", ".join(sorted(set(environments)))
    return SlackMessage(text=f"Cancelling {len(environments)} run(s) of {names}.", blocks=[])


def _run_line(run: RunRecord, link: str | None = None) -> str:
    status = enum_value(run.status)
    counts = run.counts
    parts = [f"{RUN_EMOJI.get(status, ':grey_question:')} *{inline(run.environment, 100)}* "
             f"{run_state_word(status)}"]
    total = getattr(counts, "total", 0)
    if total:
        failed = getattr(counts, "failed", 0) + getattr(counts, "errors", 0)
        remarks = [f"{n} {word}" for n, word in ((getattr(counts, "flaky", 0), "flaky"),
                                                  (getattr(counts, "slow", 0), "slow")) if n]
        parts.append(f"{counts.passed}/{total} passed"
                     + (f" ({', '.join(remarks)})" if remarks else "")
                     + (f", {failed} failed" if failed else ""))
    parts.append(local_datetime(run.started_at or run.created_at))
    trigger = run.trigger_detail or enum_value(run.trigger_kind)
    if run.requested_by and is_user_id(run.requested_by) and "<@" not in trigger:
        trigger += f" by <@{run.requested_by}>"
    parts.append(clip(escape_keeping_users(one_line(trigger)), 200))
    version = getattr(run.deploy, "version", None) if run.deploy is not None else None
    if version:
        parts.append(f"version {code(version, 100)}")
    thread = mrkdwn_link(link, "thread")
    if thread:
        parts.append(thread)
    line = " · ".join(parts)
    if status in ("interrupted", "superseded", "cancelled", "error") and run.status_reason:
        line += f" ({clip(escape_keeping_users(one_line(run.status_reason)), 200)})"
    return line


def _run_link(links: Mapping[Any, Any] | None, run_id: Any,
              workspace_url: str | None) -> str | None:
    if not links:
        return None
    ref = links.get(run_id, links.get(str(run_id)))
    if ref is None or isinstance(ref, str):
        return ref
    return permalink(ref.channel, ref.ts, getattr(ref, "thread_ts", None),
                     workspace_url=workspace_url)


# --- errors, refusals and notices ---------------------------------------------------------------

def render_error(message: str) -> SlackMessage:
    """A user mistake or an unavailable service, said with what to do about it."""
    body = clip(escape(show_controls(message).strip()) or "Something went wrong.",
                SECTION_TEXT_MAX - 20)
    return slack_message(body, [section(f":warning: {body}")])


def render_refusal(reason: str) -> SlackMessage:
    """Why a request was not allowed; the channels, users and groups it names stay mentions
    (clickable), everything else is escaped like any other text."""
    text = escape(show_controls(f"Not allowed: {reason}").strip())
    body = clip(_ESCAPED_MENTION.sub(r"<\1>", text), SECTION_TEXT_MAX - 20)
    return slack_message(body, [section(f":warning: {body}")])


def render_queued(environment: str, run_id: Any, *,
                  thread_link: str | None = None) -> SlackMessage:
    """A request that started a run: the run is queued and its summary will follow, in the
    channel, or for a re-run in the thread of the run it repeats (`thread_link`)."""
    thread = mrkdwn_link(thread_link, "the original run's thread")
    if not thread:
        return SlackMessage(text=f"Queued a smoke test of {environment} (run "
                                 f"{short_id(run_id)}); the summary appears in this channel.",
                            blocks=[])
    return SlackMessage(text=f"Queued a re-run of {environment} (run {short_id(run_id)}); "
                             f"its summary appears in {thread}.", blocks=[])


def render_joined(environment: str, link: str | None = None) -> SlackMessage:
    """A second request for an environment that is already being tested joins that run."""
    env = inline(environment, 100)
    line = f":arrows_counterclockwise: *{env}* is already being smoke-tested; you joined that run."
    summary = mrkdwn_link(link, "Follow its summary")
    line += f" {summary}." if summary else " Its summary is in the channel."
    return slack_message(f"{env} is already being smoke-tested; you joined that run.",
                         [section(line)])


def render_interrupted(environment: str, run_id: str, reason: str | None = None) -> SlackMessage:
    """Posted in a run's thread when its worker died or stopped heartbeating."""
    why = inline(reason or "its worker stopped", 500)
    line = (f":warning: Run {code(short_id(run_id))} of *{inline(environment, 100)}* was "
            f"interrupted: {why}. The results so far are stored; re-run it to get a verdict.")
    blocks = [section(line),
              {"type": "actions", "elements": [button("Re-run all", "rerun_all", run_id)]}]
    return slack_message(f"Run {short_id(run_id)} of {inline(environment, 100)} was "
                         f"interrupted: {why}", blocks)


def render_not_in_channel(channel: str, problem: str | None = None) -> SlackMessage:
    """Why the bot could not post a run, and how to fix it. The run's results are stored."""
    where = channel_mention(channel) if channel else "the channel"
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
        line = (f"Slack refused my message to {where} ({code(problem, 60)}). Check my "
                f"scopes and that I'm in the channel (`/invite {BOT_HANDLE}`).")
    return slack_message(f"{line} {stored}", [section(f":warning: {line}\n{stored}")])
