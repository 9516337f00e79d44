"""An assertion's bare-word value (`status == healthy`) is read without a YAML parse (issue 13:
it was most of the cost of planning an http check), and reads as JSON-then-YAML would have
read it: YAML's booleans and nulls, and JSON's Infinity and NaN, stay what they were."""

from __future__ import annotations

import json
import math
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.assertions import _read_value, parse_assertion

WORDS = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_-]{0,11}\Z")
SPECIAL = st.sampled_from(["yes", "No", "TRUE", "false", "On", "OFF", "null", "Null", "NULL",
                           "Infinity", "NaN", "y", "n", "healthy", "degraded"])


def _slow_read(token: str) -> Any:
    try:
        return json.loads(token)
    except ValueError:
        return yaml.safe_load(token)


@settings(max_examples=500)
@given(st.one_of(WORDS, SPECIAL))
def test_a_bare_word_reads_as_json_then_yaml_would_read_it(token: str) -> None:
    if len(token) >= 7 and all(c in "0123456789abcdef" for c in token):
        return  # a commit-like token: text on purpose (test_assertions.py)
    fast, slow = _read_value(token), _slow_read(token)
    if isinstance(slow, float) and math.isnan(slow):
        assert isinstance(fast, float) and math.isnan(fast)
    else:
        assert (type(fast), fast) == (type(slow), slow)


def test_the_words_of_the_demos_health_check_are_text_and_yamls_booleans_are_not() -> None:
    assert parse_assertion("status == healthy").value == "healthy"
    assert parse_assertion("services.ai_providers.* == healthy").value == "healthy"
    assert parse_assertion("clustering.enabled == yes").value is True
    assert parse_assertion("node == null").value is None
