"""Deploy webhook benchmark (issue 6): from a signed GitHub `deployment_status` delivery leaving
the sender to the deploy's parent message ("Deploy of VERSION to ENV: smoke tests running")
reaching Slack, p50 and p99 over 100 deploys (target p50 <= 150 ms).

Processes: the web process (`python -m bench.serve_web`, BENCH_APP=bot: bot.web's app from the
bot's environment variables, served by uvicorn as `smokebot serve` serves it), the demo target
the checks test (same launcher, own process), two real workers (`python -m bot worker`), the
machine's PostgreSQL (a fresh database) and Redis (a fresh key prefix). The Slack emulator
(tests/support) runs in a thread of this process and records when each call arrives, on the
same clock as the send times taken here.

What the figure covers: signature check, the delivery's record and the run's row in one
transaction, coalescing (superseding the environment's active runs under its advisory lock),
the coalescing window (the run's job is a saq job scheduled for the window's end: saq schedules
to the whole second, so this adds up to about 2 s even to a 1 ms window), the queue, a worker
taking the job, marking the run running, planning the suite, and the parent message's
chat.postMessage. What it leaves out: the rollout wait. No environment has
`wait_for_rollout`, and `coalesce_window` is 1 ms (the smallest the suite file takes) instead of
the default 2 s, which a real deploy would add to this figure as it is meant to.

Each deploy goes to its own environment (`d000` ... `d099`, each mapped from the GitHub
environment of the same name), so coalescing never merges two of them. They are sent one at a
time, each after a random 100-500 ms pause, so the idle workers are met at any moment of their
wait for a job, as deploys arrive in practice. Ten deploys to other environments warm up first.

`python -m bench.deploys` prints the figures (about a minute).
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from bench.stack import Stack, percentile, running_stack, verdict, wait_until
from tests.bot.webhook_payloads import github_deployment_status, github_headers, to_body

__all__ = ["main"]

GITHUB_SECRET = "bench-github-webhook-secret-0123456789"
CHANNEL = "C0SMOKE001"
WARMUP = 10
DEPLOYS = 100
WORKERS = 2
PAUSE_S = (0.1, 0.5)
COALESCE_WINDOW = "1ms"


def environments() -> dict[str, list[str]]:
    return {"warmup": [f"w{i:03d}" for i in range(WARMUP)],
            "measured": [f"d{i:03d}" for i in range(DEPLOYS)]}


def suite_text(target_url: str) -> str:
    """Every environment: its own channel mapping and GitHub name, two cheap passing checks."""
    names = [name for group in environments().values() for name in group]
    lines = [f"  {name}: {{slack: {{channel: {CHANNEL}}}, "
             f"deploy: {{github: [{name}], coalesce_window: {COALESCE_WINDOW}}}}}"
             for name in names]
    return ("suite: bench-deploys\ndefaults: {timeout: 5s}\nenvironments:\n" + "\n".join(lines)
            + "\ncategories:\n  - name: Health & Infrastructure\n    checks:\n"
            + f"      - {{id: version, type: http, url: '{target_url}/api/version', "
              "assert: ['version exists']}\n"
            + f"      - {{id: health, type: http, url: '{target_url}/api/health', "
              "assert: ['status exists']}\n")


# --- processes --------------------------------------------------------------------------------

@contextmanager
def deploy_stack() -> Iterator[Stack]:
    with running_stack(Stack, "bench-deploys", suite_text,
                       extra_env={"SMOKEBOT_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET}) as stack:
        stack.start_workers(WORKERS)
        yield stack


# --- figures ----------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@dataclass(frozen=True)
class Deploy:
    environment: str
    version: str
    answered_s: float  # the webhook's 202, from the send
    parent_s: float  # the parent message's arrival in Slack, from the send


def send_deploy(stack: Stack, client: httpx.Client, index: int, environment: str) -> Deploy:
    version = f"v1.{index}.0"
    body = to_body(github_deployment_status(environment=environment, version=version,
                                            deployment_id=1_000_000 + index,
                                            sha=f"{index:040x}"))
    headers = github_headers(GITHUB_SECRET, body, delivery=f"bench-{environment}")
    heading = f"Deploy of {version} to {environment}: smoke tests running"
    seen = len(stack.emulator.calls())
    sent_at = time.time()
    started = time.perf_counter()
    response = client.post(f"{stack.web_url}/webhooks/github", content=body, headers=headers)
    answered = time.perf_counter() - started
    if response.status_code != 202 or response.json().get("outcome") != "accepted":
        raise SystemExit(f"deploy to {environment} not accepted ({response.status_code}): "
                         f"{response.text[:300]}")

    def parent_posted() -> float | None:
        for call in stack.emulator.calls()[seen:]:
            if call.method == "chat.postMessage" and not call.params.get("thread_ts") \
                    and str(call.params.get("text", "")).startswith(heading):
                return call.at
        return None
    posted_at = wait_until(parent_posted, 30, f"the parent message of {environment}",
                           poll=0.002)
    return Deploy(environment, version, answered, posted_at - sent_at)


def run_deploys() -> tuple[list[Deploy], Counter[str], int]:
    rng = random.Random(6)
    names = environments()
    with deploy_stack() as stack, httpx.Client(timeout=10) as client:
        for i, env in enumerate(names["warmup"]):  # imports, pools, the suite's first load
            send_deploy(stack, client, 10_000 + i, env)
        measured = []
        for i, env in enumerate(names["measured"]):
            time.sleep(rng.uniform(*PAUSE_S))
            measured.append(send_deploy(stack, client, i, env))
        wait_until(lambda: not stack.query(
            "SELECT 1 FROM runs WHERE status IN ('queued', 'running')"), 120,
            "every run to finish", poll=0.2)
        statuses = Counter(dict(stack.query(
            "SELECT status, count(*) FROM runs WHERE environment = ANY(%s) GROUP BY status",
            (names["measured"],))))
        parents = sum(1 for call in stack.emulator.calls("chat.postMessage")
                      if not call.params.get("thread_ts")
                      and str(call.params.get("text", "")).startswith("Deploy of v1.")
                      and " to d" in str(call.params.get("text", "")))
    return measured, statuses, parents


def main() -> int:
    deploys, statuses, parents = run_deploys()
    parent = [d.parent_s for d in deploys]
    answered = [d.answered_s for d in deploys]
    p50 = percentile(parent, 50)
    print(f"deploy webhook received to parent message posted, {DEPLOYS} GitHub deployment_status "
          f"deliveries, one at a time, each to its own environment, {WORKERS} idle workers; "
          f"coalesce_window {COALESCE_WINDOW}, no wait_for_rollout")
    print(f"   p50 {ms(p50)} (target <= 150 ms: {verdict(p50 <= 0.150)}), "
          f"p90 {ms(percentile(parent, 90))}, p99 {ms(percentile(parent, 99))}, "
          f"max {ms(max(parent))}")
    print(f"   webhook answered (202) p50 {ms(percentile(answered, 50))}, "
          f"p99 {ms(percentile(answered, 99))}")
    print(f"   runs by status: {dict(statuses)}; parent messages posted: {parents} "
          f"(one per deploy: {'yes' if parents == DEPLOYS else 'NO'})")
    ok = statuses == Counter({"passed": DEPLOYS}) and parents == DEPLOYS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
