"""The demo database on the machine's PostgreSQL: one demo at a time (they share its job
table), a busy database named after a bounded wait, an unreachable server said once."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

import demo.database
from demo.database import LOCK_KEY, DatabaseBusy, demo_dsn, prepared_database
from tests.support.asgi import free_port
from tests.support.services import PG_ADMIN_DSN


def test_a_second_demo_waits_for_the_first_to_finish(capsys: pytest.CaptureFixture[str]) -> None:
    events: list[str] = []
    first_in = threading.Event()

    def second() -> None:
        first_in.wait(5)
        with prepared_database(PG_ADMIN_DSN) as ready:
            events.append(f"second in, ready={ready}")

    waiter = threading.Thread(target=second)
    waiter.start()
    with prepared_database(PG_ADMIN_DSN) as ready:
        events.append(f"first in, ready={ready}")
        first_in.set()
        time.sleep(0.5)  # the second one is waiting meanwhile
        events.append("first out")
    waiter.join(10)

    assert events == ["first in, ready=True", "first out", "second in, ready=True"]
    assert ("demo: another demo is using database smokebot_demo; waiting for it to finish"
            in capsys.readouterr().err)


def test_a_database_held_too_long_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo.database, "LOCK_WAIT_S", 1)
    with psycopg.connect(demo_dsn(PG_ADMIN_DSN), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        started = time.monotonic()
        with pytest.raises(DatabaseBusy) as raised:
            with prepared_database(PG_ADMIN_DSN):
                pass
        waited = time.monotonic() - started

    assert str(raised.value) == ("another demo has used database smokebot_demo for over 1 s; "
                                 "stop it, or wait for it to finish")
    assert 0.8 < waited < 5


def test_an_unreachable_server_yields_false_and_says_so_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there

    with prepared_database(f"postgresql://postgres@127.0.0.1:{port}/postgres") as ready:
        pass

    assert ready is False
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("demo: PostgreSQL is not reachable (")
    assert f"port {port}" in line
