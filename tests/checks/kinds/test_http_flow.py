"""The `http.flow` kind against the demo target over loopback: onboard a customer, capture its
API key, use it, delete the customer, and never show the key."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from checks.config import load_suite
from checks.errors import CheckError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.kinds.http_flow import HttpFlowCheck, HttpFlowParams
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan
from demo.target import create_app
from tests.support.asgi import free_port, serve_asgi

ONBOARD = "/api/v1/customers/onboard"


class KeyWitness:
    """Wraps the demo target and keeps the API keys it hands out, so that a test knows the
    values that must never appear in output."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.api_keys: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != ONBOARD:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def keep(message: Any) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, keep)
        body = json.loads(b"".join(chunks) or b"{}")
        if isinstance(body, dict) and "api_key" in body:
            self.api_keys.append(body["api_key"])


@dataclass
class Target:
    base_url: str
    app: Any
    witness: KeyWitness

    @property
    def customer_count(self) -> int:
        return len(self.app.state.customers)


@pytest.fixture
def target() -> Iterator[Target]:
    app = create_app()
    witness = KeyWitness(app)
    with serve_asgi(witness) as base_url:
        yield Target(base_url, app, witness)


def onboarding(base_url: str, *, onboard_assert: list[str] | None = None,
               whoami: dict[str, Any] | None = None, middle: list[dict[str, Any]] | None = None,
               cleanup: dict[str, Any] | None = None, with_cleanup: bool = True,
               capture: dict[str, str] | None = None) -> dict[str, Any]:
    """The flow of the example suite, with the parts a test changes."""
    auth = {"Authorization": "Bearer {{api_key}}"}
    steps = [
        {"name": "onboard", "method": "POST", "url": f"{base_url}{ONBOARD}",
         "json": {"name": "Smoke Test Customer", "email": "smoke-{{run_id}}@example.com"},
         "status": 201,
         "assert": onboard_assert or ["subscription_type == trial", "credit_balance == 0",
                                      "api_key matches ^rsk_test_"],
         "capture": capture or {"api_key": "api_key", "customer_id": "customer_id"}},
        *(middle or []),
        {"name": "whoami", "url": f"{base_url}/api/v1/account", "headers": auth,
         "assert": ["subscription_type == trial"], **(whoami or {})},
    ]
    delete = {"name": "delete", "method": "DELETE", "headers": auth, "status": 204,
              "url": f"{base_url}/api/v1/customers/{{{{customer_id}}}}", **(cleanup or {})}
    return {"steps": steps, "cleanup": [delete] if with_cleanup else []}


async def run_flow(params: dict[str, Any], redactor: Redactor | None = None) -> Outcome:
    # Not `redactor or Redactor()`: an empty Redactor is falsy.
    ctx = CheckContext(environment="test", redactor=Redactor() if redactor is None else redactor)
    return await HttpFlowCheck().run(HttpFlowCheck.Params.model_validate(params), ctx)


def everything_in(outcome: Outcome) -> str:
    return json.dumps([outcome.summary, outcome.details, outcome.measurements, outcome.evidence],
                      default=str)


# ------------------------------------------------------------------------------ passing

def test_the_registry_loads_the_flow_kind() -> None:
    assert isinstance(load_kind("http.flow"), HttpFlowCheck)


async def test_the_onboarding_flow_passes_and_cleanup_leaves_no_customer(target: Target) -> None:
    outcome = await run_flow(onboarding(target.base_url))

    assert outcome.passed, outcome.summary
    assert re.fullmatch(r"2 steps passed in \d+ ms, cleanup done", outcome.summary)
    lines = outcome.details.splitlines()
    assert lines[0].startswith(f"step 'onboard': ok: POST {target.base_url}{ONBOARD} -> 201 in ")
    assert lines[1].startswith(f"step 'whoami': ok: GET {target.base_url}/api/v1/account -> 200")
    assert lines[2].startswith("cleanup step 'delete': ok: DELETE ")
    assert len(lines) == 3
    assert outcome.evidence["captured"] == ["api_key", "customer_id"]
    assert [s["name"] for s in outcome.evidence["steps"]] == ["onboard", "whoami", "delete"]
    assert set(outcome.measurements["step_response_ms"]) == {"onboard", "whoami", "delete"}
    assert target.customer_count == 0
    assert len(target.witness.api_keys) == 1


async def test_run_id_is_new_for_every_attempt(target: Target) -> None:
    params = onboarding(target.base_url, with_cleanup=False)

    first = await run_flow(params)
    second = await run_flow(params)  # the same email would be refused with 409

    assert (first.passed, second.passed) == (True, True), second.summary
    store = target.app.state.customers
    emails = [store.get(1).email, store.get(2).email]
    assert emails[0] != emails[1]
    assert all(re.fullmatch(r"smoke-[0-9a-f]{12}@example\.com", e) for e in emails)


# ------------------------------------------------------------------------------ redaction

async def test_the_captured_api_key_is_registered_and_never_in_the_outcome(target: Target) -> None:
    # The onboard step fails an assertion, so its body (which holds the key) is in the details.
    redactor = Redactor()
    outcome = await run_flow(onboarding(target.base_url, onboard_assert=["credit_balance == 100"]),
                             redactor)

    [api_key] = target.witness.api_keys
    assert not outcome.passed
    assert outcome.summary == "step 'onboard': credit_balance: expected 100, got 0"
    assert redactor.redact(api_key) == f"[redacted ({len(api_key)} chars)]"
    assert api_key not in everything_in(outcome)
    assert f'"api_key": "[redacted ({len(api_key)} chars)]"' in outcome.details
    assert target.customer_count == 0  # the key was captured, so cleanup could delete


async def test_the_captured_api_key_never_leaves_the_runner(target: Target, tmp_path: Path) -> None:
    path = tmp_path / "smoketest.yaml"
    path.write_text(f"""
environments:
  local:
    variables: {{base_url: {target.base_url}}}
categories:
  - name: Customer Provisioning
    checks:
      - id: onboarding-flow
        type: http.flow
        steps:
          - name: onboard
            method: POST
            url: ${{base_url}}{ONBOARD}
            json: {{name: Smoke Test Customer, email: "smoke-{{{{run_id}}}}@example.com"}}
            status: 201
            capture: {{api_key: api_key, customer_id: customer_id}}
          - name: account
            url: ${{base_url}}/api/v1/account
            headers: {{Authorization: "Bearer {{{{api_key}}}}"}}
            assert: [subscription_type == pro]
        cleanup:
          - name: delete customer
            method: DELETE
            url: ${{base_url}}/api/v1/customers/{{{{customer_id}}}}
            headers: {{Authorization: "Bearer {{{{api_key}}}}"}}
            status: [204, 404]
""")
    plan = build_plan(load_suite(path), "local")

    result = await run_plan(plan)

    [check] = result.results
    [api_key] = target.witness.api_keys
    assert (check.status, check.summary) == (
        Status.FAIL, "step 'account': subscription_type: expected \"pro\", got \"trial\"")
    assert "cleanup step 'delete customer': ok: DELETE" in check.details
    assert api_key not in json.dumps([check.summary, check.details, check.measurements,
                                      check.evidence], default=str)
    assert plan.redactor.redact(api_key) != api_key
    assert target.customer_count == 0


# ------------------------------------------------------------------------- failures and cleanup

async def test_a_step_asserts_on_status_headers_and_elapsed_ms(target: Target) -> None:
    response = ["$status in [200, 203]", "$headers.Content-Type matches ^application/json",
                "$elapsed_ms < 10000", "subscription_type == trial"]
    passed = await run_flow(onboarding(target.base_url, whoami={"assert": response}))
    failed = await run_flow(onboarding(target.base_url, whoami={
        "assert": ["$headers.X-Missing exists"]}))

    assert passed.passed, passed.summary
    assert failed.summary == ("step 'whoami': $headers.x-missing: expected a value, got "
                              "nothing (missing)")
    assert target.customer_count == 0


async def test_a_failing_middle_step_is_named_and_cleanup_still_runs(target: Target) -> None:
    outcome = await run_flow(onboarding(target.base_url, whoami={"headers": {}}))

    assert not outcome.passed
    assert outcome.summary == "step 'whoami': expected status 200, got 401"
    assert "cleanup step 'delete': ok: DELETE" in outcome.details
    assert "step 'whoami':\nexpected status 200, got 401\n" in outcome.details
    assert "HTTP/1.1 401 Unauthorized" in outcome.details
    assert target.customer_count == 0


async def test_a_step_that_cannot_connect_raises_after_cleanup_ran(target: Target) -> None:
    port = free_port()
    broken = {"name": "broken", "url": f"http://127.0.0.1:{port}/api/v1/account"}

    with pytest.raises(CheckError) as raised:
        await run_flow(onboarding(target.base_url, middle=[broken]))

    assert raised.value.message == (f"step 'broken': cannot connect to 127.0.0.1:{port}: "
                                    "connection refused")
    assert "cleanup step 'delete': ok: DELETE" in raised.value.details
    assert target.customer_count == 0


async def _stall(request: Request) -> Response:
    for _ in range(200):  # 10 s at most; stops when the client hangs up
        if await request.is_disconnected():
            break
        await asyncio.sleep(0.05)
    return JSONResponse({})


async def test_cleanup_runs_when_the_runners_timeout_cancels_the_flow(target: Target) -> None:
    stalling = Starlette(routes=[Route("/stall", _stall)])
    with serve_asgi(stalling) as stall_url:
        stalled = {"name": "stalled", "url": f"{stall_url}/stall"}
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):  # as the runner enforces a check's timeout
                await run_flow(onboarding(target.base_url, middle=[stalled]))

    assert len(target.witness.api_keys) == 1
    assert target.customer_count == 0


async def test_a_failing_cleanup_fails_the_flow(target: Target) -> None:
    outcome = await run_flow(onboarding(target.base_url, cleanup={"status": 200}))

    assert not outcome.passed
    assert outcome.summary == "cleanup failed: step 'delete': expected status 200, got 204"
    assert "cleanup step 'delete': FAILED: DELETE" in outcome.details


async def test_a_failing_step_and_a_failing_cleanup_are_both_reported(target: Target) -> None:
    outcome = await run_flow(onboarding(target.base_url, whoami={"status": 201},
                                        cleanup={"headers": {}}))

    assert outcome.summary == ("step 'whoami': expected status 201, got 200; "
                               "cleanup failed: step 'delete': expected status 204, got 401")
    assert target.customer_count == 1  # the cleanup could not delete it, and says so


async def test_a_missing_capture_path_fails_naming_the_step(target: Target) -> None:
    capture = {"api_key": "api_key", "customer_id": "customer_id", "token": "credentials.key"}

    outcome = await run_flow(onboarding(target.base_url, capture=capture))

    assert outcome.summary == ("step 'onboard': cannot capture 'token': nothing at "
                               "'credentials.key' in the response")
    assert outcome.details.startswith("step 'onboard': FAILED: cannot capture 'token'")
    assert "whoami" not in outcome.details
    assert target.customer_count == 0


async def test_cleanup_that_needs_a_value_never_captured_is_skipped(target: Target) -> None:
    params = onboarding(target.base_url)
    params["steps"][0]["json"]["email"] = "not-an-email"

    outcome = await run_flow(params)

    assert outcome.summary == "step 'onboard': expected status 201, got 422"
    assert ("cleanup step 'delete': skipped: {{api_key}}, {{customer_id}} never captured, so "
            "there is nothing to clean up") in outcome.details
    assert target.customer_count == 0


# ------------------------------------------------------------------------------ references

async def _echo(request: Request) -> Response:
    body = await request.json()
    return JSONResponse({"json": body, "types": {k: type(v).__name__ for k, v in body.items()},
                         "path": request.url.path,
                         "authorization": request.headers.get("authorization")})


async def test_references_are_replaced_in_url_headers_and_json_keeping_whole_value_types() -> None:
    app = Starlette(routes=[Route("/echo/{rest:path}", _echo, methods=["POST"])])
    with serve_asgi(app) as base_url:
        outcome = await run_flow({"steps": [
            {"name": "seed", "method": "POST", "url": f"{base_url}/echo/seed",
             "json": {"n": 7, "token": "tok_abcdef123"},
             "capture": {"n": "json.n", "token": "json.token"}},
            {"name": "use", "method": "POST", "url": f"{base_url}/echo/items/{{{{n}}}}",
             "headers": {"Authorization": "Token {{token}}"},
             "json": {"id": "{{n}}", "label": "n={{n}}", "run": "{{run_id}}"},
             "assert": ["types.id == int", "types.label == str", "json.label == 'n=7'",
                        "path == /echo/items/7", "authorization exists",
                        "json.run matches ^[0-9a-f]{12}$"]},
        ]})

    assert outcome.passed, outcome.summary


@pytest.mark.parametrize(("params", "message"), [
    ({"steps": [{"name": "a", "url": "http://h/{{api_key}}"}]},
     "step 'a' uses {{api_key}}, but no earlier step captures it; available: run_id"),
    ({"steps": [{"name": "a", "url": "http://h/", "capture": {"k": "key"}},
                {"name": "b", "url": "http://h/", "headers": {"X": "{{kk}}"}}]},
     "step 'b' uses {{kk}}, but no earlier step captures it; available: k, run_id"),
    ({"steps": [{"name": "a", "url": "http://h/"}],
      "cleanup": [{"name": "c", "url": "http://h/{{id}}"}]},
     "step 'c' uses {{id}}, but no step captures it; available: run_id"),
    ({"steps": [{"name": "a", "url": "http://h/"}, {"name": "a", "url": "http://h/"}]},
     "step names must be unique; used more than once: a"),
    ({"steps": [{"name": "a", "url": "http://h/", "capture": {"run_id": "id"}}]},
     "cannot capture into 'run_id': it is built in"),
    ({"steps": [{"name": "a", "url": "http://h/", "capture": {"k": "a..b"}}]},
     "invalid path 'a..b'"),
    ({"steps": [{"name": "a", "url": "http://h/{{ not a name }}"}]},
     "cannot read '{{ not a name }}': expected {{name}}"),
    ({"steps": []}, "List should have at least 1 item"),
    ({"steps": [{"name": "a", "url": "http://h/", "bogus": 1}]}, "Extra inputs are not permitted"),
])
def test_invalid_flows_are_refused_with_a_reason(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        HttpFlowParams.model_validate(params)

    assert message in str(raised.value)


def test_describe_names_the_steps_and_the_first_request() -> None:
    params = HttpFlowParams.model_validate(onboarding("http://h"))

    assert HttpFlowCheck().describe(params) == (
        "onboard -> whoami; cleanup: delete (first: POST http://h/api/v1/customers/onboard)")
