"""A test-only traffic probe kind (`test.traffic`) and a process that executes one bot run with
it (not a test module).

The kind does what the `load` and `ratelimit` kinds do around their traffic, without any: it
enters `ctx.traffic.probe(check_id)` (the production refusal, then the environment's gate),
says how far it is with `ctx.progress` a few times while it sleeps, and reports when it held
the gate (`entered`, `left`: wall-clock seconds, comparable across processes).

    python -c 'from tests.support.traffic_probe import execute_one; execute_one()' ENV

runs a bot run of ENV in a process of its own (the settings from the environment: DATABASE_URL,
SMOKEBOT_DB_SCHEMA, REDIS_URL, SMOKEBOT_KEY_PREFIX, SMOKEBOT_CONFIG): it records the run, prints
`ready`, waits for a line on stdin, executes the run as a worker would and prints the probe's
result as JSON. Several such processes released at once are several workers racing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import checks.kinds
from checks.kinds import register_kind
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.results import Outcome
from checks.traffic import TrafficPolicy

__all__ = ["KIND", "TrafficProbeCheck", "execute_one", "registered", "worker_main"]

KIND = "test.traffic"


class TrafficProbeParams(KindParams):
    seconds: float = 0.5  # how long the probe holds the environment
    steps: int = 5  # progress reports while it does


class TrafficProbeCheck(CheckKind[TrafficProbeParams]):
    Params = TrafficProbeParams

    async def run(self, params: TrafficProbeParams, ctx: CheckContext) -> Outcome:
        policy = ctx.traffic or TrafficPolicy(environment=ctx.environment, run_id="test")
        async with policy.probe(ctx.check_id):
            entered = time.time()
            for step in range(1, params.steps + 1):
                await asyncio.sleep(params.seconds / params.steps)
                ctx.progress(f"{step * 100}/{params.steps * 100} requests · 98 rps",
                             step / params.steps)
            left = time.time()
        return Outcome.ok(f"held {ctx.environment} for {left - entered:.2f}s",
                          measurements={"entered": entered, "left": left})


def register() -> None:
    register_kind(KIND, TrafficProbeCheck())


@contextmanager
def registered() -> Iterator[None]:
    """The kind registered for the block only: other tests' kind lists stay as they were."""
    register()
    try:
        yield
    finally:
        checks.kinds._KINDS.pop(KIND, None)
        checks.kinds._loaded.pop(KIND, None)


def worker_main() -> None:
    """`smokebot worker` with the kind registered (argv as the CLI's, after the program)."""
    register()
    from bot.cli import main
    sys.argv = ["smokebot", "worker"]
    main()


def execute_one() -> None:
    register()
    asyncio.run(_execute_one(sys.argv[1]))


async def _execute_one(environment: str) -> None:
    from bot.execution import execute_run
    from bot.records import RunRequest, TriggerKind
    from bot.services import Services
    from bot.settings import Settings

    services = await Services.start(Settings.from_env())
    try:
        ticket = await services.store.start_or_join(RunRequest(
            environment=environment, trigger_kind=TriggerKind.CLI, trigger_detail="race"))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        ended = await execute_run(str(ticket.run.id), services, worker_id=f"race-{environment}")
        assert ended is not None
        [result] = await services.store.results(ended.id)
        print(json.dumps({"status": result.status.value, "summary": result.summary,
                          **result.measurements}), flush=True)
    finally:
        await services.close()
