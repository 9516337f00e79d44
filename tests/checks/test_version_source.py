"""A suite's `version: {from: <check>, path: <path>}`: when the trigger names no version, the run
reports the one its own check read (the health endpoint's `version`, the database's
`server_version`), and the Markdown and JSON reports say so; a version the trigger gives wins."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest

from checks.config import parse_suite
from checks.errors import ConfigError
from checks.plan import build_plan
from checks.redact import Redactor
from checks.report import render_json, render_markdown
from checks.results import RunResult
from checks.runner import run_plan
from checks.yamlsource import load_yaml
from demo.target import create_app
from tests.support.asgi import serve_asgi

SUITE = """\
suite: platform
environments:
  staging:
    variables: {{base_url: "{base_url}", dsn: "{dsn}"}}
categories:
  - name: Health & Infrastructure
    checks:
      - id: health
        type: http
        url: ${{base_url}}/api/health
        assert: [status == healthy]
      - id: db
        type: postgres.connect
        dsn: ${{dsn}}
{version}
"""


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with serve_asgi(create_app()) as base_url:
        yield base_url


async def _run(base_url: str, dsn: str, version: str, *, label: str | None = None
               ) -> RunResult:
    text = SUITE.format(base_url=base_url, dsn=dsn, version=version)
    plan = build_plan(parse_suite(load_yaml(text, "smoketest.yaml")), "staging")
    return await run_plan(plan, version=label)


async def test_the_health_checks_version_is_the_runs_in_both_reports(target: str,
                                                                      pg_dsn: str) -> None:
    run = await _run(target, pg_dsn, "version: {from: health, path: version}")

    assert (run.version, run.version_from) == ("0.1.0", "health")
    markdown = render_markdown(run, Redactor())
    assert "- **Version**: 0.1.0 (read by `health`)\n" in markdown
    assert "unknown" not in markdown
    document = json.loads(render_json(run, Redactor()))
    assert (document["version"], document["version_from"]) == ("0.1.0", "health")
    # The body it came from is not kept: the result carries what it always did.
    assert "0.1.0" not in json.dumps(document["categories"][0]["checks"][0]["evidence"])


async def test_a_version_can_come_from_a_checks_measured_evidence(target: str,
                                                                   pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]

    run = await _run(target, pg_dsn, "version: {from: db, path: server_version}")

    assert (run.version, run.version_from) == (server_version, "db")
    assert f"- **Version**: {server_version} (read by `db`)\n" in render_markdown(
        run, Redactor())


async def test_a_version_label_given_by_the_trigger_wins(target: str, pg_dsn: str) -> None:
    run = await _run(target, pg_dsn, "version: {from: health, path: version}",
                     label="week-2-complete")

    assert (run.version, run.version_from) == ("week-2-complete", None)
    assert "- **Version**: week-2-complete\n" in render_markdown(run, Redactor())
    assert json.loads(render_json(run, Redactor()))["version_from"] is None


async def test_a_path_the_check_did_not_read_leaves_the_version_unknown(target: str,
                                                                         pg_dsn: str) -> None:
    run = await _run(target, pg_dsn, "version: {from: health, path: build.number}")

    assert (run.version, run.version_from) == (None, None)
    assert "- **Version**: unknown\n" in render_markdown(run, Redactor())


@pytest.mark.parametrize(("version", "message"), [
    ("version: {from: helth, path: version}",
     "smoketest.yaml:15:17: version.from: the version is to be read by unknown check 'helth' "
     "(did you mean 'health'?); expected one of: health, db"),
    ("version: {from: health, path: 'a..b'}",
     "smoketest.yaml:15:31: version.path: invalid path 'a..b': at character 3, expected a "
     "name after '.'"),
    ("version: {from: health}",
     "smoketest.yaml:15:10: version.path: missing required field 'path'"),
])
def test_a_version_source_that_cannot_be_read_is_refused_where_it_is(version: str,
                                                                     message: str) -> None:
    text = SUITE.format(base_url="http://127.0.0.1:9", dsn="postgresql://x@127.0.0.1/x",
                        version=version)
    with pytest.raises(ConfigError) as refused:
        parse_suite(load_yaml(text, "smoketest.yaml"))
    assert refused.value.render() == message
