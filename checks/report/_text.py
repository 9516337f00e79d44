"""How values read from a target are turned into text a report can hold: durations,
measurement values, and control characters made harmless."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

__all__ = ["as_utc", "format_duration", "format_measurements", "format_value", "one_line",
           "show_controls"]

# C0 controls except tab and newline, DEL and C1: an ESC from a target's response must not
# reach a terminal as a live escape sequence, nor a report as an invisible character.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def show_controls(text: str) -> str:
    """Line endings normalised to `\\n`; every other control character written as `\\xNN`."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def one_line(text: str) -> str:
    """A summary is meant to be one line; a multi-line one must not break a table or a list."""
    return " ".join(show_controls(text).split())


def format_duration(seconds: float) -> str:
    """`45ms`, `12.3s`, `2m 05s`, `1h 02m`: precise where it matters, short where it does not."""
    if round(seconds * 1000) < 1000:  # compare rounded values: 0.9996 is "1.0s", not "1000ms"
        return f"{max(seconds, 0) * 1000:.0f}ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes}m {rest:02d}s"
    hours, rest = divmod(round(seconds) // 60, 60)
    return f"{hours}h {rest:02d}m"


def format_value(value: Any) -> str:
    """A measurement as a reader expects it: JSON spelling for data, floats kept short."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        short = round(value, 3)
        return str(int(short)) if short.is_integer() and abs(short) < 1e15 else repr(short)
    if isinstance(value, int):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    except (TypeError, ValueError):  # a circular or otherwise unprintable structure
        return str(value)


def format_measurements(measurements: dict[str, Any]) -> list[str]:
    return [f"{key}={format_value(value)}" for key, value in measurements.items()]


def as_utc(moment: datetime) -> datetime:
    """The runner stamps aware UTC datetimes; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
