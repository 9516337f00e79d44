"""What the history store holds: `history` (the last runs, or one check's latest results and
how often it was flaky) and `deliveries` (the last deploy webhooks and what each started, then
the verdicts reported back to their sources, and how that went)."""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import click

from bot.cli._engine import config_option
from bot.cli._store import query_store
from bot.records import (
    FlakyHistory,
    PastResult,
    ReportBack,
    ReportState,
    Run,
    SlackMessage,
    WebhookDelivery,
    WebhookOutcome,
)
from bot.settings import Settings
from bot.suites import load_suite
from bot.webhooks.sources import source_names
from checks.errors import UsageError
from checks.report._text import one_line

if TYPE_CHECKING:
    from bot.store import Store

__all__ = ["deliveries", "history"]

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_MARKUP = re.compile(r"<([^<>\s][^<>]*)>")  # Slack's <@U0…>, <#C0…|name>, <url|label>, <!here>
_ENDED_EARLY = ("cancelled", "interrupted", "superseded", "error")


@click.command()
@click.argument("environment", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--check", "check_id", metavar="CHECK_ID",
              help="One check's results in ENVIRONMENT's latest runs, and how often it was "
                   "flaky.")
@config_option
def history(environment: str | None, limit: int, check_id: str | None,
            config: str | None) -> None:
    """The last runs: verdict, failed count, trigger, deployed version, Slack thread. With
    --check, one check's latest results instead: `flaky 3 of the last 10 runs`."""
    settings = Settings.from_env()
    if check_id is not None:
        if environment is None:
            raise UsageError("--check needs an environment: smokebot history ENVIRONMENT "
                             f"--check {check_id}")
        _check_history(environment, check_id, limit, config or settings.config_path)
        return
    runs, links = query_store(lambda store: _runs_and_links(store, environment, limit))
    if not runs:
        if environment is not None:  # a typo must not read as an environment never tested
            _known(config or settings.config_path, environment)
        click.echo("No runs yet.")
        return
    workspace = asyncio.run(_workspace_url(settings)) if links else None
    for line in _history_lines(runs, links, workspace_url=workspace):
        click.echo(line)


async def _runs_and_links(store: Store, environment: str | None,
                          limit: int) -> tuple[list[Run], dict[UUID, SlackMessage]]:
    runs = await store.recent_runs(environment, limit=limit)
    return runs, await store.summary_messages([r.id for r in runs])


def _check_history(environment: str, check_id: str, limit: int, config_path: str) -> None:
    past, lately = query_store(lambda store: _results_and_flakiness(store, environment,
                                                                     check_id, limit))
    if not past:
        # A typo must not read as a check never run.
        _known(config_path, environment, check_id)
        click.echo(f"No results of {check_id} in {environment} yet.")
        return
    for line in _check_lines(check_id, environment, past, lately):
        click.echo(line)


async def _results_and_flakiness(store: Store, environment: str, check_id: str,
                                 limit: int) -> tuple[list[PastResult], FlakyHistory | None]:
    past = await store.past_results(environment, check_id, limit=limit)
    lately = await store.flaky_history(environment, [check_id])
    return past, lately.get(check_id)


def _check_lines(check_id: str, environment: str, past: Sequence[PastResult],
                 lately: FlakyHistory | None) -> list[str]:
    """`health in staging: flaky 3 of the last 10 runs`, then one line per run: when, run,
    the run's status, the check's status, attempts, summary."""
    from bot.slack.render import flaky_history_words  # here: other commands need no Block Kit

    headline = f"{one_line(check_id)} in {one_line(environment)}"
    if lately is not None:
        headline += f": {flaky_history_words(lately)}"
    lines = [headline, "",
             f"{'When':<16}  {'Run':<8}  {'Run status':<11}  {'Check':<6}  {'Attempts':>8}  "
             "Summary"]
    for entry in past:
        result = entry.result
        lines.append(f"{entry.run_created_at:%Y-%m-%d %H:%M}  {str(entry.run_id)[:8]}  "
                     f"{entry.run_status.value:<11}  {result.status.value:<6}  "
                     f"{result.attempts:>8}  {one_line(result.summary)}".rstrip())
    return lines


def _known(config_path: str, environment: str, check_id: str | None = None) -> None:
    """Raises UsageError, naming the suite file's environments, for one it does not have (an
    environment that has runs is known, even if the file no longer lists it), and for a
    check id it does not have, naming the closest."""
    suite = load_suite(config_path)
    names = list(suite.environments)
    if environment not in names:
        raise UsageError(f"unknown environment '{environment}'{_did_you_mean(environment, names)}"
                         f"; expected one of: {', '.join(names)}")
    if check_id is None:
        return
    ids = [check.id for _, _, _, check in suite.all_checks()]
    if check_id not in ids:
        raise UsageError(f"unknown check '{check_id}'{_did_you_mean(check_id, ids)}; the "
                         "suite's checks are listed by `smokebot list`")


def _did_you_mean(name: str, choices: list[str]) -> str:
    hint = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


async def _workspace_url(settings: Settings) -> str | None:
    """auth.test's URL, for links into the workspace; None (links go through slack.com)
    without a bot token or when Slack does not answer."""
    if settings.slack_bot_token is None:
        return None
    from bot.slack.client import create_slack_client  # here: only a history with links asks
    from bot.slack.workspace import WorkspaceUrl

    return await WorkspaceUrl().get(create_slack_client(settings, retries=0))


def _history_lines(runs: Sequence[Run], links: Mapping[UUID, SlackMessage], *,
                  workspace_url: str | None = None) -> list[str]:
    """The runs as plain text for a terminal, a header first: when, run, environment,
    status, passed of total, failed, then the trigger (Slack markup made plain), version,
    why it ended early, and the link to its Slack thread."""
    width = max(11, min(24, max(len(r.environment) for r in runs)))
    lines = [f"{'When':<16}  {'Run':<8}  {'Environment':<{width}}  {'Status':<11}  "
             f"{'Passed':>7}  {'Failed':>6}  Trigger"]
    for run in runs:
        counts = run.counts
        line = (f"{run.created_at:%Y-%m-%d %H:%M}  {str(run.id)[:8]}  "
                f"{run.environment:<{width}}  {run.status.value:<11}  "
                f"{f'{counts.passed}/{counts.total}':>7}  {counts.failed + counts.errors:>6}  ")
        line += "  ".join(_details(run, links.get(run.id), workspace_url))
        lines.append(line.rstrip())
    return lines


def _details(run: Run, summary: SlackMessage | None, workspace_url: str | None) -> list[str]:
    trigger = run.trigger_detail or run.trigger_kind.value
    if run.requested_by and _USER_ID.match(run.requested_by) and "<@" not in trigger:
        trigger += f" by <@{run.requested_by}>"
    parts = [_plain_text(trigger)]
    version = (run.deploy.version or run.deploy.commit) if run.deploy else None
    if version:
        parts.append(f"version {one_line(version)}")
    remarks = [f"{n} {word}" for n, word in ((run.counts.flaky, "flaky"),
                                              (run.counts.slow, "slow")) if n]
    if remarks:  # passed, but worth a look
        parts.append(f"({', '.join(remarks)})")
    if run.status.value in _ENDED_EARLY and run.status_reason:
        parts.append(f"({_plain_text(run.status_reason)})")
    if summary is not None:
        from bot.slack.render import permalink  # here: other commands need no Block Kit

        parts.append("thread " + permalink(summary.channel, summary.ts, summary.thread_ts,
                                           workspace_url=workspace_url))
    return parts


def _plain_text(text: str) -> str:
    """Slack markup as a terminal shows it: `<@U0123>` as @U0123 (or @name when the markup
    carries one), channels as #name, links as their label and URL, entities unescaped."""
    plain = _MARKUP.sub(_plain_markup, one_line(text))
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain_markup(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith("@"):
        return f"@{label.lstrip('@') or target[1:]}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!subteam^"):
        return f"@{label.lstrip('@') or target.removeprefix('!subteam^')}"
    if target.startswith("!"):
        return f"@{label or target[1:].split('^')[0]}"
    return f"{label} ({target})" if label and label != target else target


@click.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--source", type=click.Choice(source_names()))
def deliveries(limit: int, source: str | None) -> None:
    """Recent deploy webhook deliveries, and why each did or did not start a run; then the
    verdicts reported back to the deploys' sources: delivered, pending, failed or skipped."""
    found, reports = query_store(lambda store: _deliveries_and_reports(store, limit, source))
    if not found:
        click.echo("no deliveries yet")
    for d in found:
        run = str(d.run_id)[:8] if d.run_id else "-"
        again = ""
        if d.redeliveries and d.outcome is WebhookOutcome.REJECTED:
            # One row stands for the same rejection repeated within the hour (migration 0005).
            again = f" (+{d.redeliveries} more like it, last {d.last_received_at:%H:%M:%S})"
        elif d.redeliveries:
            again = f" (+{d.redeliveries} redelivered)"
        click.echo(f"{d.received_at:%Y-%m-%d %H:%M:%S} {d.source:<7} "
                   f"{(d.delivery_id or '-')[:20]:<20} {d.outcome.value:<8} "
                   f"{d.environment or '-':<12} run {run}{again}  {d.reason}")
    if reports:
        click.echo("")
        click.echo("Reported back:")
        for line in _report_lines(reports):
            click.echo(line)


async def _deliveries_and_reports(store: Store, limit: int, source: str | None
                                  ) -> tuple[list[WebhookDelivery], list[ReportBack]]:
    found = await store.recent_webhook_deliveries(limit, source=source or None)
    return found, await store.recent_report_backs(limit, source=source or None)


def _report_lines(reports: Sequence[ReportBack]) -> list[str]:
    """One line per report, newest first: when the run was recorded, the source, the run,
    the state, where to, then what was said (or what went wrong) and the attempts."""
    from bot.report_back.reporters import describe_target  # here: only this command asks

    lines = []
    for report in reports:
        tries = f"{report.attempts} attempt{'' if report.attempts == 1 else 's'}"
        if report.state is ReportState.DELIVERED:
            said = f" (status {report.remote_id})" if report.remote_id else ""
            detail = f"{report.reported}{said}, {tries}"
        elif report.state is ReportState.PENDING and not report.attempts:
            detail = "not sent yet: sent once the run has ended"
        elif report.state is ReportState.PENDING:
            detail = (f"{tries} so far, next at {report.next_attempt_at:%H:%M:%S}: "
                      f"{one_line(report.last_error or '')}")
        elif report.state is ReportState.FAILED:
            detail = f"{one_line(report.last_error or '')} ({tries})"
        else:
            detail = one_line(report.last_error or "")
        lines.append(f"{report.created_at:%Y-%m-%d %H:%M:%S} {report.target.source:<7} "
                     f"run {str(report.run_id)[:8]} {report.state.value:<9} "
                     f"{one_line(describe_target(report.target))}  {detail}".rstrip())
    return lines
