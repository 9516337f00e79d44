"""The `ratelimit` check kind: a bounded burst with one client identity until the target
throttles it, judged by where the limit bit, what the rate-limit fields said, and whether the
quota came back after the wait the target asked for.

    - id: api-rate-limit
      type: ratelimit
      url: ${base_url}/api/v1/ping
      headers: {X-Api-Key: "${secrets.test_api_key}"}   # the identity the limit counts
      expected_limit: 100          # the 101st request should be refused ...
      tolerance: 5%                # ... give or take 5 requests
      require_headers: [retry-after, x-ratelimit]

The pipeline:

    RateLimitParams -> (TrafficPolicy: refusal, caps, gate, budget) -> send_burst -> Burst
        -> wait Retry-After -> send_one -> Probe -> judge -> Outcome

Safety comes from `checks.traffic`: refused where the environment's policy says so (production
without `traffic: {allow: true}`, or from Slack unconfirmed), parameters over a cap refused,
one probe at a time per environment, requests taken from the run's budget (and the unused
given back), and smokebot's User-Agent and run id on every request. The burst stops at the
first throttled response, at another 4xx, after `max_consecutive_errors` 5xx or transport
errors in a row, or at the duration cap.

The identity headers' values never reach the result: only the rate-limit fields of responses
are shown, and the Outcome is masked for every identity header value besides (a target that
echoes a key in a body or header would otherwise show it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx

from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.http import Exchange, HttpClients, send_request
from checks.kinds.ratelimit._burst import (
    Burst, BurstPlan, Sample, Stop, send_burst, send_one,
)
from checks.kinds.ratelimit._params import RateLimitParams
from checks.kinds.ratelimit._verdict import Probe, Recovery, judge
from checks.redact import Redactor
from checks.results import Outcome
from checks.traffic import TrafficPolicy

__all__ = ["RateLimitCheck", "RateLimitParams"]

# After the wait the target asked for, a little more: its clock and ours tick apart.
RECOVERY_MARGIN_S = 0.25
PROGRESS_EVERY_S = 0.25
# Header values that identify no one, left readable in output.
_PLAIN_HEADERS = frozenset({"accept", "accept-encoding", "accept-language", "content-type",
                            "cache-control"})


class RateLimitCheck(CheckKind[RateLimitParams]):
    Params = RateLimitParams

    async def run(self, params: RateLimitParams, ctx: CheckContext) -> Outcome:
        mask = _identity_redactor(params)
        try:
            outcome = await _probe(params, ctx)
        except CheckError as exc:
            raise CheckError(mask.redact(exc.message), permanent=exc.permanent,
                             details=mask.redact(exc.details)) from None
        return _masked(outcome, mask)

    def describe(self, params: RateLimitParams) -> str:
        return (f"{params.method} {params.url}: limit {params.expected_limit} "
                f"±{params.tolerance_requests}")

    def exclusive_group(self, params: RateLimitParams) -> str:
        return "traffic"  # one probe at a time: another's requests would spend the quota

    def min_timeout(self, params: RateLimitParams) -> float | None:
        return params.least_time_s()


def _burst_size(params: RateLimitParams, policy: TrafficPolicy) -> int:
    """max_requests as given (over the cap it is refused), else the default lowered to the
    cap, but never below the request the limit must refuse."""
    if params.max_requests is not None:
        return params.max_requests
    return max(min(params.burst_size, policy.caps.requests_per_check), params.latest_throttle)


async def _probe(params: RateLimitParams, ctx: CheckContext) -> Outcome:
    policy = TrafficPolicy.for_context(ctx)
    policy.check_allowed()  # before the caps: "production" says more than "over a cap"
    size = _burst_size(params, policy)
    policy.check_caps(rps=params.rps, requests=size, concurrency=params.concurrency,
                      duration_s=size / params.rps if params.rps else None)
    async with policy.probe(ctx.check_id):
        return await _within_budget(params, ctx, policy, size)


async def _within_budget(params: RateLimitParams, ctx: CheckContext, policy: TrafficPolicy,
                         size: int) -> Outcome:
    recovery = 1 if params.recover else 0
    # The burst, the recovery request, and one request that may find the quota still spent.
    granted = policy.budget.take(size + recovery + 1)
    least = params.latest_throttle + recovery
    if granted < least:
        policy.budget.give_back(granted)
        raise CheckError(f"refused: the run's traffic budget has {granted} requests left (of "
                         f"{policy.budget.total} for all the run's traffic probes); "
                         f"this check needs at least {least}", permanent=True)
    session = _Session(params, ctx, policy, allowance=granted)
    try:
        return await session.run(size)
    finally:
        policy.budget.give_back(granted - session.sent)


class _Session:
    """One probe's traffic: its bursts, waits and recovery request, counted."""

    def __init__(self, params: RateLimitParams, ctx: CheckContext, policy: TrafficPolicy,
                 allowance: int) -> None:
        self.params, self.ctx, self.policy = params, ctx, policy
        self.allowance = allowance
        self.sent = 0
        self.rps = params.rps or policy.caps.rps
        self.request = params.http_request(policy.merged_headers(params.headers))
        self.started = time.perf_counter()
        self.client: httpx.AsyncClient | None = None

    async def send(self) -> Exchange:
        assert self.client is not None, "sent outside run()"
        self.sent += 1  # counted as it goes: a probe cut short still pays for what it sent
        return await send_request(self.client, self.request)

    async def run(self, size: int) -> Outcome:
        params = self.params
        reserve = 1 if params.recover else 0
        notes: list[str] = []
        async with HttpClients(timeout=params.request_timeout,
                               base_dir=self.ctx.suite_dir) as clients:
            self.client = clients.client_for(self.request)
            burst = await self._burst(min(size, self.allowance - reserve), size, notes)
            if self._already_throttled(burst):
                burst = await self._after_earlier_burst(burst, size, reserve, notes)
            _raise_when_unreachable(burst)
            recovery = await self._recover(burst) if params.recover else None
        return judge(Probe(params=params, burst=burst, rps=self.rps, requests_sent=self.sent,
                           elapsed_s=time.perf_counter() - self.started, recovery=recovery,
                           notes=tuple(notes)))

    async def _burst(self, requests: int, size: int, notes: list[str]) -> Burst:
        if requests < size:
            notes.append(f"The burst was cut to {requests} requests by the run's traffic "
                         "budget.")
        plan = BurstPlan(requests=requests, rps=self.rps, concurrency=self.params.concurrency,
                         max_duration_s=self.policy.caps.duration_s,
                         throttle_status=self.params.status,
                         max_consecutive_errors=self.params.max_consecutive_errors)
        last = 0.0

        def progress(done: int, final: bool = False) -> None:
            nonlocal last
            now = time.perf_counter()
            if final or now - last >= PROGRESS_EVERY_S:  # not one event per request
                last = now
                self.ctx.progress(f"{done}/{requests} requests", done / requests)

        burst = await send_burst(self.send, plan, progress)
        progress(len(burst.samples), final=True)
        return burst

    def _already_throttled(self, burst: Burst) -> bool:
        """The first request refused although the limit allows more: the quota is still
        spent, by an earlier burst (a retried check, a run just before)."""
        return (bool(burst.samples) and burst.samples[0].throttled
                and self.params.earliest_throttle > 1)

    async def _after_earlier_burst(self, burst: Burst, size: int, reserve: int,
                                   notes: list[str]) -> Burst:
        first = burst.samples[0]
        hint, wait_s = _wait_hint(first)
        left = self.allowance - self.sent - reserve
        if wait_s is None or wait_s > self.params.max_wait or left < self.params.latest_throttle:
            why = ("it said no wait" if wait_s is None
                   else f"{hint} is over max_wait {self.params.max_wait:g}s" if
                   wait_s > self.params.max_wait else "the run's traffic budget is too low")
            notes.append(f"The first request was already throttled, perhaps by an earlier burst "
                         f"with the same identity; not retried ({why}).")
            return burst
        notes.append(f"The first request was already throttled, perhaps by an earlier burst "
                     f"with the same identity: waited {hint} and started again.")
        await self._wait(wait_s, f"already throttled: waiting {hint}")
        return await self._burst(min(size, left), size, notes)

    async def _recover(self, burst: Burst) -> Recovery | None:
        first = burst.first_throttled
        if first is None:
            return None
        hint, wait_s = _wait_hint(first)
        if wait_s is None:
            return Recovery(hint="", skipped=f"the first {first.status} says neither "
                            "Retry-After nor when the quota resets")
        if wait_s > self.params.max_wait:
            return Recovery(hint=hint, skipped=f"{hint} is over max_wait "
                            f"{self.params.max_wait:g}s")
        waited = await self._wait(wait_s, f"throttled at request {first.n}: waiting {hint}")
        sample = await send_one(self.send, burst.samples[-1].n + 1, self.params.status,
                                self.started)
        return Recovery(hint=hint, waited_s=waited, sample=sample)

    async def _wait(self, seconds: float, text: str) -> float:
        self.ctx.progress(text, None)
        started = time.perf_counter()
        await asyncio.sleep(seconds + RECOVERY_MARGIN_S)
        return time.perf_counter() - started


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}s"


def _wait_hint(sample: Sample) -> tuple[str, float | None]:
    """How long the throttled response asked to wait, and where it said so: Retry-After
    first (the drafts say it takes precedence), else the counters' reset."""
    limits = sample.limits
    if limits.retry_after is not None:
        return f"Retry-After {_seconds(limits.retry_after.seconds)}", limits.retry_after.seconds
    for counter in limits.counters:
        if counter.reset_s is not None:
            return f"{counter.reset_field} {_seconds(counter.reset_s)}", counter.reset_s
    return "", None


def _raise_when_unreachable(burst: Burst) -> None:
    """Requests that got no response at all, too many in a row: the check could not look."""
    if burst.stop != Stop.ERRORS or burst.first_throttled is not None:
        return
    run = burst.failures_in_a_row()
    if run and all(s.status is None for s in run):
        raise CheckError(f"aborted after {len(run)} requests in a row got no response: "
                         f"{run[-1].error}")


def _identity_redactor(params: RateLimitParams) -> Redactor:
    return Redactor(value for name, value in params.headers.items()
                    if name.lower() not in _PLAIN_HEADERS)


def _masked(outcome: Outcome, mask: Redactor) -> Outcome:
    if mask.empty:
        return outcome
    return dataclasses.replace(
        outcome, summary=mask.redact(outcome.summary), details=mask.redact(outcome.details),
        measurements=mask.redact_obj(outcome.measurements),
        evidence=mask.redact_obj(outcome.evidence),
        warning=mask.redact(outcome.warning) if outcome.warning else None)

