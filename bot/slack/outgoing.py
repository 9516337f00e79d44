"""What a run owes Slack once its checks are over, as outbox messages: pure functions from the
run's records to the rows the deliverer sends (bot/slack/delivery.py), in the order they must be
posted: the final summary, one reply per failure, the group mention, the Markdown report; or,
for a run the worker ended (interrupted, errored, superseded), the summary and a notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.records import OutboxMessage, Run, SlackMessageKind, TriggerKind
from bot.slack import render
from checks.results import CheckResult

__all__ = ["EndingContext", "ending_messages", "interruption_messages", "notice_message",
           "run_view"]


def run_view(run: Run, *, total: int, categories: tuple[str, ...],
             results: tuple[CheckResult, ...] = (), mention: str | None = None) -> render.RunView:
    """The summary's view of a run, from its record and the results known so far."""
    deploy = run.deploy
    trigger = run.trigger_detail or run.trigger_kind.value
    if run.requested_by and run.trigger_kind is TriggerKind.SLASH:
        trigger = f"{trigger} by <@{run.requested_by}>"
    return render.RunView(
        run_id=str(run.id), environment=run.environment, status=run.status.value,
        trigger=trigger, requested_by=run.requested_by,
        version=deploy.version if deploy else None, commit=deploy.commit if deploy else None,
        ref=deploy.ref if deploy else None, deployer=deploy.deployer if deploy else None,
        deploy_url=(deploy.link or deploy.url) if deploy else None,
        total=total, results=results, categories=categories,
        started_at=run.started_at, finished_at=run.finished_at,
        superseded_by=str(run.superseded_by) if run.superseded_by else None,
        mention=mention, interrupted_reason=run.status_reason)


@dataclass(frozen=True)
class EndingContext:
    """What the worker knows when a run's checks are over, besides the run itself."""

    channel: str  # where the summary is (or is to be posted)
    reply_under: str | None  # a re-run's summary goes into its original run's thread
    total: int
    categories: tuple[str, ...]
    results: tuple[CheckResult, ...]
    # check id -> acknowledged / still failing / flaky lately: each of them gets a reply
    known: dict[str, render.KnownState | None]
    mention: str | None
    report_markdown: str | None
    report_filename: str
    report_title: str
    read_version: str | None = None  # the run's version as a check read it (RunResult)
    run_url: str | None = None  # the run's page, for the summary's "View run" link


def ending_messages(run: Run, context: EndingContext) -> list[OutboxMessage]:
    """The final summary, one reply per problem (and per flaky check), the mention and the
    report (when something failed)."""
    acknowledged = tuple(check_id for check_id, known in context.known.items()
                         if known is not None and known.kind is render.KnownKind.ACKNOWLEDGED)
    view = run_view(run, total=context.total, categories=context.categories,
                    results=context.results, mention=context.mention)
    flaky_history = tuple(known.flaky for known in context.known.values()
                          if known is not None and known.flaky is not None)
    view = replace(view, acknowledged=acknowledged, read_version=context.read_version,
                   run_url=context.run_url, flaky_history=flaky_history)
    messages = [_summary(context.channel, render.render_summary(view), context.reply_under)]
    replied = [r for r in context.results if r.check_id in context.known]  # flaky ones too
    for result in replied:
        reply = render.render_failure_reply(result, known=context.known[result.check_id])
        messages.append(OutboxMessage(SlackMessageKind.FAILURE_REPLY, context.channel,
                                      _content(reply), check_id=result.check_id))
    mention = render.render_failure_mention(view)
    if mention is not None:  # an edit does not notify: the mention needs its own post
        messages.append(OutboxMessage(SlackMessageKind.MENTION, context.channel,
                                      _content(mention)))
    if context.report_markdown and any(r.status.is_problem for r in replied):
        messages.append(OutboxMessage(SlackMessageKind.REPORT, context.channel, {
            "filename": context.report_filename, "title": context.report_title,
            "content": context.report_markdown}))
    return messages


def interruption_messages(run: Run, *, channel: str, summary_posted: bool, total: int,
                          results: Sequence[CheckResult],
                          run_url: str | None = None) -> list[OutboxMessage]:
    """For a run the worker or a newer deploy ended: the summary says how it ended, and an
    interrupted run's thread gets a note (a run never shown gets one message)."""
    view = run_view(run, total=total, categories=tuple(dict.fromkeys(r.category for r in results)),
                    results=tuple(results))
    view = replace(view, run_url=run_url)
    summary = render.render_summary(view)
    interrupted = run.status.value == "interrupted"
    notice = render.render_interrupted(run.environment, str(run.id), run.status_reason)
    if not summary_posted:
        return [_summary(channel, notice if interrupted else summary, None)]
    messages = [_summary(channel, summary, None)]
    if interrupted:
        messages.append(OutboxMessage(SlackMessageKind.NOTICE, channel, _content(notice)))
    return messages


def notice_message(channel: str, message: render.SlackMessage) -> OutboxMessage:
    """Anything else posted in a run's thread (an acknowledgement, ...)."""
    return OutboxMessage(SlackMessageKind.NOTICE, channel, _content(message))


def _summary(channel: str, message: render.SlackMessage, reply_under: str | None) -> OutboxMessage:
    payload = _content(message)
    if reply_under:
        payload["thread_ts"] = reply_under
    return OutboxMessage(SlackMessageKind.SUMMARY, channel, payload)


def _content(message: render.SlackMessage) -> dict[str, object]:
    return {"text": message.text, "blocks": message.blocks}
