"""The assertion language for JSON bodies and query rows.

An assertion is one line, `PATH OP VALUE`, or the same as a mapping
(`{path: ..., op: ..., value: ...}`):

    status == healthy
    services.ai_providers.* == healthy        every match must hold
    clustering.node_count >= 2
    len(clustering.connected_nodes) >= 1
    version matches ^0\\.1\\.
    status in [healthy, degraded]
    stripe_customer_id == null
    node exists           /   legacy not exists
    [*].subscription_type == trial            query rows: a list of row mappings
    len($) == 1                               `$` is the whole document

VALUE is read as YAML (`2`, `true`, `null`, `[a, b]`, `"quoted text"`). A failure reads
`services.ai_providers.openai: expected "healthy", got "degraded"`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

__all__ = ["Assertion", "AssertionList", "OPERATORS", "evaluate", "found_values",
           "parse_assertion", "select"]

OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "not in", "in", "matches", "not exists", "exists")
_UNARY = {"exists", "not exists"}
_MISSING = object()
_LINE = re.compile(
    r"^\s*(?P<path>len\([^)]*\)|\S+)\s+(?P<op>==|!=|<=|>=|<|>|not\s+in|in|matches|"
    r"not\s+exists|exists)(?:\s+(?P<value>.*?))?\s*$", re.DOTALL)


class Assertion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    op: str
    value: Any = None
    length: bool = False  # compare len(path) rather than the value itself

    def __str__(self) -> str:
        target = f"len({self.path})" if self.length else self.path
        if self.op in _UNARY:
            return f"{target} {self.op}"
        if self.op == "matches":  # the pattern as written; parsing strips one pair of quotes
            return f'{target} matches "{self.value}"'
        return f"{target} {self.op} {_show(self.value)}"


def parse_assertion(raw: Any) -> Assertion:
    """One assertion from its line or mapping form; ValueError says what was expected."""
    if isinstance(raw, Assertion):
        return raw
    if isinstance(raw, dict):
        data = dict(raw)
        unknown = set(data) - {"path", "op", "value"}
        if unknown or "path" not in data or "op" not in data:
            raise ValueError("expected an assertion mapping with 'path', 'op' and 'value', "
                             f"got keys {sorted(data)}")
        path, op, value = str(data["path"]), str(data["op"]), data.get("value")
        text_value = None
        if op not in _UNARY and "value" not in data:
            raise ValueError(f"'{op}' needs a value: expected keys 'path', 'op' and 'value'")
    elif isinstance(raw, str):
        match = _LINE.match(raw)
        if not match:
            raise ValueError(f"cannot read assertion {raw!r}: expected 'PATH OP VALUE', with "
                             f"spaces around OP, one of {', '.join(OPERATORS)}")
        path, op, text_value = match.group("path"), match.group("op"), match.group("value")
        op = " ".join(op.split())
        value = None
        if text_value is not None:
            value = text_value if op == "matches" else _read_value(text_value)
    else:
        raise ValueError(f"expected an assertion line such as 'status == healthy', got {raw!r}")
    if op not in OPERATORS:
        raise ValueError(f"unknown operator '{op}'; expected one of: {', '.join(OPERATORS)}")
    if op in _UNARY and (value is not None or (isinstance(raw, str) and text_value)):
        raise ValueError(f"'{op}' takes no value; expected '{path} {op}'")
    if op not in _UNARY and value is None and isinstance(raw, str) and not text_value:
        raise ValueError(f"'{op}' needs a value, as in '{path} {op} VALUE'")
    if op in ("in", "not in") and not isinstance(value, list):
        raise ValueError(f"'{op}' needs a list, as in '{path} {op} [a, b]'")
    if op == "matches" and value is None:
        raise ValueError(f"'matches' needs a pattern, as in '{path} matches ^v[0-9]+'")
    if op == "matches":
        quoted = isinstance(value, str) and len(value) > 1 and value[0] == value[-1]
        if quoted and value[0] in "'\"":
            value = value[1:-1]
        try:
            re.compile(str(value))
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        value = str(value)
    length = False
    if path.startswith("len(") and path.endswith(")"):
        path, length = path[4:-1].strip() or "$", True
    _split(path)  # validates the path
    return Assertion(path=path, op=op, value=value, length=length)


_LEADING_ZERO = re.compile(r"^0[0-9_]+$")  # YAML would read an octal number
_HEX_LIKE = re.compile(r"^([0-9a-f]*[a-f][0-9a-f]*|[0-9]+e[0-9]+)$")  # a commit, not 1.2e59


def _read_value(text: str) -> Any:
    """JSON first (so `str(assertion)` reads back, `1e-05` included), then YAML (`[a, b]`).
    Tokens that only look like numbers stay text: a commit such as `0123456` (YAML would
    read an octal number) or `1234e56` (JSON would read 1.234e59), often from `${deploy.commit}`."""
    token = text.strip()
    if _LEADING_ZERO.match(token) or (len(token) >= 7 and _HEX_LIKE.match(token)):
        return token
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _as_list(raw: Any) -> Any:
    if raw is None:
        return []
    return raw if isinstance(raw, (list, tuple)) else [raw]


_LINE_SCHEMA = {"type": "string", "description": "PATH OP VALUE, such as 'status == healthy'"}
_MAPPING_SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "op": {"enum": list(OPERATORS)}, "value": {}},
    "required": ["path", "op"],
    "additionalProperties": False,
}
_LIST_SCHEMA = {"anyOf": [
    _LINE_SCHEMA, _MAPPING_SCHEMA, {"type": "null"},
    {"type": "array", "items": {"anyOf": [_LINE_SCHEMA, _MAPPING_SCHEMA]}},
]}
# Each item parsed on its own, so that an error names the item (`expect[2]`), not the list.
AssertionList = Annotated[
    list[Annotated[Assertion, BeforeValidator(parse_assertion)]],
    BeforeValidator(_as_list), WithJsonSchema(_LIST_SCHEMA)]


# ------------------------------------------------------------------------------ paths

def _split(path: str) -> list[str | int]:
    """`a.b[0].*` -> ['a', 'b', 0, '*']; `$` alone is the root."""
    if path in ("$", ""):
        return []
    if path.startswith("$."):
        path = path[2:]
    elif path.startswith("$["):  # `$[0].name`: the root is a list
        path = path[1:]
    parts: list[str | int] = []
    for piece in re.split(r"\.(?![^\[]*\])", path):
        match = re.fullmatch(r"([^\[\]]*)((?:\[(?:[0-9]+|\*)\])*)", piece)
        if match is None or (not match.group(1) and not match.group(2)):
            raise ValueError(f"invalid path '{path}': expected names separated by '.', "
                             "with '*' or [N] for list items")
        if match.group(1):
            name = match.group(1)
            # `items.0` indexes a list; `01` stays a name, as no index is written that way
            parts.append(int(name) if re.fullmatch(r"0|[1-9][0-9]*", name) else name)
        for index in re.findall(r"\[([0-9]+|\*)\]", match.group(2)):
            parts.append("*" if index == "*" else int(index))
    return parts


def _join(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "$"


def select(data: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every (concrete path, value) the path reaches; a missing key yields `_MISSING`."""
    yield from _walk(data, _split(path), [])


def found_values(data: Any, path: str) -> list[Any]:
    """The values the path reaches, in document order; a missing key reaches none."""
    return [value for _, value in select(data, path) if value is not _MISSING]


def _walk(data: Any, parts: list[str | int], seen: list[str | int]) -> Iterator[tuple[str, Any]]:
    if not parts:
        yield _join(seen), data
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(data, dict):
            items: list[tuple[str | int, Any]] = list(data.items())
        elif isinstance(data, list):
            items = list(enumerate(data))
        else:
            yield _join(seen + ["*"]), _MISSING
            return
        for key, value in items:
            yield from _walk(value, rest, seen + [key])
        if not items:
            yield _join(seen + ["*"]), _MISSING
        return
    if isinstance(data, dict) and head in data:
        yield from _walk(data[head], rest, seen + [head])
    elif isinstance(data, dict) and str(head) in data:
        yield from _walk(data[str(head)], rest, seen + [head])
    elif isinstance(data, list) and isinstance(head, int) and -len(data) <= head < len(data):
        yield from _walk(data[head], rest, seen + [head])
    else:
        yield _join(seen + [head]), _MISSING


# ------------------------------------------------------------------------------ evaluation

def _show(value: Any) -> str:
    if value is _MISSING:
        return "nothing (missing)"
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))  # Decimal, numeric strings from a database
    except (TypeError, ValueError):
        return None


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):  # Python has True == 1; we do not
        return type(actual) is type(expected) and actual == expected
    if actual == expected:
        return True
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None and not isinstance(actual, str):
        return a == e
    if expected is not None and not isinstance(expected, (dict, list)) and actual is not None:
        return str(actual) == str(expected) and not isinstance(expected, bool)
    return False


def _holds(op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return actual is not _MISSING
    if op == "not exists":
        return actual is _MISSING
    if actual is _MISSING:
        return False
    if op == "==":
        return _equal(actual, expected)
    if op == "!=":
        return not _equal(actual, expected)
    if op == "in":
        return any(_equal(actual, item) for item in expected)
    if op == "not in":
        return not any(_equal(actual, item) for item in expected)
    if op == "matches":
        return actual is not None and re.search(expected, str(actual)) is not None
    a, e = _number(actual), _number(expected)
    if a is None or e is None:
        return False
    return {"<": a < e, "<=": a <= e, ">": a > e, ">=": a >= e}[op]


@dataclass(frozen=True)
class _Failure:
    path: str
    message: str


def _expectation(assertion: Assertion) -> str:
    words = {"==": "", "!=": "not ", "<": "< ", "<=": "<= ", ">": "> ", ">=": ">= ",
             "in": "one of ", "not in": "none of ", "matches": "to match "}
    if assertion.op == "exists":
        return "a value"
    if assertion.op == "not exists":
        return "no value"
    prefix = "length " if assertion.length else ""
    return f"{prefix}{words[assertion.op]}{_show(assertion.value)}"


def evaluate(assertions: list[Assertion], data: Any) -> list[str]:
    """The failure messages; an empty list means every assertion held."""
    failures: list[str] = []
    for assertion in assertions:
        for path, actual in select(data, assertion.path):
            value = actual
            if assertion.length and actual is not _MISSING:
                try:
                    value = len(actual)
                except TypeError:
                    failures.append(
                        f"{path}: expected something with a length, got {_show(actual)}")
                    continue
            if not _holds(assertion.op, value, assertion.value):
                got = _show(value) if not assertion.length else str(value)
                if assertion.length and actual is _MISSING:
                    got = _show(actual)
                failures.append(f"{path}: expected {_expectation(assertion)}, got {got}")
    return failures
