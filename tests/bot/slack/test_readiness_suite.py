"""/readyz names the suite file while no good version of it was ever loaded (a web process
started without `smokebot serve`'s check, or a file that went wrong before the first load),
and stays ready when a later edit is refused: the last good version still answers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bot.settings import Settings
from bot.web import create_web_app
from checks.secrets import Secret
from tests.bot.services_support import SIGNING_SECRET, SUITE, slack_emulator
from tests.support.asgi import serve_asgi
from tests.support.services import redis_url, unique_prefix

NOT_FOUND = "suite file not found (pass --config FILE or set SMOKEBOT_CONFIG)"


@contextmanager
def web_app(suite: Path, pg_dsn: str) -> Iterator[str]:
    with slack_emulator() as (emulator, api_url):
        settings = Settings(slack_bot_token=Secret(emulator.bot_token),
                            slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=api_url,
                            database_url=pg_dsn, redis_url=redis_url(),
                            key_prefix=unique_prefix("ready"), config_path=str(suite))
        with serve_asgi(create_web_app(settings), lifespan="on") as url:
            yield url


def readyz(url: str) -> tuple[int, object]:
    response = httpx.get(f"{url}/readyz", timeout=5)
    return response.status_code, response.json()


def write(path: Path, text: str, *, bump: int = 0) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()  # a distinct mtime, whatever the file system's resolution
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_readyz_names_a_missing_suite_file_until_it_exists(tmp_path: Path, pg_dsn: str) -> None:
    suite = tmp_path / "smoketest.yaml"
    with web_app(suite, pg_dsn) as url:
        assert readyz(url) == (503, {"ready": False,
                                     "problems": {"suite": f"{suite}: {NOT_FOUND}"}})

        write(suite, SUITE)
        assert readyz(url) == (200, {"ready": True})


def test_readyz_names_an_invalid_suite_and_stays_ready_after_a_refused_edit(
        tmp_path: Path, pg_dsn: str) -> None:
    suite = tmp_path / "smoketest.yaml"
    write(suite, "suite: unit\nenvironments: []\ncategories: []\n")
    with web_app(suite, pg_dsn) as url:
        status, answer = readyz(url)
        assert status == 503
        assert answer["problems"]["suite"].startswith(f"{suite}:2:")  # type: ignore[index]

        write(suite, SUITE, bump=1)
        assert readyz(url) == (200, {"ready": True})

        write(suite, "suite: [\n", bump=2)  # refused: the last good version stays in use
        assert readyz(url) == (200, {"ready": True})
