"""The `ratelimit` kind passing against a server that throttles with each header family
(Retry-After as seconds or a date, X-RateLimit-*, the IETF drafts' fields in all their
shapes), its report, and the wait for the quota to come back: after the 429, before a burst
whose quota an earlier one spent, over max_wait, and never."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from checks.traffic import RunBudget
from tests.support.throttling_server import ThrottlingServer, bucket, policy, probe


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ThrottlingServer, str]]:
    server = ThrottlingServer()
    with server.serve() as url:
        yield server, url


@pytest.fixture
def server(served: tuple[ThrottlingServer, str]) -> ThrottlingServer:
    return served[0]


@pytest.fixture
def base_url(served: tuple[ThrottlingServer, str]) -> str:
    return served[1]


# ------------------------------------------------------------------------------ families

FAMILIES = [
    ("retry-after", ["retry-after"], "Retry-After 1s honoured", "Retry-After (as seconds)"),
    ("retry-after-date", ["retry-after"], "Retry-After", "Retry-After (as HTTP date)"),
    ("x-ratelimit", ["x-ratelimit"], "X-RateLimit-Reset", "X-RateLimit-* (Reset as epoch "
                                                          "seconds)"),
    ("draft06", ["retry-after", "ratelimit"], "Retry-After 1s honoured",
     "RateLimit-Limit/-Remaining/-Reset (drafts 00-06) (policy 10 per 1s)"),
    ("draft07", ["ratelimit"], "RateLimit reset 1s honoured",
     "RateLimit dictionary (draft 07) (policy 10 per 1s)"),
    ("draft08", ["ratelimit"], "RateLimit t of 'default' 1s honoured",
     "RateLimit list (drafts 08+) (policy 'default' 10 per 1s)"),
    ("draft10", ["ratelimit"], "RateLimit t of 'default' 1s honoured",
     "RateLimit list (drafts 08+) (policy 'default' 10 per 1s)"),
]


@pytest.mark.parametrize(("mode", "required", "honoured", "field"), FAMILIES,
                         ids=[f[0] for f in FAMILIES])
async def test_a_server_throttling_with_each_header_family_passes(
        base_url: str, mode: str, required: list[str], honoured: str, field: str) -> None:
    outcome = await probe(f"{base_url}/{mode}/{bucket()}?limit=10", require_headers=required)
    assert outcome.passed, outcome.details
    assert outcome.warning is None
    assert outcome.summary.startswith("throttled at request 11 of limit 10 ±1; ")
    assert honoured in outcome.summary and outcome.summary.endswith("honoured, recovered")
    assert field in outcome.evidence["fields"]
    m = outcome.measurements
    assert (m["requests_sent"], m["throttled_at"], m["recovered"]) == (12, 11, True)
    assert 0.5 <= m["elapsed_s"] < 5
    if mode in ("x-ratelimit", "draft06", "draft07", "draft08", "draft10"):
        assert (m["limit"], m["remaining"]) == (10, 0)


async def test_the_details_read_as_a_report(base_url: str) -> None:
    url = f"{base_url}/retry-after/{bucket()}?limit=3"
    outcome = await probe(url, expected_limit=3, tolerance=0, max_requests=10)
    assert outcome.passed
    lines = outcome.details.splitlines()
    patterns = [
        re.escape(f"GET {url}, limit 3 ±0: the first 429 was expected between requests 4 "
                  "and 4."),
        r"Sent 4 of up to 10 requests in \d+\.\d\ds \(one at a time, as fast as answered\)\.",
        r"First 429 at request 4, \d+\.\d\ds into the burst\.",
        re.escape("Fields read: Retry-After (as seconds)."),
        r"Recovery: waited 1\.\d\ds \(Retry-After 1s\); request 5 answered 200 OK\.",
    ]
    for line, pattern in zip(lines, patterns, strict=False):
        assert re.fullmatch(pattern, line), line
    assert "\n".join(lines[5:]) == (
        "\nFields of the first 429:\n  Retry-After: 1\n\nResponses:\n"
        "  #1  200 OK\n  #2  200 OK\n  #3  200 OK\n"
        "  #4  429 Too Many Requests  Retry-After: 1\n"
        "  #5  200 OK (after the wait)")
    assert outcome.evidence["first_throttled_headers"] == {"Retry-After": "1"}
    assert [r["status"] for r in outcome.evidence["responses"]] == [200, 200, 200, 429]


async def test_a_limit_that_never_recovers(base_url: str) -> None:
    outcome = await probe(f"{base_url}/never-recovers/{bucket()}")
    assert outcome.summary == "still 429 after waiting Retry-After 1s"
    assert outcome.measurements["recovered"] is False


async def test_a_retry_after_over_max_wait_passes_with_a_warning(base_url: str) -> None:
    outcome = await probe(f"{base_url}/retry-after/{bucket()}?window=30", max_wait="5s")
    assert outcome.passed
    assert outcome.summary == "throttled at request 11 of limit 10 ±1; recovery not checked"
    assert outcome.warning == "recovery not checked: Retry-After 30s is over max_wait 5s"
    assert outcome.measurements["elapsed_s"] < 3  # it did not wait


async def test_progress_is_reported_during_the_burst_and_the_wait(base_url: str) -> None:
    seen: list[tuple[str, float | None]] = []
    outcome = await probe(f"{base_url}/retry-after/{bucket()}", rps=40,
                          progress=lambda text, fraction=None: seen.append((text, fraction)))
    assert outcome.passed
    burst = [(t, f) for t, f in seen if t.endswith("requests")]
    assert 2 <= len(burst) <= 6  # about four a second over ~0.3 s, and the last
    assert burst[-1] == ("11/30 requests", 11 / 30)
    assert ("throttled at request 11: waiting Retry-After 1s", None) in seen


async def test_a_quota_still_spent_by_an_earlier_burst_is_waited_for(base_url: str) -> None:
    url = f"{base_url}/retry-after/{bucket()}"
    assert (await probe(url, recover=False)).passed
    again = await probe(url, recover=False)  # the window is still spent
    assert again.passed, again.summary
    assert "The first request was already throttled, perhaps by an earlier burst with the " \
           "same identity: waited Retry-After 1s and started again." in again.details
    assert again.measurements["requests_sent"] == 12


async def test_the_run_budget_is_taken_and_the_unused_given_back(base_url: str) -> None:
    traffic = policy(budget=RunBudget(100))
    outcome = await probe(f"{base_url}/retry-after/{bucket()}", traffic=traffic)
    assert outcome.passed
    assert traffic.budget.remaining == 100 - 12  # 11 in the burst and the recovery request


