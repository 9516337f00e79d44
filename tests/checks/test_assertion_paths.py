"""Paths: quoted keys and their escapes, position-naming errors, the `$status`, `$headers` and
`$elapsed_ms` response fields, and the laws that hold for any key (property-based)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.assertions import evaluate, parse_assertion, response_field
from checks.paths import ResponseFacts, found_values, quote_key, select

DOCUMENT = {
    "services": {"ai.providers": "healthy", "db": "healthy"},
    "key with spaces": 1,
    "limits": {"*": 10, "other": 20},
    'say "hi"\\': "quoted",
    "headers": {"x": 1},
    "status": "healthy",
    "$ref": "#/a",
}
RESPONSE = ResponseFacts(status=204, headers={"retry-after": "120", "x-ratelimit-remaining": "7",
                                              "vary": "accept, origin"}, elapsed_ms=12.5)


def _failures(line: str, document: Any = DOCUMENT,
              response: ResponseFacts | None = RESPONSE) -> list[str]:
    return evaluate([parse_assertion(line)], document, response)


# ------------------------------------------------------------------------------ quoted keys

@pytest.mark.parametrize(("path", "values"), [
    ('services["ai.providers"]', ["healthy"]),
    ('["key with spaces"]', [1]),
    ('$["key with spaces"]', [1]),
    ('limits["*"]', [10]),
    ("limits.*", [10, 20]),
    ('["say \\"hi\\"\\\\"]', ["quoted"]),
    ('["$ref"]', ["#/a"]),
    ("headers.x", [1]),
    ("status", ["healthy"]),
])
def test_a_quoted_key_reaches_exactly_that_key(path: str, values: list[Any]) -> None:
    assert found_values(DOCUMENT, path) == values


def test_a_quoted_key_with_spaces_reads_in_an_assertion_line() -> None:
    assertion = parse_assertion('services["ai.providers"] == healthy')

    assert (assertion.path, assertion.op, assertion.value) == (
        'services["ai.providers"]', "==", "healthy")
    assert _failures('["key with spaces"] >= 2') == [
        '["key with spaces"]: expected >= 2, got 1']
    assert _failures('len(["a ) b"]) == 0', {"a ) b": []}) == []


def test_a_failure_names_a_key_that_needs_quoting_in_its_quoted_form() -> None:
    assert _failures("services.* == healthy", {"services": {"ai.providers": "down"}}) == [
        'services["ai.providers"]: expected "healthy", got "down"']
    assert _failures("limits.* == 10") == ["limits.other: expected 10, got 20"]


@pytest.mark.parametrize(("line", "message"), [
    ('a["b == 1', "invalid path 'a[\"b == 1': at character 10, expected a closing '\"' for "
                  "the quoted key"),
    ('a["b"c] == 1', "invalid path 'a[\"b\"c]': at character 6, expected ']'"),
    ('a["\\n"] == 1', "invalid path 'a[\"\\n\"]': at character 4, expected '\\\"' or '\\\\' "
                      "after a backslash in a quoted key"),
    ("a[x] == 1", "invalid path 'a[x]': at character 3, expected a list index, '*' or a "
                  "quoted key such as [\"a.b\"]"),
    ("a.[0] == 1", "invalid path 'a.[0]': at character 3, expected a name after '.'"),
    ('a["b"]c == 1', "invalid path 'a[\"b\"]c': at character 7, expected '.' or '['"),
    ("$.  == 1", "invalid path '$.': at character 3, expected a name after '$.'"),
    ("$stat == 200", "invalid path '$stat': at character 2, expected a response field "
                     "($status, $headers, $elapsed_ms), '$.' for the body, or [\"$...\"] for a "
                     "body key that starts with '$'"),
])
def test_a_malformed_path_names_the_position_and_what_was_expected(line: str,
                                                                    message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_assertion(line)
    assert str(caught.value) == message


# ------------------------------------------------------------------------------ response

@pytest.mark.parametrize(("line", "failure"), [
    ("$status in [200, 204]", None),
    ("$status == 200", "$status: expected 200, got 204"),
    ("$status not in [204]", "$status: expected none of [204], got 204"),
    ("$headers.retry-after exists", None),
    ("$headers.Retry-After == 120", None),
    ('$headers["RETRY-AFTER"] == "120"', None),
    ("$headers.x-ratelimit-remaining <= 10", None),
    ("$headers.X-RateLimit-Remaining > 10", "$headers.x-ratelimit-remaining: expected > 10, "
                                            'got "7"'),
    ("$headers.vary == 'accept, origin'", None),
    ("$headers.location not exists", None),
    ("$headers.location exists", "$headers.location: expected a value, got nothing (missing)"),
    ("$elapsed_ms < 300", None),
    ("$elapsed_ms < 10", "$elapsed_ms: expected < 10, got 12.5"),
    ("headers.x == 1", None),
    ("status == healthy", None),
])
def test_response_fields_are_separate_from_body_fields(line: str, failure: str | None) -> None:
    assert _failures(line) == ([] if failure is None else [failure])


def test_a_response_field_without_a_response_fails_saying_so() -> None:
    assert _failures("$status == 200", response=None) == [
        "$status: only an HTTP response has $status, $headers, $elapsed_ms"]
    assert list(select({}, "$status")) != []


def test_response_field_tells_the_body_from_the_response() -> None:
    fields = [response_field(parse_assertion(line)) for line in
              ("$status == 200", "$headers.a exists", "$elapsed_ms < 1", "status == 200",
               '["$status"] == 1', "len($) == 1")]
    assert fields == ["status", "headers", "elapsed_ms", None, None, None]


# ------------------------------------------------------------------------------ laws

_keys = st.text(max_size=12)


@given(key=_keys, value=st.integers())
def test_any_key_round_trips_through_quoting(key: str, value: int) -> None:
    document = {"outer": {key: value, f"{key}-other": value + 1}}

    assert found_values(document, "outer" + quote_key(key)) == [value]
    assert found_values(document, "$" + quote_key("outer") + quote_key(key)) == [value]


@given(key=_keys, value=st.integers())
def test_a_wildcard_failure_names_a_path_that_reads_back(key: str, value: int) -> None:
    document = {"outer": {key: value}}
    [(path, found)] = list(select(document, "outer.*"))

    assert found == value
    assert found_values(document, path) == [value]


@given(key=_keys, value=st.text(max_size=8))
def test_an_assertion_line_on_a_quoted_key_holds_for_its_own_value(key: str, value: str) -> None:
    document = {key: value}
    assertion = parse_assertion({"path": quote_key(key), "op": "==", "value": value})

    assert evaluate([assertion], document) == []
    assert evaluate([parse_assertion(str(assertion))], document) == []


@given(name=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
       number=st.integers(min_value=0, max_value=10_000))
def test_header_names_match_in_any_case_and_numbers_compare_as_numbers(name: str,
                                                                       number: int) -> None:
    response = ResponseFacts(status=200, headers={name.lower(): str(number)}, elapsed_ms=1.0)
    for spelled in (name, name.upper(), name.lower(), name.swapcase()):
        assertions = [parse_assertion(f"$headers.{spelled} == {number}"),
                      parse_assertion(f"$headers.{spelled} <= {number}"),
                      parse_assertion(f'$headers["{spelled}"] >= {number}')]
        assert evaluate(assertions, None, response) == []
