"""The `stripe.subscription_flow` check kind: a synthetic customer subscribes to a price in test
mode, and everything it made is deleted again, however the check ends.

    - id: subscription-flow
      type: stripe.subscription_flow
      timeout: 60s
      key: ${secrets.stripe_test_key}
      price: price_1PgafmB7WZ01zgkW        # a price id, a lookup key, or a legacy plan id
      expect_invoice_paid: true
      expect_events: [customer.subscription.created, invoice.paid]
      events_timeout: 30s

The steps, each timed and shown like `http.flow` steps: sweep leftovers (tagged customers of
earlier runs older than `sweep_older_than`), find the price, create a customer (an obviously
synthetic `smokebot+RUN@example.com`, tagged `metadata.smokebot_run`), attach the payment method
(`pm_card_visa`), make it the default, subscribe (status in `expect_status`, optionally the
latest invoice paid), set `cancel_at_period_end`, cancel, delete the customer, and, with
`expect_events`, wait until Stripe shows each listed event of this flow with
`pending_webhooks == 0` (every registered endpoint acknowledged it).

Test mode only: a live key is refused before any request, whatever the suite or the
environment's `stripe_mode` says; it would create real customers and charge a real card.

Cleanup always runs, after a failed step, a Stripe error, the runner's timeout and a
cancellation (a worker stopping a run, Ctrl-C) alike: it cancels the subscription and deletes
the customer if the flow did not get that far; a customer whose create was sent but whose answer
never came is found by its tags. It runs in a task of its own, for at most CLEANUP_LIMIT_S, and
a cancellation that arrives meanwhile waits for it. What even that cannot delete (the process
killed) is deleted by a later run's sweep.

The run id in the tags is the plan's `${run.id}` (one per run, the bot's run id when the bot
made the plan), so a leftover in the Stripe dashboard names the smokebot run that made it;
`metadata.smokebot_attempt` tells a retry's customer from the first attempt's.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import stripe
from pydantic import Field, field_validator

from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.stripe._client import (
    ProblemKind, StripeParams, StripeProblem, as_document, fingerprint, key_mode, open_stripe,
)
from checks.kinds.stripe._events import wait_for_events
from checks.kinds.stripe._steps import StepStopped, Steps, stopped_by
from checks.kinds.stripe._sweep import (
    ATTEMPT_TAG, RUN_TAG, Sweep, made_by, sweep_leftovers, tagged_customers,
)
from checks.results import Outcome

__all__ = ["SubscriptionFlowCheck", "SubscriptionFlowParams"]

CLEANUP_LIMIT_S = 15.0  # cleanup's own bound, also after the check's timeout or a cancellation
SubscriptionStatus = Literal["active", "trialing", "incomplete", "incomplete_expired",
                             "past_due", "unpaid", "canceled", "paused"]
_EVENT_TYPE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
_SAFE = re.compile(r"[^A-Za-z0-9-]")


class SubscriptionFlowParams(StripeParams):
    mode: Literal["test"] | None = None  # test mode only, whatever the environment says
    price: str = Field(min_length=1)  # price id, lookup key or legacy plan id
    payment_method: str = Field("pm_card_visa", min_length=1)
    expect_status: list[SubscriptionStatus] = Field(
        default_factory=lambda: ["active", "trialing"], min_length=1)
    expect_invoice_paid: bool = False
    expect_events: list[str] = Field(default_factory=list)
    events_timeout: Duration = Field(30.0, gt=0)
    # Longer than any run lasts, so a concurrent run's customers are never swept.
    sweep_older_than: Duration = Field(3600.0, ge=60)

    @field_validator("mode", mode="before")
    @classmethod
    def _test_only(cls, value: Any) -> Any:
        if value not in (None, "test"):
            raise ValueError("stripe.subscription_flow creates customers and subscriptions, so "
                             "it runs in test mode only; remove `mode` or set it to test")
        return value

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("expect_events")
    @classmethod
    def _event_types(cls, value: list[str]) -> list[str]:
        for event_type in value:
            if not _EVENT_TYPE.match(event_type):
                raise ValueError(f"expected Stripe event types such as "
                                 f"customer.subscription.created, got {event_type!r}")
        return list(dict.fromkeys(value))


def _refuse_live_key(key: str) -> None:
    """Before any request: a live key would make real customers and charge a real card."""
    if key_mode(key).mode != "test":
        raise CheckError(f"stripe.subscription_flow runs in test mode only, and the key "
                         f"{fingerprint(key)} is a live-mode key; give it the environment's "
                         "test key (sk_test_ or rk_test_)", permanent=True)


def _run_id_of(ctx: CheckContext) -> str:
    """The plan's `${run.id}`; a new id when the plan has none."""
    run_id = ctx.run_id
    return _SAFE.sub("-", run_id)[:40] if run_id else uuid.uuid4().hex[:12]


# ------------------------------------------------------------------------------ the flow

@dataclass
class _Made:
    """What the flow made, for cleanup to undo."""

    customer_sent: bool = False  # a create went out: its customer may exist unseen
    customer: str | None = None
    customer_deleted: bool = False
    payment_method: str | None = None
    subscription: str | None = None
    subscription_ended: bool = False
    invoice: str | None = None
    seen: dict[str, str] = field(default_factory=dict)  # facts for the summary


class _Flow:
    def __init__(self, client: stripe.StripeClient, params: SubscriptionFlowParams,
                 ctx: CheckContext, run_id: str) -> None:
        self.client = client
        self.params = params
        self.ctx = ctx
        self.run_id = run_id
        self.steps = Steps(params, ctx)
        self.made = _Made()
        self.sweep: Sweep | None = None
        self.started = int(time.time())

    @property
    def tags(self) -> dict[str, str]:
        return {RUN_TAG: self.run_id, ATTEMPT_TAG: str(self.ctx.attempt),
                "smokebot_environment": self.ctx.environment}

    async def run(self) -> None:
        v1, steps, made = self.client.v1, self.steps, self.made
        async with steps.step("sweep leftovers") as step:
            self.sweep = await sweep_leftovers(steps, self.client, self.params.sweep_older_than)
            step.said = self.sweep.said
        item = await self._find_price()
        async with steps.step("create customer") as step:
            made.customer_sent = True
            customer = await steps.call(v1.customers.create_async({
                "email": f"smokebot+{self.run_id}-{self.ctx.attempt}@example.com",
                "name": "smokebot synthetic customer",
                "description": "made by smokebot's stripe.subscription_flow; deleted when it ends",
                "metadata": self.tags}), "a new test customer")
            assert customer is not None
            made.customer = step.said = customer.id
        async with steps.step("attach payment method") as step:
            method = await steps.call(v1.payment_methods.attach_async(
                self.params.payment_method, {"customer": made.customer}),
                f"attaching payment method {self.params.payment_method} to {made.customer}")
            assert method is not None
            made.payment_method = method.id
            step.said = f"{self.params.payment_method} -> {method.id}"
        async with steps.step("set default payment method") as step:
            await steps.call(v1.customers.update_async(made.customer, {
                "invoice_settings": {"default_payment_method": made.payment_method}}),
                f"customer {made.customer}'s default payment method")
            step.said = f"{made.customer} pays with {made.payment_method}"
        await self._subscribe(item)
        async with steps.step("set cancel_at_period_end") as step:
            updated = await steps.call(v1.subscriptions.update_async(
                made.subscription, {"cancel_at_period_end": True}),
                f"subscription {made.subscription}")
            assert updated is not None
            if updated.cancel_at_period_end is not True:
                steps.fail(f"expected cancel_at_period_end true, got "
                           f"{updated.cancel_at_period_end!r}")
            step.said = f"{made.subscription} cancels at period end"
        async with steps.step("cancel subscription") as step:
            canceled = await steps.call(v1.subscriptions.cancel_async(made.subscription),
                                        f"cancelling subscription {made.subscription}")
            assert canceled is not None
            made.subscription_ended = True
            if canceled.status != "canceled":
                steps.fail(f"expected status canceled, got {canceled.status}")
            step.said = f"{made.subscription} canceled"
        async with steps.step("delete customer") as step:
            await steps.call(v1.customers.delete_async(made.customer),
                             f"deleting customer {made.customer}")
            made.customer_deleted = True
            step.said = f"{made.customer} deleted"
        if self.params.expect_events:
            async with steps.step("wait for events") as step:
                related = {i for i in (made.customer, made.subscription, made.payment_method,
                                       made.invoice) if i}
                await wait_for_events(steps, self.client, self.params.expect_events, related,
                                      self.started, self.params.events_timeout)
                step.said = ("acknowledged by every endpoint: "
                             f"{', '.join(self.params.expect_events)}")

    async def _find_price(self) -> dict[str, str]:
        """The subscription item for `price`: a price id, else a legacy plan id (Stripe takes
        either as `plan`; some emulators know only plans), else a lookup key."""
        v1, steps, wanted = self.client.v1, self.steps, self.params.price
        async with steps.step("find price") as step:
            if wanted.startswith("price_"):
                price = await self._unless_missing(v1.prices.retrieve_async(wanted),
                                                   f"price {wanted}")
                item = {"price": wanted}
            else:
                price = await steps.call(v1.plans.retrieve_async(wanted), f"plan {wanted}",
                                         missing_ok=True)
                item = {"plan": wanted}
                if price is None:
                    price = await self._by_lookup_key(wanted)
                    item = {"price": price.id} if price is not None else item
            if price is None:
                what = "no price" if wanted.startswith("price_") else \
                    "no price, plan or lookup key"
                steps.fail(f"{what} '{wanted}' in test mode; check the price's id in the "
                           "Stripe Dashboard (test mode)")
            facts = as_document(price)
            if facts.get("active") is False:
                steps.fail(f"price '{wanted}' is archived (active: false)")
            if facts.get("object") == "price" and facts.get("type") != "recurring":
                steps.fail(f"price '{wanted}' is a one-time price; a subscription needs a "
                           "recurring one")
            step.said = _describe_price(facts)
            self.made.seen["price"] = wanted
            return item

    async def _by_lookup_key(self, key: str) -> Any | None:
        found = await self._unless_missing(self.client.v1.prices.list_async(
            {"lookup_keys": [key], "limit": 1}), f"prices with lookup key {key}")
        return found.data[0] if found is not None and found.data else None

    async def _unless_missing(self, call: Coroutine[Any, Any, Any], subject: str) -> Any | None:
        result = await self.steps.attempt(call, subject)
        if isinstance(result, StripeProblem):
            # An emulator without /v1/prices answers 404 with a page that is not Stripe's JSON.
            if result.kind is ProblemKind.MISSING or result.status == 404:
                return None
            raise stopped_by(result)
        return result

    async def _subscribe(self, item: dict[str, str]) -> None:
        steps, made, params = self.steps, self.made, self.params
        async with steps.step("subscribe") as step:
            subscription = await steps.call(self.client.v1.subscriptions.create_async({
                "customer": made.customer, "items": [item], "metadata": self.tags,
                "expand": ["latest_invoice"]}), f"a subscription of {made.customer} to "
                f"{params.price}")
            assert subscription is not None
            made.subscription = subscription.id
            facts = as_document(subscription)
            invoice = facts.get("latest_invoice")
            invoice = invoice if isinstance(invoice, dict) else {"id": invoice}
            made.invoice = invoice.get("id")
            status = facts.get("status")
            made.seen["status"] = str(status)
            said = f"{subscription.id} {status}"
            if status not in params.expect_status:
                steps.fail(f"expected status {' or '.join(params.expect_status)}, got {status}")
            if params.expect_invoice_paid:
                if invoice.get("status") != "paid":
                    steps.fail(f"expected the latest invoice {made.invoice} paid, got "
                               f"{invoice.get('status') or 'no invoice'}")
                made.seen["invoice"] = "paid"
                said += f", invoice {made.invoice} paid"
            step.said = said

    # -------------------------------------------------------------------------- cleanup

    async def clean_up(self) -> None:
        """Undoes what the flow made and did not undo itself; each step's failure is recorded
        and the others still run."""
        made, v1 = self.made, self.client.v1
        customers = [made.customer] if made.customer and not made.customer_deleted else []
        if made.customer_sent and made.customer is None:
            await self._cleanup_step("find customer", self._find_unseen_customers(customers))
        if made.subscription and not made.subscription_ended:
            await self._cleanup_step("cancel subscription", self._ignore_missing(
                v1.subscriptions.cancel_async(made.subscription),
                f"cancelling subscription {made.subscription}",
                f"{made.subscription} canceled"))
        for customer_id in customers:
            await self._cleanup_step("delete customer", self._ignore_missing(
                v1.customers.delete_async(customer_id), f"deleting customer {customer_id}",
                f"{customer_id} deleted"))

    async def _cleanup_step(self, name: str, work: Coroutine[Any, Any, str]) -> None:
        try:
            async with self.steps.step(name, cleanup=True) as step:
                step.said = await work
        except StepStopped:
            pass  # recorded; the other cleanup steps still run

    async def _find_unseen_customers(self, into: list[str]) -> str:
        found, _ = await tagged_customers(self.steps, self.client,
                                          made_by(self.run_id, self.ctx.attempt))
        into += found
        return f"tagged by this run: {', '.join(found)}" if found else \
            "none tagged by this run: the create never reached Stripe"

    async def _ignore_missing(self, call: Coroutine[Any, Any, Any], subject: str,
                              done: str) -> str:
        result = await self.steps.call(call, subject, missing_ok=True)
        return done if result is not None else f"{subject.split()[-1]} was already gone"

    def cleanup_failures(self) -> list[str]:
        return [f"{r.name}: {r.said}" for r in self.steps.records if r.cleanup and not r.passed]

    def left_behind(self) -> str:
        made = self.made
        if made.customer and not made.customer_deleted:
            return f"customer {made.customer}"
        return "a customer tagged with this run"

    # -------------------------------------------------------------------------- the outcome

    def details(self) -> str:
        head = f"run {self.run_id}, attempt {self.ctx.attempt}, {self.steps.calls} Stripe calls"
        return "\n".join([head, *(record.line for record in self.steps.records)])

    def measurements(self) -> dict[str, Any]:
        flow = [r for r in self.steps.records if not r.cleanup]
        return {"flow_ms": sum(r.ms or 0 for r in flow), "stripe_calls": self.steps.calls,
                "step_ms": self.steps.timed(),
                "swept": len(self.sweep.deleted) if self.sweep else 0}

    def evidence(self) -> dict[str, Any]:
        made = self.made
        return {"run_id": self.run_id, "customer": made.customer,
                "subscription": made.subscription, "status": made.seen.get("status"),
                "steps": [{"name": r.name, "cleanup": r.cleanup, "status": r.status,
                           "ms": r.ms, "calls": r.calls} for r in self.steps.records],
                "swept": list(self.sweep.deleted) if self.sweep else []}

    def conclude(self, stopped: StepStopped | None) -> Outcome:
        redact = self.ctx.redactor.redact
        problems = []
        failed = next((r for r in self.steps.records if not r.cleanup and not r.passed), None)
        if stopped is not None and failed is not None:
            problems.append(f"{failed.label}: {stopped.message}")
        cleanup = self.cleanup_failures()
        if cleanup:
            problems.append(f"cleanup failed: {'; '.join(cleanup)}; a later run's sweep "
                            f"deletes {self.left_behind()} once it is older than "
                            f"{self.params.sweep_older_than:g}s")
        elif stopped is not None and any(r.cleanup for r in self.steps.records):
            problems.append("cleanup done")
        if stopped is not None and stopped.error is not None:
            raise CheckError(redact("; ".join(problems)), permanent=stopped.error.permanent,
                             details=redact(self.details()))
        if stopped is not None or cleanup:
            summary = "; ".join(problems)
        else:
            summary = self._passed_summary()
        return Outcome(passed=not problems, summary=redact(summary),
                       details=redact(self.details()),
                       measurements=self.ctx.redactor.redact_obj(self.measurements()),
                       evidence=self.ctx.redactor.redact_obj(self.evidence()))

    def _passed_summary(self) -> str:
        seen, ms = self.made.seen, self.measurements()
        paid = ", invoice paid" if "invoice" in seen else ""
        count = len(self.params.expect_events)
        events = f"; {count} event type{'s' if count > 1 else ''} acknowledged" if count else ""
        swept = f"; {self.sweep.said}" if self.sweep and self.sweep.deleted else ""
        return (f"subscribed to {seen.get('price')} (status {seen.get('status')}{paid}), "
                f"canceled and deleted in {ms['flow_ms']} ms over {ms['stripe_calls']} Stripe "
                f"calls{events}{swept}")


def _describe_price(facts: dict[str, Any]) -> str:
    recurring = facts.get("recurring") or {}
    interval = facts.get("interval") or recurring.get("interval")
    amount = facts.get("unit_amount", facts.get("amount"))
    # Stripe's own terms: amounts are in the currency's smallest unit (900 eur is 9.00 EUR).
    money = f"amount {amount} {facts.get('currency') or ''}".strip() if amount is not None \
        else "no fixed amount"
    per = f" per {interval}" if interval else ""
    return f"{facts.get('object', 'price')} {facts.get('id')}: {money}{per}"


async def _finish_regardless(work: Coroutine[Any, Any, None],
                             limit_s: float) -> tuple[bool, bool]:
    """Runs `work` to its end, for at most `limit_s`, even when the task awaiting it is
    cancelled meanwhile (the runner's timeout, a worker stopping, a second Ctrl-C). Returns
    (finished, cancelled meanwhile): the caller passes such a cancellation on."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(work)
    deadline = loop.time() + limit_s
    cancelled = False
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            task.cancel()
            await asyncio.wait({task})
            break
        try:
            await asyncio.wait({task}, timeout=remaining)
        except asyncio.CancelledError:
            cancelled = True
    if not cancelled and not task.cancelled():
        task.result()  # a bug in cleanup is a bug, not silence
    return not task.cancelled(), cancelled


class SubscriptionFlowCheck(CheckKind[SubscriptionFlowParams]):
    Params = SubscriptionFlowParams

    async def run(self, params: SubscriptionFlowParams, ctx: CheckContext) -> Outcome:
        ctx.redactor.register(params.key)
        _refuse_live_key(params.key)
        run_id = _run_id_of(ctx)
        # mode "test" whatever the environment's stripe_mode: open_stripe refuses other keys.
        async with open_stripe(params.model_copy(update={"mode": "test"}), ctx) as client:
            flow = _Flow(client, params, ctx, run_id)
            stopped: StepStopped | None = None
            try:
                await flow.run()
            except StepStopped as exc:
                stopped = exc
            finally:
                finished, cancelled = await _finish_regardless(flow.clean_up(), CLEANUP_LIMIT_S)
                self._warn_if_left(flow, finished)
                if cancelled:
                    raise asyncio.CancelledError
        return flow.conclude(stopped)

    @staticmethod
    def _warn_if_left(flow: _Flow, finished: bool) -> None:
        """A log line when Stripe objects may be left: after a cancellation no Outcome will
        say so."""
        failures = flow.cleanup_failures()
        if finished and not failures:
            return
        why = "; ".join(failures) if failures else f"it ran out of {CLEANUP_LIMIT_S:g}s"
        flow.ctx.logger.warning("%s", flow.ctx.redactor.redact(
            f"stripe.subscription_flow run {flow.run_id}: cleanup did not finish ({why}); "
            f"{flow.left_behind()} may be left until a later run's sweep deletes it"))

    def describe(self, params: SubscriptionFlowParams) -> str:
        extras = [f"expects {' or '.join(params.expect_status)}"]
        if params.expect_invoice_paid:
            extras.append("invoice paid")
        if params.expect_events:
            extras.append(f"events {', '.join(params.expect_events)}")
        return (f"subscribe a test customer to {params.price} with {params.payment_method}, "
                f"then cancel and delete ({'; '.join(extras)})")
