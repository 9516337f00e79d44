"""Reading the rate-limit header fields of one response. Pure: text in, records out, and
`HeaderError` (a ValueError) for a value that is not what its field's definition allows.

Three families:

- `Retry-After` (RFC 9110 section 10.2.3): delay-seconds (`1*DIGIT`) or an HTTP-date in any of
  the three forms a recipient must accept (IMF-fixdate, obsolete RFC 850, asctime).
- `X-RateLimit-Limit`, `-Remaining`, `-Reset`: a convention, not a standard. Limit and Remaining
  are non-negative integers. Reset is read by size, because servers disagree: below 10^9 it is
  seconds from now (10^9 s is 31 years, no window is that long), from 10^9 to 10^12 a Unix time
  in seconds (GitHub), from 10^12 a Unix time in milliseconds; an HTTP-date is accepted too.
- The IETF httpapi drafts "RateLimit header fields for HTTP", all as RFC 9651 structured fields
  (parsed by `http_sf`):
    drafts 00-06: `RateLimit-Limit: 100` (00-01 allowed `100, 100;w=60`), `RateLimit-Remaining:
        50`, `RateLimit-Reset: 30` (seconds), and from 03 `RateLimit-Policy: 100;w=60`;
    draft 07: one Dictionary `RateLimit: limit=100, remaining=50, reset=30` with the same
        `RateLimit-Policy: 100;w=60`;
    drafts 08 and later: Lists of named items, `RateLimit: "default";r=50;t=30` and
        `RateLimit-Policy: "default";q=100;w=60` (08-09 named policies with Tokens, 10 with
        Strings; both are read).

Times are relative to the response's own `Date` where it has a valid one (so a clock skew
between smokebot and the server does not shift an HTTP-date or an epoch Reset), else `now`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import http_sf

__all__ = [
    "Counter", "HeaderError", "Limits", "RetryAfter", "parse_http_date", "parse_ietf",
    "parse_retry_after", "parse_x_ratelimit", "rate_limit_headers", "read_limits",
]

# Beyond this a delay means "not within any smoke test": clamped rather than overflowing.
MAX_DELAY_S = 10 ** 9
_EPOCH_S = 10 ** 9
_EPOCH_MS = 10 ** 12
_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?")
_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_LONG_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "|".join(_MONTHS)
_TIME = r"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
_IMF_FIXDATE = re.compile(
    rf"(?:{_DAYS}), (?P<d>\d\d) (?P<mon>{_MONTH}) (?P<y>\d{{4}}) {_TIME} GMT")
_RFC850 = re.compile(
    rf"(?:{_LONG_DAYS}), (?P<d>\d\d)-(?P<mon>{_MONTH})-(?P<y>\d\d) {_TIME} GMT")
_ASCTIME = re.compile(
    rf"(?:{_DAYS}) (?P<mon>{_MONTH}) (?P<d>[ \d]\d) {_TIME} (?P<y>\d{{4}})")
_SHOWN_CHARS = 60


class HeaderError(ValueError):
    """A rate-limit field whose value its definition does not allow; the message names the
    field, quotes the value and says what was expected."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position  # how far a structured-field parse got


def shown(value: str) -> str:
    """A header value quoted for a message: control characters escaped, long ones cut."""
    text = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return f"'{text}'"


# ------------------------------------------------------------------------------ Retry-After

@dataclass(frozen=True)
class RetryAfter:
    seconds: float  # from the response's time, never negative
    form: str  # "seconds" or "HTTP date"
    raw: str


def parse_http_date(value: str) -> datetime:
    """An HTTP-date (RFC 9110 section 5.6.7) as an aware UTC datetime."""
    text = value.strip()
    for pattern in (_IMF_FIXDATE, _RFC850, _ASCTIME):
        match = pattern.fullmatch(text)
        if match is None:
            continue
        year = int(match["y"])
        if pattern is _RFC850:  # two digits: the most recent year ending so (RFC 9110)
            year += 1900 if year >= 70 else 2000
        try:
            return datetime(year, _MONTHS.index(match["mon"]) + 1, int(match["d"].strip()),
                            int(match["h"]), int(match["m"]), int(match["s"]),
                            tzinfo=timezone.utc)
        except ValueError:  # 31 Feb, 25:00:00, leap seconds
            break
    raise HeaderError(f"{shown(value)} is not an HTTP date (such as "
                      "'Sun, 06 Nov 1994 08:49:37 GMT')")


def parse_retry_after(value: str, now: datetime) -> RetryAfter:
    text = value.strip()
    if _DIGITS.fullmatch(text):
        seconds = MAX_DELAY_S if len(text) > 10 else min(int(text), MAX_DELAY_S)
        return RetryAfter(float(seconds), "seconds", value)
    try:
        when = parse_http_date(text)
    except HeaderError:
        raise HeaderError(f"Retry-After {shown(value)} is not seconds or an HTTP date") from None
    return RetryAfter(min(max(0.0, (when - now).total_seconds()), MAX_DELAY_S), "HTTP date",
                      value)


# ------------------------------------------------------------------------------ counters

@dataclass(frozen=True)
class Counter:
    """What one family says of the client's quota on one response."""

    family: str  # "X-RateLimit" or "RateLimit"
    form: str  # which spelling: "X-RateLimit-*", "RateLimit (draft 07 dictionary)", ...
    remaining_field: str  # how a message names the remaining count
    reset_field: str  # and the reset time
    limit: int | None = None
    remaining: int | None = None
    reset_s: float | None = None
    reset_form: str | None = None  # how Reset was read: "seconds", "epoch seconds", ...
    policy: str | None = None  # the policy's name (drafts 08+)
    window_s: int | None = None  # the policy's `w`


def _integer(name: str, value: str) -> int:
    text = value.strip()
    if not _DIGITS.fullmatch(text) or len(text) > 18:
        raise HeaderError(f"{name} {shown(value)} is not a non-negative integer")
    return int(text)


def _reset(name: str, value: str, now: datetime) -> tuple[float, str]:
    text = value.strip()
    if _NUMBER.fullmatch(text):
        number = float(text)
        if number >= _EPOCH_MS:
            return max(0.0, number / 1000 - now.timestamp()), "epoch milliseconds"
        if number >= _EPOCH_S:
            return max(0.0, number - now.timestamp()), "epoch seconds"
        return number, "seconds"
    try:
        when = parse_http_date(text)
    except HeaderError:
        raise HeaderError(f"{name} {shown(value)} is not seconds, a Unix time or an HTTP "
                          "date") from None
    return max(0.0, (when - now).total_seconds()), "HTTP date"


def parse_x_ratelimit(headers: Mapping[str, str], now: datetime) -> Counter | None:
    """`headers` with lower-case names. None when the response has none of the three."""
    limit, remaining, reset = (headers.get(f"x-ratelimit-{n}") for n in
                               ("limit", "remaining", "reset"))
    if limit is None and remaining is None and reset is None:
        return None
    reset_s, reset_form = _reset("X-RateLimit-Reset", reset, now) if reset is not None \
        else (None, None)
    return Counter(
        family="X-RateLimit", form="X-RateLimit-*", remaining_field="X-RateLimit-Remaining",
        reset_field="X-RateLimit-Reset",
        limit=_integer("X-RateLimit-Limit", limit) if limit is not None else None,
        remaining=_integer("X-RateLimit-Remaining", remaining) if remaining is not None
        else None,
        reset_s=reset_s, reset_form=reset_form)


# ------------------------------------------------------------------------------ IETF drafts

def _structured(name: str, value: str, tltype: str) -> Any:
    try:
        data = value.encode("ascii")
    except UnicodeEncodeError:
        raise HeaderError(f"{name} {shown(value)} is not a structured field: it has "
                          "characters outside ASCII") from None
    try:
        return http_sf.parse(data, tltype=tltype)
    except ValueError as exc:  # http_sf.StructuredFieldError is one
        raise HeaderError(f"{name} {shown(value)} is not a valid structured field ({exc})",
                          position=getattr(exc, "position", 0) or 0) from None


def _sf_integer(name: str, value: str, item: Any, what: str) -> int:
    # bool is an int to Python but a Boolean to structured fields
    if not isinstance(item, int) or isinstance(item, bool) or item < 0:
        raise HeaderError(f"{name} {shown(value)}: expected {what} to be a non-negative "
                          f"integer, got {_describe_sf(item)}")
    return item


def _describe_sf(item: Any) -> str:
    if isinstance(item, bool):
        return "a boolean"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, http_sf.Token):
        return f"the token {item}"
    if isinstance(item, str):
        return "a string"
    if isinstance(item, list):
        return "an inner list"
    return type(item).__name__.lower()


def _policy_name(item: Any) -> str | None:
    """A drafts-08+ policy identifier: a Token (08-09) or a String (10 on)."""
    if isinstance(item, (http_sf.Token, str)):
        return str(item)
    return None


@dataclass(frozen=True)
class _Policy:
    name: str | None  # None: a draft 03-07 policy, named by nothing
    quota: int
    window_s: int | None


def _policies(value: str) -> list[_Policy]:
    name = "RateLimit-Policy"
    members = _structured(name, value, "list")
    if not members:
        raise HeaderError(f"{name} {shown(value)}: expected at least one policy")
    policies = []
    for item, params in members:
        window = params.get("w")
        if window is not None:
            window = _sf_integer(name, value, window, "w (the window in seconds)")
        if _policy_name(item) is not None:  # drafts 08+: "name";q=QUOTA;w=SECONDS
            if "q" not in params:
                raise HeaderError(f"{name} {shown(value)}: policy '{item}' has no q (its "
                                  'quota), as in "default";q=100;w=60')
            quota = _sf_integer(name, value, params["q"], "q (the quota)")
            policies.append(_Policy(str(item), quota, window))
        else:  # drafts 03-07: QUOTA;w=SECONDS
            quota = _sf_integer(name, value, item, "each policy (a quota, or a named policy)")
            policies.append(_Policy(None, quota, window))
    return policies


def _service_limits(value: str) -> Counter:
    """`RateLimit` in either of its shapes: the draft 07 Dictionary or the drafts 08+ List."""
    name = "RateLimit"
    try:
        members = _structured(name, value, "list")
    except HeaderError as as_list:
        try:
            keys = _structured(name, value, "dictionary")
        except HeaderError as as_dictionary:
            # The shape that parsed further is the one the server meant.
            raise max(as_list, as_dictionary, key=lambda e: e.position) from None
        return _draft07(value, keys)
    if not members:
        raise HeaderError(f"{name} {shown(value)}: expected at least one service limit")
    lowest: tuple[int, str, int | None] | None = None  # remaining, policy, reset
    for item, params in members:
        policy = _policy_name(item)
        if policy is None:
            raise HeaderError(f'{name} {shown(value)}: expected named service limits such as '
                              f'"default";r=50;t=30, got {_describe_sf(item)}')
        if "r" not in params:
            raise HeaderError(f"{name} {shown(value)}: service limit '{policy}' has no r (the "
                              'remaining quota), as in "default";r=50;t=30')
        remaining = _sf_integer(name, value, params["r"], "r (the remaining quota)")
        reset = params.get("t")
        if reset is not None:
            reset = _sf_integer(name, value, reset, "t (the seconds until the reset)")
        if lowest is None or remaining < lowest[0]:
            lowest = (remaining, policy, reset)
    assert lowest is not None
    remaining, policy, reset = lowest
    return Counter(family="RateLimit", form="RateLimit list (drafts 08+)",
                   remaining_field=f"RateLimit r of '{policy}'",
                   reset_field=f"RateLimit t of '{policy}'", remaining=remaining,
                   reset_s=None if reset is None else float(reset),
                   reset_form=None if reset is None else "seconds", policy=policy)


def _draft07(value: str, keys: dict[str, Any]) -> Counter:
    name = "RateLimit"
    missing = [key for key in ("limit", "reset") if key not in keys]
    if missing:
        raise HeaderError(f"{name} {shown(value)}: expected the keys limit and reset (draft 07: "
                          f"limit=100, remaining=50, reset=30), {' and '.join(missing)} missing")
    found = {key: _sf_integer(name, value, keys[key][0], key)
             for key in ("limit", "remaining", "reset") if key in keys}
    return Counter(family="RateLimit", form="RateLimit dictionary (draft 07)",
                   remaining_field="RateLimit remaining", reset_field="RateLimit reset",
                   limit=found["limit"],
                   remaining=found.get("remaining"), reset_s=float(found["reset"]),
                   reset_form="seconds")


def _separate_fields(headers: Mapping[str, str]) -> Counter:
    """Drafts 00-06: RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset."""
    found: dict[str, int] = {}
    for key in ("limit", "remaining", "reset"):
        value = headers.get(f"ratelimit-{key}")
        if value is None:
            continue
        name = f"RateLimit-{key.capitalize()}"
        if key == "limit":  # drafts 00-01: the limit, then quota policies
            members = _structured(name, value, "list")
            if not members:
                raise HeaderError(f"{name} {shown(value)}: expected the limit")
            item = members[0][0]
        else:
            item = _structured(name, value, "item")[0]
        found[key] = _sf_integer(name, value, item, "the value")
    reset = found.get("reset")
    return Counter(family="RateLimit", form="RateLimit-Limit/-Remaining/-Reset (drafts 00-06)",
                   remaining_field="RateLimit-Remaining", reset_field="RateLimit-Reset",
                   limit=found.get("limit"),
                   remaining=found.get("remaining"),
                   reset_s=None if reset is None else float(reset),
                   reset_form=None if reset is None else "seconds")


def parse_ietf(headers: Mapping[str, str]) -> Counter | None:
    """`headers` with lower-case names. None when the response has no IETF-draft field.
    With both spellings present, the newer `RateLimit` field is the one read (both must be
    valid)."""
    combined = headers.get("ratelimit")
    separate = any(f"ratelimit-{key}" in headers for key in ("limit", "remaining", "reset"))
    policy_text = headers.get("ratelimit-policy")
    if combined is None and not separate and policy_text is None:
        return None
    counter = _separate_fields(headers) if separate else None
    if combined is not None:
        counter = _service_limits(combined)
    policies = _policies(policy_text) if policy_text is not None else []
    if counter is None:  # only RateLimit-Policy: the quota, no live counter
        counter = Counter(family="RateLimit", form="RateLimit-Policy only",
                          remaining_field="RateLimit remaining", reset_field="RateLimit reset")
    policy = _matching(policies, counter)
    if policy is not None:
        counter = Counter(**{**counter.__dict__,
                             "limit": counter.limit if counter.limit is not None
                             else policy.quota,
                             "window_s": policy.window_s,
                             "policy": counter.policy or policy.name})
    return counter


def _matching(policies: list[_Policy], counter: Counter) -> _Policy | None:
    if counter.policy is not None:
        return next((p for p in policies if p.name == counter.policy), None)
    if counter.limit is not None:  # drafts 03-07: the policy whose quota is the limit
        return next((p for p in policies if p.quota == counter.limit), policies[0] if
                    policies else None)
    return policies[0] if policies else None


# ------------------------------------------------------------------------------ one response

@dataclass(frozen=True)
class Limits:
    """Everything rate-limit related that one response said. A family whose field is
    malformed is None, with its message in `errors`, so one bad field hides no other."""

    retry_after: RetryAfter | None = None
    x_ratelimit: Counter | None = None
    ratelimit: Counter | None = None
    errors: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # the fields as sent, for evidence

    @property
    def counters(self) -> tuple[Counter, ...]:
        return tuple(c for c in (self.x_ratelimit, self.ratelimit) if c is not None)

    @property
    def limit(self) -> int | None:
        return next((c.limit for c in self.counters if c.limit is not None), None)

    @property
    def reset_s(self) -> float | None:
        """When quota comes back, by the counters (Retry-After aside)."""
        return next((c.reset_s for c in self.counters if c.reset_s is not None), None)


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit fields of a response, in their usual spelling (the only response headers
    a report of this kind shows)."""
    found = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in ("retry-after", "ratelimit") or lower.startswith(("x-ratelimit-",
                                                                      "ratelimit-")):
            found[_spelled(lower)] = value
    return found


def _spelled(name: str) -> str:
    """x-ratelimit-remaining -> X-RateLimit-Remaining (httpx gives names in lower case)."""
    return "-".join("RateLimit" if part == "ratelimit" else part.capitalize()
                    for part in name.split("-"))


def read_limits(headers: Mapping[str, str], now: datetime) -> Limits:
    """`headers`: any mapping (httpx.Headers joins a repeated field's lines with ", ", which
    is how a structured field split over lines is read). `now`: when the response came."""
    lower = {name.lower(): value for name, value in headers.items()}
    date = lower.get("date")
    if date is not None:
        try:
            now = parse_http_date(date)
        except HeaderError:
            pass  # a bad Date is not this check's business; the local clock will do
    errors: list[str] = []

    def attempt(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except HeaderError as exc:
            errors.append(exc.message)
            return None

    retry_after = attempt(lambda: parse_retry_after(lower["retry-after"], now)
                          if "retry-after" in lower else None)
    x_ratelimit = attempt(lambda: parse_x_ratelimit(lower, now))
    ratelimit = attempt(lambda: parse_ietf(lower))
    return Limits(retry_after=retry_after, x_ratelimit=x_ratelimit, ratelimit=ratelimit,
                  errors=tuple(errors), headers=rate_limit_headers(headers))
