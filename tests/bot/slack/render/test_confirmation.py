"""The confirmation an environment with `confirm: true` asks for: it says what it confirms (a
run with its filters, or a re-run of a run, its failed checks or all), and both buttons carry
the request, so the click is audited with it; the mention's help."""

from __future__ import annotations

from bot.records import StartRequest, TriggerKind
from bot.slack.render import SlackMessage, render_confirm_production, render_mention_help
from tests.bot.slack.render.render_support import RUN_ID, assert_valid, button, section


def test_a_rerun_confirmation_names_the_run_and_carries_the_request_in_both_buttons() -> None:
    value = StartRequest("production", TriggerKind.BUTTON, rerun_of=RUN_ID, only_failed=True,
                         request_id="r-1").to_json()
    message = render_confirm_production("production", ["health", "version"], value=value,
                                        rerun_of=RUN_ID, only_failed=True)
    assert message == SlackMessage(
        text="Confirm: re-run the failed checks of run 0192a3b4 on production?",
        blocks=[section(":warning: *production* is protected: confirm before the failed "
                        "checks of run `0192a3b4` are re-run on it.\nOnly: `health` `version`"),
                {"type": "actions", "elements": [
                    button("Re-run on production", "confirm_run", value, "danger"),
                    button("Cancel", "cancel_confirm", value)]}])
    assert_valid(message)


def test_a_rerun_of_all_checks_says_so() -> None:
    message = render_confirm_production("production", [], value="{}", rerun_of=RUN_ID)
    assert message.text == "Confirm: re-run all the checks of run 0192a3b4 on production?"
    assert message.blocks[0] == section(":warning: *production* is protected: confirm before "
                                        "all the checks of run `0192a3b4` are re-run on it.")


def test_a_rerun_of_hundreds_of_failures_still_fits_slack() -> None:
    failed = [f"check-{n:03d}-with-a-long-name" for n in range(300)]
    message = render_confirm_production("production", failed, value="{}", rerun_of=RUN_ID,
                                        only_failed=True)
    assert message.text.startswith("Confirm: re-run the failed checks")
    assert_valid(message)


def test_a_mention_that_asks_nothing_gets_where_to_mention_and_where_the_rest_is() -> None:
    message = render_mention_help()
    assert message.text == ("@smokebot rerun in a smoke test run's thread runs it again into "
                            "that thread; that is all I answer to mentions. Everything else is "
                            "/smoketest (/smoketest help says what it does).")
    assert message.blocks == [section(
        "`@smokebot rerun` in a smoke test run's thread runs it again into that thread; that "
        "is all I answer to mentions. Everything else is `/smoketest` (`/smoketest help` says "
        "what it does).")]
    assert_valid(message)
