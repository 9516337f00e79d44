"""The `ratelimit` kind's header readers: Retry-After (seconds and the three HTTP-date forms),
X-RateLimit-* with its Reset heuristic, the IETF drafts' fields in every shape they had, and
property-based tests that valid values read back and garbage raises nothing but HeaderError."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.kinds.ratelimit._headers import (
    HeaderError, parse_http_date, parse_ietf, parse_retry_after, parse_x_ratelimit, read_limits,
)

NOW = datetime(2025, 3, 18, 12, 0, 0, tzinfo=timezone.utc)
NOW_HTTP = "Tue, 18 Mar 2025 12:00:00 GMT"


# ------------------------------------------------------------------------------ Retry-After

def test_retry_after_in_seconds() -> None:
    found = parse_retry_after("120", NOW)
    assert (found.seconds, found.form) == (120.0, "seconds")
    assert parse_retry_after(" 0 ", NOW).seconds == 0.0


@pytest.mark.parametrize("text", [
    "Tue, 18 Mar 2025 12:00:30 GMT",  # IMF-fixdate
    "Tuesday, 18-Mar-25 12:00:30 GMT",  # obsolete RFC 850
    "Tue Mar 18 12:00:30 2025",  # asctime
])
def test_retry_after_as_an_http_date_in_each_form_a_recipient_must_accept(text: str) -> None:
    found = parse_retry_after(text, NOW)
    assert (found.seconds, found.form) == (30.0, "HTTP date")


def test_asctime_with_a_single_digit_day() -> None:
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == datetime(
        1994, 11, 6, 8, 49, 37, tzinfo=timezone.utc)


def test_a_retry_after_date_in_the_past_is_no_wait() -> None:
    assert parse_retry_after("Tue, 18 Mar 2025 11:00:00 GMT", NOW).seconds == 0.0


@pytest.mark.parametrize("text", [
    "soon", "", "-1", "1.5", "2s", "+3", "Tue, 18 Mar 2025 12:00:30 UTC",
    "Tue, 31 Feb 2025 12:00:30 GMT", "tue, 18 mar 2025 12:00:30 gmt", "1e3",
])
def test_a_retry_after_that_is_neither_says_so(text: str) -> None:
    with pytest.raises(HeaderError) as error:
        parse_retry_after(text, NOW)
    assert error.value.message == f"Retry-After '{text}' is not seconds or an HTTP date"


def test_a_huge_retry_after_is_clamped_not_overflowed() -> None:
    assert parse_retry_after("9" * 400, NOW).seconds == 10 ** 9


def test_a_control_character_is_shown_escaped_and_a_long_value_cut() -> None:
    with pytest.raises(HeaderError) as error:
        parse_retry_after("\x1b[31m" + "x" * 100, NOW)
    assert error.value.message.startswith(r"Retry-After '\x1b[31mxxx")
    assert "…' is not seconds" in error.value.message


# ------------------------------------------------------------------------------ X-RateLimit

def test_x_ratelimit_reset_is_read_by_size() -> None:
    epoch = int(NOW.timestamp())
    cases = {"30": (30.0, "seconds"), str(epoch + 45): (45.0, "epoch seconds"),
             str((epoch + 5) * 1000): (5.0, "epoch milliseconds"),
             "Tue, 18 Mar 2025 12:01:00 GMT": (60.0, "HTTP date"), "2.5": (2.5, "seconds")}
    for text, expected in cases.items():
        counter = parse_x_ratelimit({"x-ratelimit-reset": text}, NOW)
        assert counter is not None
        assert (counter.reset_s, counter.reset_form) == expected, text


def test_x_ratelimit_limit_and_remaining() -> None:
    counter = parse_x_ratelimit({"x-ratelimit-limit": "100", "x-ratelimit-remaining": "7"}, NOW)
    assert counter is not None
    assert (counter.limit, counter.remaining, counter.reset_s) == (100, 7, None)
    assert parse_x_ratelimit({"content-type": "text/plain"}, NOW) is None


@pytest.mark.parametrize(("name", "text", "message"), [
    ("x-ratelimit-remaining", "-1", "X-RateLimit-Remaining '-1' is not a non-negative integer"),
    ("x-ratelimit-limit", "100/min", "X-RateLimit-Limit '100/min' is not a non-negative integer"),
    ("x-ratelimit-reset", "later",
     "X-RateLimit-Reset 'later' is not seconds, a Unix time or an HTTP date"),
])
def test_a_malformed_x_ratelimit_field_is_named(name: str, text: str, message: str) -> None:
    with pytest.raises(HeaderError) as error:
        parse_x_ratelimit({name: text}, NOW)
    assert error.value.message == message


# ------------------------------------------------------------------------------ IETF drafts

def test_drafts_00_to_06_separate_fields_with_a_policy() -> None:
    counter = parse_ietf({"ratelimit-limit": "100", "ratelimit-remaining": "50",
                          "ratelimit-reset": "30", "ratelimit-policy": "10;w=1, 100;w=60"})
    assert counter is not None
    assert (counter.limit, counter.remaining, counter.reset_s, counter.window_s) == (
        100, 50, 30.0, 60)
    assert counter.remaining_field == "RateLimit-Remaining"


def test_drafts_00_01_limit_carrying_its_policies() -> None:
    counter = parse_ietf({"ratelimit-limit": "10, 10;w=1, 50;w=60",
                          "ratelimit-remaining": "9"})
    assert counter is not None and (counter.limit, counter.remaining) == (10, 9)


def test_draft_07_dictionary() -> None:
    counter = parse_ietf({"ratelimit": "limit=100, remaining=50, reset=5",
                          "ratelimit-policy": "100;w=10"})
    assert counter is not None
    assert (counter.form, counter.limit, counter.remaining, counter.reset_s,
            counter.window_s) == ("RateLimit dictionary (draft 07)", 100, 50, 5.0, 10)


@pytest.mark.parametrize(("limit", "policy"), [
    ('"default";r=50;t=30', '"default";q=100;w=60'),  # draft 10: Strings
    ("default;r=50;t=30", "default;q=100;w=60"),  # drafts 08-09: Tokens
])
def test_drafts_08_on_named_lists(limit: str, policy: str) -> None:
    counter = parse_ietf({"ratelimit": limit, "ratelimit-policy": policy})
    assert counter is not None
    assert (counter.form, counter.policy, counter.limit, counter.remaining, counter.reset_s,
            counter.window_s) == ("RateLimit list (drafts 08+)", "default", 100, 50, 30.0, 60)
    assert counter.remaining_field == "RateLimit r of 'default'"


def test_of_several_service_limits_the_lowest_is_the_one_that_bites() -> None:
    counter = parse_ietf({
        "ratelimit": '"permin";r=40;t=20, "perhr";r=3;t=1800',
        "ratelimit-policy": '"permin";q=50;w=60, "perhr";q=1000;w=3600'})
    assert counter is not None
    assert (counter.policy, counter.remaining, counter.limit, counter.window_s) == (
        "perhr", 3, 1000, 3600)


@pytest.mark.parametrize(("headers", "fragment"), [
    ({"ratelimit": '"default";t=30'}, "service limit 'default' has no r"),
    ({"ratelimit": '"default";r=-1'}, "expected r (the remaining quota) to be a non-negative "
                                      "integer, got -1"),
    ({"ratelimit": '"default";r=?1'}, "got a boolean"),
    ({"ratelimit": "50;r=1"}, "expected named service limits"),
    ({"ratelimit": "remaining=5"}, "expected the keys limit and reset"),
    ({"ratelimit": "limit=1.5, reset=1"}, "expected limit to be a non-negative integer"),
    ({"ratelimit": ""}, "expected at least one service limit"),
    ({"ratelimit": "r\u00e9set=1"}, "characters outside ASCII"),
    ({"ratelimit-policy": '"default";w=60'}, "policy 'default' has no q"),
    ({"ratelimit-policy": "(1 2);w=1"}, "got an inner list"),
    ({"ratelimit-remaining": "lots"}, "RateLimit-Remaining 'lots'"),
    ({"ratelimit": '"unterminated'}, "is not a valid structured field"),
    ({"ratelimit": "limit=1000000000000000, reset=1"}, "Integer too long"),  # 16 digits
])
def test_a_malformed_draft_field_says_what_is_wrong(headers: dict[str, str],
                                                    fragment: str) -> None:
    with pytest.raises(HeaderError) as error:
        parse_ietf(headers)
    assert fragment in error.value.message


# ------------------------------------------------------------------------------ one response

def test_a_response_is_read_relative_to_its_own_date() -> None:
    """Our clock an hour off: the Retry-After date still means 30 seconds."""
    limits = read_limits({"Date": NOW_HTTP, "Retry-After": "Tue, 18 Mar 2025 12:00:30 GMT"},
                         NOW + timedelta(hours=1))
    assert limits.retry_after is not None and limits.retry_after.seconds == 30.0


def test_one_malformed_family_hides_no_other() -> None:
    limits = read_limits({"Retry-After": "soon", "X-RateLimit-Remaining": "4",
                          "RateLimit": '"default";r=4;t=2', "Content-Type": "text/plain"}, NOW)
    assert limits.retry_after is None
    assert limits.errors == ("Retry-After 'soon' is not seconds or an HTTP date",)
    assert limits.x_ratelimit is not None and limits.x_ratelimit.remaining == 4
    assert limits.ratelimit is not None and limits.reset_s == 2.0
    assert limits.headers == {"Retry-After": "soon", "X-RateLimit-Remaining": "4",
                              "RateLimit": '"default";r=4;t=2'}


# ------------------------------------------------------------------------------ properties

_dates = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31),
                      timezones=st.just(timezone.utc)).map(lambda d: d.replace(microsecond=0))


@given(st.integers(min_value=0, max_value=10 ** 9))
def test_delta_seconds_read_back(seconds: int) -> None:
    assert parse_retry_after(str(seconds), NOW).seconds == seconds


@given(_dates)
def test_http_dates_read_back_in_all_three_forms(moment: datetime) -> None:
    imf = format_datetime(moment, usegmt=True)
    asctime = moment.strftime("%a %b ") + f"{moment.day:2d}" + moment.strftime(" %H:%M:%S %Y")
    assert parse_http_date(imf) == moment
    assert parse_http_date(asctime) == moment
    if 1970 <= moment.year <= 2069:  # what a two-digit year can say
        rfc850 = moment.strftime("%A, %d-%b-%y %H:%M:%S GMT")
        assert parse_http_date(rfc850) == moment


_names = st.from_regex(r"[a-z][a-z0-9_\-.*]{0,10}", fullmatch=True)
_counts = st.integers(min_value=0, max_value=10 ** 15 - 1)  # structured fields: 15 digits


@given(_names, st.booleans(), _counts, st.none() | _counts, _counts, st.none() | _counts)
def test_drafts_08_on_fields_read_back(name: str, quoted: bool, remaining: int,
                                       reset: int | None, quota: int,
                                       window: int | None) -> None:
    ident = f'"{name}"' if quoted else name
    limit = f"{ident};r={remaining}" + (f";t={reset}" if reset is not None else "")
    policy = f"{ident};q={quota}" + (f";w={window}" if window is not None else "")
    counter = parse_ietf({"ratelimit": limit, "ratelimit-policy": policy})
    assert counter is not None
    assert (counter.policy, counter.remaining, counter.limit, counter.window_s) == (
        name, remaining, quota, window)
    assert counter.reset_s == (None if reset is None else float(reset))


@given(_counts, _counts, _counts)
def test_draft_07_and_x_ratelimit_read_back(limit: int, remaining: int, reset: int) -> None:
    counter = parse_ietf({"ratelimit": f"limit={limit}, remaining={remaining}, reset={reset}"})
    assert counter is not None
    assert (counter.limit, counter.remaining, counter.reset_s) == (limit, remaining, reset)
    x = parse_x_ratelimit({"x-ratelimit-limit": str(limit),
                           "x-ratelimit-remaining": str(remaining)}, NOW)
    assert x is not None and (x.limit, x.remaining) == (limit, remaining)


_FIELDS = ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
           "ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining",
           "ratelimit-reset", "date")
_garbage = st.text(max_size=40) | st.from_regex(r'[0-9a-z"=;,:?*() \-.]{0,30}', fullmatch=True)


@settings(max_examples=300)
@given(st.sampled_from(_FIELDS), _garbage)
def test_garbage_in_any_field_raises_nothing_but_our_error(name: str, value: str) -> None:
    readers = (lambda: parse_retry_after(value, NOW), lambda: parse_http_date(value),
               lambda: parse_x_ratelimit({name: value}, NOW), lambda: parse_ietf({name: value}))
    for read in readers:
        try:
            read()
        except HeaderError as error:
            assert error.message  # and nothing else: any other exception fails the test


@given(st.dictionaries(st.sampled_from(_FIELDS), _garbage, max_size=5))
def test_a_response_with_garbage_fields_is_read_with_their_messages(
        headers: dict[str, str]) -> None:
    limits = read_limits(headers, NOW)  # never raises: each family is read or named
    assert len(limits.errors) <= 3
    assert set(limits.headers) <= {name.title().replace("Ratelimit", "RateLimit")
                                   .replace("X-Ratelimit", "X-RateLimit") for name in headers}
