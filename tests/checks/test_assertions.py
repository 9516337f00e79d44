"""The assertion language: paths, operators, failure messages, parse errors, and the laws that
hold for any document (property-based, with hypothesis)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from checks.assertions import OPERATORS, Assertion, AssertionList, evaluate, parse_assertion, select

HEALTH = {
    "status": "healthy",
    "version": "0.1.4",
    "uptime_s": 3600,
    "ratio": 0.25,
    "maintenance": False,
    "stripe_customer_id": None,
    "services": {"ai_providers": {"openai": "healthy", "anthropic": "healthy"},
                 "database": {"status": "healthy", "latency_ms": 3}},
    "clustering": {"node_count": 2, "connected_nodes": ["a@10.0.0.1", "b@10.0.0.2"]},
    "empty": [],
}


def failures(line: str | dict[str, Any], data: Any = HEALTH) -> list[str]:
    return evaluate([parse_assertion(line)], data)


# ------------------------------------------------------------------ operators

@pytest.mark.parametrize(("line", "expected"), [
    ("status == healthy", []),
    ("status == degraded", ['status: expected "degraded", got "healthy"']),
    ("status != degraded", []),
    ("status != healthy", ['status: expected not "healthy", got "healthy"']),
    ("uptime_s < 3601", []),
    ("uptime_s < 3600", ["uptime_s: expected < 3600, got 3600"]),
    ("uptime_s <= 3600", []),
    ("uptime_s <= 3599", ["uptime_s: expected <= 3599, got 3600"]),
    ("clustering.node_count > 1", []),
    ("clustering.node_count > 2", ["clustering.node_count: expected > 2, got 2"]),
    ("clustering.node_count >= 2", []),
    ("clustering.node_count >= 3", ["clustering.node_count: expected >= 3, got 2"]),
    ("status in [healthy, degraded]", []),
    ("status in [degraded, down]", ['status: expected one of ["degraded", "down"], got "healthy"']),
    ("status not in [down]", []),
    ("status not in [healthy]", ['status: expected none of ["healthy"], got "healthy"']),
    ("version matches ^0\\.1\\.", []),
    ("version matches ^1\\.", ['version: expected to match "^1\\\\.", got "0.1.4"']),
    ("services exists", []),
    ("legacy exists", ["legacy: expected a value, got nothing (missing)"]),
    ("legacy not exists", []),
    ("status not exists", ['status: expected no value, got "healthy"']),
    ("stripe_customer_id == null", []),
    ("stripe_customer_id exists", []),  # present, even though null
    ("maintenance == false", []),
    ("ratio == 0.25", []),
], ids=lambda v: v if isinstance(v, str) else None)
def test_each_operator_holds_or_says_what_it_expected(line: str, expected: list[str]) -> None:
    assert failures(line) == expected


def test_comparison_with_something_that_is_not_a_number_fails() -> None:
    assert failures("status > 1") == ['status: expected > 1, got "healthy"']


def test_numbers_compare_across_int_float_decimal_and_numeric_text() -> None:
    row = {"count": Decimal("2"), "price": 2.0, "text": "5"}
    assert failures("count == 2", row) == []
    assert failures("price == 2", row) == []
    assert failures("text > 4", row) == []
    assert failures("text == 5", row) == []  # a value read from text matches its spelling


def test_true_is_not_one_and_false_is_not_zero() -> None:
    data = {"flag": True, "count": 1, "zero": 0}
    assert failures("count == true", data) == ["count: expected true, got 1"]
    assert failures("flag == 1", data) == ["flag: expected 1, got true"]
    assert failures("zero == false", data) == ["zero: expected false, got 0"]
    assert failures("count in [true]", data) == ["count: expected one of [true], got 1"]
    assert failures("flag == true", data) == []


def test_null_is_neither_missing_nor_the_text_null() -> None:
    data = {"gone": None, "word": "null"}
    assert failures("gone == null", data) == []
    assert failures("word == null", data) == ['word: expected null, got "null"']
    assert failures("missing == null", data) == [
        "missing: expected null, got nothing (missing)"]


def test_missing_value_fails_every_comparison() -> None:
    for op, value in [("==", "1"), ("!=", "1"), ("<", "1"), ("in", "[1]"), ("not in", "[1]"),
                      ("matches", ".")]:
        assert failures(f"a.b {op} {value}", {"a": {}}) != [], op


# ------------------------------------------------------------------ paths

def test_wildcard_over_a_mapping_checks_every_value() -> None:
    assert failures("services.ai_providers.* == healthy") == []
    degraded = {"services": {"ai_providers": {"openai": "degraded", "anthropic": "healthy",
                                              "mistral": "down"}}}
    assert failures("services.ai_providers.* == healthy", degraded) == [
        'services.ai_providers.openai: expected "healthy", got "degraded"',
        'services.ai_providers.mistral: expected "healthy", got "down"',
    ]


def test_wildcard_over_a_list_checks_every_item() -> None:
    rows = [{"plan": "trial", "credits": 5}, {"plan": "pro", "credits": 0}]
    assert failures("[*].credits >= 0", rows) == []
    assert failures("[*].plan == trial", rows) == ['[1].plan: expected "trial", got "pro"']
    assert failures("$[*].plan == trial", rows) == ['[1].plan: expected "trial", got "pro"']


def test_nested_wildcards_reach_every_leaf() -> None:
    assert failures("services.*.status exists") == [
        "services.ai_providers.status: expected a value, got nothing (missing)"]


def test_wildcard_over_nothing_is_a_missing_value() -> None:
    assert failures("empty.* exists") == ["empty.*: expected a value, got nothing (missing)"]
    assert failures("empty.* not exists") == []
    assert failures("status.* exists") == ["status.*: expected a value, got nothing (missing)"]


def test_indexes_by_dot_or_brackets_and_from_the_root() -> None:
    assert failures("clustering.connected_nodes[1] == b@10.0.0.2") == []
    assert failures("clustering.connected_nodes.0 == a@10.0.0.1") == []
    assert failures("$[0].id == 7", [{"id": 7}]) == []
    assert failures("matrix[1][0] == 3", {"matrix": [[1, 2], [3, 4]]}) == []
    assert failures("clustering.connected_nodes[5] exists") == [
        "clustering.connected_nodes[5]: expected a value, got nothing (missing)"]


def test_numeric_keys_of_a_mapping_are_found_as_written() -> None:
    data = {"codes": {"200": "ok", "01": "first"}}
    assert failures("codes.200 == ok", data) == []
    assert failures("codes.01 == first", data) == []


def test_dollar_is_the_whole_document() -> None:
    assert failures("$ == 3", 3) == []
    assert failures("len($) == 2", [1, 2]) == []
    assert failures("$.status == healthy") == []


def test_len_counts_items_keys_and_characters() -> None:
    assert failures("len(clustering.connected_nodes) >= 1") == []
    assert failures("len(services) == 2") == []
    assert failures("len(status) == 7") == []
    assert failures("len(empty) >= 1") == ["empty: expected length >= 1, got 0"]
    assert failures("len(uptime_s) == 1") == [
        "uptime_s: expected something with a length, got 3600"]
    assert failures("len(legacy) == 0") == ["legacy: expected length 0, got nothing (missing)"]


def test_select_reports_concrete_paths_and_missing_ones() -> None:
    found = list(select({"a": [{"b": 1}, {"c": 2}]}, "a[*].b"))
    assert [path for path, _ in found] == ["a[0].b", "a[1].b"]
    assert found[0][1] == 1 and found[1][1] is not None and found[1][1] != 2  # the marker


# ------------------------------------------------------------------ parsing

@pytest.mark.parametrize(("raw", "message"), [
    ("status", "cannot read assertion 'status': expected 'PATH OP VALUE', with spaces around "
               "OP, one of ==, !=, <=, >=, <, >, not in, in, matches, not exists, exists"),
    ("status==ok", "cannot read assertion 'status==ok': expected 'PATH OP VALUE', with spaces "
                   "around OP, one of ==, !=, <=, >=, <, >, not in, in, matches, not exists, "
                   "exists"),
    ("status ==", "'==' needs a value, as in 'status == VALUE'"),
    ("node exists yes", "'exists' takes no value; expected 'node exists'"),
    ("status in healthy", "'in' needs a list, as in 'status in [a, b]'"),
    ("version matches (", "invalid regular expression '(': missing ), unterminated subpattern "
                          "at position 0"),
    ("a..b == 1", "invalid path 'a..b': at character 3, expected a name after '.'"),
    ("a[x] == 1", "invalid path 'a[x]': at character 3, expected a list index, '*' or a quoted "
                  "key such as [\"a.b\"]"),
    (5, "expected an assertion line such as 'status == healthy', got 5"),
    ({"path": "a"}, "expected an assertion mapping with 'path', 'op' and 'value', got keys "
                    "['path']"),
    ({"path": "a", "op": "=="}, "'==' needs a value: expected keys 'path', 'op' and 'value'"),
    ({"path": "a", "op": "~", "value": 1}, "unknown operator '~'; expected one of: ==, !=, <=, "
                                           ">=, <, >, not in, in, matches, not exists, exists"),
    ({"path": "a", "op": "matches", "value": None},
     "'matches' needs a pattern, as in 'a matches ^v[0-9]+'"),
], ids=repr)
def test_unreadable_assertion_says_what_was_expected(raw: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_assertion(raw)
    assert str(caught.value) == message


def test_mapping_form_equals_line_form() -> None:
    assert parse_assertion({"path": "len(items)", "op": ">=", "value": 2}) == parse_assertion(
        "len(items) >= 2")
    assert parse_assertion({"path": "a", "op": "exists"}) == parse_assertion("a exists")


def test_values_are_read_as_json_then_yaml() -> None:
    assert parse_assertion("a == 1e-05").value == 1e-05
    assert parse_assertion('a == "2"').value == "2"
    assert parse_assertion("a == [x, 2]").value == ["x", 2]
    assert parse_assertion("a == two words").value == "two words"
    assert parse_assertion("a matches 'quoted'").value == "quoted"


class _Params(BaseModel):
    expect: AssertionList = []


def test_assertion_list_accepts_one_line_a_mapping_a_list_or_nothing() -> None:
    one = parse_assertion("status == healthy")
    assert _Params.model_validate({"expect": "status == healthy"}).expect == [one]
    assert _Params.model_validate({"expect": {"path": "status", "op": "==",
                                              "value": "healthy"}}).expect == [one]
    assert _Params.model_validate({"expect": ["status == healthy"]}).expect == [one]
    assert _Params.model_validate({"expect": None}).expect == []


def test_assertion_list_error_names_the_item() -> None:
    with pytest.raises(ValidationError) as caught:
        _Params.model_validate({"expect": ["a == 1", "b ~ 2"]})
    (error,) = caught.value.errors()
    assert error["loc"] == ("expect", 1)


# ------------------------------------------------------------------ properties

_KEYS = st.from_regex(r"[a-z_][a-z0-9_-]{0,6}|[1-9][0-9]{0,2}|0[0-9]", fullmatch=True)
_SCALARS = (st.none() | st.booleans() | st.integers(-10**12, 10**12)
            | st.floats(allow_nan=False) | st.text(max_size=12))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=20)
_DOCUMENTS = st.dictionaries(_KEYS, _JSON, max_size=5)


def _leaves(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every (path, value) that `*`, `*.*`, ... reach and that is neither a list nor a map."""
    found = []
    for depth in range(1, 8):
        for path, value in select(data, ".".join(["*"] * depth)):
            if not path.endswith("*") and not isinstance(value, (dict, list)):
                found.append((path, value))
    return found


@settings(max_examples=300)
@given(_DOCUMENTS)
def test_every_leaf_that_select_finds_equals_itself_at_its_path(data: dict[str, Any]) -> None:
    for path, value in _leaves(data):
        assert evaluate([parse_assertion({"path": path, "op": "==", "value": value})], data) == []
        line = f"{path} == {json.dumps(value)}"
        assert evaluate([parse_assertion(line)], data) == [], line
        assert evaluate([parse_assertion(f"{path} exists")], data) == []


@settings(max_examples=300)
@given(_JSON, _SCALARS | st.lists(_SCALARS, max_size=3))
def test_equal_and_not_equal_exclude_each_other_on_present_values(actual: Any,
                                                                  expected: Any) -> None:
    data = {"x": actual}
    equal = evaluate([Assertion(path="x", op="==", value=expected)], data) == []
    different = evaluate([Assertion(path="x", op="!=", value=expected)], data) == []
    assert equal != different


_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True)
_SEGMENTS = st.tuples(_NAMES, st.lists(st.integers(0, 99).map(str) | st.just("*"), max_size=2)
                      ).map(lambda s: s[0] + "".join(f"[{i}]" for i in s[1]))
_PATHS = st.just("$") | st.lists(_SEGMENTS | st.just("*"), min_size=1, max_size=4).map(".".join)


@st.composite
def _assertions(draw: st.DrawFn) -> Assertion:
    op = draw(st.sampled_from(OPERATORS))
    path = draw(_PATHS)
    length = draw(st.booleans())
    if op in ("exists", "not exists"):
        value = None
    elif op in ("in", "not in"):
        value = draw(st.lists(_SCALARS, max_size=3))
    elif op == "matches":
        value = re.escape(draw(st.text(max_size=10)))
    else:
        value = draw(_SCALARS | st.lists(_SCALARS, max_size=2))
    return Assertion(path=path, op=op, value=value, length=length)


@settings(max_examples=400)
@given(_assertions())
def test_an_assertion_reads_back_from_its_own_text(assertion: Assertion) -> None:
    assert parse_assertion(str(assertion)) == assertion


@pytest.mark.parametrize("commit", ["0123456", "1234e56", "9f2c1e7", "26603507a"])
def test_commit_like_values_stay_text(commit: str) -> None:
    assertion = parse_assertion(f"commit == {commit}")
    assert assertion.value == commit
    assert evaluate([assertion], {"commit": commit}) == []
    assert evaluate([assertion], {"commit": "ffffffff"}) == [
        f'commit: expected "{commit}", got "ffffffff"']


def test_numbers_are_still_numbers_and_leading_zeros_are_text() -> None:
    assert parse_assertion("count >= 2").value == 2
    assert parse_assertion("ratio < 1e-05").value == 1e-05
    assert parse_assertion("code == 0123").value == "0123"  # not YAML's octal 83
