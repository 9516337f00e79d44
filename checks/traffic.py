"""What traffic probes (the `load` and `ratelimit` kinds) may send, enforced here rather than
left to the suite file:

- hard caps no suite or environment can raise (`HARD_CAPS`), and an environment's own lower
  `traffic:` limits;
- a request budget shared by every probe of one run;
- one probe at a time per environment (`TrafficGate`: in-process here, a Redis lock in the bot,
  so that every worker and the CLI sharing a Redis wait for each other);
- the production refusal: an environment marked `production: true` gets no probe unless it
  allows them (`traffic: {allow: true}`) and, for a run a person started from Slack, the run was
  confirmed with the production confirmation button;
- the headers that mark a probe's requests as synthetic.

Every refusal is a permanent CheckError that says why and what would allow it."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from checks.errors import CheckError
from checks.release import release

__all__ = [
    "HARD_CAPS", "RUN_HEADER", "LocalGate", "RunBudget", "TrafficCaps", "TrafficGate",
    "TrafficPolicy", "user_agent",
]

RUN_HEADER = "X-Smokebot-Run"
# How long a probe waits for another probe of the same environment to finish by default.
DEFAULT_GATE_WAIT_S = 30.0


@dataclass(frozen=True)
class TrafficCaps:
    rps: float  # requests per second of one probe
    duration_s: float  # one probe's warm-up plus measured time
    requests_per_check: int
    requests_per_run: int  # all probes of one run together, retries included
    concurrency: int  # requests in flight at once

    def lowered(self, **limits: float | int | None) -> TrafficCaps:
        """These caps, each lowered to the given limit where one is given (never raised)."""
        values = {name: min(getattr(self, name), limit) if limit is not None
                  else getattr(self, name) for name, limit in limits.items()}
        return TrafficCaps(**{**self.__dict__, **values})


# The most any suite may ask for. A smoke test that needs more is a load test: use k6.
HARD_CAPS = TrafficCaps(rps=2000, duration_s=300, requests_per_check=100_000,
                        requests_per_run=200_000, concurrency=256)


def user_agent() -> str:
    """`smokebot/<version> (synthetic)`: lets the target's logs and rate limits tell a probe
    from a customer."""
    return f"smokebot/{release()} (synthetic)"


class _ProbeContext(Protocol):
    """What `for_context` reads of a check's context (checks.kinds.base.CheckContext, which
    imports this module)."""

    environment: str
    run_id: str | None
    traffic: TrafficPolicy | None


class TrafficGate(Protocol):
    """One traffic probe at a time per environment."""

    def hold(self, environment: str, holder: str,
             wait_s: float) -> AbstractAsyncContextManager[None]:
        """Waits up to `wait_s` for the environment to be free, then holds it while the
        block runs; raises CheckError naming who holds it when it stays busy."""
        ...


class LocalGate:
    """The gate within one process (the CLI without Redis, tests): an asyncio lock per
    environment and event loop."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                               dict[str, asyncio.Lock]] = \
            weakref.WeakKeyDictionary()
        self._holders: dict[str, str] = {}

    @asynccontextmanager
    async def hold(self, environment: str, holder: str, wait_s: float) -> AsyncIterator[None]:
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        lock = locks.setdefault(environment, asyncio.Lock())
        try:
            async with asyncio.timeout(wait_s):
                await lock.acquire()
        except TimeoutError:
            raise busy_error(environment, self._holders.get(environment), wait_s) from None
        self._holders[environment] = holder
        try:
            yield
        finally:
            self._holders.pop(environment, None)
            lock.release()


LOCAL_GATE = LocalGate()


def busy_error(environment: str, holder: str | None, waited_s: float) -> CheckError:
    who = f" ({holder})" if holder else ""
    return CheckError(f"another traffic probe{who} is running against '{environment}'; waited "
                      f"{waited_s:g}s for it to finish. Probes run one at a time per "
                      "environment so that their figures do not disturb each other")


@dataclass
class RunBudget:
    """The requests one run's probes may still send together."""

    remaining: int
    total: int = 0  # what the run started with, for messages; 0: `remaining` at creation

    def __post_init__(self) -> None:
        self.total = self.total or self.remaining

    def take(self, wanted: int) -> int:
        """Reserves up to `wanted` requests; returns how many were granted (0 when spent)."""
        granted = max(0, min(wanted, self.remaining))
        self.remaining -= granted
        return granted

    def give_back(self, unused: int) -> None:
        self.remaining += max(0, unused)


@dataclass
class TrafficPolicy:
    """What the probes of one run in one environment may do. The plan builds it from the
    environment's settings; the bot swaps in its Redis gate and says whether a person
    confirmed the run."""

    environment: str
    run_id: str
    production: bool = False
    allowed: bool = True  # the environment's `traffic.allow`
    # A person started the run from Slack, so production needs their confirmation too.
    needs_confirmation: bool = False
    confirmed: bool = False
    caps: TrafficCaps = HARD_CAPS
    gate: TrafficGate = field(default=LOCAL_GATE)
    gate_wait_s: float = DEFAULT_GATE_WAIT_S
    budget: RunBudget = field(default_factory=lambda: RunBudget(HARD_CAPS.requests_per_run))

    def __post_init__(self) -> None:
        self.budget.remaining = min(self.budget.remaining, self.caps.requests_per_run)
        self.budget.total = min(self.budget.total, self.caps.requests_per_run)

    @classmethod
    def for_context(cls, ctx: _ProbeContext) -> TrafficPolicy:
        """The run's policy, or for a check run outside a plan (a test, a plugin) the default
        one: hard caps, the in-process gate, a budget of its own."""
        if ctx.traffic is not None:
            return ctx.traffic
        return cls(environment=ctx.environment, run_id=ctx.run_id or uuid.uuid4().hex[:12])

    def refusal(self) -> str | None:
        """Why no probe may run in this environment, or None."""
        if not self.allowed:
            if self.production:
                return (f"environment '{self.environment}' is marked production: traffic "
                        "probes (load, ratelimit) run there only when its environment block "
                        "allows them with `traffic: {allow: true}`")
            return (f"environment '{self.environment}' does not allow traffic probes "
                    "(`traffic: {allow: false}`)")
        if self.production and self.needs_confirmation and not self.confirmed:
            return (f"environment '{self.environment}' is marked production: a traffic probe "
                    "started from Slack runs there only after the production confirmation "
                    "button (set `slack.confirm: true` on the environment)")
        return None

    def check_allowed(self) -> None:
        reason = self.refusal()
        if reason is not None:
            raise CheckError(f"refused: {reason}", permanent=True)

    def check_caps(self, *, rps: float | None = None, duration_s: float | None = None,
                   requests: int | None = None, concurrency: int | None = None) -> None:
        """Raises a permanent CheckError naming the first cap a probe's parameters exceed."""
        asked = {"rps": rps, "duration_s": duration_s, "requests_per_check": requests,
                 "concurrency": concurrency}
        words = {"rps": "requests per second", "duration_s": "seconds of traffic",
                 "requests_per_check": "requests", "concurrency": "requests in flight"}
        for name, value in asked.items():
            cap = getattr(self.caps, name)
            if value is not None and value > cap:
                hard = getattr(HARD_CAPS, name)
                source = ("smokebot's hard cap" if cap == hard
                          else f"the limit of environment '{self.environment}'")
                raise CheckError(f"refused: {value:g} {words[name]} is over {source} of "
                                 f"{cap:g}", permanent=True)

    def headers(self) -> dict[str, str]:
        """Sent with every probe request; a suite's own headers cannot replace them."""
        return {"User-Agent": user_agent(), RUN_HEADER: self.run_id}

    def merged_headers(self, own: Mapping[str, str]) -> dict[str, str]:
        """A probe's own headers, then `headers()`, which replace any of the same name."""
        marks = self.headers()
        reserved = {name.lower() for name in marks}
        return {**{name: value for name, value in own.items()
                   if name.lower() not in reserved}, **marks}

    @asynccontextmanager
    async def probe(self, check_id: str) -> AsyncIterator[None]:
        """Refuses, or waits for the environment to be free and holds it for the probe."""
        self.check_allowed()
        holder = f"check '{check_id}' of run {self.run_id}"
        async with self.gate.hold(self.environment, holder, self.gate_wait_s):
            yield
