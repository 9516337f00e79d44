"""The `stripe.subscription_flow` kind against localstripe on loopback, through the real
`stripe` client: the flow passes and shows its timed steps, refuses a live key before any
request, fails readably, and leaves no customer behind however it ends (passed, failed mid-way,
timed out, cancelled, stopped by the worker), counted through the stripe client before and
after."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
import yaml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from checks.config import load_suite
from checks.errors import CheckError
from checks.kinds import load_kind
from checks.kinds.stripe.subscription_flow import SubscriptionFlowCheck, SubscriptionFlowParams
from checks.plan import build_plan
from checks.results import Outcome, Status
from checks.runner import run_plan
from tests.support.asgi import free_port, serve_asgi
from tests.support.localstripe_server import LocalStripe, serving_localstripe
from tests.support.stripe_runs import (
    KEY_VARIABLE, LIVE_KEY, TEST_KEY, leaks, run_stripe_suite, stripe_context,
)

PLAN = "smokebot-monthly"
RUN = "run-7f3a9c"
KIND = "stripe.subscription_flow"


@pytest.fixture(scope="module")
def localstripe() -> Iterator[LocalStripe]:
    with serving_localstripe() as server:
        yield server


@pytest.fixture
def server(localstripe: LocalStripe) -> Iterator[LocalStripe]:
    """An empty localstripe with one monthly plan, PLAN."""
    localstripe.flush()
    client = admin(localstripe.api_base)
    product = client.v1.products.create({"name": "smokebot test product"})
    client.v1.plans.create({"id": PLAN, "amount": 900, "currency": "eur", "interval": "month",
                            "product": product.id})
    yield localstripe
    localstripe.register_webhook("app", "http://127.0.0.1:9/", "whsec_unused", events=[])


def admin(api_base: str) -> stripe.StripeClient:
    """The test's own client: counts and plants objects, never the check's."""
    return stripe.StripeClient(TEST_KEY, base_addresses={"api": api_base},
                               max_network_retries=0)


def tagged(server: LocalStripe, run_id: str | None = None) -> list[str]:
    """The customers that carry smokebot's run tag (this run's, when given)."""
    found = []
    for customer in admin(server.api_base).v1.customers.list({"limit": 100}).auto_paging_iter():
        run = customer.to_dict().get("metadata", {}).get("smokebot_run")
        if run is not None and (run_id is None or run == run_id):
            found.append(customer.id)
    return found


def params(api_base: str, **overrides: Any) -> SubscriptionFlowParams:
    return SubscriptionFlowParams.model_validate(
        {"key": TEST_KEY, "api_base": api_base, "price": PLAN, "network_retries": 0, **overrides})


async def run_flow(api_base: str, **overrides: Any) -> Outcome:
    ctx = stripe_context(run={"id": RUN})
    return await SubscriptionFlowCheck().run(params(api_base, **overrides), ctx)


def shape(details: str) -> list[str]:
    """The details with Stripe's random ids and the timings made stable."""
    text = re.sub(r"\b(cus|pm|sub|in|prod)_(?!card_)[A-Za-z0-9]+", r"\1_*", details)
    return re.sub(r"in \d+ ms", "in N ms", text).splitlines()


# ------------------------------------------------------------------------------ passing

async def test_the_flow_passes_with_each_step_timed_and_leaves_no_customer(
        server: LocalStripe) -> None:
    before = tagged(server, RUN)

    outcome = await run_flow(server.api_base, expect_invoice_paid=True)

    assert outcome.passed, outcome.summary
    assert re.fullmatch(r"subscribed to smokebot-monthly \(status active, invoice paid\), "
                        r"canceled and deleted in \d+ ms over 9 Stripe calls", outcome.summary)
    assert shape(outcome.details) == [
        f"run {RUN}, attempt 1, 9 Stripe calls",
        "step 'sweep leftovers': ok: deleted 0 leftover customers in N ms",
        "step 'find price': ok: plan smokebot-monthly: amount 900 eur per month in N ms",
        "step 'create customer': ok: cus_* in N ms",
        "step 'attach payment method': ok: pm_card_visa -> pm_* in N ms",
        "step 'set default payment method': ok: cus_* pays with pm_* in N ms",
        "step 'subscribe': ok: sub_* active, invoice in_* paid in N ms",
        "step 'set cancel_at_period_end': ok: sub_* cancels at period end in N ms",
        "step 'cancel subscription': ok: sub_* canceled in N ms",
        "step 'delete customer': ok: cus_* deleted in N ms",
    ]
    assert outcome.measurements["stripe_calls"] == 9
    assert list(outcome.measurements["step_ms"]) == [
        "sweep leftovers", "find price", "create customer", "attach payment method",
        "set default payment method", "subscribe", "set cancel_at_period_end",
        "cancel subscription", "delete customer"]
    assert outcome.evidence["run_id"] == RUN
    assert before == tagged(server, RUN) == []


async def test_the_customer_is_synthetic_and_tagged_with_the_run(server: LocalStripe) -> None:
    made: list[dict[str, Any]] = []
    proxy = HoldingProxy(server.api_base, on_customer=made.append)
    with proxy.serving() as api_base:
        outcome = await run_flow(api_base)

    assert outcome.passed, outcome.summary
    [customer] = made
    assert customer["email"] == f"smokebot+{RUN}-1@example.com"
    assert customer["metadata"] == {"smokebot_run": RUN, "smokebot_attempt": "1",
                                    "smokebot_environment": "staging"}


async def test_events_acknowledged_by_every_endpoint_pass(server: LocalStripe) -> None:
    with webhook_receiver(server, status=200) as received:
        outcome = await run_flow(
            server.api_base, events_timeout=5,
            expect_events=["customer.created", "customer.subscription.created",
                           "customer.subscription.deleted"])

    assert outcome.passed, outcome.summary
    assert re.search(r"over \d+ Stripe calls; 3 event types acknowledged$", outcome.summary)
    assert shape(outcome.details)[-1].startswith(
        "step 'wait for events': ok: acknowledged by every endpoint: customer.created, "
        "customer.subscription.created, customer.subscription.deleted in N ms")
    assert {"customer.created", "customer.subscription.created",
            "customer.subscription.deleted"} <= set(received)
    assert tagged(server) == []


async def test_events_not_acknowledged_or_never_sent_fail_naming_each(
        server: LocalStripe) -> None:
    with webhook_receiver(server, status=500):
        outcome = await run_flow(
            server.api_base, events_timeout=1.5,
            expect_events=["customer.created", "customer.subscription.updated"])

    assert not outcome.passed
    # localstripe never emits customer.subscription.updated, whatever is updated.
    assert outcome.summary == (
        "step 'wait for events': customer.created: seen, but 1 webhook endpoint has not "
        "acknowledged it within 1.5s; customer.subscription.updated: no such event for this "
        "flow within 1.5s")
    assert tagged(server) == []


# ------------------------------------------------------------------------------ refusals

async def test_a_live_key_is_refused_before_any_request() -> None:
    with ConnectionCounter() as counter:
        with pytest.raises(CheckError) as raised:
            await SubscriptionFlowCheck().run(
                params(counter.api_base, key=LIVE_KEY),
                stripe_context(stripe_mode="live"))  # whatever the environment says

    assert raised.value.permanent
    assert raised.value.message == (
        f"stripe.subscription_flow runs in test mode only, and the key sk_live_…"
        f"({len(LIVE_KEY)} chars) is a live-mode key; give it the environment's test key "
        "(sk_test_ or rk_test_)")
    assert counter.connections == 0


def test_a_suite_cannot_ask_for_live_mode() -> None:
    with pytest.raises(ValidationError, match="runs in test mode only"):
        params("http://127.0.0.1:9", mode="live")


async def test_a_live_environment_still_runs_the_flow_in_test_mode(server: LocalStripe) -> None:
    ctx = stripe_context(stripe_mode="live", run={"id": RUN})
    outcome = await SubscriptionFlowCheck().run(params(server.api_base), ctx)

    assert outcome.passed, outcome.summary


# ------------------------------------------------------------------------------ failures

async def test_a_price_that_does_not_exist_fails_readably_and_makes_nothing(
        server: LocalStripe) -> None:
    by_name = await run_flow(server.api_base, price="smokebot-yearly")
    by_id = await run_flow(server.api_base, price="price_1NoSuchPrice")

    assert not by_name.passed
    assert by_name.summary == (
        "step 'find price': no price, plan or lookup key 'smokebot-yearly' in test mode; "
        "check the price's id in the Stripe Dashboard (test mode)")
    assert by_id.summary == (
        "step 'find price': no price 'price_1NoSuchPrice' in test mode; check the price's id "
        "in the Stripe Dashboard (test mode)")
    assert "create customer" not in by_name.details
    assert tagged(server) == []


async def test_a_status_other_than_expected_fails_and_cleanup_cancels_and_deletes(
        server: LocalStripe) -> None:
    before = tagged(server, RUN)

    outcome = await run_flow(server.api_base, expect_status="past_due")

    assert not outcome.passed
    assert outcome.summary == ("step 'subscribe': expected status past_due, got active; "
                               "cleanup done")
    assert shape(outcome.details)[-3:] == [
        "step 'subscribe': FAILED: expected status past_due, got active in N ms",
        "cleanup step 'cancel subscription': ok: sub_* canceled in N ms",
        "cleanup step 'delete customer': ok: cus_* deleted in N ms",
    ]
    assert before == tagged(server, RUN) == []


async def test_a_declined_card_fails_the_attach_step_and_the_customer_is_deleted(
        server: LocalStripe) -> None:
    outcome = await run_flow(server.api_base, payment_method="pm_card_visa_chargeDeclined")

    assert not outcome.passed
    assert outcome.summary.startswith("step 'attach payment method': ")
    assert "Your card was declined." in outcome.summary
    assert shape(outcome.details)[-1] == "cleanup step 'delete customer': ok: cus_* deleted in N ms"
    assert tagged(server) == []


async def test_a_cleanup_that_fails_fails_the_check_and_says_what_is_left(
        server: LocalStripe, caplog: pytest.LogCaptureFixture) -> None:
    proxy = HoldingProxy(server.api_base)
    proxy.hold("DELETE", "/v1/customers/", until="refused")
    with proxy.serving() as api_base:
        outcome = await run_flow(api_base, expect_status="past_due")

    [left] = tagged(server, RUN)
    assert outcome.summary == (
        "step 'subscribe': expected status past_due, got active; cleanup failed: delete "
        f"customer: Stripe answered the request for deleting customer {left} with 503 (Stripe "
        "is having trouble.); Stripe may be having trouble (status.stripe.com); a later run's "
        f"sweep deletes customer {left} once it is older than 3600s")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"stripe.subscription_flow run {RUN}: cleanup did not finish (delete customer: Stripe "
        f"answered the request for deleting customer {left} with 503 (Stripe is having "
        "trouble.); Stripe may be having trouble (status.stripe.com)); customer "
        f"{left} may be left until a later run's sweep deletes it"]


async def test_stripe_down_is_an_error_after_bounded_retries() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(CheckError) as raised:
        await run_flow(f"http://127.0.0.1:{port}", network_retries=1)

    assert not raised.value.permanent
    assert raised.value.message == (
        f"step 'sweep leftovers': cannot reach Stripe at 127.0.0.1:{port} (connection refused) "
        "when reading the account's customers, still after 1 retry; is api_base right?")


async def test_stripe_answering_5xx_is_retried_a_bounded_number_of_times_then_an_error() -> None:
    calls: list[str] = []

    async def broken(request: Request) -> Response:
        calls.append(f"{request.method} {request.url.path}")
        return JSONResponse({"error": {"type": "api_error", "message": "Something went wrong "
                                       "on Stripe's end."}}, status_code=500)

    app = Starlette(routes=[Route("/{path:path}", broken, methods=["GET", "POST", "DELETE"])])
    with serve_asgi(app) as api_base:
        with pytest.raises(CheckError) as raised:
            await run_flow(api_base, network_retries=1)

    assert not raised.value.permanent
    assert raised.value.message == (
        "step 'sweep leftovers': Stripe answered the request for the account's customers with "
        "500 (Something went wrong on Stripe's end.), still after 1 retry; Stripe may be having "
        "trouble (status.stripe.com)")
    assert calls == ["GET /v1/customers", "GET /v1/customers"]


# ------------------------------------------------------------------------------ cleanup

async def test_a_timeout_while_the_customer_is_created_still_deletes_it(
        server: LocalStripe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stripe made the customer but its answer never came: cleanup finds it by its tags."""
    proxy = HoldingProxy(server.api_base)
    created = proxy.hold("POST", "/v1/customers", until="answered")
    with proxy.serving() as api_base:
        run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY, checks=[
            {"id": "subscribe", "type": KIND, "price": PLAN, "timeout": "1s"}])

    check = run.check
    assert (check.status, check.summary) == (Status.ERROR, "timed out after 1s")
    assert created.arrived.is_set()
    assert tagged(server) == []


async def test_a_cancelled_task_cleans_up_even_when_cancelled_again_during_cleanup(
        server: LocalStripe) -> None:
    """A worker's cancellation, then a second one (Ctrl-C twice) while cleanup deletes."""
    proxy = HoldingProxy(server.api_base)
    subscribing = proxy.hold("POST", "/v1/subscriptions", until="answered")
    deleting = proxy.hold("DELETE", "/v1/customers/", until="forwarded")
    with proxy.serving() as api_base:
        task = asyncio.ensure_future(run_flow(api_base))
        assert await asyncio.to_thread(subscribing.arrived.wait, 10)
        assert len(tagged(server, RUN)) == 1
        task.cancel()
        assert await asyncio.to_thread(deleting.arrived.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        deleting.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert tagged(server, RUN) == []


async def test_a_run_the_worker_cancels_mid_flow_leaves_no_customer(
        server: LocalStripe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = HoldingProxy(server.api_base)
    attaching = proxy.hold("POST", "/v1/payment_methods/", until="forwarded")
    with proxy.serving() as api_base:
        plan = plan_for(tmp_path, monkeypatch, {"id": "subscribe", "type": KIND,
                                                "api_base": api_base, "price": PLAN})
        cancel = asyncio.Event()
        running = asyncio.ensure_future(run_plan(plan, cancel=cancel))
        assert await asyncio.to_thread(attaching.arrived.wait, 10)
        assert len(tagged(server)) == 1
        cancel.set()  # as the worker does when a run is stopped
        result = await running

    assert result.cancelled
    assert result.results[0].summary == "cancelled before it finished"
    assert tagged(server) == []


def plan_for(directory: Path, monkeypatch: pytest.MonkeyPatch, check: dict[str, Any]) -> Any:
    monkeypatch.setenv(KEY_VARIABLE, TEST_KEY)
    document = {"suite": "rsolv-platform", "environments": {"staging": {
        "secrets": {"stripe_key": {"env": KEY_VARIABLE}}}},
        "categories": [{"name": "Billing", "checks": [
            {"key": "${secrets.stripe_key}", **check}]}]}
    path = directory / "smoketest.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return build_plan(load_suite(path), "staging")


# ------------------------------------------------------------------------------ the sweep

async def test_the_sweep_deletes_old_tagged_customers_and_keeps_young_and_untagged_ones(
        server: LocalStripe) -> None:
    client = admin(server.api_base)
    old = [client.v1.customers.create({"metadata": {"smokebot_run": f"old-{i}"}}).id
           for i in range(2)]
    young = client.v1.customers.create({"metadata": {"smokebot_run": "young"}}).id
    untagged = client.v1.customers.create({"email": "real@customer.test"}).id
    for customer_id in [*old, untagged]:
        server.backdate(customer_id, hours=2)

    outcome = await run_flow(server.api_base)

    assert outcome.passed, outcome.summary
    assert outcome.summary.endswith(f"; deleted 2 leftover customers ({old[0]}, {old[1]})")
    assert outcome.measurements["swept"] == 2
    remaining = {c.id for c in client.v1.customers.list({"limit": 100}).data}
    assert remaining == {young, untagged}


# ------------------------------------------------------------------------------ secrets

async def test_the_key_appears_in_no_result_report_or_log(
        server: LocalStripe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    texts, statuses = [], []
    for api_base, extra in [(server.api_base, {}),
                            (server.api_base, {"expect_status": "past_due"}),
                            (server.api_base, {"price": "no-such-plan"}),
                            (f"http://127.0.0.1:{port}", {}),
                            (server.api_base, {"timeout": "0.01s"})]:
        run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY, checks=[
            {"id": "subscribe", "type": KIND, "price": PLAN, **extra}])
        texts.append(run.everything())
        statuses.append(run.check.status)

    assert statuses == [Status.PASS, Status.FAIL, Status.FAIL, Status.ERROR, Status.ERROR]
    logged = [record.getMessage() for record in caplog.records]
    assert leaks("\n".join([*texts, *logged]), TEST_KEY) == 0
    assert tagged(server) == []


def test_the_kind_is_registered_and_describes_itself() -> None:
    kind = load_kind(KIND)
    described = kind.describe(params("http://127.0.0.1:9", expect_invoice_paid=True,
                                     expect_events=["invoice.paid"]))

    assert isinstance(kind, SubscriptionFlowCheck)
    assert described == ("subscribe a test customer to smokebot-monthly with pm_card_visa, then "
                         "cancel and delete (expects active or trialing; invoice paid; events "
                         "invoice.paid)")


# ------------------------------------------------------------------------------ helpers

@dataclass
class Hold:
    """One request held by the proxy: before it reaches localstripe ("forwarded" only once
    released), or after localstripe answered ("answered": Stripe made the object, the client
    has not heard); or answered 503 without reaching localstripe ("refused")."""

    method: str
    prefix: str
    until: str
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class HoldingProxy:
    """Forwards to localstripe; holds the first request matching each hold, as a Stripe that
    is slow to answer. Every hold is released when the proxy stops."""

    def __init__(self, upstream: str, on_customer: Any = None) -> None:
        self.upstream = upstream
        self.holds: list[Hold] = []
        self.on_customer = on_customer

    def hold(self, method: str, prefix: str, *, until: str) -> Hold:
        hold = Hold(method, prefix, until)
        self.holds.append(hold)
        return hold

    async def handle(self, request: Request) -> Response:
        hold = next((h for h in self.holds if request.method == h.method
                     and request.url.path.startswith(h.prefix) and not h.arrived.is_set()), None)
        if hold is not None and hold.until == "refused":
            hold.arrived.set()
            return JSONResponse({"error": {"type": "api_error", "message": "Stripe is having "
                                           "trouble."}}, status_code=503)
        if hold is not None and hold.until == "forwarded":
            hold.arrived.set()
            await _wait(hold.release)
        async with httpx.AsyncClient() as client:
            answer = await client.request(
                request.method, f"{self.upstream}{request.url.path}",
                params=request.query_params, content=await request.body(),
                headers={k: v for k, v in request.headers.items()
                         if k.lower() in ("authorization", "content-type")})
        if hold is not None and hold.until == "answered":
            hold.arrived.set()
            await _wait(hold.release)
        if self.on_customer and request.method == "POST" and request.url.path == "/v1/customers":
            self.on_customer(answer.json())
        return Response(answer.content, answer.status_code,
                        media_type=answer.headers.get("content-type"))

    @contextmanager
    def serving(self) -> Iterator[str]:
        app = Starlette(routes=[Route("/{path:path}", self.handle,
                                      methods=["GET", "POST", "DELETE"])])
        with serve_asgi(app) as api_base:
            try:
                yield api_base
            finally:  # before the server stops: it waits for the held requests
                for hold in self.holds:
                    hold.release.set()


async def _wait(event: threading.Event) -> None:
    for _ in range(400):  # 20 s at most
        if event.is_set():
            return
        await asyncio.sleep(0.05)


class ConnectionCounter:
    """A loopback port that counts the connections made to it and answers none."""

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self.api_base = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def __enter__(self) -> ConnectionCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@contextmanager
def webhook_receiver(server: LocalStripe, *, status: int) -> Iterator[list[str]]:
    """An endpoint registered with localstripe that answers every event with `status`;
    yields the event types it received."""
    received: list[str] = []

    async def receive(request: Request) -> Response:
        received.append(json.loads(await request.body())["type"])
        return Response(status_code=status)

    with serve_asgi(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        server.register_webhook("app", f"{url}/hook", "whsec_test_receiver")
        yield received
