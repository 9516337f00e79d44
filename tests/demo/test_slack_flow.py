"""`make demo-slack` (demo/slack_flow.py): the bot's web process and a worker, as
subprocesses, against the machine's PostgreSQL and Redis, the Slack emulator and the demo
target; `/smoketest staging` on a degraded target, Re-run failed once it recovered, and the
channel printed. Each test checks that nothing it started is left: processes, ports, the
Redis keys under the run's prefix, the history schema."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import psycopg
import pytest
import redis

from bot.errors import RequestRefused
from bot.pages.signing import LinkSigner
from checks.secrets import Secret
from demo.bot_storage import ServiceUnreachable
from demo.slack_flow import FlowOptions, FlowReport, main, run_slack_flow
from tests.support.asgi import free_port
from tests.support.services import PG_ADMIN_DSN, redis_url

REPO = Path(__file__).resolve().parents[2]
# Planted, so that the test knows them; split, so that they are no secrets to a scanner.
SIGNING_SECRET = "demo-" + "signing-CANARY-4f1e9a7b3c2d"
API_KEY = "rsk_" + "test_CANARYslackDemo5f1e9a7b3c2d4e6f"
SERVING = re.compile(r"^demo: smokebot serve at (http://\S+) \(pid (\d+)\) and smokebot worker "
                     r"\(pid (\d+)\), history in schema (\w+), queue under Redis prefix (\S+)$",
                     re.MULTILINE)
SERVED_AT = re.compile(r"^demo: (?:target serving|Slack Web API emulator) at (http://[\d.:]+)",
                       re.MULTILINE)


def _port_closed(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname or "", parts.port or 80)) != 0


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _assert_nothing_left(urls: Iterable[str], pids: Iterable[int], prefix: str,
                         schema: str) -> None:
    assert all(_port_closed(url) for url in urls), urls
    assert all(_process_gone(pid) for pid in pids), pids
    client = redis.Redis.from_url(redis_url())
    try:
        assert list(client.scan_iter(match=f"*{prefix}*")) == []
    finally:
        client.close()
    with psycopg.connect(PG_ADMIN_DSN) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                            [schema]).fetchall() == []


@pytest.fixture(scope="module")
def flow() -> Iterator[tuple[FlowReport, str]]:
    """One whole flow, read by the tests that follow (a flow takes seconds)."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEMO_API_KEY", API_KEY)
        report = run_slack_flow(FlowOptions(database_url=PG_ADMIN_DSN, redis_url=redis_url(),
                                            signing_secret=SIGNING_SECRET, settle_timeout_s=30),
                                out)
    yield report, out.getvalue()


def test_channel_shows_the_failed_run_its_thread_and_the_passing_rerun(
        flow: tuple[FlowReport, str]) -> None:
    report, text = flow
    assert report.run_statuses == ("failed", "passed") and report.ok
    first, clicked, pages = (text.split("━━ ")[i] for i in (1, 2, 3))
    assert first.startswith("alice types /smoketest staging in #deploys-staging")
    assert "(only visible to you) Queued a smoke test of staging (run " in first
    # The summary, as its blocks read.
    assert "\nsmokebot  " in first
    assert "\n  ❌ Smoke test: staging failed\n  ❌ SMOKE TESTS FAILED: 1 of 4 checks failed\n" \
        in first
    assert "      Health & Infrastructure       2       1       1        0  FAIL\n" in first
    assert ('  • ❌ Health endpoint `health`: status: expected "healthy", got "degraded"; '
            'services.ai_providers.openai: expected "healthy", got "degraded"\n') in first
    assert "  • `onboarding-flow`: depends on 'health', which failed\n" in first
    assert "/smoketest staging by @alice · Run `" in first
    assert "\n  [ Re-run failed ]  [ Re-run all ]  [ Acknowledge ]\n" in first
    # Its thread: the failure's reply and the report.
    assert "\n  2 replies in the thread:\n  ┆ smokebot  " in first
    assert "\n  ┆   ❌ Health endpoint `health` failed\n" in first
    assert "\n  ┆   🆕 New failure: not failing in earlier runs\n" in first
    assert re.search(r"┆   📎 smoke-staging-[0-9a-f]{8}\.md \(Smoke test report: staging", first)

    assert clicked.startswith("alice clicks [ Re-run failed ] on the summary "
                              "(openai recovered meanwhile)")
    assert "(only visible to you) Queued a re-run of staging (run " in clicked
    assert "new in the thread of “❌ Smoke test: staging failed”:" in clicked
    assert "\n  ┆   ✅ Smoke test: staging passed\n  ┆   ✅ SMOKE TESTS PASSED:" in clicked
    assert "Re-run failed by @alice · Run `" in clicked
    replies = clicked.split("”:\n", 1)[1]
    assert "❌" not in replies, "the re-run has no failure to reply about"

    # The View run links of both summaries, signed with the bot's key, answered 200.
    assert len(report.run_links) == 2 and report.page_statuses == (200, 200)
    signer = LinkSigner(Secret(SIGNING_SECRET))
    for link in report.run_links:
        assert f"View run ({link})" in text and link in pages
        parts = urlsplit(link)
        signer.verify(parts.path, parse_qsl(parts.query))
        with pytest.raises(RequestRefused):
            signer.verify(parts.path.replace("/runs/", "/runs/0"), parse_qsl(parts.query))
    assert re.search(r"Run [0-9a-f]{8} of staging · smokebot: 200", pages)

    for secret in (SIGNING_SECRET, API_KEY, "xoxb-"):
        assert secret not in text


def test_everything_started_is_stopped_and_deleted(flow: tuple[FlowReport, str]) -> None:
    report, text = flow
    assert len(report.urls) == 3 and len(report.pids) == 2
    _assert_nothing_left(report.urls, report.pids, report.key_prefix, report.db_schema)
    assert text.rstrip().endswith(f"dropped schema {report.db_schema}, deleted the Redis keys "
                                  f"under {report.key_prefix}")


def test_keep_degraded_shows_the_rerun_failing_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_API_KEY", API_KEY)
    out = io.StringIO()
    report = run_slack_flow(FlowOptions(database_url=PG_ADMIN_DSN, redis_url=redis_url(),
                                        heal=False, degrade=frozenset({"database"})), out)
    assert report.run_statuses == ("failed", "failed") and report.ok
    clicked = out.getvalue().split("━━ ")[2]
    assert clicked.startswith("alice clicks [ Re-run failed ] on the summary "
                              "(database still degraded)")
    assert "🔁 Still failing since run `" in clicked
    assert 'services.database: expected "healthy", got "degraded"' in clicked
    _assert_nothing_left(report.urls, report.pids, report.key_prefix, report.db_schema)


@pytest.mark.parametrize("service, option", [("PostgreSQL", "database_url"),
                                             ("Redis", "redis_url")])
def test_unreachable_service_is_one_line_and_starts_nothing(service: str, option: str) -> None:
    scheme = "postgresql://postgres@" if service == "PostgreSQL" else "redis://"
    closed = {option: f"{scheme}127.0.0.1:{free_port()}/0"}
    with pytest.raises(ServiceUnreachable, match=rf"^{service} is not reachable \(.*\); the "
                                                 r"bot (keeps|queues) its runs there: start it "
                                                 rf"\(make services\) or pass "
                                                 rf"--{option.replace('_', '-')}$"):
        run_slack_flow(FlowOptions(**closed), io.StringIO())


@pytest.mark.parametrize("option, url, expected", [
    ("database_url", "postgresql://u:hunter2@[::1",
     "--database-url is not a PostgreSQL URL; expected postgresql://user@host:port/database"),
    ("redis_url", "hunter2@127.0.0.1:6379",
     "--redis-url is not a Redis URL; expected redis://host:port/db (rediss:// for TLS)"),
])
def test_malformed_url_is_named_without_quoting_it(option: str, url: str, expected: str) -> None:
    with pytest.raises(ServiceUnreachable) as refused:
        run_slack_flow(FlowOptions(**{option: url}), io.StringIO())
    assert str(refused.value) == expected


def test_unknown_component_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--degrade", "stripe"])
    assert exited.value.code == 2
    assert "argument --degrade: invalid choice: 'stripe'" in capsys.readouterr().err


def test_ctrl_c_mid_run_stops_and_deletes_everything() -> None:
    """As `make demo-slack` runs it, interrupted once the bot is up: exit 130, nothing left."""
    demo = subprocess.Popen([sys.executable, "-m", "demo.slack_flow"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DEMO_API_KEY": API_KEY})
    try:
        assert demo.stdout is not None
        seen = ""
        for line in demo.stdout:
            seen += line
            if line.startswith("demo: smokebot serve at"):
                break
        demo.send_signal(signal.SIGINT)
        rest, err = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130, err
    assert "demo: interrupted; stopped everything it started" in err
    serving = SERVING.search(seen)
    assert serving is not None, seen
    web_url, web_pid, worker_pid, schema, prefix = serving.groups()
    _assert_nothing_left([web_url, *SERVED_AT.findall(seen)], [int(web_pid), int(worker_pid)],
                         prefix, schema)
