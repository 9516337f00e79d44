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

A key holding `.`, spaces, brackets, or a literal `*` is quoted, with `\\"` and `\\\\` as
escapes; a bare name is anything up to the next `.` or `[`:

    services["ai.providers"] == healthy
    ["key with spaces"] exists
    limits["*"] == 10                         the key `*`, not a wildcard

The HTTP kinds (`http`, each `http.flow` step) also answer for the response itself, under
names that start with `$` (which, alone or as `$.`, is the body's root), so a body field
called `headers` or `status` is still a bare path:

    $status in [200, 204]                     replaces the default `status: 200`
    $headers.retry-after exists               names are case-insensitive
    $headers.x-ratelimit-remaining <= 10      values are text; numbers compare as numbers
    $elapsed_ms < 300
    headers.x == 1                            the body's `headers` field

A repeated header reads as its values joined by ", ", as HTTP does. A body key that
starts with `$` is written quoted: `["$ref"]`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from checks.paths import (
    MISSING,
    RESPONSE_FIELDS,
    ResponseFacts,
    field_of,
    found_values,
    quote_key,
    select,
    split_path,
)

__all__ = ["Assertion", "AssertionList", "OPERATORS", "RESPONSE_FIELDS", "ResponseFacts",
           "evaluate", "found_values", "parse_assertion", "quote_key", "response_field",
           "select"]

OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "not in", "in", "matches", "not exists", "exists")
_UNARY = {"exists", "not exists"}
_REST = re.compile(
    r"\s+(?P<op>==|!=|<=|>=|<|>|not\s+in|in|matches|"
    r"not\s+exists|exists)(?:\s+(?P<value>.*?))?\s*$", re.DOTALL)


def _path_end(text: str, start: int, closing: str = "") -> int:
    """Where the path starting at `start` ends: at whitespace (or `closing`) outside a
    quoted key, so that `a["b c"]` is one path."""
    i = start
    while i < len(text) and not text[i].isspace() and text[i] != closing:
        if text.startswith('["', i):
            i += 2
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        i += 1
    return min(i, len(text))


def _split_line(raw: str) -> tuple[str, str, str | None] | None:
    """(path as written, op, value text) of an assertion line; None if it is not one."""
    start = len(raw) - len(raw.lstrip())
    if raw.startswith("len(", start):
        end = _path_end(raw, start + 4, closing=")")
        if not raw.startswith(")", end):
            return None
        path, end = raw[start:end + 1], end + 1
    else:
        end = _path_end(raw, start)
        path = raw[start:end]
    match = _REST.match(raw, end)
    if not path or match is None:
        return None
    return path, match.group("op"), match.group("value")


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
        pieces = _split_line(raw)
        if pieces is None and '["' in raw:
            split_path(raw.strip())  # an unclosed quote ran to the end: say that, not "PATH OP"
        if pieces is None:
            raise ValueError(f"cannot read assertion {raw!r}: expected 'PATH OP VALUE', with "
                             f"spaces around OP, one of {', '.join(OPERATORS)}")
        path, op, text_value = pieces
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
    split_path(path)  # validates the path
    return Assertion(path=path, op=op, value=value, length=length)


_LEADING_ZERO = re.compile(r"^0[0-9_]+$")  # YAML would read an octal number
_HEX_LIKE = re.compile(r"^([0-9a-f]*[a-f][0-9a-f]*|[0-9]+e[0-9]+)$")  # a commit, not 1.2e59
# A bare word (`healthy`) that is not JSON is text to YAML too, but for YAML's booleans and
# nulls: read without a YAML parse, which costs ~20 µs a value (5 assertions a check, read
# when the suite is validated and again when it is planned).
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_YAML_WORDS = frozenset(form for word in ("yes", "no", "true", "false", "on", "off", "null")
                        for form in (word, word.capitalize(), word.upper()))


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
    if _WORD.fullmatch(token) and token not in _YAML_WORDS:
        return token
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


def response_field(assertion: Assertion) -> str | None:
    """The response field the assertion reads (`status`, `headers`, `elapsed_ms`); None
    when it reads the body."""
    return field_of(assertion.path)


# ------------------------------------------------------------------------------ evaluation

def _show(value: Any) -> str:
    if value is MISSING:
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
        return actual is not MISSING
    if op == "not exists":
        return actual is MISSING
    if actual is MISSING:
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


def evaluate(assertions: list[Assertion], data: Any,
             response: ResponseFacts | None = None) -> list[str]:
    """The failure messages; an empty list means every assertion held. `response` answers
    the `$status`, `$headers` and `$elapsed_ms` paths; without one they fail, saying so."""
    failures: list[str] = []
    for assertion in assertions:
        if response is None and response_field(assertion):
            failures.append(f"{assertion.path}: only an HTTP response has "
                            f"{', '.join('$' + name for name in RESPONSE_FIELDS)}")
            continue
        for path, actual in select(data, assertion.path, response):
            value = actual
            if assertion.length and actual is not MISSING:
                try:
                    value = len(actual)
                except TypeError:
                    failures.append(
                        f"{path}: expected something with a length, got {_show(actual)}")
                    continue
            if not _holds(assertion.op, value, assertion.value):
                got = _show(value) if not assertion.length else str(value)
                if assertion.length and actual is MISSING:
                    got = _show(actual)
                failures.append(f"{path}: expected {_expectation(assertion)}, got {got}")
    return failures
