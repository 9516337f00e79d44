"""`suite`: runs the project's own test suite (the report's "Platform Test Suite": `mix test`,
4502 tests, 6 pre-existing failures analysed by hand) and judges what it reported.

The command runs without a shell, in a process group of its own: when it exits, or when the
runner's timeout cancels the check, the whole group is killed, so nothing it started outlives
the check. Results come from the JUnit XML file it writes (`junit`, the common case) or from its
printed summary (`format`: pytest, mix, jest, go); see `checks.kinds.suite_results`.

Counting: skipped (and excluded, xfailed, todo) tests take no part in the pass rate.
`known_failures` are globs for failures that are pre-existing: they are still listed, as known,
but count neither towards `max_failures` nor against `min_pass_rate`. With neither threshold
set, any new failure fails the check. `require` globs must each match a test that ran and passed.
A non-zero exit code with no failing test (a crash, a coverage gate) fails the check too.

`coverage: {file, min}` reads the coverage report the run wrote (Cobertura XML, coverage.py
JSON or lcov: `checks.kinds.coverage`) and fails the check under `min` percent of lines; the
figure and the minimum are in the summary ("coverage 83.4% (min 80%)") and the measurements.
`coverage_only: true` judges an existing report (a CI artifact) and runs nothing.

Relative paths start at the suite file's folder: `cwd` (which is also the default), and
`junit` and the coverage file from `cwd`.

Nothing here echoes `env`'s values: they may hold secrets, and a child's output is redacted by
the runner like every other result.
"""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import math
import os
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.kinds.coverage import CoverageReport, read_coverage
from checks.kinds.suite_results import (
    CaseResult,
    OutputFormat,
    SuiteResults,
    read_junit,
    read_output,
)
from checks.results import Outcome

__all__ = ["CoverageRule", "SuiteParams", "TestSuiteCheck"]

OUTPUT_LIMIT = 4 * 1024 * 1024  # bytes of output kept (the end: that is where summaries are)
DRAIN_TIMEOUT_S = 5.0  # for output still buffered once the group is killed
TAIL_LINES = 30  # of output, in the details when the results alone do not explain
LISTED_FAILURES = 50
EVIDENCE_FAILURES = 100
MESSAGE_CHARS = 200


# ------------------------------------------------------------------------------ parameters

def _split_command(value: Any) -> Any:
    """A string is split the way a shell splits words, and then run without one."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command into words: {exc}") from None
    return value


def _env_text(value: Any) -> Any:
    """`PORT: 4002` and `CI: true` in YAML are meant as the text an environment holds."""
    if isinstance(value, dict):
        return {key: ("true" if item else "false") if isinstance(item, bool)
                else str(item) if isinstance(item, (int, float)) else item
                for key, item in value.items()}
    return value


Command = Annotated[
    list[Annotated[str, Field(min_length=1)]], Field(min_length=1),
    BeforeValidator(_split_command),
    WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1},
                              {"type": "array", "items": {"type": "string", "minLength": 1},
                               "minItems": 1}],
                    "description": "the program and its arguments, or one string split like "
                                   "a shell would (but run without one)"}),
]
EnvVars = Annotated[
    dict[str, str], BeforeValidator(_env_text),
    WithJsonSchema({"type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]}}),
]


class CoverageRule(KindParams):
    """`coverage: {file: coverage.xml, min: 80}`: the report the run wrote, and its minimum."""

    # Relative to cwd; Cobertura XML, coverage.py JSON or lcov, told apart by their content.
    file: Annotated[str, Field(min_length=1)]
    min: Annotated[float, Field(ge=0, le=100)] | None = None  # percent of lines; None: report only


class SuiteParams(KindParams):
    """Runs a test suite and judges its results (and the coverage it measured)."""

    command: Command | None = None  # required, unless `coverage_only`
    cwd: str | None = None  # relative to the suite file's folder, which is the default
    env: EnvVars = Field(default_factory=dict)  # added to smokebot's environment
    junit: str | None = None  # relative to cwd; may be a glob (one report per umbrella app)
    format: OutputFormat | None = None
    min_pass_rate: Annotated[float, Field(ge=0, le=100)] | None = None  # percent
    max_failures: Annotated[int, Field(ge=0)] | None = None  # new ones; known ones never count
    known_failures: list[str] = Field(default_factory=list)
    require: list[str] = Field(default_factory=list)
    coverage: CoverageRule | None = None
    coverage_only: bool = False  # judge an existing coverage file (a CI artifact), run nothing

    @model_validator(mode="after")
    def _one_source_of_results(self) -> SuiteParams:
        if self.coverage_only:
            if self.coverage is None:
                raise ValueError("`coverage_only: true` needs `coverage: {file: ..., min: ...}`, "
                                 "the coverage report to judge")
            test_fields = [name for name in ("command", "env", "junit", "format",
                                             "min_pass_rate", "max_failures", "known_failures",
                                             "require") if name in self.model_fields_set]
            if test_fields:
                raise ValueError(f"`coverage_only: true` runs no command, so "
                                 f"{', '.join(f'`{n}`' for n in test_fields)} would never be "
                                 f"used; remove {'it' if len(test_fields) == 1 else 'them'}, or "
                                 f"`coverage_only`")
            return self
        if self.command is None:
            raise ValueError("set `command` (the program that runs the tests), or "
                             "`coverage_only: true` to judge an existing coverage file")
        if (self.junit is None) == (self.format is None):
            raise ValueError("set exactly one of `junit` (the JUnit XML file the command "
                             "writes) and `format` (pytest, mix, jest or go: the summary it "
                             "prints)")
        return self

    @property
    def failure_limit(self) -> int | None:
        if self.max_failures is None and self.min_pass_rate is None:
            return 0
        return self.max_failures


# ------------------------------------------------------------------------------ the process

@dataclass(frozen=True)
class _Finished:
    exit_code: int
    output: str
    duration_s: float


class _OutputTail:
    """The last OUTPUT_LIMIT bytes of what the command printed."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > 2 * OUTPUT_LIMIT:  # trimmed now and then, not at every chunk
            del self._data[:-OUTPUT_LIMIT]

    def text(self) -> str:
        return bytes(self._data[-OUTPUT_LIMIT:]).decode("utf-8", errors="replace")


class _SuiteProcess(asyncio.SubprocessProtocol):
    """Tells the command's exit apart from the end of its output. (asyncio's Process.wait()
    waits for both, and a server the command forked keeps the output open.)"""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.output = _OutputTail()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output_closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.output.feed(data if isinstance(data, bytes) else data.encode())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


def _kill_group(pgid: int) -> None:
    # SIGKILL: a run cut short has nothing left to save, and a process that traps SIGTERM
    # would otherwise outlive the check.
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already empty


async def _start(argv: list[str], cwd: Path, env: dict[str, str]
                 ) -> tuple[asyncio.SubprocessTransport, _SuiteProcess]:
    loop = asyncio.get_running_loop()
    program = argv[0]
    try:
        return await loop.subprocess_exec(
            lambda: _SuiteProcess(loop), *argv, cwd=cwd, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)  # its own process group, so that it can be killed whole
    except FileNotFoundError:
        where = "no such file" if "/" in program else "it is not on PATH"
        raise CheckError(f"command not found: {program} ({where}); give its full path, or set "
                         f"PATH in the check's env", permanent=True) from None
    except PermissionError:
        raise CheckError(f"cannot run {program}: it is not executable (chmod +x it, or run it "
                         f"through its interpreter)", permanent=True) from None
    except OSError as exc:  # ENOEXEC: a script without a #! line, say
        raise CheckError(f"cannot run {program}: {exc.strerror}", permanent=True) from None


async def _run_command(argv: list[str], cwd: Path, env: dict[str, str]) -> _Finished:
    started = time.monotonic()
    transport, process = await _start(argv, cwd, env)
    pgid = transport.get_pid()  # the leader of its own group
    try:
        try:
            await process.exited
        except asyncio.CancelledError:  # the check's timeout, or the run was cancelled
            _kill_group(pgid)
            await process.exited  # reaped, so no zombie is left either
            raise
        duration = time.monotonic() - started
        # Whatever the command left behind (a server it forked) goes too, and with it the
        # last holders of the output pipe.
        _kill_group(pgid)
        try:
            await asyncio.wait_for(asyncio.shield(process.output_closed), DRAIN_TIMEOUT_S)
        except TimeoutError:
            pass  # a process that left the group still holds the pipe: keep what was read
    finally:
        transport.close()
    exit_code = transport.get_returncode()
    assert exit_code is not None
    return _Finished(exit_code, process.output.text(), duration)


def _working_dir(ctx: CheckContext, cwd: str | None) -> Path:
    path = ctx.resolve_path(cwd or ".")
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise CheckError(f"the working directory {path} {what}; fix the check's cwd",
                         permanent=True)
    return path.absolute()


# ------------------------------------------------------------------------------ JUnit files

_Signature = tuple[int, int, int]


def _junit_files(pattern: Path) -> dict[Path, _Signature]:
    if glob.has_magic(str(pattern)):
        paths = [Path(p) for p in glob.glob(str(pattern), recursive=True)]
    else:
        paths = [pattern]
    found = {}
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file():
            found[path] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    return found


def _fresh_junit(pattern: Path, before: dict[Path, _Signature], finished: _Finished) -> list[Path]:
    """The files this run wrote: one left by an earlier run would report old results."""
    after = _junit_files(pattern)
    fresh = sorted(path for path, signature in after.items() if before.get(path) != signature)
    if fresh:
        return fresh
    if after:
        raise CheckError(f"the JUnit file {pattern} was not rewritten by this run "
                         f"({_exit_text(finished.exit_code)}); check that the command still "
                         f"writes its report there", details=_tail(finished.output))
    raise CheckError(f"the command produced no JUnit file at {pattern} "
                     f"({_exit_text(finished.exit_code)}); check the command's junit option "
                     f"and its output", details=_tail(finished.output))


def _signature(path: Path) -> _Signature | None:
    return _junit_files(path).get(path) if not glob.has_magic(str(path)) else None


# ------------------------------------------------------------------------------ coverage

@dataclass(frozen=True)
class _CoverageVerdict:
    text: str  # "coverage 83.4% (min 80%)", in every summary
    problems: list[str]
    detail: str
    measurements: dict[str, Any]
    evidence: dict[str, Any]


async def _read_coverage(path: Path, before: _Signature | None,
                         finished: _Finished | None) -> CoverageReport:
    if finished is not None and before is not None and _signature(path) == before:
        raise CheckError(f"the coverage file {path} was not rewritten by this run "
                         f"({_exit_text(finished.exit_code)}); check that the command still "
                         f"writes its coverage report there", details=_tail(finished.output))
    try:
        return await asyncio.to_thread(read_coverage, path)  # a big report takes a while
    except CheckError as exc:
        if finished is None:
            raise
        raise CheckError(exc.message, details=_tail(finished.output)) from None


def _judge_coverage(rule: CoverageRule, report: CoverageReport) -> _CoverageVerdict:
    text = f"coverage {report.shown}"
    problems = []
    measurements: dict[str, Any] = {
        "coverage_percent": math.floor(report.percent * 100 + 1e-9) / 100}
    if rule.min is not None:
        text += f" (min {rule.min:g}%)"
        measurements["coverage_min"] = rule.min
        if round(report.percent, 6) < rule.min:  # 0.57 * 100 is 56.99999999999999
            problems.append(f"coverage below the {rule.min:g}% minimum")
    lines = (f" ({report.covered}/{report.valid} lines)"
             if report.covered is not None and report.valid is not None else "")
    evidence = {"file": report.path, "format": report.format, "percent": report.percent,
                "min": rule.min, "lines_covered": report.covered, "lines_valid": report.valid}
    return _CoverageVerdict(text, problems, f"{text}{lines}, from {report.path} ({report.format})",
                            measurements, evidence)


def judge_coverage_only(rule: CoverageRule, report: CoverageReport) -> Outcome:
    verdict = _judge_coverage(rule, report)
    make = Outcome.failed if verdict.problems else Outcome.ok
    summary = verdict.text + (f": {'; '.join(verdict.problems)}" if verdict.problems else "")
    return make(summary, details=verdict.detail, measurements=verdict.measurements,
                evidence={"coverage": verdict.evidence})


# ------------------------------------------------------------------------------ judging

def _matches(case: CaseResult, pattern: str) -> bool:
    """Case-insensitive; an exact name matches too, since pytest's ids hold `[`."""
    wanted = pattern.casefold()
    return any(name.casefold() == wanted or fnmatch.fnmatchcase(name.casefold(), wanted)
               for name in case.names())


def _percent(part: int, whole: int) -> str:
    """Rounded down: a rate shown as 99.50% is never one that fails a 99.5 minimum."""
    hundredths = part * 10000 // whole
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _exit_text(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def _tail(output: str, lines: int = TAIL_LINES) -> str:
    kept = output.rstrip().splitlines()[-lines:]
    return f"output (last {len(kept)} lines):\n" + "\n".join(kept) if kept else "no output"


def _one_line(message: str) -> str:
    text = " / ".join(line.strip() for line in message.splitlines() if line.strip())
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"


def _listing(title: str, cases: list[CaseResult]) -> list[str]:
    lines = [f"{title} ({len(cases)}):"]
    for case in cases[:LISTED_FAILURES]:
        message = _one_line(case.message)
        lines.append(f"- {case.name}: {message}" if message else f"- {case.name}")
    if len(cases) > LISTED_FAILURES:
        lines.append(f"- ... and {len(cases) - LISTED_FAILURES} more")
    return lines


def _required(params: SuiteParams, results: SuiteResults) -> tuple[list[str], dict[str, str]]:
    problems: list[str] = []
    states: dict[str, str] = {}
    for pattern in params.require:
        matched = [case for case in results.cases if _matches(case, pattern)]
        bad = [case for case in matched if case.status != "passed"]
        if not matched:
            states[pattern] = "not run"
            problems.append(f"no test matching '{pattern}' ran")
        elif bad:
            states[pattern] = "failed"
            problems.append(f"{len(bad)} of {_plural(len(matched), 'test')} matching "
                            f"'{pattern}' did not pass")
        else:
            states[pattern] = "passed"
    return problems, states


def judge(params: SuiteParams, results: SuiteResults, finished: _Finished,
          coverage: CoverageReport | None = None) -> Outcome:
    failures = [case for case in results.cases if case.status == "failed"]
    known = [case for case in failures
             if any(_matches(case, pattern) for pattern in params.known_failures)]
    known_ids = {id(case) for case in known}
    new = [case for case in failures if id(case) not in known_ids]
    unnamed = max(results.failed - len(failures), 0)  # counted, but not named in the output
    new_count = len(new) + unnamed

    problems: list[str] = []
    show_output = False
    if results.ran == 0:
        summary = "no tests ran" + (f" ({results.skipped} skipped)" if results.skipped else "")
        problems.append("expected at least one test to run")
        show_output = True
    else:
        summary = (f"{results.passed}/{results.ran} passed "
                   f"({_percent(results.passed, results.ran)}), {results.failed} failed")
        if known:
            summary += f" ({len(known)} known)"
        if results.skipped:
            summary += f", {results.skipped} skipped"
        limit = params.failure_limit
        if limit is not None and new_count > limit:
            problems.append(f"{_plural(new_count, 'new failure')}, expected at most {limit}")
        counted = results.ran - len(known)
        if (params.min_pass_rate is not None and counted
                and results.passed * 100 < params.min_pass_rate * counted):
            aside = f" without the {len(known)} known failures" if known else ""
            problems.append(f"pass rate {_percent(results.passed, counted)}{aside}, expected "
                            f"at least {params.min_pass_rate:g}%")
        if finished.exit_code != 0 and results.failed == 0:
            problems.append(f"{_exit_text(finished.exit_code)} though no test failed")
            show_output = True
    required_problems, required = _required(params, results)
    problems += required_problems
    verdict = None
    if coverage is not None and params.coverage is not None:
        verdict = _judge_coverage(params.coverage, coverage)
        summary += f", {verdict.text}"
        problems += verdict.problems

    details: list[str] = []
    if new:
        details += _listing("new failures", new)
    if unnamed:
        details.append(f"{_plural(unnamed, 'failing test')} not named in the {results.source}, "
                       f"so counted as new")
    if known:
        details += _listing("known failures", known)
    idle = [pattern for pattern in params.known_failures
            if not any(_matches(case, pattern) for case in known)]
    if idle:
        details.append(f"known failures that did not fail this time: {', '.join(idle)}")
    if required:
        details.append("required: " + ", ".join(f"{p} {state}" for p, state in required.items()))
    if verdict is not None:
        details.append(verdict.detail)
    if show_output:
        details.append(_tail(finished.output))

    evidence: dict[str, Any] = {
        "source": results.source,
        "exit_code": finished.exit_code,
        "failures": [{"name": case.name, "known": id(case) in known_ids,
                      "message": _one_line(case.message)}
                     for case in failures[:EVIDENCE_FAILURES]],
    }
    if required:
        evidence["required"] = required
    if verdict is not None:
        evidence["coverage"] = verdict.evidence
    rate = results.passed * 10000 // results.ran / 100 if results.ran else 0.0
    measurements = {"tests": results.tests, "passed": results.passed, "failed": results.failed,
                    "skipped": results.skipped, "pass_rate": rate,
                    "duration": round(finished.duration_s, 3), "known_failures": len(known),
                    "new_failures": new_count}
    if verdict is not None:
        measurements.update(verdict.measurements)
    text = "\n".join(details)
    if problems:
        return Outcome.failed(f"{summary}: {'; '.join(problems)}", details=text,
                              measurements=measurements, evidence=evidence)
    return Outcome.ok(summary, details=text, measurements=measurements, evidence=evidence)


# ------------------------------------------------------------------------------ the kind

class TestSuiteCheck(CheckKind[SuiteParams]):
    """Runs the project's test suite; passes when its results meet the thresholds."""

    __test__ = False  # pytest would take the class for tests of its own
    Params: ClassVar[type[SuiteParams]] = SuiteParams

    def describe(self, params: SuiteParams) -> str:
        where = f" in {params.cwd}" if params.cwd else ""
        coverage = params.coverage
        minimum = f" at least {coverage.min:g}%" if coverage and coverage.min is not None else ""
        if params.coverage_only:
            assert coverage is not None
            return f"reads the coverage report {coverage.file}{where}: coverage{minimum}"
        rules = []
        if params.failure_limit is not None:
            rules.append(f"at most {params.failure_limit} new failures")
        if params.min_pass_rate is not None:
            rules.append(f"pass rate at least {params.min_pass_rate:g}%")
        if params.require:
            rules.append(f"{', '.join(params.require)} passing")
        if coverage is not None:
            rules.append(f"coverage{minimum} (from {coverage.file})")
        assert params.command is not None
        source = f"JUnit {params.junit}" if params.junit else f"its {params.format} summary"
        return f"runs `{shlex.join(params.command)}`{where}, reads {source}: {'; '.join(rules)}"

    async def run(self, params: SuiteParams, ctx: CheckContext) -> Outcome:
        cwd = _working_dir(ctx, params.cwd)
        coverage_file = (cwd / Path(params.coverage.file).expanduser() if params.coverage
                         else None)
        if params.coverage_only:
            assert params.coverage is not None and coverage_file is not None
            report = await _read_coverage(coverage_file, None, None)
            return judge_coverage_only(params.coverage, report)
        assert params.command is not None
        pattern = cwd / Path(params.junit).expanduser() if params.junit else None
        before = _junit_files(pattern) if pattern else {}
        coverage_before = _signature(coverage_file) if coverage_file else None
        ctx.logger.debug("running %s in %s", params.command[0], cwd)
        finished = await _run_command(params.command, cwd, {**os.environ, **params.env})
        if pattern is not None:
            results = read_junit(_fresh_junit(pattern, before, finished))
        else:
            assert params.format is not None
            try:
                results = read_output(finished.output, params.format)
            except CheckError as exc:
                raise CheckError(f"{exc.message} ({_exit_text(finished.exit_code)})",
                                 details=_tail(finished.output)) from None
        if params.require and not results.names_every_pass:
            raise CheckError(f"`require` needs the name of every test that ran, and the "
                             f"{results.source} names only the failures; read a JUnit file "
                             f"instead (`junit:`)", permanent=True)
        coverage = (await _read_coverage(coverage_file, coverage_before, finished)
                    if coverage_file else None)
        return judge(params, results, finished, coverage)
