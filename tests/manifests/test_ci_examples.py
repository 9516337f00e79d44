"""The CI examples the docs hand out: the GitHub Actions workflow runs the real CLI with
options `smokebot run` has, fails when the run fails, and keeps the JUnit report of a failed
run too; the Argo CD hook's command line is one `smokebot run` accepts."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from bot.cli import cli
from tests.support.k8s_manifests import OVERLAYS, named, render

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "examples" / "github-actions-smoke-test.yml"


def smokebot_arguments(command_line: list[str]) -> dict[str, Any]:
    """What `smokebot ARGS` would be called with, parsed by the real command (not run)."""
    name, *rest = command_line
    group_context = click.Context(cli, info_name="smokebot")
    command = cli.get_command(group_context, name)
    assert command is not None, command_line
    return {"command": name, **command.make_context(name, rest, parent=group_context).params}


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return workflow["jobs"]["smoke-test"]["steps"]


def test_the_workflow_runs_the_cli_and_fails_when_the_run_fails(workflow: dict[str, Any]
                                                                 ) -> None:
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"deployment_status", "workflow_dispatch"}
    run_step = next(s for s in steps(workflow) if "smokebot run" in s.get("run", ""))
    command = shlex.split(run_step["run"])

    assert command[0] == "smokebot"
    arguments = smokebot_arguments(command[1:])
    assert (arguments["command"], arguments["environment"]) == ("run", "$ENVIRONMENT")
    assert arguments["junit"] == Path("reports/junit.xml")
    # Nothing swallows the exit code: a failed check fails the job.
    assert "continue-on-error" not in run_step and "|| true" not in run_step["run"]
    assert "if" not in run_step


def test_the_workflow_uploads_the_junit_report_of_a_failed_run_too(workflow: dict[str, Any]
                                                                   ) -> None:
    upload = next(s for s in steps(workflow)
                  if s.get("uses", "").startswith("actions/upload-artifact@"))

    assert upload["if"] == "${{ !cancelled() }}"  # after a failed step as well
    assert upload["with"]["path"] == "reports/"
    assert workflow["permissions"] == {"contents": "read"}
    for step in steps(workflow):
        if "uses" in step:
            assert step["uses"].rsplit("@", 1)[1].startswith("v"), step["uses"]


def test_the_workflow_passes_no_expression_into_a_shell_line(workflow: dict[str, Any]) -> None:
    # `${{ … }}` inside `run:` is pasted into the script before the shell reads it; values go
    # through `env:` instead.
    for step in steps(workflow):
        assert "${{" not in step.get("run", ""), step.get("name")


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_argocd_hook_runs_a_command_line_smokebot_accepts(environment: str) -> None:
    job = named(render(OVERLAYS / environment), "Job")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]

    arguments = smokebot_arguments(args)  # the image's ENTRYPOINT is `smokebot`

    assert (arguments["command"], arguments["environment"]) == ("run", environment)
    assert arguments["junit"] == Path("/tmp/reports/junit.xml")


def test_an_option_smokebot_run_does_not_have_is_caught() -> None:
    with pytest.raises(click.NoSuchOption):
        smokebot_arguments(["run", "staging", "--junit-xml", "out.xml"])
