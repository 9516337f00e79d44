"""The Acknowledge modal: its exact view within Slack's limits, and the reading of its
submission, where every wrong input gets its own message under its own block."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.errors import AckInputError
from bot.slack.render import AckSubmission, read_ack_submission, render_ack_modal
from checks.results import Status
from tests.bot.slack.render.render_support import (
    FAILING,
    RUN_ID,
    check,
    mrkdwn,
    plain,
    section,
)
from tests.support.slack_blockkit import validate_view
from tests.support.slack_requests import SlackRequestFactory

# --- the Acknowledge modal ---------------------------------------------------------------------

def test_ack_modal_is_exact_with_failed_checks_preselected() -> None:
    modal = render_ack_modal(RUN_ID, [FAILING[0], FAILING[2]])
    options = [{"text": plain("Tables (tables)"), "value": "tables"},
               {"text": plain("Health (health)"), "value": "health"}]
    expiry = [{"text": plain("1 day"), "value": "1"}, {"text": plain("7 days"), "value": "7"},
              {"text": plain("30 days"), "value": "30"}]
    assert modal == {
        "type": "modal", "callback_id": "ack_submit", "private_metadata": RUN_ID,
        "title": plain("Acknowledge failures"), "close": plain("Cancel"),
        "submit": plain("Acknowledge"),
        "blocks": [
            section("An acknowledged failure shows as *known* in later runs until the "
                    "acknowledgement expires."),
            {"type": "input", "block_id": "checks", "label": plain("Failures"),
             "element": {"type": "checkboxes", "action_id": "checks", "options": options,
                         "initial_options": options}},
            {"type": "input", "block_id": "reason", "label": plain("Reason"),
             "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True,
                         "max_length": 500,
                         "placeholder": plain("Why is this failure known or expected?")}},
            {"type": "input", "block_id": "expiry", "label": plain("Expires after"),
             "element": {"type": "static_select", "action_id": "expiry", "options": expiry,
                         "initial_option": expiry[1]}},
            {"type": "input", "block_id": "until", "optional": True,
             "label": plain("Or until this date"),
             "hint": plain("A date here replaces the choice above."),
             "element": {"type": "datepicker", "action_id": "until",
                         "placeholder": plain("Pick a date")}},
        ]}
    assert validate_view(modal) == []


def test_ack_modal_with_many_failures_uses_a_multi_select_within_limits() -> None:
    failed = [check(f"c{i}", "C", Status.FAIL, name="N" * 200) for i in range(150)]
    modal = render_ack_modal(RUN_ID, failed)
    element = modal["blocks"][1]["element"]
    assert element["type"] == "multi_static_select" and len(element["options"]) == 100
    assert all(len(o["text"]["text"]) <= 75 for o in element["options"])
    assert modal["blocks"][2] == {"type": "context", "elements": [mrkdwn(
        "50 more failures are not listed; acknowledge them after these.")]}
    assert validate_view(modal) == []


def test_ack_modal_for_a_run_without_failures_cannot_be_submitted() -> None:
    modal = render_ack_modal(RUN_ID, [])
    assert "submit" not in modal and validate_view(modal) == []


def submitted(values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The modal as Slack sends it back, built by the test support's request factory."""
    factory = SlackRequestFactory("signing-secret")
    modal = render_ack_modal(RUN_ID, [FAILING[0], FAILING[2]])
    view_: dict[str, Any] = factory.view_submission(modal, values=values).payload["view"]
    return view_


CHOSEN = {"type": "checkboxes", "selected_options": [
    {"text": plain("Tables (tables)"), "value": "tables"},
    {"text": plain("Health (health)"), "value": "health"}]}


def test_ack_submission_reads_checks_reason_and_expiry() -> None:
    view_ = submitted({"checks": {"checks": CHOSEN}, "reason": {"reason": "  known\n flake "},
                       "expiry": {"expiry": "30"}})
    assert view_["private_metadata"] == RUN_ID
    assert read_ack_submission(view_) == AckSubmission(("tables", "health"), "known flake", 30)


def test_ack_submission_date_overrides_the_expiry_choice() -> None:
    view_ = submitted({"checks": {"checks": CHOSEN}, "reason": {"reason": "known"},
                       "expiry": {"expiry": "1"}, "until": {"until": "2025-11-10"}})
    assert read_ack_submission(view_, today=date(2025, 10, 28)).days == 13

@pytest.mark.parametrize(("values", "block_id", "message"), [
    ({"checks": {"checks": {"type": "checkboxes", "selected_options": []}},
      "reason": {"reason": "known"}}, "checks", "Choose at least one failure to acknowledge."),
    ({"checks": {"checks": CHOSEN}, "reason": {"reason": "   "}}, "reason",
     "Say why this failure is known or expected."),
    ({"checks": {"checks": CHOSEN}, "reason": {"reason": "x" * 501}}, "reason",
     "Keep the reason under 500 characters."),
    ({"checks": {"checks": CHOSEN}, "reason": {"reason": "known"},
      "until": {"until": "2025-10-28"}}, "until", "Pick a date from tomorrow to 365 days ahead."),
    ({"checks": {"checks": CHOSEN}, "reason": {"reason": "known"},
      "until": {"until": "2025-13-45"}}, "until", "'2025-13-45' is not a date."),
    ({"checks": {"checks": CHOSEN}, "reason": {"reason": "known"}, "expiry": {"expiry": "3"}},
     "expiry", "Choose how long the acknowledgement lasts."),
])
def test_bad_ack_submission_names_the_input_to_fix(values: dict[str, Any], block_id: str,
                                                   message: str) -> None:
    with pytest.raises(AckInputError) as caught:
        read_ack_submission(submitted(values), today=date(2025, 10, 28))
    assert caught.value.errors == {block_id: message}
    assert caught.value.exit_code == 2


def test_every_bad_input_gets_its_own_message_under_its_own_block() -> None:
    nothing = {"type": "checkboxes", "selected_options": []}
    with pytest.raises(AckInputError) as caught:
        read_ack_submission(submitted({"checks": {"checks": nothing},
                                       "reason": {"reason": " "},
                                       "expiry": {"expiry": "3"}}),
                            today=date(2025, 10, 28))
    assert caught.value.errors == {
        "checks": "Choose at least one failure to acknowledge.",
        "reason": "Say why this failure is known or expected.",
        "expiry": "Choose how long the acknowledgement lasts.",
    }
    assert str(caught.value) == ("Choose at least one failure to acknowledge.; Say why this "
                                 "failure is known or expected.; Choose how long the "
                                 "acknowledgement lasts.")


def test_a_bad_date_is_reported_under_the_date_and_the_duration_it_replaces_is_not_judged(
        ) -> None:
    with pytest.raises(AckInputError) as caught:
        read_ack_submission(submitted({"checks": {"checks": CHOSEN}, "reason": {"reason": ""},
                                       "expiry": {"expiry": "3"},
                                       "until": {"until": "2027-01-01"}}),
                            today=date(2025, 10, 28))
    assert caught.value.errors == {
        "reason": "Say why this failure is known or expected.",
        "until": "Pick a date from tomorrow to 365 days ahead.",
    }
