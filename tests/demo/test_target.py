"""The demo target over real HTTP: the shapes the example suite and the reference report rely on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from demo.target import create_app
from tests.support.asgi import serve_asgi

ONBOARD = "/api/v1/customers/onboard"


class Target:
    def __init__(self, app: Any, client: httpx.Client) -> None:
        self.app = app
        self.client = client

    @property
    def customer_count(self) -> int:
        return len(self.app.state.customers)

    def onboard(self, email: str = "smoke-1@example.com") -> dict[str, Any]:
        response = self.client.post(ONBOARD, json={"name": "Smoke Test Customer", "email": email})
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def target() -> Iterator[Target]:
    app = create_app()
    with serve_asgi(app) as base_url, httpx.Client(base_url=base_url) as client:
        yield Target(app, client)


def test_health_has_the_shape_of_the_reference_report(target: Target) -> None:
    response = target.client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"node", "status", "timestamp", "version", "service", "services",
                         "clustering"}
    assert body["status"] == "healthy"
    assert body["version"] == "0.1.0"
    assert body["service"] == "rsolv-api"
    assert body["timestamp"].endswith("Z")
    assert body["services"] == {"database": "healthy", "ai_providers": {
        "anthropic": "healthy", "openai": "healthy", "openrouter": "healthy"}}
    assert body["clustering"] == {"enabled": True, "node_count": 2,
                                  "connected_nodes": ["rsolv@10.42.8.103"],
                                  "current_node": body["node"]}


def test_a_degraded_provider_degrades_the_overall_status_with_http_200() -> None:
    with serve_asgi(create_app(degraded=frozenset({"openai"}))) as base_url:
        response = httpx.get(f"{base_url}/api/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["services"]["ai_providers"] == {
        "anthropic": "healthy", "openai": "degraded", "openrouter": "healthy"}
    assert body["services"]["database"] == "healthy"


def test_create_app_rejects_an_unknown_component_to_degrade() -> None:
    with pytest.raises(ValueError) as raised:
        create_app(degraded=frozenset({"opnai"}))

    assert str(raised.value) == ("cannot degrade opnai: expected any of anthropic, openai, "
                                 "openrouter, database, stripe-webhooks, rate-limit")


def test_version_reports_version_and_commit(target: Target) -> None:
    response = target.client.get("/api/version")

    assert response.status_code == 200
    assert response.json() == {"version": "0.1.0", "commit": "26603507"}


def test_onboard_creates_a_trial_customer_with_an_api_key(target: Target) -> None:
    response = target.client.post(ONBOARD, json={"name": "Smoke", "email": "smoke@example.com"})

    assert response.status_code == 201
    body = response.json()
    assert body["api_key"].startswith("rsk_test_") and len(body["api_key"]) > len("rsk_test_") + 16
    assert {k: v for k, v in body.items() if k != "api_key"} == {
        "customer_id": 1, "name": "Smoke", "email": "smoke@example.com",
        "subscription_type": "trial", "credit_balance": 0, "trial_fixes_limit": 5}
    assert target.customer_count == 1


def test_the_store_keeps_only_a_hash_of_the_api_key(target: Target) -> None:
    api_key = target.onboard()["api_key"]

    stored = vars(target.app.state.customers.get(1))
    assert api_key not in repr(stored)
    assert len(stored["key_hash"]) == 64


@pytest.mark.parametrize(("payload", "message"), [
    ({"name": "Smoke"}, "invalid fields: email"),
    ({"name": "", "email": "not-an-email"}, "invalid fields: name, email"),
    ({"name": "Smoke", "email": "a@example.com", "plan": "pro"}, "invalid fields: plan"),
    (["Smoke", "a@example.com"], "expected a JSON object {name, email}"),
])
def test_onboard_rejects_a_bad_body_with_422(target: Target, payload: Any, message: str) -> None:
    response = target.client.post(ONBOARD, json=payload)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert response.json()["message"] == message
    assert target.customer_count == 0


def test_onboard_rejects_a_body_that_is_not_json_with_422(target: Target) -> None:
    response = target.client.post(ONBOARD, content=b"name=Smoke",
                                  headers={"content-type": "application/x-www-form-urlencoded"})

    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request",
                               "message": "expected a JSON body {name, email}"}


def test_onboard_rejects_a_duplicate_email_with_409(target: Target) -> None:
    target.onboard("dup@example.com")

    response = target.client.post(ONBOARD, json={"name": "Again", "email": "DUP@example.com"})

    assert response.status_code == 409
    assert response.json() == {"error": "email_taken",
                               "message": "a customer with email DUP@example.com already exists"}
    assert target.customer_count == 1


def test_account_answers_for_the_bearer_of_the_api_key(target: Target) -> None:
    customer = target.onboard("me@example.com")

    response = target.client.get("/api/v1/account",
                                 headers={"Authorization": f"Bearer {customer['api_key']}"})

    assert response.status_code == 200
    assert response.json() == {"customer_id": customer["customer_id"], "email": "me@example.com",
                               "subscription_type": "trial", "credit_balance": 0}


@pytest.mark.parametrize("authorization", [None, "Bearer rsk_test_wrong", "Basic abc"])
def test_account_without_a_valid_key_is_401(target: Target, authorization: str | None) -> None:
    target.onboard()
    headers = {"Authorization": authorization} if authorization else {}

    response = target.client.get("/api/v1/account", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


def test_delete_with_the_customers_own_key_removes_it(target: Target) -> None:
    customer = target.onboard()
    auth = {"Authorization": f"Bearer {customer['api_key']}"}

    response = target.client.delete(f"/api/v1/customers/{customer['customer_id']}", headers=auth)

    assert response.status_code == 204
    assert target.customer_count == 0
    assert target.client.get("/api/v1/account", headers=auth).status_code == 401


def test_delete_refuses_another_customers_key_and_unknown_ids(target: Target) -> None:
    first = target.onboard("first@example.com")
    second = target.onboard("second@example.com")
    auth = {"Authorization": f"Bearer {second['api_key']}"}

    other = target.client.delete(f"/api/v1/customers/{first['customer_id']}", headers=auth)
    unknown = target.client.delete("/api/v1/customers/999", headers=auth)
    anonymous = target.client.delete(f"/api/v1/customers/{first['customer_id']}")

    assert (other.status_code, unknown.status_code, anonymous.status_code) == (403, 404, 401)
    assert target.customer_count == 2


def test_each_app_has_its_own_store() -> None:
    first, second = create_app(), create_app()
    with serve_asgi(first) as base_url:
        httpx.post(f"{base_url}{ONBOARD}", json={"name": "A", "email": "a@example.com"})

    assert (len(first.state.customers), len(second.state.customers)) == (1, 0)
