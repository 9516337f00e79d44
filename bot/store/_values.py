"""Values going into the store: checked times and limits, text PostgreSQL can hold, JSON that
jsonb accepts."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

__all__ = ["Conn", "aware", "clean_text", "jsonb", "positive"]

Conn = psycopg.AsyncConnection[DictRow]

def aware(value: datetime) -> datetime:
    # A naive datetime would be read in the server's time zone: refuse to guess.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {value.isoformat()}")
    return value


def positive(limit: int) -> int:
    if limit < 1:
        raise ValueError(f"expected a limit of at least 1, got {limit}")
    return limit


def clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and raw evidence (an HTTP body) sometimes does.
    return value.replace("\x00", "\ufffd")


def _jsonable(value: Any) -> Any:
    """`value` as plain JSON that jsonb accepts (no NaN, no NUL, no Decimal or datetime)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # jsonb has no NaN or Infinity
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return clean_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    return clean_text(str(value))


def jsonb(value: Mapping[str, Any]) -> Jsonb:
    return Jsonb(_jsonable(value))


