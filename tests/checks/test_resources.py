"""RunResources: one instance of a kind per run, closed (async or not) with the run, the last
made first, and a resource that fails to close does not lose the run."""

from __future__ import annotations

import logging

import pytest

from checks.resources import RunResources

closed: list[str] = []


class Pool:
    def __init__(self) -> None:
        self.name = "pool"

    async def aclose(self) -> None:
        closed.append(self.name)


class Cache:
    def close(self) -> None:
        closed.append("cache")


class Broken:
    async def aclose(self) -> None:
        raise OSError("socket already gone")


class Plain:
    pass


@pytest.fixture(autouse=True)
def _forget() -> None:
    closed.clear()


def test_every_check_of_a_run_gets_the_same_instance() -> None:
    resources = RunResources()
    assert resources.get(Pool) is resources.get(Pool)
    assert resources.get(Cache) is not resources.get(Pool)  # type: ignore[comparison-overlap]


async def test_closing_closes_the_last_made_first() -> None:
    resources = RunResources()
    resources.get(Pool)
    resources.get(Plain)  # nothing to close
    resources.get(Cache)

    await resources.aclose()

    assert closed == ["cache", "pool"]


async def test_a_resource_that_fails_to_close_is_logged_and_the_others_still_close(
        caplog: pytest.LogCaptureFixture) -> None:
    resources = RunResources()
    resources.get(Pool)
    resources.get(Broken)

    with caplog.at_level(logging.WARNING, logger="smokebot.checks"):
        await resources.aclose()

    assert closed == ["pool"]
    assert caplog.messages == ["could not close Broken after the run: OSError: socket already gone"]


async def test_nothing_is_made_after_the_run_has_closed_its_resources() -> None:
    resources = RunResources()
    await resources.aclose()

    with pytest.raises(RuntimeError, match="the run has ended"):
        resources.get(Pool)
