"""The engine's commands: `run` a suite from a terminal or CI, `validate` it, `list` it, print
its `schema`. They import nothing of Slack, Redis or the store, but for `run` with REDIS_URL
set: its traffic probes then take the bot's lock in that Redis (bot/traffic_gate.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli._bridge import output_redactor
from bot.settings import traffic_lock_from_env
from bot.suites import load_suite
from checks.config import Suite
from checks.errors import SmokebotError, UsageError
from checks.plan import RunPlan, build_plan
from checks.redact import RedactingFilter, Redactor
from checks.results import RunResult

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["list_checks", "run", "schema", "validate"]

DEFAULT_CONFIG = "smoketest.yaml"


def _config_path(value: str | None) -> Path:
    return Path(value or os.environ.get("SMOKEBOT_CONFIG") or DEFAULT_CONFIG)


config_option = click.option(
    "--config", "-c", "config", metavar="FILE",
    help=f"Suite file (default: $SMOKEBOT_CONFIG or ./{DEFAULT_CONFIG}).")


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--var expects NAME=VALUE, got {pair!r}")
        variables[name.strip()] = value
    return variables


def _split_filters(values: tuple[str, ...]) -> list[str]:
    return [token for value in values for token in value.split(",") if token.strip()]


def _setup_logging(redactor: Redactor, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def _report_folder_ready(path: Path) -> None:
    """Fails before the run, not after it, when a report could not be written at `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write a report to {path}: {exc.strerror or exc}; expected "
                         "a path whose folder exists or can be created") from None
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"cannot write a report to {path}: its folder is not writable")


def _write_atomically(path: Path, text: str) -> None:
    """Writes next to the target then renames, so a report is never half-written."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write a report to {path}: {exc.strerror or exc}") from None


@click.command()
@click.argument("environment")
@config_option
@click.option("--only", multiple=True, metavar="FILTERS",
              help="Run only these categories, tags or check ids (comma-separated); "
                   "what they depend on comes along.")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="Override one of the environment's variables.")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the Markdown report here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON report here.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JUnit XML here (for CI).")
@click.option("--concurrency", type=click.IntRange(1, 1000), help="Checks running at once.")
@click.option("--version-label", "version", help="The version under test, for the reports.")
@click.option("--verbose", "-v", is_flag=True, help="Log what the checks do.")
def run(environment: str, config: str | None, only: tuple[str, ...], variables: tuple[str, ...],
        markdown: Path | None, json_path: Path | None, junit: Path | None,
        concurrency: int | None, version: str | None, verbose: bool) -> None:
    """Run the suite against ENVIRONMENT. Exit 0 passed, 1 failed, 2 usage or config
    error, 130 cancelled (Ctrl-C)."""
    from rich.console import Console  # here: `validate` and `list` never draw a console

    from checks.report import render_json, render_junit, render_markdown, render_summary

    suite = load_suite(_config_path(config))
    redactor = output_redactor()  # the plan registers the suite's secrets with it
    _setup_logging(redactor, verbose)
    plan = build_plan(suite, environment, only=_split_filters(only), redactor=redactor,
                      overrides=_parse_vars(variables))
    shared_lock = traffic_lock_from_env()
    for path in (markdown, json_path, junit):
        if path is not None:
            _report_folder_ready(path)
    console = Console(highlight=False)
    result = asyncio.run(_run_with_progress(plan, console, concurrency, version, shared_lock))
    render_summary(result, console, redactor)
    descriptions = {c.id: c.description for c in plan.checks}
    outputs = [(markdown, lambda: render_markdown(result, redactor, descriptions=descriptions)),
               (json_path, lambda: render_json(result, redactor)),
               (junit, lambda: render_junit(result, redactor))]
    unwritten: list[SmokebotError] = []
    for path, render in outputs:
        if path is None:
            continue
        try:
            _write_atomically(path, render())
        except UsageError as exc:  # still write the other reports
            unwritten.append(exc)
            continue
        # A path is text, not rich markup: `reports/[ci]/run.md` must print as it is.
        console.print(f"wrote {path}", markup=False, soft_wrap=True)
    if unwritten:
        raise ExceptionGroup("some reports could not be written", unwritten)
    sys.exit(result.verdict.exit_code)


async def _run_with_progress(plan: RunPlan, console: Console, concurrency: int | None,
                             version: str | None,
                             shared_lock: tuple[str, str] | None = None) -> RunResult:
    if shared_lock is None or plan.traffic is None:
        # Without Redis, this process's probes wait for each other (checks/traffic.py).
        return await _run_plan_with_progress(plan, console, concurrency, version)
    from bot.queue import RunQueue
    from bot.traffic_gate import RedisTrafficGate

    url, prefix = shared_lock
    queue = RunQueue.from_url(url, prefix=prefix)  # no connection until a probe asks
    try:
        traffic = dataclasses.replace(plan.traffic, gate=RedisTrafficGate.for_queue(queue))
        return await _run_plan_with_progress(dataclasses.replace(plan, traffic=traffic),
                                             console, concurrency, version)
    finally:
        await queue.close()


async def _run_plan_with_progress(plan: RunPlan, console: Console, concurrency: int | None,
                                  version: str | None) -> RunResult:
    from checks.report import TerminalProgress
    from checks.runner import run_plan

    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_interrupt() -> None:
        if cancel.is_set():  # a second Ctrl-C: stop waiting for anything
            os._exit(130)
        console.print("\n[yellow]cancelling: finishing the report (Ctrl-C again to quit)[/]")
        cancel.set()

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        loop.add_signal_handler(signal.SIGTERM, on_interrupt)
    except (NotImplementedError, RuntimeError):  # not the main thread (tests) or no signals
        pass
    with TerminalProgress(console, len(plan.checks), plan.environment,
                          redactor=plan.redactor) as progress:
        return await run_plan(plan, on_event=progress.on_event, concurrency=concurrency,
                              cancel=cancel, version=version, trigger="cli")


@click.command()
@config_option
def validate(config: str | None) -> None:
    """Check the suite file: structure, check types and parameters, references."""
    path = _config_path(config)
    suite = load_suite(path)
    for environment in suite.environments:
        build_plan(suite, environment, require_secrets=False)
    checks = sum(len(c.checks) for c in suite.categories)
    click.echo(f"{path}: valid ({len(suite.environments)} environments, "
               f"{len(suite.categories)} categories, {checks} checks)")


@click.command(name="list")
@click.argument("environment", required=False)
@config_option
def list_checks(environment: str | None, config: str | None) -> None:
    """List the environments, or the checks that run in ENVIRONMENT."""
    suite = load_suite(_config_path(config))
    if environment is None:
        for name, env in suite.environments.items():
            click.echo(f"{name}{': ' + env.description if env.description else ''}")
        return
    plan = build_plan(suite, environment, require_secrets=False)
    _print_plan(suite, plan)


def _print_plan(suite: Suite, plan: RunPlan) -> None:
    current = None
    for check in plan.checks:
        if check.category != current:
            current = check.category
            click.echo(f"\n{current}")
        extras = []
        if check.spec.tags:
            extras.append("tags: " + ", ".join(check.spec.tags))
        if check.spec.depends_on:
            extras.append("after: " + ", ".join(check.spec.depends_on))
        if check.spec.severity.value != "critical":
            extras.append(check.spec.severity.value)
        suffix = f"  [{'; '.join(extras)}]" if extras else ""
        click.echo(f"  {check.id:<28} {check.spec.type:<18} {check.spec.title}{suffix}")
        if check.description:
            click.echo(f"  {'':<28} {'':<18} {plan.redactor.redact(check.description)}")


@click.command()
def schema() -> None:
    """Print the suite file's JSON Schema (for editor completion)."""
    from checks.schema import suite_json_schema
    click.echo(json.dumps(suite_json_schema(), indent=2))
