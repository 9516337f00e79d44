"""The `redis` kind against real servers: the machine's shared Redis (keys under a prefix of the
test's own, removed afterwards), and private redis-servers of this module's own for what the
shared one must not be given: a password, ACL users, MONITOR, TLS, a replica, memory limits."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import trustme
from saq import Queue

from checks.config import load_suite, parse_suite
from checks.errors import CheckError, ConfigError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.kinds.redis_server import RedisCheck, parse_bytes
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan
from checks.yamlsource import load_yaml
from tests.support.redis_server import (
    PrivateRedis, free_port, private_redis, redis_server_available, redis_server_supports_tls,
)
from tests.support.services import redis_url, unique_prefix

KIND = RedisCheck()
PASSWORD = f"canary-{uuid.uuid4().hex}"
READ_COMMANDS = {"PING", "INFO", "TYPE", "LLEN", "XLEN", "ZCARD", "SCARD", "HLEN", "SMEMBERS",
                 "SCAN"}
needs_redis_server = pytest.mark.skipif(not redis_server_available(),
                                        reason="redis-server is not installed")
needs_tls = pytest.mark.skipif(not redis_server_supports_tls(),
                               reason="this redis-server was built without TLS")


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis, and its keys removed afterwards."""
    name = unique_prefix("smokebot_redis_kind") + ":"
    yield name
    with redis.Redis.from_url(redis_url()) as client:
        keys = list(client.scan_iter(match=f"{name}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def shared() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url()) as client:
        yield client


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A private server with a password, and an ACL user that may only read."""
    if not redis_server_available():
        pytest.skip("redis-server is not installed")
    with private_redis(tmp_path_factory.mktemp("locked"), password=PASSWORD) as server:
        with server.client() as admin:
            admin.execute_command("ACL", "SETUSER", "reader", "on", f">{PASSWORD}", "~*", "&*",
                                  "-@all", "+@read", "+ping", "+info")
            admin.execute_command("ACL", "SETUSER", "pinger", "on", f">{PASSWORD}", "~*",
                                  "-@all", "+ping")
        yield server


@pytest.fixture
def fresh(locked: PrivateRedis) -> PrivateRedis:
    with locked.client() as admin:
        admin.flushall()
    return locked


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    if not redis_server_supports_tls():
        pytest.skip("this redis-server was built without TLS")
    with private_redis(tmp_path_factory.mktemp("tls"), tls=trustme.CA()) as server:
        yield server


def context(redactor: Redactor | None = None, suite_dir: Path | None = None) -> CheckContext:
    return CheckContext(environment="test", redactor=redactor or Redactor(), suite_dir=suite_dir)


async def check(ctx: CheckContext | None = None, **params: Any) -> Outcome:
    return await KIND.run(KIND.Params.model_validate(params), ctx or context())


async def check_error(ctx: CheckContext | None = None, **params: Any) -> CheckError:
    with pytest.raises(CheckError) as caught:
        await check(ctx, **params)
    return caught.value


def depths(outcome: Outcome) -> dict[str, int]:
    return {k.removeprefix("depth."): v for k, v in outcome.measurements.items()
            if k.startswith("depth.")}


# ------------------------------------------------------------------------------ basics

def test_registry_maps_redis_to_its_class() -> None:
    assert isinstance(load_kind("redis"), RedisCheck)


def test_describe_names_what_is_checked_without_the_password() -> None:
    params = KIND.Params.model_validate({
        "url": f"redis://:{PASSWORD}@cache:6379/0", "role": "primary", "layout": "sidekiq",
        "queues": {"default": {"max": 100}, "mailers": None}})
    assert KIND.describe(params) == ("Redis answers PING, is a master, sidekiq queue depths of "
                                     "default, mailers (1 with a max)")


def test_validating_a_suite_does_not_import_redis() -> None:
    code = ("import sys\nfrom checks.kinds import load_kind\nkind = load_kind('redis')\n"
            "kind.Params.model_validate({'url': 'redis://cache', 'layout': 'rq'})\n"
            "print('redis' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[3], timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


async def test_ping_info_and_memory_of_the_shared_redis(shared: redis.Redis) -> None:
    outcome = await check(url=redis_url(), role="master", memory={"max_used": "64gb"})

    assert outcome.passed, outcome.summary
    version = shared.info("server")["redis_version"]
    assert outcome.summary.startswith("PONG in ")
    assert f"ms from Redis {version} (master), " in outcome.summary
    assert 0 < outcome.measurements["ping_ms"] < 5000
    assert outcome.measurements["used_memory_bytes"] > 0
    assert outcome.evidence["redis_version"] == version


@pytest.mark.parametrize(("text", "size"), [
    (1048576, 1048576), ("512mb", 512 * 1024 ** 2), ("1.5gb", 3 * 1024 ** 3 // 2),
    ("800MiB", 800 * 1024 ** 2), ("1k", 1000), ("1kb", 1024), ("10 B", 10)])
def test_sizes_read_as_redis_conf_does(text: Any, size: int) -> None:
    assert parse_bytes(text) == size


# ------------------------------------------------------------------------------ raw keys

async def test_raw_keys_are_measured_by_their_type(shared: redis.Redis, prefix: str) -> None:
    shared.rpush(f"{prefix}queue:webhooks", "a", "b", "c")
    shared.xadd(f"{prefix}events", {"n": "1"})
    shared.xadd(f"{prefix}events", {"n": "2"})
    shared.zadd(f"{prefix}delayed", {"x": 1, "y": 2, "z": 3, "w": 4})
    shared.sadd(f"{prefix}workers", "w1")
    shared.hset(f"{prefix}unacked", mapping={"t1": "x", "t2": "y"})

    outcome = await check(url=redis_url(), prefix=prefix, queues={
        "queue:webhooks": {"max": 100}, "events": None, "delayed": {"max": 10},
        "workers": {}, "unacked": None, "absent": {"max": 0}})

    assert outcome.passed, outcome.summary
    assert depths(outcome) == {"queue:webhooks": 3, "events": 2, "delayed": 4, "workers": 1,
                               "unacked": 2, "absent": 0}
    assert outcome.evidence["queues"]["events"] == {
        "depth": 2, "max": None, "keys": {f"{prefix}events": "stream"}}
    assert "depths: queue:webhooks 3, events 2, delayed 4 (and 3 more)" in outcome.summary


async def test_a_queue_over_its_max_fails_with_the_depth(shared: redis.Redis, prefix: str) -> None:
    shared.rpush(f"{prefix}queue:webhooks", *range(140))

    outcome = await check(url=redis_url(), prefix=prefix,
                          queues={"queue:webhooks": {"max": 100}})

    assert not outcome.passed
    assert outcome.summary == "queue:webhooks: depth 140, expected at most 100"
    assert outcome.measurements["depth.queue:webhooks"] == 140  # history gets the trend


async def test_a_key_that_is_no_queue_is_named_with_its_type(shared: redis.Redis,
                                                              prefix: str) -> None:
    shared.set(f"{prefix}config", "x")

    outcome = await check(url=redis_url(), prefix=prefix, queues={"config": {"max": 1}})

    assert outcome.summary == (f"config: {prefix}config is a string, not a list, stream, sorted "
                               "set, set or hash")


# ------------------------------------------------------------------------------ layouts

async def test_sidekiq_queues_are_found_in_its_queues_set(shared: redis.Redis,
                                                          prefix: str) -> None:
    shared.sadd(f"{prefix}queues", "default", "mailers")
    shared.rpush(f"{prefix}queue:default", *range(5))
    shared.rpush(f"{prefix}queue:mailers", "m")
    shared.zadd(f"{prefix}retry", {"j1": 1, "j2": 2})
    shared.zadd(f"{prefix}dead", {"j3": 3})

    outcome = await check(url=redis_url(), layout="sidekiq", prefix=prefix,
                          queues={"default": {"max": 3}, "dead": {"max": 0}})

    assert outcome.summary == "default: depth 5, expected at most 3; dead: depth 1, expected " \
                              "at most 0"
    assert depths(outcome) == {"default": 5, "dead": 1, "mailers": 1, "retry": 2, "schedule": 0}
    assert outcome.evidence["discovered"] == ["default", "mailers"]


async def test_rq_queues_and_registries(shared: redis.Redis, prefix: str) -> None:
    shared.sadd(f"{prefix}rq:queues", "rq:queue:default", "rq:queue:reports")
    shared.rpush(f"{prefix}rq:queue:default", "j1", "j2")
    shared.zadd(f"{prefix}rq:failed:default", {"j0": 1})
    shared.zadd(f"{prefix}rq:wip:reports", {"j9": 1})

    outcome = await check(url=redis_url(), layout="rq", prefix=prefix,
                          queues={"default:failed": {"max": 0}})

    assert outcome.summary == "default:failed: depth 1, expected at most 0"
    assert depths(outcome) == {
        "default:failed": 1, "default": 2, "reports": 0, "default:started": 0,
        "reports:started": 1, "reports:failed": 0, "default:scheduled": 0,
        "reports:scheduled": 0, "default:deferred": 0, "reports:deferred": 0}
    assert outcome.evidence["queues"]["default:failed"]["keys"] == {
        f"{prefix}rq:failed:default": "zset"}


async def test_celery_depth_sums_kombu_priority_lists(shared: redis.Redis, prefix: str) -> None:
    sep = "\x06\x16"
    shared.sadd(f"{prefix}_kombu.binding.celery", f"celery{sep}{sep}celery")
    shared.sadd(f"{prefix}_kombu.binding.emails", f"emails{sep}{sep}emails")
    shared.sadd(f"{prefix}_kombu.binding.celery.pidbox", f"{sep}{sep}worker1.celery.pidbox")
    shared.rpush(f"{prefix}celery", "t1", "t2")
    shared.rpush(f"{prefix}celery{sep}3", "t3")
    shared.rpush(f"{prefix}celery{sep}9", "t4")
    shared.rpush(f"{prefix}emails", "e1")
    shared.hset(f"{prefix}unacked", "tag", "t0")

    outcome = await check(url=redis_url(), layout="celery", prefix=prefix,
                          queues={"celery": {"max": 10}})

    assert outcome.passed, outcome.summary
    assert depths(outcome) == {"celery": 4, "emails": 1, "unacked": 1}
    assert outcome.evidence["discovered"] == ["celery", "emails"]
    assert outcome.evidence["queues"]["celery"]["keys"] == {
        f"{prefix}celery": "list", f"{prefix}celery\\x06\\x163": "list",
        f"{prefix}celery\\x06\\x166": "none", f"{prefix}celery\\x06\\x169": "list"}


async def test_without_discovery_only_the_named_queues_are_measured(shared: redis.Redis,
                                                                   prefix: str) -> None:
    shared.sadd(f"{prefix}queues", "default", "mailers")
    shared.rpush(f"{prefix}queue:mailers", "m")

    outcome = await check(url=redis_url(), layout="sidekiq", prefix=prefix, discover=False,
                          queues={"mailers": {"max": 5}})

    assert depths(outcome) == {"mailers": 1}


@needs_redis_server
async def test_saq_keys_as_saq_itself_writes_them(fresh: PrivateRedis) -> None:
    queue = Queue.from_url(fresh.url, name="mail")
    await queue.connect()
    try:
        for n in range(3):
            await queue.enqueue("send", n=n)
        await queue.enqueue("send", n=9, scheduled=2 ** 40)  # far in the future: not queued
    finally:
        await queue.disconnect()

    outcome = await check(url=fresh.url, layout="saq", queues={"mail": {"max": 2}})

    assert outcome.summary == "mail: depth 3, expected at most 2"
    assert depths(outcome) == {"mail": 3, "mail:active": 0, "mail:incomplete": 4}
    assert outcome.evidence["discovered"] == ["mail"]


@needs_redis_server
async def test_sidekiq_keys_without_a_prefix_on_a_server_of_its_own(fresh: PrivateRedis) -> None:
    with fresh.client() as admin:
        admin.sadd("queues", "default")
        admin.rpush("queue:default", "job")

    outcome = await check(url=fresh.url, layout="sidekiq")

    assert outcome.passed
    assert depths(outcome) == {"default": 1, "retry": 0, "dead": 0, "schedule": 0}


# ------------------------------------------------------------------------------ never writes

@asynccontextmanager
async def monitoring(server: PrivateRedis) -> AsyncIterator[list[str]]:
    """Every command the server receives meanwhile (MONITOR), up to a marker sent at the end."""
    marker = f"end-{uuid.uuid4().hex}"
    seen: list[str] = []
    watcher = aioredis.Redis(host=server.host, port=server.port, password=server.password)
    sender = aioredis.Redis(host=server.host, port=server.port, password=server.password)
    async with watcher.monitor() as monitor:
        ready = asyncio.Event()

        async def collect() -> None:
            ready.set()
            while True:
                command = (await monitor.next_command())["command"]
                if marker in command:
                    return
                seen.append(command)

        task = asyncio.create_task(collect())
        await ready.wait()
        await asyncio.sleep(0.05)  # MONITOR's OK is read by the first next_command
        try:
            yield seen
        finally:
            await sender.echo(marker)
            await asyncio.wait_for(task, 10)
    await watcher.aclose()
    await sender.aclose()


@needs_redis_server
@pytest.mark.parametrize("layout", ["raw", "sidekiq", "rq", "celery", "saq"])
async def test_a_read_only_acl_user_can_run_every_layout_and_only_reads_are_sent(
        fresh: PrivateRedis, layout: str) -> None:
    with fresh.client() as admin:
        admin.sadd("queues", "default")
        admin.rpush("queue:default", "j")
        admin.sadd("rq:queues", "rq:queue:default")
        admin.rpush("rq:queue:default", "j")
        admin.sadd("_kombu.binding.default", "default\x06\x16\x06\x16default")
        admin.rpush("default", "j")  # kombu's list for the celery queue "default"
        admin.rpush("saq:default:queued", "j")
    url = f"redis://reader:{PASSWORD}@{fresh.address}/0"

    queues = {"queue:default": None} if layout == "raw" else {}

    async with monitoring(fresh) as commands:
        outcome = await check(url=url, layout=layout, role="master",
                              memory={"policy": "noeviction"}, queues=queues)

    assert outcome.passed, outcome.summary
    assert depths(outcome)["queue:default" if layout == "raw" else "default"] == 1
    names = {c.split()[0].strip('"').upper() for c in commands}
    # AUTH: logging in (MONITOR shows it redacted); CLIENT SETINFO: naming the connection.
    assert names - {"AUTH", "CLIENT"} <= READ_COMMANDS, commands
    assert {"PING", "INFO", "TYPE"} <= names


# ------------------------------------------------------------------------------ role, memory

@needs_redis_server
async def test_a_replica_is_told_from_a_master_and_its_link_is_checked(tmp_path: Path) -> None:
    # No diskless-sync delay: the master would otherwise wait 5 s for more replicas.
    with private_redis(tmp_path / "master", extra=("--repl-diskless-sync-delay", "0")) as master, \
            private_redis(tmp_path / "replica", extra=("--replicaof", master.host,
                                                       str(master.port))) as replica:
        with replica.client() as client:
            async with asyncio.timeout(10):  # the state waited for: the link is up
                while client.info("replication").get("master_link_status") != "up":
                    await asyncio.sleep(0.02)
        outcome = await check(url=replica.url, role="replica")
        wrong = await check(url=replica.url, role="master")
        primary = await check(url=master.url, role="slave")

    assert outcome.passed, outcome.summary
    assert outcome.evidence["master_link_status"] == "up"
    assert wrong.summary == "role replica, expected master"
    assert primary.summary == "role master, expected replica"


@needs_redis_server
async def test_a_replica_whose_master_is_gone_fails(tmp_path: Path) -> None:
    with private_redis(tmp_path, extra=("--replicaof", "127.0.0.1", str(free_port()))) as lost:
        outcome = await check(url=lost.url, role="replica")

    assert outcome.summary == "the replica's link to its master is down (master_link_status)"


@needs_redis_server
async def test_memory_limits_and_policy(tmp_path: Path) -> None:
    with private_redis(tmp_path, extra=("--maxmemory", "100mb",
                                        "--maxmemory-policy", "allkeys-lru")) as server:
        fine = await check(url=server.url, memory={"max_percent": 90})
        outcome = await check(url=server.url, memory={"max_used": "1kb", "max_percent": 0.001,
                                                      "policy": "noeviction"})

    assert fine.passed, fine.summary
    assert 0 < fine.measurements["used_memory_percent"] < 90
    used = outcome.evidence["used_memory"]
    over_size, over_share, policy = outcome.summary.split("; ")
    assert over_size.startswith("used memory ") and over_size.endswith(" KiB, expected at most "
                                                                       "1.0 KiB")
    assert over_share == (f"used memory {used * 100 / (100 * 1024 ** 2):.1f}% of maxmemory "
                          "100.0 MiB, expected at most 0.001%")
    assert policy == "maxmemory-policy allkeys-lru, expected noeviction"


async def test_max_percent_without_maxmemory_says_to_use_max_used(shared: redis.Redis) -> None:
    if int(shared.info("memory")["maxmemory"]):
        pytest.skip("the shared Redis has a maxmemory")
    outcome = await check(url=redis_url(), memory={"max_percent": 80})
    assert outcome.summary == ("memory.max_percent: maxmemory is not set (no limit), so used "
                               "memory is no share of it; use max_used instead")


# ------------------------------------------------------------------------------ errors

async def test_a_refused_connection_may_be_retried() -> None:
    port = free_port()
    error = await check_error(url=f"redis://127.0.0.1:{port}/0")
    assert error.message == f"cannot connect to Redis at 127.0.0.1:{port}: connection refused"
    assert not error.permanent


@needs_redis_server
async def test_a_missing_password_is_permanent(locked: PrivateRedis) -> None:
    error = await check_error(url=f"redis://{locked.address}/0")
    assert error.message == (f"Redis at {locked.address} requires a password: put it in the URL "
                             "(redis://:PASSWORD@host:port) or in password")
    assert error.permanent


@needs_redis_server
async def test_a_wrong_password_is_permanent_and_never_shown(locked: PrivateRedis) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    redactor = Redactor()
    error = await check_error(context(redactor), url=f"redis://reader:{canary}@{locked.address}")
    assert error.message == (f"Redis at {locked.address} rejected the password of user reader: "
                             "check the user and password")
    assert error.permanent
    assert canary not in error.message + error.details
    assert canary not in redactor.redact(f"a log line quoting {canary}")  # registered


@needs_redis_server
async def test_the_password_parameter_logs_in(locked: PrivateRedis) -> None:
    outcome = await check(url=f"redis://{locked.address}/0", password=PASSWORD)
    assert outcome.passed, outcome.summary
    assert PASSWORD not in repr(outcome)


async def test_a_password_for_a_server_without_one_is_permanent() -> None:
    with redis.Redis.from_url(redis_url()) as client:
        try:
            client.execute_command("AUTH", "probe-password")
        except redis.exceptions.AuthenticationError as exc:
            if "without any password" not in str(exc):
                pytest.skip("the shared Redis has a password")
        else:
            pytest.skip("the shared Redis has a password")
    error = await check_error(url=redis_url(), password="not-needed-password")
    assert "has no password set for user default, but one was given" in error.message
    assert error.permanent


@needs_redis_server
async def test_a_user_without_the_info_command_is_told_what_to_grant(
        locked: PrivateRedis) -> None:
    error = await check_error(url=f"redis://pinger:{PASSWORD}@{locked.address}/0")
    assert error.message == ("Redis user pinger may not run INFO: grant it "
                             "(ACL SETUSER pinger +info)")
    assert error.permanent


async def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        error = await check_error(url=f"redis://127.0.0.1:{port}/0", timeout="200ms")
    assert error.message == f"Redis at 127.0.0.1:{port} did not answer within 200ms"
    assert not error.permanent


@pytest.mark.parametrize("url", ["http://cache:6379", "redis://cache:port/0", "cache:6379"])
async def test_an_invalid_url_is_permanent(url: str) -> None:
    error = await check_error(url=url)
    assert error.message == ("invalid Redis URL; expected redis://[user:password@]host:port/db, "
                             "rediss://… for TLS, or unix:///path/to/socket")
    assert error.permanent


async def test_a_database_the_server_lacks_is_permanent() -> None:
    address = redis_url().split("//", 1)[1].split("/", 1)[0]
    error = await check_error(url=f"redis://{address}/100000")  # the default is 16 databases
    assert error.message == (f"Redis at {address} has no such database: check the /db number "
                             "at the end of the URL")
    assert error.permanent


async def test_a_missing_socket_is_permanent(tmp_path: Path) -> None:
    error = await check_error(url=f"unix://{tmp_path}/redis.sock")
    assert error.message == f"cannot connect to Redis at {tmp_path}/redis.sock: no such socket"


# ------------------------------------------------------------------------------ TLS

@needs_tls
async def test_tls_with_the_ca_from_a_file_relative_to_the_suite(tls_server: PrivateRedis,
                                                                 tmp_path: Path) -> None:
    assert tls_server.tls_ca_file is not None
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_bytes(tls_server.tls_ca_file.read_bytes())

    outcome = await check(context(suite_dir=tmp_path), url=tls_server.url,
                          tls={"ca_file": "certs/ca.pem"})

    assert outcome.passed, outcome.summary


@needs_tls
async def test_tls_with_the_ca_as_pem_text_from_a_secret(tls_server: PrivateRedis) -> None:
    assert tls_server.tls_ca_file is not None
    outcome = await check(url=tls_server.url, tls={"ca": tls_server.tls_ca_file.read_text()})
    assert outcome.passed, outcome.summary


@needs_tls
async def test_tls_certificate_of_an_unknown_ca_is_permanent(tls_server: PrivateRedis) -> None:
    error = await check_error(url=tls_server.url)
    assert error.message.startswith(f"cannot verify the TLS certificate of Redis at "
                                    f"{tls_server.address} (")
    assert error.message.endswith("): set tls.ca_file (or tls.ca) to the CA that signed it")
    assert "certificate verify failed" in error.message
    assert error.permanent
    unverified = await check(url=tls_server.url, tls={"verify": False})
    assert unverified.passed


@needs_tls
async def test_plain_redis_to_a_tls_port_says_to_use_rediss(tls_server: PrivateRedis) -> None:
    error = await check_error(url=f"redis://{tls_server.address}/0", timeout="1s")
    assert error.message == (f"Redis at {tls_server.address} closed the connection (a TLS port "
                             "answers a plain redis:// URL like this: use rediss://)")


@needs_redis_server
async def test_tls_to_a_plain_port_times_out_with_a_hint(locked: PrivateRedis) -> None:
    error = await check_error(url=f"rediss://{locked.address}/0", connect_timeout="300ms")
    assert error.message == (f"cannot connect to Redis at {locked.address}: no answer within "
                             "300ms (a rediss:// URL to a port without TLS waits like this)")


async def test_tls_settings_with_a_plain_url_are_refused() -> None:
    error = await check_error(url=redis_url(), tls={"verify": False})
    assert error.message == ("tls: these settings are for a rediss:// URL; expected the URL to "
                             "start with rediss://")


# ------------------------------------------------------------------------------ suite files

HEAD = """\
environments:
  staging: {}
categories:
  - name: Queues
    checks:
      - id: redis
        type: redis
        url: redis://cache:6379/0
"""  # the check's further keys from line 9 on


@pytest.mark.parametrize(("lines", "message"), [
    ("layout: bull",
     "smoketest.yaml:9:17: categories[0].checks[0].layout: redis: expected 'raw', 'sidekiq', "
     "'rq', 'celery' or 'saq', got 'bull'"),
    ("role: leader",
     "smoketest.yaml:9:15: categories[0].checks[0].role: redis: expected 'master' or "
     "'replica', got 'leader'"),
    ("memory: {max_used: lots}",
     "smoketest.yaml:9:28: categories[0].checks[0].memory.max_used: redis: expected a size "
     "such as 512mb, 1.5gb or 1073741824 (bytes), got 'lots'"),
    ("queues: {default: {max: -1}}",
     "smoketest.yaml:9:33: categories[0].checks[0].queues.default.max: redis: expected a "
     "number greater than or equal to 0, got -1"),
    ("queues: {default: {maximum: 5}}",
     "smoketest.yaml:9:28: categories[0].checks[0].queues.default.maximum: redis: unknown "
     "field 'maximum' (did you mean 'max'?); expected one of: max"),
    ("queue: {default: {max: 5}}",
     "smoketest.yaml:9:9: categories[0].checks[0].queue: redis: unknown field 'queue' (did "
     "you mean 'queues'?); expected one of: url, username, password, tls, connect_timeout, "
     "timeout, role, memory, layout, prefix, queues, discover, id, "),
])
def test_malformed_parameters_are_reported_at_their_line(lines: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_suite(load_yaml(HEAD + f"        {lines}\n", "smoketest.yaml"))
    rendered = caught.value.render()
    assert rendered == message or message.endswith(", ") and rendered.startswith(message)


SUITE = """\
environments:
  test:
    secrets:
      redis_url: {env: REDIS_KIND_TEST_URL}
categories:
  - name: Queues
    checks:
      - id: redis
        type: redis
        url: ${secrets.redis_url}
        layout: sidekiq
        prefix: PREFIX
        queues:
          default: {max: 1}
"""


async def test_a_suite_run_keeps_the_password_out_of_the_results(
        fresh: PrivateRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with fresh.client() as admin:
        admin.rpush("app:queue:default", "a", "b")
    suite_file = tmp_path / "smoketest.yaml"
    suite_file.write_text(SUITE.replace("PREFIX", "'app:'"))
    monkeypatch.setenv("REDIS_KIND_TEST_URL", fresh.url)

    result = await run_plan(build_plan(load_suite(suite_file), "test"))

    [only] = result.results
    assert (only.status, only.summary) == (Status.FAIL,
                                           "default: depth 2, expected at most 1")
    assert only.measurements["depth.default"] == 2
    assert PASSWORD not in repr(result)
