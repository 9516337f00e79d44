"""Everything smokebot says in Slack, as Block Kit: the live run summary, one thread reply per
failure, the Acknowledge modal, and the ephemeral replies to `/smoketest`.

Pure functions, no I/O: each takes frozen data and returns a `SlackMessage` (or a view dict)
that fits Slack's limits whatever the input (50 blocks, section text 3,000 characters, header
150, context 10 elements, button text 75 and value 2,000), so a 200-check suite or a megabyte
of evidence still posts. Text from targets and people is escaped for mrkdwn (`&`, `<`, `>`),
so a check's summary cannot mention a group or smuggle a link. Secrets are redacted before
anything reaches this package; nothing here adds text that was not given to it.

One module per kind of message, over two private ones:

    _blocks.py         escaping, clipping, Slack's limits, text objects and blocks, mentions,
                       links, dates; `SlackMessage`
    _states.py         the emoji and words of each run state and check status
    _flakiness.py      how often a check was flaky lately, in words
    _run_table.py      a finished run's checks: the category table, the failed and the
                       skipped checks
    summary.py         `RunView`, the run's parent message and its failure mention
    failure_reply.py   a failed check's thread reply, whether it is known, acknowledgements
    modal.py           the Acknowledge modal and the reading of its submission
    replies.py         the replies to `/smoketest` and the buttons, errors, refusals, notices

Block Kit and emoji live here only; `checks/` knows neither.
"""

from __future__ import annotations

from bot.slack.render._blocks import SlackMessage, escape, permalink
from bot.slack.render._flakiness import flaky_history_words
from bot.slack.render.failure_reply import (
    KnownKind,
    KnownState,
    known_state,
    render_acknowledged,
    render_failure_reply,
)
from bot.slack.render.modal import (
    ACK_CALLBACK_ID,
    AckSubmission,
    read_ack_submission,
    render_ack_modal,
)
from bot.slack.render.replies import (
    render_cancelling,
    render_confirm_production,
    render_error,
    render_help,
    render_history,
    render_interrupted,
    render_joined,
    render_list,
    render_mention_help,
    render_not_in_channel,
    render_queued,
    render_refusal,
    render_status,
)
from bot.slack.render.summary import RunView, render_failure_mention, render_summary

__all__ = [
    "ACK_CALLBACK_ID",
    "AckSubmission",
    "KnownKind",
    "KnownState",
    "RunView",
    "SlackMessage",
    "escape",
    "flaky_history_words",
    "known_state",
    "permalink",
    "read_ack_submission",
    "render_ack_modal",
    "render_acknowledged",
    "render_cancelling",
    "render_confirm_production",
    "render_error",
    "render_failure_mention",
    "render_failure_reply",
    "render_help",
    "render_history",
    "render_interrupted",
    "render_joined",
    "render_list",
    "render_mention_help",
    "render_not_in_channel",
    "render_queued",
    "render_refusal",
    "render_status",
    "render_summary",
]
