"""The demo target's rate-limited ping over real HTTP (the shape the suite's `ratelimit` check
judges), and its fixed window on a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from checks.secrets import Secret
from demo.rate_limit import LIMIT, FixedWindow, api_key_secret, key_hash
from demo.target import create_app
from tests.support.asgi import serve_asgi

# A canary: split, so that it is no secret to a scanner.
KEY = "rsk_" + "test_CANARYping0123456789abcdef"
PING = "/api/v1/ping"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with serve_asgi(create_app(ping_key_hash=key_hash(KEY))) as base_url, \
            httpx.Client(base_url=base_url, headers={"X-Api-Key": KEY}) as client:
        yield client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ping_answers_the_test_key_with_both_header_families(client: httpx.Client) -> None:
    response = client.get(PING)

    assert response.status_code == 200
    assert response.json() == {"pong": True}
    assert {name: response.headers[name] for name in (
        "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "ratelimit-policy",
        "ratelimit")} == {
        "x-ratelimit-limit": "20", "x-ratelimit-remaining": "19", "x-ratelimit-reset": "2",
        "ratelimit-policy": '"default";q=20;w=2', "ratelimit": '"default";r=19;t=2'}
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("key", [None, "rsk_test_wrong"])
def test_ping_without_the_test_key_is_401_and_spends_no_quota(client: httpx.Client,
                                                              key: str | None) -> None:
    headers = {"X-Api-Key": key} if key else {}
    client.headers.pop("X-Api-Key")

    response = client.get(PING, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert client.get(PING, headers={"X-Api-Key": KEY}).headers["x-ratelimit-remaining"] == "19"


def test_the_21st_request_of_a_window_is_429_with_retry_after(client: httpx.Client) -> None:
    answers = [client.get(PING) for _ in range(LIMIT + 1)]

    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers[-3:]] == ["1", "0", "0"]
    refused = answers[-1]
    assert refused.headers["retry-after"] in ("1", "2")
    assert refused.headers["ratelimit"] == f'"default";r=0;t={refused.headers["retry-after"]}'
    assert refused.json()["error"] == "rate_limited"


def test_degraded_rate_limit_counts_but_never_refuses() -> None:
    app = create_app(degraded=frozenset({"rate-limit"}), ping_key_hash=key_hash(KEY))
    with serve_asgi(app) as base_url, httpx.Client(base_url=base_url) as client:
        answers = [client.get(PING, headers={"X-Api-Key": KEY}) for _ in range(LIMIT + 5)]

    assert {a.status_code for a in answers} == {200}
    assert answers[-1].headers["x-ratelimit-remaining"] == "0"


def test_the_window_starts_at_the_first_request_and_ends_after_two_seconds() -> None:
    clock = Clock()
    window = FixedWindow(clock=clock)
    for _ in range(LIMIT):
        assert window.hit("k").allowed
    clock.now += 1.5

    refused = window.hit("k")
    clock.now += 0.5
    renewed = window.hit("k")

    assert (refused.allowed, refused.reset_whole_s) == (False, 1)
    assert (renewed.allowed, renewed.remaining, renewed.reset_whole_s) == (True, LIMIT - 1, 2)
    assert window.hit("other").remaining == LIMIT - 1  # each key its own window


def test_degrading_the_rate_limit_needs_the_endpoint() -> None:
    with pytest.raises(ValueError) as raised:
        create_app(degraded=frozenset({"rate-limit"}))

    assert str(raised.value) == ("cannot degrade rate-limit: the app has no rate-limited "
                                 "endpoint; pass ping_key_hash")


def test_api_key_is_made_fresh_unless_planted_and_a_wrong_shape_is_named_not_quoted() -> None:
    made, again = api_key_secret({}), api_key_secret({})
    planted = api_key_secret({"DEMO_API_KEY": KEY})
    with pytest.raises(ValueError) as raised:
        api_key_secret({"DEMO_API_KEY": "sk_" + "live_CANARY"})

    assert made.reveal().startswith("rsk_test_") and made.reveal() != again.reveal()
    assert isinstance(planted, Secret) and planted.reveal() == KEY
    assert KEY not in repr(planted) + str(planted)
    assert str(raised.value) == ("$DEMO_API_KEY must hold a test API key, rsk_test_ and "
                                 "letters or digits; unset it to have one made")
