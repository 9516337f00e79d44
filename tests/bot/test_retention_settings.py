"""The retention settings: defaults, "forever", and clear errors for values of the wrong form."""

from __future__ import annotations

import pytest

from bot.errors import SettingError
from bot.settings import Settings
from bot.store import RetentionPolicy
from bot.worker_main import retention_policy


def test_defaults_keep_runs_and_deliveries_90_days_rejections_30_and_audit_a_year() -> None:
    settings = Settings.from_env({})

    assert (settings.retain_runs_days, settings.retain_deliveries_days,
            settings.retain_rejected_days, settings.retain_audit_days,
            settings.max_rejected_deliveries) == (90, 90, 30, 365, 10_000)
    assert retention_policy(settings) == RetentionPolicy(90, 90, 30, 365)


def test_days_forever_and_the_bound_are_read_from_the_environment() -> None:
    settings = Settings.from_env({
        "SMOKEBOT_RETAIN_RUNS_DAYS": " 14 ", "SMOKEBOT_RETAIN_DELIVERIES_DAYS": "Forever",
        "SMOKEBOT_RETAIN_REJECTED_DAYS": "", "SMOKEBOT_RETAIN_AUDIT_DAYS": "forever",
        "SMOKEBOT_MAX_REJECTED_DELIVERIES": "2500"})

    assert retention_policy(settings) == RetentionPolicy(runs_days=14, deliveries_days=None,
                                                         rejected_days=30, audit_days=None)
    assert settings.max_rejected_deliveries == 2500


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("SMOKEBOT_RETAIN_RUNS_DAYS", "0",
     "SMOKEBOT_RETAIN_RUNS_DAYS='0': expected a whole number of days > 0, or 'forever' to "
     "keep them for ever (default 90)"),
    ("SMOKEBOT_RETAIN_AUDIT_DAYS", "1.5",
     "SMOKEBOT_RETAIN_AUDIT_DAYS='1.5': expected a whole number of days > 0, or 'forever' to "
     "keep them for ever (default 365)"),
    ("SMOKEBOT_RETAIN_REJECTED_DAYS", "never",
     "SMOKEBOT_RETAIN_REJECTED_DAYS='never': expected a whole number of days > 0, or "
     "'forever' to keep them for ever (default 30)"),
    ("SMOKEBOT_MAX_REJECTED_DELIVERIES", "0",
     "SMOKEBOT_MAX_REJECTED_DELIVERIES='0': expected a whole number > 0 (default 10000)"),
    ("SMOKEBOT_MAX_REJECTED_DELIVERIES", "unlimited",
     "SMOKEBOT_MAX_REJECTED_DELIVERIES='unlimited': expected a whole number > 0 "
     "(default 10000)"),
])
def test_a_value_of_the_wrong_form_is_a_setting_error_naming_it(variable: str, value: str,
                                                                 message: str) -> None:
    with pytest.raises(SettingError) as raised:
        Settings.from_env({variable: value})

    assert (raised.value.render(), raised.value.exit_code) == (message, 2)
