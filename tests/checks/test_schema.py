"""The suite's JSON Schema: valid draft 2020-12, accepts what `load_suite` accepts, and rejects
unknown fields, per kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

import checks.kinds
from checks.assertions import AssertionList
from checks.config import Duration, parse_suite
from checks.kinds import kind_names, register_kind
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.results import Outcome
from checks.schema import DIALECT, suite_json_schema
from checks.yamlsource import load_yaml

DEMO_SUITE = Path(__file__).resolve().parents[2] / "demo" / "smoketest.yaml"


class Header(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    value: str


class ProbeParams(KindParams):
    """Asks a URL and checks the answer."""

    url: str
    status: int = 200
    headers: list[Header] = Field(default_factory=list)
    max_latency: Duration | None = None
    assert_: AssertionList = Field(default_factory=list, alias="assert")


class ProbeCheck(CheckKind[ProbeParams]):
    Params = ProbeParams

    async def run(self, params: ProbeParams, ctx: CheckContext) -> Outcome:
        return Outcome.ok("looked")


class _OtherModule:
    class Header(BaseModel):  # a second kind's model of the same name
        model_config = ConfigDict(extra="forbid")
        key: int


class OtherParams(KindParams):
    header: _OtherModule.Header


class OtherCheck(CheckKind[OtherParams]):
    Params = OtherParams


@pytest.fixture
def test_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks.kinds, "_KINDS", {})
    monkeypatch.setattr(checks.kinds, "_loaded", {})
    register_kind("test.probe", ProbeCheck())
    register_kind("test.other", OtherCheck())
    register_kind("test.broken", "tests.checks.no_such_module:BrokenCheck")


SUITE = """\
suite: example
defaults: {timeout: 10s, retries: 1, concurrency: 5}
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:4000", code: 200, verbose: true}
    secrets:
      token: {env: API_TOKEN}
    slack: {channel: "#deploys"}
categories:
  - name: Health
    description: the API answers
    checks:
      - id: api-health
        name: API health
        type: test.probe
        url: ${base_url}/health
        status: ${code}
        timeout: 500ms
        max_latency: 2s
        tags: [fast]
        severity: warning
        headers: [{name: Authorization, value: "Bearer ${secrets.token}"}]
        assert:
          - status == healthy
          - {path: version, op: matches, value: "^0\\\\."}
      - id: other
        type: test.other
        header: {key: 3}
        depends_on: [api-health]
        environments: [staging]
      - id: cluster
        type: test.broken
        anything: goes
"""


def _validator() -> jsonschema.Draft202012Validator:
    schema = suite_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _suite(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(SUITE)
    check = data["categories"][0]["checks"][0]
    for key, value in changes.items():
        if value is None:
            check.pop(key)
        else:
            check[key] = value
    return data


def test_schema_is_a_valid_draft_2020_12_schema(test_kinds: None) -> None:
    schema = suite_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == DIALECT
    assert set(schema["properties"]) == {"suite", "defaults", "environments", "categories",
                                         "version"}


def test_example_suite_validates_against_the_schema_and_loads(test_kinds: None) -> None:
    data = yaml.safe_load(SUITE)
    assert list(_validator().iter_errors(data)) == []
    # The loader accepts it too, bar the broken kind, which it must refuse.
    loadable = SUITE.replace("type: test.broken\n        anything: goes", "type: test.other\n"
                             "        header: {key: 4}")
    parse_suite(load_yaml(loadable, "smoketest.yaml"))


def _messages(data: dict[str, Any]) -> list[str]:
    return [error.message for error in _validator().iter_errors(data)]


def test_unknown_check_field_is_rejected(test_kinds: None) -> None:
    assert not _validator().is_valid(_suite(timout=3))


def test_unknown_top_level_field_is_rejected(test_kinds: None) -> None:
    data = yaml.safe_load(SUITE) | {"enviroments": {}}
    assert _messages(data) == [
        "Additional properties are not allowed ('enviroments' was unexpected)"]


def test_fields_of_the_loader_are_not_fields_of_the_file(test_kinds: None) -> None:
    assert not _validator().is_valid(yaml.safe_load(SUITE) | {"source": "x"})


@pytest.mark.parametrize("changes", [
    {"type": "test.prob"},
    {"url": None},
    {"status": "ok"},
    {"timeout": "10 minutes"},
    {"timeout": -1},
    {"retries": 11},
    {"severity": "high"},
    {"id": "API Health"},
    {"tags": "fast"},
    {"headers": [{"name": "X", "value": "y", "extra": 1}]},
    {"assert": [{"path": "status", "op": "~", "value": 1}]},
    {"header": {"key": 3}},  # another kind's parameter
], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_mistakes_in_a_check_are_rejected(test_kinds: None, changes: dict[str, Any]) -> None:
    assert not _validator().is_valid(_suite(**changes))


@pytest.mark.parametrize("changes", [
    {"status": "${code}"},
    {"max_latency": "${latency}"},
    {"assert": "status == healthy"},
    {"assert": {"path": "status", "op": "exists"}},
    {"timeout": 2.5},
    {"severity": None, "tags": None, "status": None},
], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_accepted_spellings_of_a_check_validate(test_kinds: None, changes: dict[str, Any]) -> None:
    assert list(_validator().iter_errors(_suite(**changes))) == []


def test_secret_needs_exactly_one_source(test_kinds: None) -> None:
    for ref in ({"env": "A", "file": "b"}, {}):
        data = yaml.safe_load(SUITE)
        data["environments"]["staging"]["secrets"]["token"] = ref
        assert not _validator().is_valid(data), ref


def test_each_kind_is_a_branch_told_apart_by_its_type(test_kinds: None) -> None:
    schema = suite_json_schema()
    items = schema["$defs"]["CategorySpec"]["properties"]["checks"]["items"]
    assert items == {"oneOf": [{"$ref": "#/$defs/check.test.broken"},
                               {"$ref": "#/$defs/check.test.other"},
                               {"$ref": "#/$defs/check.test.probe"}]}
    probe = schema["$defs"]["check.test.probe"]
    assert probe["properties"]["type"] == {"const": "test.probe", "title": "Type"}
    assert probe["required"] == ["id", "type", "url"]
    assert probe["additionalProperties"] is False
    assert probe["description"] == "Asks a URL and checks the answer."
    assert "assert" in probe["properties"] and "assert_" not in probe["properties"]


def test_models_of_two_kinds_with_one_name_do_not_collide(test_kinds: None) -> None:
    defs = suite_json_schema()["$defs"]
    assert defs["test.probe.Header"]["required"] == ["name", "value"]
    assert defs["test.other.Header"]["required"] == ["key"]


def test_kind_that_cannot_load_is_listed_and_does_not_break_the_others(test_kinds: None) -> None:
    schema = suite_json_schema()
    assert schema["x-unavailable-kinds"] == {
        "test.broken": "ModuleNotFoundError: No module named 'tests.checks.no_such_module'"}
    broken = schema["$defs"]["check.test.broken"]
    assert broken["additionalProperties"] is True
    assert broken["description"].startswith("check type 'test.broken' could not be loaded")


def test_schema_of_the_registered_kinds_accepts_the_bundled_example() -> None:
    schema = suite_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "x-unavailable-kinds" not in schema
    assert {f"check.{name}" for name in kind_names()} <= set(schema["$defs"])
    data = yaml.safe_load(DEMO_SUITE.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    assert errors == []
