"""The Acknowledge modal (views.open) and the reading of its submission: which failures, why,
and for how long. Every input's own mistake is shown under that input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from bot.errors import AckInputError
from bot.slack.render._blocks import (
    CHECKBOX_OPTIONS_MAX,
    OPTION_TEXT_MAX,
    SELECT_OPTIONS_MAX,
    context,
    plain,
    plural,
    section,
)
from checks.report._text import one_line
from checks.results import CheckResult

__all__ = ["ACK_CALLBACK_ID", "ACK_REASON_MAX", "AckSubmission", "read_ack_submission",
           "render_ack_modal"]

ACK_CALLBACK_ID = "ack_submit"
ACK_EXPIRY_DAYS = (1, 7, 30)
ACK_DEFAULT_DAYS = 7
ACK_MAX_DAYS = 365
ACK_REASON_MAX = 500


@dataclass(frozen=True)
class AckSubmission:
    check_ids: tuple[str, ...]
    reason: str
    days: int


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, OPTION_TEXT_MAX), "value": value}


def render_ack_modal(run_id: str, failed_checks: Sequence[CheckResult]) -> dict[str, Any]:
    """The views.open view behind Acknowledge: which checks, why, and for how long."""
    view: dict[str, Any] = {
        "type": "modal", "callback_id": ACK_CALLBACK_ID, "private_metadata": run_id,
        "title": plain("Acknowledge failures", 24),
        "close": plain("Cancel", 24),
    }
    checks = list(dict.fromkeys(r.check_id for r in failed_checks))
    names = {r.check_id: r.name for r in failed_checks}
    if not checks:
        view["blocks"] = [section("Nothing failed in this run, so there is nothing to "
                                  "acknowledge.")]
        return view
    options = [_option(f"{one_line(names[c])} ({c})", c) for c in checks[:SELECT_OPTIONS_MAX]]
    if len(options) <= CHECKBOX_OPTIONS_MAX:
        element: dict[str, Any] = {"type": "checkboxes", "action_id": "checks",
                                   "options": options, "initial_options": options}
    else:
        element = {"type": "multi_static_select", "action_id": "checks", "options": options,
                   "placeholder": plain("Choose the failures", 150)}
    expiry = [_option(plural(days, "day"), str(days)) for days in ACK_EXPIRY_DAYS]
    blocks: list[dict[str, Any]] = [
        section("An acknowledged failure shows as *known* in later runs until the "
                "acknowledgement expires."),
        {"type": "input", "block_id": "checks", "label": plain("Failures", 2_000),
         "element": element},
    ]
    if len(checks) > SELECT_OPTIONS_MAX:
        blocks.append(context([f"{len(checks) - SELECT_OPTIONS_MAX} more failures are not "
                               "listed; acknowledge them after these."]))
    blocks += [
        {"type": "input", "block_id": "reason", "label": plain("Reason", 2_000),
         "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True,
                     "max_length": ACK_REASON_MAX,
                     "placeholder": plain("Why is this failure known or expected?", 150)}},
        {"type": "input", "block_id": "expiry", "label": plain("Expires after", 2_000),
         "element": {"type": "static_select", "action_id": "expiry", "options": expiry,
                     "initial_option": expiry[ACK_EXPIRY_DAYS.index(ACK_DEFAULT_DAYS)]}},
        {"type": "input", "block_id": "until", "optional": True,
         "label": plain("Or until this date", 2_000),
         "hint": plain("A date here replaces the choice above.", 2_000),
         "element": {"type": "datepicker", "action_id": "until",
                     "placeholder": plain("Pick a date", 150)}},
    ]
    view["submit"] = plain("Acknowledge", 24)
    view["blocks"] = blocks
    return view


def read_ack_submission(view: Mapping[str, Any], *, today: date | None = None) -> AckSubmission:
    """The modal's answers. Raises AckInputError with the mistake of every input that has
    one, each under its own block id, so Slack shows them all at once."""
    values = view.get("state", {}).get("values", {})

    def entry(block_id: str) -> dict[str, Any]:
        return dict(values.get(block_id, {}).get(block_id) or {})

    errors: dict[str, str] = {}
    chosen = entry("checks").get("selected_options") or []
    check_ids = tuple(str(o["value"]) for o in chosen if isinstance(o, dict) and o.get("value"))
    if not check_ids:
        errors["checks"] = "Choose at least one failure to acknowledge."
    reason = " ".join(str(entry("reason").get("value") or "").split())
    if not reason:
        errors["reason"] = "Say why this failure is known or expected."
    elif len(reason) > ACK_REASON_MAX:
        errors["reason"] = f"Keep the reason under {ACK_REASON_MAX} characters."
    days = _expiry_days(entry("until").get("selected_date"),
                        (entry("expiry").get("selected_option") or {}).get("value"),
                        today or datetime.now(timezone.utc).date(), errors)
    if errors or days is None:
        raise AckInputError(errors)
    return AckSubmission(check_ids, reason, days)


def _expiry_days(picked: Any, selected: Any, today: date, errors: dict[str, str]) -> int | None:
    """Days until the acknowledgement expires: a picked date replaces the chosen duration.
    None, with the mistake added to `errors`, when the input in force is wrong."""
    if picked:
        try:
            until = date.fromisoformat(str(picked))
        except ValueError:
            errors["until"] = f"{picked!r} is not a date."
            return None
        days = (until - today).days
        if not 1 <= days <= ACK_MAX_DAYS:
            errors["until"] = f"Pick a date from tomorrow to {ACK_MAX_DAYS} days ahead."
            return None
        return days
    try:
        days = int(selected) if selected is not None else ACK_DEFAULT_DAYS
    except (TypeError, ValueError):
        days = 0  # not one of the choices
    if days not in ACK_EXPIRY_DAYS:
        errors["expiry"] = "Choose how long the acknowledgement lasts."
        return None
    return days
