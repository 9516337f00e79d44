"""Paths into a JSON document, and into an HTTP response's status, headers and time.

    a.b[0].*                  names, list indexes, `*` for every item or value
    services["ai.providers"]  a quoted key: any text, with \\" and \\\\ as escapes
    limits["*"]               the key `*`, not a wildcard
    $  /  $.a  /  $[0]        the document's root
    $status  $headers.NAME  $elapsed_ms   the response (header names in any case)

A malformed path is a ValueError naming the character where it went wrong and what was
expected there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["MISSING", "RESPONSE_FIELDS", "ResponseFacts", "field_of", "found_values",
           "quote_key", "select", "split_path"]

MISSING = object()  # what a path reaches where the document has no value

RESPONSE_FIELDS = ("status", "headers", "elapsed_ms")


@dataclass(frozen=True)
class ResponseFacts:
    """What an HTTP response tells besides its body: `$status`, `$headers.NAME`, `$elapsed_ms`."""

    status: int
    headers: Mapping[str, str]  # lower-case names; a repeated header's values joined by ", "
    elapsed_ms: float

    def document(self) -> dict[str, Any]:
        return {"status": self.status, "headers": dict(self.headers),
                "elapsed_ms": self.elapsed_ms}


class _Field(str):
    """A response field (`$status`), as the first part of a path."""


class _Any:
    """The wildcard `*` or `[*]`; a quoted `["*"]` is the literal key instead."""

    def __repr__(self) -> str:
        return "*"


_ANY = _Any()
_Part = str | int | _Any
_NAME_END = ".[]"


def _path_error(path: str, at: int, expected: str) -> ValueError:
    return ValueError(f"invalid path '{path}': at character {at + 1}, expected {expected}")


def _read_quoted(path: str, start: int) -> tuple[str, int]:
    """The key of `"..."` starting at `start` (a quote), with `\\"` and `\\\\` escapes; and the
    position after the closing quote."""
    chars: list[str] = []
    i = start + 1
    while i < len(path):
        char = path[i]
        if char == "\\":
            if i + 1 >= len(path) or path[i + 1] not in '"\\':
                raise _path_error(path, i, "'\\\"' or '\\\\' after a backslash in a quoted key")
            chars.append(path[i + 1])
            i += 2
        elif char == '"':
            return "".join(chars), i + 1
        else:
            chars.append(char)
            i += 1
    raise _path_error(path, len(path), "a closing '\"' for the quoted key")


def _read_bracket(path: str, start: int) -> tuple[_Part, int]:
    """`[N]`, `[*]` or `["key"]` starting at `start` (a `[`)."""
    i = start + 1
    if path.startswith('"', i):
        key, i = _read_quoted(path, i)
        part: _Part = key
    else:
        match = re.compile(r"[0-9]+|\*").match(path, i)
        if match is None:
            raise _path_error(path, i, "a list index, '*' or a quoted key such as [\"a.b\"]")
        part = _ANY if match.group() == "*" else int(match.group())
        i = match.end()
    if not path.startswith("]", i):
        raise _path_error(path, i, "']'")
    return part, i + 1


def _read_name(path: str, start: int) -> tuple[_Part, int]:
    i = start
    while i < len(path) and path[i] not in _NAME_END:
        i += 1
    name = path[start:i]
    if not name:
        raise _path_error(path, start, "a name, or [\"...\"] for a key with '.', spaces or '*'")
    if name == "*":
        return _ANY, i
    # `items.0` indexes a list; `01` stays a name, as no index is written that way
    return (int(name) if re.fullmatch(r"0|[1-9][0-9]*", name) else name), i


def _separator(path: str, i: int) -> tuple[int, bool]:
    """Past a `.` at `i` if there is one; and whether a name must follow."""
    if not path.startswith(".", i):
        return i, False
    if i + 1 == len(path) or path[i + 1] in _NAME_END:
        raise _path_error(path, i + 1, "a name after '.'")
    return i + 1, True


@lru_cache(maxsize=1024)
def split_path(path: str) -> tuple[_Part, ...]:
    """`a.b[0].*` -> ('a', 'b', 0, *); `$` alone is the root; `$status` a response field;
    `a["b.c"]` the key `b.c`."""
    if path in ("$", ""):
        return ()
    parts: list[_Part] = []
    i, expect_name = 0, True
    if path.startswith("$."):
        i = 2
    elif path.startswith("$["):  # `$[0].name`: the root is a list
        i, expect_name = 1, False
    elif path.startswith("$"):
        name, i = _read_name(path, 1)
        if name not in RESPONSE_FIELDS:
            fields = ", ".join(f"${field}" for field in RESPONSE_FIELDS)
            raise _path_error(path, 1, f"a response field ({fields}), '$.' for the body, or "
                              "[\"$...\"] for a body key that starts with '$'")
        parts.append(_Field(str(name)))
        i, expect_name = _separator(path, i)
    if i == len(path) and expect_name:
        raise _path_error(path, i, "a name after '$.'")
    while i < len(path):
        if path[i] == "[":
            part, i = _read_bracket(path, i)
        elif expect_name:
            part, i = _read_name(path, i)
        else:
            raise _path_error(path, i, "'.' or '['")
        parts.append(part)
        i, expect_name = _separator(path, i)
    if parts and isinstance(parts[0], _Field) and parts[0] == "headers" and len(parts) > 1:
        if isinstance(parts[1], str):  # header names are case-insensitive
            parts[1] = parts[1].lower()
    return tuple(parts)


def quote_key(key: str) -> str:
    """`["key"]`, which a path reads back as exactly that key, whatever it holds."""
    return '["' + key.replace("\\", "\\\\").replace('"', '\\"') + '"]'


def _plain(key: str) -> bool:
    return bool(key) and key != "*" and not key.startswith("$") and not any(
        char in key for char in '.[]"') and not any(char.isspace() for char in key)


def _join(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, _Field):
            text += f"${part}"
        elif isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif part is _ANY:
            text += ".*" if text else "*"
        elif isinstance(part, str) and not _plain(part):
            text += quote_key(part)
        else:
            text += f".{part}" if text else str(part)
    return text or "$"


def field_of(path: str) -> str | None:
    """The response field a path reads (`status`, `headers`, `elapsed_ms`); None for the body."""
    parts = split_path(path)
    return str(parts[0]) if parts and isinstance(parts[0], _Field) else None


def select(data: Any, path: str,
           response: ResponseFacts | None = None) -> Iterator[tuple[str, Any]]:
    """Every (concrete path, value) the path reaches; a missing key yields `MISSING`.
    A `$status`-style path looks into `response`, and reaches nothing without one."""
    parts = list(split_path(path))
    if parts and isinstance(parts[0], _Field):
        if response is None:
            yield path, MISSING
            return
        data = response.document()
    yield from _walk(data, parts, [])


def found_values(data: Any, path: str) -> list[Any]:
    """The values the path reaches, in document order; a missing key reaches none."""
    return [value for _, value in select(data, path) if value is not MISSING]


def _walk(data: Any, parts: list[_Part], seen: list[Any]) -> Iterator[tuple[str, Any]]:
    if not parts:
        yield _join(seen), data
        return
    head, rest = parts[0], parts[1:]
    if head is _ANY:
        if isinstance(data, dict):
            items: list[tuple[Any, Any]] = list(data.items())
        elif isinstance(data, list):
            items = list(enumerate(data))
        else:
            yield _join(seen + [_ANY]), MISSING
            return
        for key, value in items:
            yield from _walk(value, rest, seen + [key])
        if not items:
            yield _join(seen + [_ANY]), MISSING
        return
    if isinstance(data, dict) and head in data:
        yield from _walk(data[head], rest, seen + [head])
    elif isinstance(data, dict) and str(head) in data:
        yield from _walk(data[str(head)], rest, seen + [head])
    elif isinstance(data, list) and isinstance(head, int) and -len(data) <= head < len(data):
        yield from _walk(data[head], rest, seen + [head])
    else:
        yield _join(seen + [head]), MISSING
