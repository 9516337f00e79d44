"""A person asking to start a run, whatever the trigger: `/smoketest ENV [filters]`, Re-run
failed and Re-run all (a summary's buttons), `@smokebot rerun` (a run's thread). One path for
all of them, so that the environment's rules and its confirmation hold for every one:

    ask_to_start          the channel, user and user-group rules (a refusal is audited and
                          answered); in an environment with `confirm: true` nothing starts: the
                          answer is the confirmation, audited as `confirm-requested`, whose
                          buttons carry the request (bot.records.StartRequest)
    start_confirmed       the confirmation's button: the rules again, at the click (a refusal
                          is a refused `confirmed`), then `confirmed` and the run
    cancel_confirmation   the confirmation's Cancel button: `confirm-cancelled`

A run that starts is audited as `run` (a re-run as `rerun`), a request that finds its
environment being tested as `join`, each with the run's id, in the transaction that decided it
(Store.start_or_join). Each entry of one request carries its request id, which ties the
confirmation's entries to the run's. A function returns the ticket, or the message to show
instead (a refusal, the confirmation, nothing to re-run); a SmokebotError it raises is the
caller's to turn into a reply."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.errors import StoreError
from bot.records import AuditAction, RunTicket, StartRequest, TriggerKind
from bot.runs import request_run
from bot.services import Services
from bot.slack import render
from bot.slack.gate import authorize_request, reply_for_ticket
from bot.suites import ANSWER_WAIT_S
from checks.errors import UsageError
from checks.plan import select_checks

__all__ = ["ask_to_start", "cancel_confirmation", "start_confirmed"]

log = logging.getLogger("smokebot.slack")
Outcome = RunTicket | render.SlackMessage


@dataclass(frozen=True)
class _Target:
    """What the request runs, read from the suite or, for a re-run, from the original run."""

    environment: str
    filters: tuple[str, ...]
    channel: str  # where the run reports


async def ask_to_start(services: Services, request: StartRequest, *, user: str, channel: str,
                       response_url: str | None = None) -> Outcome:
    """Starts or joins the run `user` asked for from `channel`, unless the environment refuses
    them or asks to confirm first. Raises UsageError when a re-run's original is gone."""
    target = await _target(services, request, channel)
    if isinstance(target, render.SlackMessage):
        return target
    facts = _facts(request, target)
    decision = await authorize_request(services, target.environment, user, channel,
                                       action=_start_action(request), detail=facts,
                                       audit_allowed=False)
    if not decision.allowed:
        return render.render_refusal(decision.reason)
    if decision.needs_confirmation:
        # A bad filter is said now, with the choices, rather than after the click.
        select_checks(services.suites.current(), target.environment, list(target.filters))
        # Off the ack path, like an allowed request's entries: nothing has started.
        services.in_background(services.store.audit(
            user, AuditAction.CONFIRM_REQUESTED, environment=target.environment, allowed=True,
            detail={"channel": channel, **facts}), "audit entry")
        return render.render_confirm_production(
            target.environment, target.filters, value=request.to_json(),
            rerun_of=str(request.rerun_of) if request.rerun_of else None,
            only_failed=request.only_failed)
    return await _start(services, request, target, user=user, channel=channel,
                        response_url=response_url, confirmed=False)


async def start_confirmed(services: Services, request: StartRequest, *, user: str,
                          channel: str, response_url: str | None = None) -> render.SlackMessage:
    """The confirmation's button: authorized and audited again at the click, under the suite
    file as it is now, then the run is started or joined; returns the reply to the click."""
    await services.suites.refresh(wait=ANSWER_WAIT_S)
    target = await _target(services, request, channel)
    if isinstance(target, render.SlackMessage):
        return target
    facts = _facts(request, target)
    decision = await authorize_request(services, target.environment, user, channel,
                                       action=AuditAction.CONFIRMED, detail=facts,
                                       audit_allowed=False)
    if not decision.allowed:
        return render.render_refusal(decision.reason)
    # Awaited, not in the background: the run's own entry must come after it.
    await services.store.audit(user, AuditAction.CONFIRMED, environment=target.environment,
                               allowed=True, detail={"channel": channel, **facts})
    return await reply_for_ticket(services, await _start(
        services, request, target, user=user, channel=channel, response_url=response_url,
        confirmed=True))


async def cancel_confirmation(services: Services, request: StartRequest, *, user: str,
                              channel: str) -> None:
    """The confirmation's Cancel button: nothing starts, and that is recorded (or, when the
    store is down, logged: the confirmation goes away either way)."""
    try:
        await services.store.audit(user, AuditAction.CONFIRM_CANCELLED,
                                   environment=request.environment, allowed=True,
                                   detail={"channel": channel, **_facts(request)})
    except StoreError as exc:
        log.warning("could not audit a cancelled confirmation: %s", exc.render())


async def _start(services: Services, request: StartRequest, target: _Target, *, user: str,
                 channel: str, response_url: str | None, confirmed: bool) -> RunTicket:
    detail: dict[str, Any] = {"channel": channel, **_facts(request)}
    if confirmed:
        detail["confirmed"] = True
    return await request_run(
        services, environment=target.environment, filters=target.filters,
        trigger_kind=request.trigger, requested_by=user, channel=target.channel,
        rerun_of=request.rerun_of, response_url=response_url, confirmed=confirmed,
        trigger_detail=_trigger_detail(request, user, confirmed=confirmed),
        audit_start=_start_action(request), audit_detail=detail)


async def _target(services: Services, request: StartRequest,
                  channel: str) -> _Target | render.SlackMessage:
    if request.rerun_of is None:
        return _Target(request.environment, request.filters, channel)
    original = await services.store.get_run(request.rerun_of)
    if original is None:
        raise UsageError("that run is no longer in the history store")
    filters = original.filters
    if request.only_failed:
        failed = tuple(r.check_id for r in await services.store.results(original.id)
                       if r.status.is_problem)
        if not failed:
            return render.render_error("Nothing failed in that run; use Re-run all.")
        filters = failed
    # A re-run reports where the original did, whoever asked from wherever.
    return _Target(original.environment, filters, original.channel or channel)


def _start_action(request: StartRequest) -> AuditAction:
    return AuditAction.RUN if request.rerun_of is None else AuditAction.RERUN


def _facts(request: StartRequest, target: _Target | None = None) -> dict[str, Any]:
    """What every audit entry of the request says of it."""
    facts: dict[str, Any] = {"request": request.request_id, "trigger": request.trigger.value}
    if target is not None:
        facts["filters"] = list(target.filters)
    if request.rerun_of is not None:
        facts.update(rerun_of=str(request.rerun_of), only_failed=request.only_failed)
    return facts


def _trigger_detail(request: StartRequest, user: str, *, confirmed: bool) -> str:
    """How the run's summary and history say what started it."""
    if request.trigger is TriggerKind.SLASH:
        said = " ".join(("/smoketest", request.environment, *request.filters))
    elif request.trigger is TriggerKind.MENTION:
        said = f"@smokebot rerun by <@{user}>"
    else:
        said = f"{'Re-run failed' if request.only_failed else 'Re-run all'} by <@{user}>"
    return f"{said} (confirmed)" if confirmed else said
