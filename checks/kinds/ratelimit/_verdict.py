"""Judging a probe: where the limit bit, what the rate-limit fields said, whether the quota
came back. Pure: a `Probe` record in, an Outcome out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.kinds.ratelimit._burst import Burst, Sample, Stop
from checks.kinds.ratelimit._params import RateLimitParams
from checks.results import Outcome

__all__ = ["Probe", "Recovery", "judge"]

SHOWN_RESPONSES = 5  # the first few responses in details and evidence
RESET_SLACK_S = 2.0
_FAMILY_WORDS = {"retry-after": "Retry-After", "x-ratelimit": "X-RateLimit-*",
                 "ratelimit": "RateLimit (IETF draft)"}


@dataclass(frozen=True)
class Recovery:
    """The wait after the first throttled response, and the one request sent after it."""

    hint: str  # what the wait was read from: "Retry-After 2s"
    waited_s: float = 0.0
    sample: Sample | None = None  # None: not checked, see `skipped`
    skipped: str | None = None

    @property
    def recovered(self) -> bool | None:
        """Whether the request after the wait got through; None when none was sent."""
        sample = self.sample
        if sample is None:
            return None
        return not sample.throttled and sample.status is not None and 200 <= sample.status < 400


@dataclass(frozen=True)
class Probe:
    params: RateLimitParams
    burst: Burst
    rps: float  # the pace the burst was allowed
    requests_sent: int  # every request, an earlier burst's and the recovery's included
    elapsed_s: float
    recovery: Recovery | None = None
    notes: tuple[str, ...] = ()


@dataclass
class _Findings:
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def judge(probe: Probe) -> Outcome:
    params, burst = probe.params, probe.burst
    found = _Findings(notes=list(probe.notes))
    first = burst.first_throttled
    throttle = str(params.status)
    limit_text = f"limit {params.expected_limit} ±{params.tolerance_requests}"
    refused = next((s for s in burst.samples if s.status is not None and 400 <= s.status < 500
                    and not s.throttled), None)
    if refused is not None and (first is None or refused.n < first.n):
        found.failures.append(
            f"request {refused.n} answered {_status(refused)}, expected 2xx until the limit "
            f"answers {throttle}: is the client identity (headers) accepted?")
    elif burst.stop == Stop.ERRORS and first is None:
        run = burst.failures_in_a_row()
        found.failures.append(
            f"aborted after {len(run)} failed requests in a row (requests {run[0].n}-"
            f"{run[-1].n}, last: {_status(run[-1])}): the target is failing, so the probe "
            "stopped")
    elif first is None:
        found.failures.append(_not_throttled(probe, throttle))
    elif first.n > params.latest_throttle:
        resets = _window_resets(probe)
        found.failures.append(f"throttled too late: first {throttle} at request {first.n}, "
                              f"expected by request {params.latest_throttle} ({limit_text})"
                              + (f"; {resets[0]}" if resets else ""))
    elif first.n < params.earliest_throttle:
        found.failures.append(f"throttled too early: first {throttle} at request {first.n}, "
                              f"expected from request {params.earliest_throttle} "
                              f"({limit_text})")
    _check_fields(probe, first, found)
    _check_remaining(probe, first, found)
    _check_errors(burst, first, found)
    _check_recovery(probe.recovery, throttle, found)
    return _outcome(probe, first, found, limit_text)


def _status(sample: Sample) -> str:
    if sample.status is None:
        return f"no response ({sample.error})"
    return f"{sample.status} {sample.reason}".strip()


def _not_throttled(probe: Probe, throttle: str) -> str:
    params, burst = probe.params, probe.burst
    sent = len(burst.samples)
    if sent < params.latest_throttle:  # stopped before the limit had to bite
        why = ("the traffic duration cap" if burst.stop == Stop.DURATION
               else "the run's traffic budget")
        return (f"could not reach the limit: {why} stopped the burst after {sent} requests "
                f"({burst.elapsed_s:.1f}s), before request {params.latest_throttle}, which "
                f"the limit should have answered {throttle}")
    message = f"rate limit not enforced: {sent} requests, no {throttle}"
    reset = _window_resets(probe)
    if reset:
        message += f" ({reset[0]})"
    return message


def _window_resets(probe: Probe) -> list[str]:
    """The places where a counter went back up legitimately, as notes (in order of sending
    only: with several requests in flight, counters come back out of order)."""
    if probe.params.concurrency > 1:
        return []
    return [note for _, note in _remaining_changes(probe.burst.samples) if note]


# ------------------------------------------------------------------------------ fields

def _present(samples: list[Sample], first: Sample | None) -> dict[str, bool]:
    names = {name for s in samples for name in s.limits.headers}
    return {
        "retry-after": first is not None and "Retry-After" in first.limits.headers,
        "x-ratelimit": any(n.startswith("X-RateLimit-") for n in names),
        "ratelimit": any(n == "RateLimit" or n.startswith("RateLimit-") for n in names),
    }


def _all_samples(probe: Probe) -> list[Sample]:
    extra = [probe.recovery.sample] if probe.recovery and probe.recovery.sample else []
    return [*probe.burst.samples, *extra]


def _check_fields(probe: Probe, first: Sample | None, found: _Findings) -> None:
    seen: set[str] = set()
    for sample in _all_samples(probe):
        for error in sample.limits.errors:
            name = error.split(" ", 1)[0]
            if name not in seen:  # one message per field: the same mistake on every response
                seen.add(name)
                found.failures.append(f"{error} (request {sample.n})")
    if first is None:
        return  # what a throttled response should say cannot be judged without one
    present = _present(probe.burst.samples, first)
    required = probe.params.require_headers
    if required == "any" and not any(present.values()):
        found.failures.append(f"the {first.status} says nothing of the limit: no Retry-After, "
                              "X-RateLimit-* or RateLimit fields on any response")
    for family in probe.params.families:
        if not present[family]:
            where = "on the first throttled response" if family == "retry-after" \
                else "on any response"
            found.failures.append(f"no {_FAMILY_WORDS[family]} {where}")


def _remaining_changes(samples: list[Sample]) -> list[tuple[str | None, str | None]]:
    """For each counter family, its first illegitimate rise as a failure, and each rise after
    the counter's own reset time as a note: (failure, note) pairs."""
    changes: list[tuple[str | None, str | None]] = []
    for family in ("X-RateLimit", "RateLimit"):
        previous: tuple[Sample, int, float | None] | None = None  # sample, remaining, reset
        failed = False
        for sample in samples:
            counter = next((c for c in sample.limits.counters if c.family == family), None)
            if counter is None or counter.remaining is None:
                continue
            if previous is not None and counter.remaining > previous[1]:
                before, was, reset_s = previous
                rise = (f"{counter.remaining_field} went up from {was} to "
                        f"{counter.remaining} at request {sample.n}")
                # Whole seconds, and an epoch Reset read against a Date in whole seconds too:
                # a reset "in 2s" may come up to two seconds sooner.
                if reset_s is not None and sample.at_s - before.at_s >= reset_s - RESET_SLACK_S:
                    changes.append((None, f"{rise}: the window reset during the burst"))
                elif not failed:
                    changes.append((rise, None))
                    failed = True
            previous = (sample, counter.remaining, counter.reset_s)
    return changes


def _check_remaining(probe: Probe, first: Sample | None, found: _Findings) -> None:
    if probe.params.concurrency > 1:
        found.notes.append(f"remaining counts not checked for going down: with "
                           f"{probe.params.concurrency} requests in flight they come out of "
                           "order")
        return
    until = [s for s in probe.burst.samples if first is None or s.n <= first.n]
    for failure, note in _remaining_changes(until):
        if failure:
            found.failures.append(failure)
        elif note and first is not None:  # without a throttle, the summary says it already
            found.notes.append(note)


def _check_errors(burst: Burst, first: Sample | None, found: _Findings) -> None:
    if burst.stop == Stop.ERRORS and first is None:
        return  # already the failure
    failed = [s for s in burst.samples if s.server_error]
    if failed:
        shown = ", ".join(f"{_status(s)} at request {s.n}" for s in failed[:3])
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        found.failures.append(f"{len(failed)} of {len(burst.samples)} requests failed: "
                              f"{shown}{more}")


def _check_recovery(recovery: Recovery | None, throttle: str, found: _Findings) -> None:
    if recovery is None:
        return
    if recovery.skipped:
        found.warnings.append(f"recovery not checked: {recovery.skipped}")
        return
    sample = recovery.sample
    assert sample is not None
    if sample.throttled:
        found.failures.append(f"still {throttle} after waiting {recovery.hint}")
    elif not recovery.recovered:
        found.failures.append(f"after waiting {recovery.hint}, request {sample.n} answered "
                              f"{_status(sample)}, expected 2xx")


# ------------------------------------------------------------------------------ the outcome

def _outcome(probe: Probe, first: Sample | None, found: _Findings, limit_text: str) -> Outcome:
    summary = "; ".join(found.failures)
    if not found.failures:
        assert first is not None
        summary = f"throttled at request {first.n} of {limit_text}"
        recovery = probe.recovery
        if recovery is not None and not recovery.skipped:
            summary += f"; {recovery.hint} honoured, recovered"
        elif recovery is not None:
            summary += "; recovery not checked"
    # A failure's details list the warnings too; only a pass carries one as its remark.
    warning = "; ".join(found.warnings) if found.warnings and not found.failures else None
    return Outcome(passed=not found.failures, summary=summary,
                   details=_details(probe, first, found, limit_text),
                   measurements=_measurements(probe, first),
                   evidence=_evidence(probe, first, found), warning=warning)


def _last_counter_value(samples: list[Sample], attribute: str) -> int | None:
    for sample in reversed(samples):
        for counter in sample.limits.counters:
            value = getattr(counter, attribute)
            if value is not None:
                return int(value)
    return None


def _measurements(probe: Probe, first: Sample | None) -> dict[str, Any]:
    burst = probe.burst
    before = [s for s in burst.samples if first is None or s.n < first.n]
    recovery = probe.recovery
    retry_after = first.limits.retry_after if first is not None else None
    values: dict[str, Any] = {
        "requests_sent": probe.requests_sent,
        "throttled_at": first.n if first is not None else None,
        "expected_limit": probe.params.expected_limit,
        "limit": _last_counter_value(burst.samples, "limit"),
        "remaining": _last_counter_value(before, "remaining"),
        "retry_after_s": retry_after.seconds if retry_after is not None else None,
        "recovered": recovery.recovered if recovery is not None else None,
        "burst_s": round(burst.elapsed_s, 3),
        "burst_rps": round(len(burst.samples) / burst.elapsed_s, 1) if burst.elapsed_s else None,
        "elapsed_s": round(probe.elapsed_s, 3),
    }
    return values


def _response_line(sample: Sample) -> str:
    fields = ", ".join(f"{name}: {value}" for name, value in sample.limits.headers.items())
    return f"#{sample.n}  {_status(sample)}" + (f"  {fields}" if fields else "")


def _shown_samples(burst: Burst, first: Sample | None) -> list[Sample]:
    shown = burst.samples[:SHOWN_RESPONSES]
    if first is not None and first not in shown:
        before = next((s for s in burst.samples if s.n == first.n - 1), None)
        shown += [s for s in (before, first) if s is not None and s not in shown]
    return shown


def _fields_read(samples: list[Sample]) -> list[str]:
    """Each family that could be read, with how: "X-RateLimit-* (Reset as epoch seconds)"."""
    forms: dict[str, str] = {}
    for sample in samples:
        limits = sample.limits
        if limits.retry_after is not None:
            forms.setdefault("retry", f"Retry-After (as {limits.retry_after.form})")
        for counter in limits.counters:
            extra = []
            if counter.family == "X-RateLimit" and counter.reset_form:  # the heuristic's pick
                extra.append(f"Reset as {counter.reset_form}")
            if counter.policy or counter.window_s:
                name = f" '{counter.policy}'" if counter.policy else ""
                quota = f" {counter.limit}" if counter.limit is not None else ""
                window = f" per {counter.window_s}s" if counter.window_s else ""
                extra.append(f"policy{name}{quota}{window}")
            forms.setdefault(counter.family, counter.form + (f" ({', '.join(extra)})"
                                                             if extra else ""))
    return list(forms.values())


def _details(probe: Probe, first: Sample | None, found: _Findings, limit_text: str) -> str:
    params, burst = probe.params, probe.burst
    lines = [*found.failures, *found.warnings]
    if lines:
        lines.append("")
    pace = ("one at a time" if params.concurrency == 1
            else f"{params.concurrency} at a time")
    rate = f"at most {probe.rps:g}/s" if params.rps else "as fast as answered"
    lines.append(f"{params.method} {params.url}, {limit_text}: the first {params.status} was "
                 f"expected between requests {params.earliest_throttle} and "
                 f"{params.latest_throttle}.")
    lines.append(f"Sent {len(burst.samples)} of up to {params.burst_size} requests in "
                 f"{burst.elapsed_s:.2f}s ({pace}, {rate}).")
    if first is not None:
        lines.append(f"First {first.status} at request {first.n}, {first.at_s:.2f}s into the "
                     "burst.")
    fields = _fields_read(_all_samples(probe))
    if fields:
        lines.append(f"Fields read: {'; '.join(fields)}.")
    elif any(s.limits.headers for s in _all_samples(probe)):
        lines.append("No rate-limit field could be read.")
    else:
        lines.append("No rate-limit fields on any response.")
    recovery = probe.recovery
    if recovery is not None and recovery.sample is not None:
        lines.append(f"Recovery: waited {recovery.waited_s:.2f}s ({recovery.hint}); request "
                     f"{recovery.sample.n} answered {_status(recovery.sample)}.")
    lines += found.notes
    if first is not None and first.limits.headers:
        lines += ["", f"Fields of the first {first.status}:"]
        lines += [f"  {name}: {value}" for name, value in first.limits.headers.items()]
    lines += ["", "Responses:"]
    previous = 0
    for sample in _shown_samples(burst, first):
        if sample.n > previous + 1:
            lines.append("  …")  # the ones between, like those around them
        lines.append(f"  {_response_line(sample)}")
        previous = sample.n
    if recovery is not None and recovery.sample is not None:
        lines.append(f"  {_response_line(recovery.sample)} (after the wait)")
    return "\n".join(lines)


def _evidence(probe: Probe, first: Sample | None, found: _Findings) -> dict[str, Any]:
    return {
        "throttled_at": first.n if first is not None else None,
        "stopped": probe.burst.stop,
        "first_throttled_headers": dict(first.limits.headers) if first is not None else {},
        "responses": [{"n": s.n, "status": s.status, "headers": dict(s.limits.headers),
                       **({"error": s.error} if s.error else {})}
                      for s in _shown_samples(probe.burst, first)],
        "fields": _fields_read(_all_samples(probe)),
        "failures": list(found.failures),
    }
