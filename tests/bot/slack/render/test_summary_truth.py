"""The summary tells the whole truth: checks that were skipped are counted and listed with
why, a cancelled run says who cancelled it and that its checks never ran (not PASS) and offers
the re-run buttons, acknowledged failures are marked as such; and the links the bot writes
point into the workspace (auth.test's URL) when it is known. Exact payloads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.slack.render import (
    SlackMessage,
    permalink,
    render_history,
    render_queued,
    render_summary,
)
from checks.results import Status
from tests.bot.slack.render.render_support import (
    FAILING,
    FINISHED_CONTEXT,
    RUN_ID,
    T0,
    assert_valid,
    button,
    check,
    plain,
    section,
    view,
)

WORKSPACE = "https://example-workspace.slack.com/"
PROVISIONING = (check("signup", "Customer Provisioning"),
                check("invoice", "Customer Provisioning"),
                check("welcome-mail", "Customer Provisioning", Status.SKIP,
                      summary="skipped: depends on 'mailer', which failed"))


# --- skipped checks ------------------------------------------------------------------------------

def test_skipped_check_is_counted_in_its_own_column_and_listed_with_its_reason() -> None:
    message = render_summary(view("passed", PROVISIONING, categories=("Customer Provisioning",)))
    assert message == SlackMessage(
        text="Smoke test of staging passed: 2 of 3 checks passed, 1 skipped",
        blocks=[
            {"type": "header", "text": plain(":white_check_mark: Smoke test: staging passed")},
            section(":white_check_mark: *SMOKE TESTS PASSED*: 2 of 3 checks passed, 1 skipped"),
            section("```\n"
                    "Category               Checks  Passed  Failed  Skipped  Status\n"
                    "----------------------------------------------------------------\n"
                    "Customer Provisioning       3       2       0        1  PASS\n"
                    "----------------------------------------------------------------\n"
                    "TOTAL                       3       2       0        1  PASS\n"
                    "```"),
            section("*Skipped checks* (not run)\n"
                    "• `welcome-mail`: depends on 'mailer', which failed"),
            FINISHED_CONTEXT,
            {"type": "actions", "elements": [button("Re-run all", "rerun_all")]},
        ])
    assert_valid(message)


def test_skipped_checks_with_the_same_reason_share_one_line() -> None:
    results = (check("db", "Data", Status.FAIL, summary="connection refused"),
               *(check(f"table-{i}", "Data", Status.SKIP,
                       summary="skipped: depends on 'db', which failed") for i in range(3)),
               check("cache", "Data", Status.SKIP, summary="depends on 'redis', which does not "
                                                            "run here"))
    message = render_summary(view("failed", results, categories=("Data",)))
    assert message.blocks[4] == section(
        "*Skipped checks* (not run)\n"
        "• `table-0`, `table-1`, `table-2`: depends on 'db', which failed\n"
        "• `cache`: depends on 'redis', which does not run here")


def test_many_skipped_checks_are_listed_within_slacks_limits() -> None:
    cancelled = tuple(check(f"check-{i:04d}", "Data", Status.SKIP,
                            summary="cancelled before it finished") for i in range(100))
    dependents = tuple(check(f"dependent-{i:04d}", "Data", Status.SKIP,
                             summary=f"skipped: depends on 'dep-{i}', " + "x" * 150)
                       for i in range(100))
    message = render_summary(view("passed", cancelled + dependents, categories=("Data",)))
    skipped = message.blocks[3]["text"]["text"]
    assert skipped.startswith("*Skipped checks* (not run)\n• `check-0000`, `check-0001`, ")
    assert "`check-0020` and 79 more: cancelled before it finished\n" in skipped
    assert skipped.endswith(" more reasons")
    assert_valid(message)


# --- a cancelled run -----------------------------------------------------------------------------

CANCELLED = (check("tables", "Database Schema"),
             check("key-hash", "Database Schema", Status.SKIP,
                   summary="cancelled before it finished"),
             check("health", "Health", Status.SKIP, summary="cancelled before it finished"))


def test_cancelled_run_says_who_cancelled_marks_what_never_ran_and_offers_reruns() -> None:
    message = render_summary(view("cancelled", CANCELLED,
                                  interrupted_reason="cancelled by <@U0BOB0001>"))
    assert message == SlackMessage(
        text="Smoke test of staging cancelled: stopped after 1 of 3 checks: "
             "cancelled by <@U0BOB0001>",
        blocks=[
            {"type": "header", "text": plain(":octagonal_sign: Smoke test: staging cancelled")},
            section(":octagonal_sign: *SMOKE TESTS CANCELLED*: stopped after 1 of 3 checks: "
                    "cancelled by <@U0BOB0001>"),
            section("```\n"
                    "Category         Checks  Passed  Failed  Skipped  Status\n"
                    "----------------------------------------------------------\n"
                    "Database Schema       2       1       0        1  CANCELLED\n"
                    "Health                1       0       0        1  CANCELLED\n"
                    "----------------------------------------------------------\n"
                    "TOTAL                 3       1       0        2  CANCELLED\n"
                    "```"),
            section("*Skipped checks* (not run)\n"
                    "• `key-hash`, `health`: cancelled before it finished"),
            FINISHED_CONTEXT,
            {"type": "actions", "elements": [button("Re-run all", "rerun_all")]},
        ])
    assert_valid(message)


def test_cancelled_run_with_a_failure_offers_all_three_buttons_and_keeps_fail() -> None:
    results = (FAILING[0], check("health", "Health", Status.SKIP,
                                 summary="cancelled before it finished"))
    message = render_summary(view("cancelled", results, total=2))
    assert message.blocks[2] == section(
        "```\n"
        "Category         Checks  Passed  Failed  Skipped  Status\n"
        "----------------------------------------------------------\n"
        "Database Schema       1       0       1        0  FAIL\n"
        "Health                1       0       0        1  CANCELLED\n"
        "----------------------------------------------------------\n"
        "TOTAL                 2       0       1        1  FAIL\n"
        "```")
    assert message.blocks[-1] == {"type": "actions", "elements": [
        button("Re-run failed", "rerun_failed", style="primary"),
        button("Re-run all", "rerun_all"), button("Acknowledge", "acknowledge")]}


def test_run_cut_short_counts_the_checks_that_never_reported_as_not_run() -> None:
    # The worker ended it (bot/worker.py): only the results saved so far are known.
    message = render_summary(view(
        "cancelled", CANCELLED[:1], total=4, categories=("Database Schema",),
        interrupted_reason="cancelled by <@U0BOB0001>; it did not stop within 15 s, so it "
                           "was cut short"))
    assert message.blocks[1] == section(
        ":octagonal_sign: *SMOKE TESTS CANCELLED*: stopped after 1 of 4 checks: cancelled by "
        "<@U0BOB0001>; it did not stop within 15 s, so it was cut short")
    assert message.blocks[2] == section(
        "```\n"
        "Category         Checks  Passed  Failed  Skipped  Status\n"
        "----------------------------------------------------------\n"
        "Database Schema       1       1       0        0  PASS\n"
        "----------------------------------------------------------\n"
        "TOTAL                 4       1       0        3  CANCELLED\n"
        "```")
    assert message.blocks[3] == section(
        "*Skipped checks* (not run)\n• 3 checks: no result before the run ended")


def test_interrupted_run_is_not_pass_where_checks_never_ran() -> None:
    message = render_summary(view("interrupted", CANCELLED[:1], total=3,
                                  categories=("Database Schema",)))
    assert message.blocks[2]["text"]["text"].endswith(
        "TOTAL                 3       1       0        2  INTERRUPTED\n```")


# --- acknowledged failures -----------------------------------------------------------------------

def test_acknowledged_failures_are_marked_in_verdict_table_and_list() -> None:
    message = render_summary(view("failed", FAILING, acknowledged=("tables", "health")))
    assert message == SlackMessage(
        text="Smoke test of staging failed: 2 of 4 checks failed (1 could not run), "
             "both acknowledged",
        blocks=[
            {"type": "header", "text": plain(":x: Smoke test: staging failed")},
            section(":x: *SMOKE TESTS FAILED*: 2 of 4 checks failed (1 could not run), "
                    "both acknowledged"),
            section("```\n"
                    "Category         Checks  Passed  Failed  Skipped  Status\n"
                    "----------------------------------------------------------\n"
                    "Database Schema       2       1       1        0  FAIL (acknowledged)\n"
                    "Health                2       1       1        0  FAIL (acknowledged)\n"
                    "----------------------------------------------------------\n"
                    "TOTAL                 4       2       2        0  FAIL (acknowledged)\n"
                    "```"),
            section("*Failed checks* (details in the thread)\n"
                    "• :x: *Tables* `tables`: expected 4 tables, got 3: subscriptions is missing"
                    " · _acknowledged_\n"
                    "• :no_entry: *Health* `health`: could not connect: connection refused"
                    " · _acknowledged_"),
            FINISHED_CONTEXT,
            {"type": "actions", "elements": [
                button("Re-run failed", "rerun_failed", style="primary"),
                button("Re-run all", "rerun_all"),
                button("Acknowledge", "acknowledge")]},
        ])
    assert_valid(message)


def test_some_acknowledged_failures_are_counted_as_such() -> None:
    message = render_summary(view("failed", FAILING, acknowledged=("tables",)))
    assert message.blocks[1] == section(
        ":x: *SMOKE TESTS FAILED*: 2 of 4 checks failed (1 could not run), 1 acknowledged")
    table = message.blocks[2]["text"]["text"]
    assert "Database Schema       2       1       1        0  FAIL (acknowledged)\n" in table
    assert "Health                2       1       1        0  FAIL\n" in table
    assert table.endswith("TOTAL                 4       2       2        0  "
                          "FAIL (1 of 2 acknowledged)\n```")
    assert "`health`: could not connect: connection refused\n" in \
        message.blocks[3]["text"]["text"] + "\n"


@pytest.mark.parametrize(("count", "note"), [(1, ", acknowledged"), (3, ", all 3 acknowledged")])
def test_acknowledgement_note_reads_naturally_for_any_count(count: int, note: str) -> None:
    results = tuple(check(f"c{i}", "Data", Status.FAIL, summary="bad") for i in range(count))
    message = render_summary(view("failed", results, categories=("Data",),
                                  acknowledged=tuple(f"c{i}" for i in range(count))))
    assert message.text == f"Smoke test of staging failed: {count} of " \
                           f"{count} check{'s' if count > 1 else ''} failed{note}"


def test_an_acknowledgement_of_a_check_that_passed_marks_nothing() -> None:
    message = render_summary(view("passed", acknowledged=("tables",)))
    assert message.text == "Smoke test of staging passed: all 3 checks passed"
    assert "acknowledged" not in message.blocks[2]["text"]["text"]


# --- links into the workspace --------------------------------------------------------------------

def test_permalink_uses_the_workspace_url_when_known_and_slack_com_otherwise() -> None:
    assert permalink("C0SMOKE01", "1761687000.000100", workspace_url=WORKSPACE) == \
        "https://example-workspace.slack.com/archives/C0SMOKE01/p1761687000000100"
    assert permalink("C0SMOKE01", "1761687000.000200", "1761687000.000100",
                     workspace_url=WORKSPACE) == (
        "https://example-workspace.slack.com/archives/C0SMOKE01/p1761687000000200"
        "?thread_ts=1761687000.000100&cid=C0SMOKE01")
    assert permalink("C0SMOKE01", "1761687000.000100") == \
        "https://slack.com/archives/C0SMOKE01/p1761687000000100"
    assert permalink("C0SMOKE01", "1761687000.000100", workspace_url="javascript:x") == \
        "https://slack.com/archives/C0SMOKE01/p1761687000000100"


class _Summary:
    channel, ts, thread_ts = "C0SMOKE01", "1761687000.000100", None


class _Run:
    id, environment, status, trigger_kind = RUN_ID, "staging", "failed", "slash"
    trigger_detail, requested_by, deploy, status_reason = "/smoketest staging", None, None, None
    created_at, started_at = T0, T0 + timedelta(seconds=1)

    class counts:  # noqa: N801 - the record's attribute
        passed, failed, errors, total = 1, 1, 0, 2


def test_history_links_each_thread_in_the_workspace() -> None:
    message = render_history([_Run()], {RUN_ID: _Summary()}, workspace_url=WORKSPACE)
    assert message.blocks[0]["text"]["text"].endswith(
        "<https://example-workspace.slack.com/archives/C0SMOKE01/p1761687000000100|thread>")


# --- the reply to a re-run -----------------------------------------------------------------------

def test_rerun_reply_says_its_summary_goes_into_the_original_thread() -> None:
    link = "https://example-workspace.slack.com/archives/C0SMOKE01/p1761687000000100"
    assert render_queued("staging", RUN_ID, thread_link=link) == SlackMessage(
        text=f"Queued a re-run of staging (run 0192a3b4); its summary appears in "
             f"<{link}|the original run's thread>.", blocks=[])
    assert render_queued("staging", RUN_ID) == SlackMessage(
        text="Queued a smoke test of staging (run 0192a3b4); the summary appears in this "
             "channel.", blocks=[])
