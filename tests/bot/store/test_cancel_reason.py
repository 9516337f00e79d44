"""Who asked to cancel a running run is noted on it, so the summary its worker writes when it
stops says so; a run that finished anyway (the cancel came too late) does not keep it."""

from __future__ import annotations

from bot.store import RunStatus, Store
from checks.results import Status
from tests.bot.store.store_support import result, run_result, slash


async def test_a_noted_cancel_request_is_the_cancelled_runs_reason(store: Store) -> None:
    run = await store.create_run(slash())
    assert not await store.note_cancel_request(run.id, "cancelled by <@U0BOB0001>")  # queued
    await store.mark_running(run.id, "w-1")

    assert await store.note_cancel_request(run.id, "cancelled by <@U0BOB0001>")
    ended = await store.finish_run(run.id, run_result(
        result("a"), result("b", Status.SKIP), cancelled=True))

    assert ended is not None
    assert (ended.status, ended.status_reason) == (RunStatus.CANCELLED,
                                                   "cancelled by <@U0BOB0001>")


async def test_a_run_that_finished_despite_the_request_keeps_no_cancel_reason(
        store: Store) -> None:
    run = await store.create_run(slash())
    await store.mark_running(run.id, "w-1")
    await store.note_cancel_request(run.id, "cancelled by <@U0BOB0001>")

    ended = await store.finish_run(run.id, run_result(result("a")))

    assert ended is not None
    assert (ended.status, ended.status_reason) == (RunStatus.PASSED, None)


async def test_an_ended_run_takes_no_cancel_note(store: Store) -> None:
    run = await store.create_run(slash())
    await store.mark_running(run.id, "w-1")
    await store.mark_interrupted(run.id, "its worker stopped")

    assert not await store.note_cancel_request(run.id, "cancelled by <@U0BOB0001>")
    found = await store.get_run(run.id)
    assert found is not None and found.status_reason == "its worker stopped"
