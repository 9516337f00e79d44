"""The `http.flow` check kind: a sequence of requests that hand values to each other, with
cleanup requests that always run at the end.

    - id: onboarding-flow
      type: http.flow
      steps:
        - name: onboard
          method: POST
          url: ${base_url}/api/v1/customers/onboard
          json: {name: Smoke Test, email: "smoke-{{run_id}}@example.com"}
          status: 201
          capture: {api_key: api_key, customer_id: customer_id}
        - name: whoami
          url: ${base_url}/api/v1/account
          headers: {Authorization: "Bearer {{api_key}}"}
      cleanup:
        - name: delete
          method: DELETE
          url: ${base_url}/api/v1/customers/{{customer_id}}
          headers: {Authorization: "Bearer {{api_key}}"}
          status: 204

Each step has the fields of an `http` check (`checks.kinds.http.HttpRequest`) plus `name` and
`capture`, which maps a variable name to a path (assertion-language syntax) in the step's JSON
response. `{{name}}` is replaced at run time in url, headers, json and body; `${...}` is the
plan-time interpolation and is done before the flow starts. `{{run_id}}` is built in and is new
for every attempt, so that a retried flow does not collide with its own leftovers. A json value
that is exactly one reference keeps the captured value's type (quote it in YAML:
`"{{customer_id}}"`, since a bare `{` starts a YAML mapping).

Redaction: captured values are usually credentials (API keys, tokens), so every captured value
is registered with `ctx.redactor` the moment it is captured, and the flow's own Outcome and
errors are redacted before they are returned. Captured values never appear in output.

Cleanup steps run after the steps whatever happened: a failed step, a CheckError, or the
runner's timeout cancelling the flow (then within CLEANUP_GRACE_S). A cleanup step that needs a
variable that was never captured is skipped (there is nothing to clean up); a failing cleanup
step makes the outcome fail with "cleanup failed: ...".

A step (cleanup included) that passed but was slower than its `warn_latency` makes a flow that
passed `slow`: the Outcome's warning names the step ("step 'whoami': 412 ms, over the 300 ms
warn_latency").
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator, model_validator

from checks.assertions import Assertion, evaluate, select
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.kinds.http import HttpClients, HttpRequest, Judgement, perform
from checks.redact import Redactor
from checks.results import Outcome

__all__ = ["HttpFlowCheck", "HttpFlowParams", "Step"]

BUILT_IN = ("run_id",)
CLEANUP_GRACE_S = 10.0  # how long cleanup may take after the flow was cancelled
_REFERENCE = re.compile(r"\{\{(.*?)\}\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Step(HttpRequest):
    """One request of a flow: an `http` request plus a name and the values it captures."""

    name: str
    capture: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a step name")
        return value.strip()

    @field_validator("capture")
    @classmethod
    def _capture(cls, value: dict[str, str]) -> dict[str, str]:
        for variable, path in value.items():
            if not _NAME.match(variable):
                raise ValueError(f"cannot capture into '{variable}': expected a name of letters, "
                                 "digits and '_'")
            if variable in BUILT_IN:
                raise ValueError(f"cannot capture into '{variable}': it is built in")
            list(select({}, path))  # raises ValueError for an invalid path
        return value

    def references(self) -> set[str]:
        """The `{{names}}` the step's request uses."""
        return _references([self.url, self.headers, self.json_body, self.body])


class HttpFlowParams(KindParams):
    steps: list[Step] = Field(min_length=1)
    cleanup: list[Step] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> HttpFlowParams:
        names = [step.name for step in [*self.steps, *self.cleanup]]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique; used more than once: "
                             f"{', '.join(duplicates)}")
        known = set(BUILT_IN)
        for step in self.steps:
            _require_known(step, known, "no earlier step captures it")
            known |= set(step.capture)
        for step in self.cleanup:
            _require_known(step, known, "no step captures it")
        return self


def _require_known(step: Step, known: set[str], why: str) -> None:
    missing = sorted(step.references() - known)
    if missing:
        raise ValueError(f"step '{step.name}' uses {{{{{missing[0]}}}}}, but {why}; "
                         f"available: {', '.join(sorted(known))}")


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        found = set()
        for match in _REFERENCE.finditer(value):
            name = match.group(1).strip()
            if not _NAME.match(name):
                raise ValueError(f"cannot read '{match.group(0)}': expected {{{{name}}}} with a "
                                 "name of letters, digits and '_'")
            found.add(name)
        return found
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()


def _secret_texts(value: Any) -> list[str]:
    """The texts of a captured value to redact: strings and numbers, also inside lists and
    mappings. Not true/false/null: redacting those words everywhere would garble reports."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [str(value)]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in items for text in _secret_texts(item)]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _substitute(value: Any, variables: dict[str, Any]) -> Any:
    """`{{name}}` replaced; a string that is exactly one reference keeps the value's type."""
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return variables[whole.group(1).strip()]
    return _REFERENCE.sub(lambda m: _as_text(variables[m.group(1).strip()]), value)


def _resolved(step: Step, variables: dict[str, Any]) -> Step:
    headers = {k: _as_text(_substitute(v, variables)) for k, v in step.headers.items()}
    body = _substitute(step.body, variables)
    return step.model_copy(update={
        "url": _as_text(_substitute(step.url, variables)), "headers": headers,
        "json_body": _substitute(step.json_body, variables),
        "body": None if body is None else _as_text(body)})


# ------------------------------------------------------------------------------ running

@dataclass
class _StepReport:
    """What became of one step, as one line of the details (and more when it failed)."""

    step: Step
    cleanup: bool
    line: str
    failure: str | None = None  # the step's failure, without the step's name
    judgement: Judgement | None = None
    response_ms: int | None = None
    warning: str | None = None  # a passed step slower than its warn_latency

    @property
    def label(self) -> str:
        return f"{'cleanup ' if self.cleanup else ''}step '{self.step.name}'"


@dataclass
class _Flow:
    clients: HttpClients
    redactor: Redactor
    run_id: str
    variables: dict[str, Any] = field(default_factory=dict)
    reports: list[_StepReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.variables["run_id"] = self.run_id

    async def run_steps(self, steps: list[Step]) -> _StepReport | None:
        """Runs the steps until one fails; returns the failed one's report (None if all
        passed). A step's CheckError propagates, named after the step."""
        for step in steps:
            try:
                judgement = await perform(self.clients, _resolved(step, self.variables))
            except CheckError as exc:
                self.reports.append(_StepReport(step, False, f"step '{step.name}': error: "
                                                             f"{exc.message}", exc.message))
                raise CheckError(f"step '{step.name}': {exc.message}", permanent=exc.permanent,
                                 details=exc.details) from exc
            report = self._report(step, judgement, cleanup=False)
            capture_failure = self._capture(step, judgement)
            if report.failure is None and capture_failure is not None:
                report.failure = capture_failure
                report.line = f"step '{step.name}': FAILED: {capture_failure}"
            self.reports.append(report)
            if report.failure is not None:
                return report
        return None

    def _capture(self, step: Step, judgement: Judgement) -> str | None:
        """Captures the step's variables; the failure message when one cannot be. Runs on a
        failed step too, so that a credential in its body is redacted from the details."""
        if not step.capture:
            return None
        try:
            document = judgement.exchange.document
        except ValueError:
            return (f"cannot capture {', '.join(step.capture)}: the response is not JSON "
                    f"({judgement.exchange.content_type or 'no content type'})")
        missing: list[str] = []
        for variable, path in step.capture.items():
            if evaluate([Assertion(path=path, op="exists")], document):
                missing.append(f"cannot capture '{variable}': nothing at '{path}' in the response")
                continue
            values = [value for _, value in select(document, path)]
            value = values[0] if len(values) == 1 else values
            self.variables[variable] = value
            # Captures are usually credentials: from now on, no output may show them.
            for text in _secret_texts(value):
                self.redactor.register(text)
        return "; ".join(missing) or None

    async def run_cleanup(self, steps: list[Step]) -> list[_StepReport]:
        """Runs every cleanup step, whatever the others did; returns the failed ones."""
        task = asyncio.current_task()
        cancelled = task is not None and task.cancelling() > 0
        failed: list[_StepReport] = []
        for step in steps:
            missing = sorted(step.references() - set(self.variables))
            if missing:
                names = ", ".join(f"{{{{{name}}}}}" for name in missing)
                self.reports.append(_StepReport(
                    step, True, f"cleanup step '{step.name}': skipped: {names} never captured, "
                                "so there is nothing to clean up"))
                continue
            try:
                # After a cancellation (the runner's timeout), cleanup gets a grace period.
                async with asyncio.timeout(CLEANUP_GRACE_S if cancelled else None):
                    judgement = await perform(self.clients, _resolved(step, self.variables))
            except (CheckError, TimeoutError) as exc:
                message = exc.message if isinstance(exc, CheckError) else \
                    f"no answer within {CLEANUP_GRACE_S:g}s after the flow was cancelled"
                report = _StepReport(step, True, f"cleanup step '{step.name}': error: {message}",
                                     message)
            else:
                report = self._report(step, judgement, cleanup=True)
                self._capture(step, judgement)
            self.reports.append(report)
            if report.failure is not None:
                failed.append(report)
        return failed

    def _report(self, step: Step, judgement: Judgement, *, cleanup: bool) -> _StepReport:
        ex = judgement.exchange
        # A slow step's warning reads "412 ms, over the 300 ms warn_latency".
        took = judgement.warning or f"{ex.response_ms} ms"
        seen = f"{ex.method} {ex.url} -> {ex.status} in {took}"
        prefix = f"{'cleanup ' if cleanup else ''}step '{step.name}'"
        if judgement.passed:
            return _StepReport(step, cleanup, f"{prefix}: ok: {seen}", None, judgement,
                               ex.response_ms, judgement.warning)
        return _StepReport(step, cleanup, f"{prefix}: FAILED: {seen}", judgement.summary,
                           judgement, ex.response_ms)

    def details(self) -> str:
        lines = [report.line for report in self.reports]
        for report in self.reports:
            if report.failure is not None and report.judgement is not None:
                lines += ["", f"{report.label}:", report.judgement.details()]
        return "\n".join(lines)

    def measurements(self) -> dict[str, Any]:
        timed = {r.step.name: r.response_ms for r in self.reports if r.response_ms is not None}
        return {"response_ms": sum(timed.values()), "steps": len(
            [r for r in self.reports if not r.cleanup]), "step_response_ms": timed}

    def evidence(self) -> dict[str, Any]:
        return {"steps": [{"name": r.step.name, "cleanup": r.cleanup,
                           "passed": r.failure is None, "response_ms": r.response_ms,
                           **({"warning": r.warning} if r.warning else {})}
                          for r in self.reports],
                "captured": sorted(set(self.variables) - set(BUILT_IN))}

    def warning(self) -> str | None:
        """The slow steps, `step 'whoami': 412 ms, over the 300 ms warn_latency`: a flow
        that passed with one is `slow`."""
        slow = [f"{r.label}: {r.warning}" for r in self.reports if r.warning]
        return "; ".join(slow) or None


def _cleanup_note(failed: list[_StepReport]) -> str:
    return "cleanup failed: " + "; ".join(f"step '{r.step.name}': {r.failure}" for r in failed)


def _conclude(params: HttpFlowParams, flow: _Flow, redactor: Redactor, error: CheckError | None,
              failed_step: _StepReport | None, failed_cleanup: list[_StepReport]) -> Outcome:
    """The flow's Outcome (or its CheckError), redacted: it may quote captured values."""
    cleanup_note = f"; {_cleanup_note(failed_cleanup)}" if failed_cleanup else ""
    if error is not None:
        details = "\n".join(part for part in (error.details, flow.details()) if part)
        raise CheckError(redactor.redact(error.message + cleanup_note),
                         permanent=error.permanent, details=redactor.redact(details))
    problems = []
    if failed_step is not None:
        problems.append(f"step '{failed_step.step.name}': {failed_step.failure}")
    if failed_cleanup:
        problems.append(_cleanup_note(failed_cleanup))
    warning = None if problems else flow.warning()
    if problems:
        summary = "; ".join(problems)
    else:
        count = len(params.steps)
        summary = (f"{count} step{'s' if count != 1 else ''} passed in "
                   f"{flow.measurements()['response_ms']} ms")
        if params.cleanup:
            summary += ", cleanup done"
        if warning:
            summary += f"; {warning}"
    return Outcome(passed=not problems, summary=redactor.redact(summary),
                   details=redactor.redact(flow.details()),
                   measurements=redactor.redact_obj(flow.measurements()),
                   evidence=redactor.redact_obj(flow.evidence()),
                   warning=redactor.redact(warning) if warning else None)


class HttpFlowCheck(CheckKind[HttpFlowParams]):
    Params = HttpFlowParams

    async def run(self, params: HttpFlowParams, ctx: CheckContext) -> Outcome:
        # The run's pools (cookies stay in this flow's own clients, never shared).
        async with HttpClients.for_check(ctx) as clients:
            flow = _Flow(clients, ctx.redactor, run_id=uuid.uuid4().hex[:12])
            error: CheckError | None = None
            failed_step: _StepReport | None = None
            try:
                failed_step = await flow.run_steps(params.steps)
            except CheckError as exc:
                error = exc
            finally:
                # Runs after a failure, a CheckError and a cancellation alike.
                failed_cleanup = await flow.run_cleanup(params.cleanup)
                task = asyncio.current_task()
                if failed_cleanup and task is not None and task.cancelling():
                    ctx.logger.warning("%s", ctx.redactor.redact(
                        f"flow cancelled; {_cleanup_note(failed_cleanup)}"))
        return _conclude(params, flow, ctx.redactor, error, failed_step, failed_cleanup)

    def describe(self, params: HttpFlowParams) -> str:
        steps = " -> ".join(step.name for step in params.steps)
        cleanup = f"; cleanup: {', '.join(s.name for s in params.cleanup)}" \
            if params.cleanup else ""
        return f"{steps}{cleanup} (first: {params.steps[0].describe()})"

