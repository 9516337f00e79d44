"""The `load` kind: the traffic policy's refusals and gate, the request budget, the
generator, and the outcome.

    LoadParams -> refusals (production, caps) -> gate (one probe per environment) -> budget
      -> generate(schedule, fire) -> Tally -> LoadFigures -> thresholds -> ProbeReport -> Outcome
"""

from __future__ import annotations

import asyncio

from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.load._client import LoadClient, TransportFailure
from checks.kinds.load._generator import Timeline, generate
from checks.kinds.load._judge import failure_record, judge, transport_record
from checks.kinds.load._params import AbortRule, LoadParams, Schedule
from checks.kinds.load._report import ProbeReport
from checks.kinds.load._stats import Tally, format_ms, format_percent
from checks.results import Outcome
from checks.traffic import DEFAULT_GATE_WAIT_S, TrafficPolicy

__all__ = ["LoadCheck"]

# Besides warm-up and duration, the runner's timeout must cover the wait for another probe of
# the environment, the last requests' drain (each request's own timeout) and closing up.
MARGIN_S = 5.0


def abort_reason(rule: AbortRule, tally: Tally) -> str | None:
    if tally.consecutive_5xx >= rule.consecutive_5xx:
        return f"{tally.consecutive_5xx} consecutive 5xx responses"
    finished = tally.finished_all
    if finished >= rule.min_requests and tally.failed_all / finished > rule.error_rate:
        return (f"{tally.failed_all:,} of {finished:,} requests failed "
                f"({format_percent(tally.failed_all / finished)}), over the abort rule's "
                f"{format_percent(rule.error_rate)}")
    return None


class _Probe:
    """One run of the schedule: fires the requests and keeps the tally."""

    def __init__(self, params: LoadParams, schedule: Schedule, client: LoadClient,
                 ctx: CheckContext) -> None:
        self.params = params
        self.schedule = schedule
        self.client = client
        self.ctx = ctx
        self.tally = Tally(measured_from=schedule.warmup_requests)
        self.first_error: str | None = None
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._last_tick = (self._started, 0)

    async def fire(self, index: int) -> None:
        tally = self.tally
        try:
            answer = await self.client.send()
        except TransportFailure as failure:
            tally.on_transport_error(index, failure.error_class)
            self.first_error = self.first_error or failure.message
            if tally.is_measured(index) and tally.wants_failure():
                tally.failures.append(transport_record(index, self._at(), failure))
            return
        problems = judge(self.params, answer, tally.answers % self.params.assert_every == 0)
        tally.on_answer(index, answer.status, answer.ms, not problems)
        if problems and tally.is_measured(index) and tally.wants_failure():
            tally.failures.append(failure_record(index, self._at(), answer, problems))

    def _at(self) -> float:
        return self._loop.time() - self._started

    def tick(self, index: int) -> None:
        now, answers = self._loop.time(), self.tally.answers
        then, before = self._last_tick
        self._last_tick = (now, answers)
        rate = (answers - before) / (now - then) if now > then else 0.0
        warmup = self.schedule.warmup_requests
        if index < warmup:
            text = f"warm-up {index:,}/{warmup:,} requests · {rate:,.0f} rps"
        else:
            text = (f"{index - warmup:,}/{self.schedule.measured_requests:,} requests · "
                    f"{rate:,.0f} rps")
            p95 = self.tally.recent_p95()
            if p95 is not None:
                text += f" · p95 {format_ms(p95)}"
        self.ctx.progress(text, index / self.schedule.total)

    async def run(self) -> Timeline:
        self._started = self._loop.time()
        self._last_tick = (self._started, 0)
        return await generate(self.schedule, self.fire, self.tally,
                              stop=lambda: abort_reason(self.params.abort, self.tally),
                              tick=self.tick, drain_s=self.params.request_timeout + 1.0)


class LoadCheck(CheckKind[LoadParams]):
    Params = LoadParams

    async def run(self, params: LoadParams, ctx: CheckContext) -> Outcome:
        policy = TrafficPolicy.for_context(ctx)
        schedule = Schedule.of(params)
        policy.check_allowed()
        policy.check_caps(rps=params.rps, duration_s=params.warmup + params.duration,
                          requests=schedule.total, concurrency=schedule.concurrency)
        client = LoadClient(params, policy.merged_headers(params.headers), schedule.concurrency,
                            base_dir=ctx.suite_dir)
        async with policy.probe(ctx.check_id or "load"):
            granted = policy.budget.take(schedule.total)
            if granted < schedule.total:
                policy.budget.give_back(granted)
                raise CheckError(
                    f"refused: this run's traffic budget has {granted:,} requests left and "
                    f"this check would send {schedule.total:,}; every probe of a run (retries "
                    "included) shares the budget, raise `traffic.max_requests_per_run` on the "
                    "environment or ask for fewer requests", permanent=True)
            probe = _Probe(params, schedule, client, ctx)
            try:
                async with client:
                    timeline = await probe.run()
            finally:
                policy.budget.give_back(schedule.total - probe.tally.sent)
        return _outcome(params, schedule, probe, timeline)

    def describe(self, params: LoadParams) -> str:
        return params.describe()

    def exclusive_group(self, params: LoadParams) -> str:
        return "traffic"  # probes of one run take turns: each would distort the other's figures

    def min_timeout(self, params: LoadParams) -> float:
        return (params.warmup + params.duration + params.request_timeout + DEFAULT_GATE_WAIT_S
                + MARGIN_S)


def _outcome(params: LoadParams, schedule: Schedule, probe: _Probe,
             timeline: Timeline) -> Outcome:
    tally = probe.tally
    figures = tally.figures(params.rps, timeline.measured_s(schedule),
                            timeline.measured_scheduled(schedule))
    report = ProbeReport(
        params=params, schedule=schedule, figures=figures,
        thresholds=[t.judge(figures) for t in params.failing_thresholds()],
        warnings=[t.judge(figures) for t in params.warning_thresholds()],
        aborted=timeline.stop_reason, warmup_requests=min(schedule.warmup_requests, tally.sent),
        first_failures=tally.failures)
    if tally.answers == 0 and probe.first_error is not None:
        # Not one HTTP answer: the target could not be looked at, as `http` would say.
        early = ", aborted early" if timeline.stop_reason else ""
        raise CheckError(f"{probe.first_error}; none of the {tally.sent:,} requests sent was "
                         f"answered{early}", details=report.details())
    return report.outcome()
