"""From a validated suite to the list of checks one run executes in one environment:
secrets resolved and registered with the redactor, `${...}` interpolated, filters applied."""

from __future__ import annotations

import difflib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from checks.config import (
    COMMON_FIELDS, CheckSpec, Suite, env_var_secret_value, errors_from_validation, field_path,
    raise_all, reworded,
)
from checks.errors import ConfigError, UsageError
from checks.kinds import load_kind
from checks.kinds.base import CheckKind, KindParams
from checks.redact import MIN_SECRET_LENGTH, Redactor
from checks.secrets import Secret
from checks.traffic import RunBudget, TrafficPolicy

__all__ = ["PlannedCheck", "RunPlan", "build_plan", "interpolate", "slug"]

_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


@dataclass(frozen=True)
class PlannedCheck:
    spec: CheckSpec
    category: str
    kind: CheckKind[Any]
    params: KindParams = field(repr=False)  # holds revealed secrets once interpolated
    timeout: float
    retries: int
    retry_backoff: float
    description: str = ""

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass
class RunPlan:
    suite: Suite
    environment: str
    checks: list[PlannedCheck]
    redactor: Redactor
    variables: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 50
    # What the run's traffic probes may do; the bot replaces its gate and confirmation.
    traffic: TrafficPolicy | None = None

    @property
    def categories(self) -> tuple[str, ...]:
        present = {c.category for c in self.checks}
        return tuple(c.name for c in self.suite.categories if c.name in present)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class _Unresolved(Exception):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.name = name
        self.reason = reason


def _lookup(name: str, scope: dict[str, Any]) -> Any:
    expression, has_default, default = name.partition(":-")
    expression = expression.strip()
    if not _NAME.match(expression):
        raise _Unresolved(expression, "expected ${name}, ${secrets.name} or ${deploy.field}")
    current: Any = scope
    for part in expression.split("."):
        if isinstance(current, dict) and part in current and current[part] is not None:
            current = current[part]
        elif has_default:
            return default
        else:
            raise _Unresolved(expression, "")
    return current


def interpolate(value: Any, scope: dict[str, Any]) -> Any:
    """Replaces `${name}` (environment variables), `${secrets.name}`, `${deploy.field}`;
    `${name:-default}` falls back; `$$` is a literal `$`. A string that is exactly one
    reference keeps the referenced value's type (so `status: ${code}` can be an int)."""
    if isinstance(value, dict):
        return {k: interpolate(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, scope) for v in value]
    if not isinstance(value, str) or "$" not in value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole and whole.group(1) is not None:
        found = _lookup(whole.group(1), scope)
        return found.reveal() if isinstance(found, Secret) else found

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        found = _lookup(match.group(1), scope)
        return found.reveal() if isinstance(found, Secret) else str(found)

    return _REFERENCE.sub(replace, value)


def _interpolate_located(value: Any, scope: dict[str, Any], suite: Suite,
                         path: tuple[str | int, ...], known: list[str]) -> Any:
    """`interpolate`, with errors that point at the string holding the bad reference."""
    if isinstance(value, dict):
        return {k: _interpolate_located(v, scope, suite, path + (k,), known)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate_located(v, scope, suite, path + (i,), known)
                for i, v in enumerate(value)]
    try:
        return interpolate(value, scope)
    except _Unresolved as exc:
        raise ConfigError(_unresolved_message(exc, scope, known), suite.source.locate(path),
                          field_path(path)) from None


def _unresolved_message(exc: _Unresolved, scope: dict[str, Any], known: list[str]) -> str:
    if exc.reason:
        return f"cannot read '${{{exc.name}}}': {exc.reason}"
    if exc.name.startswith("deploy."):
        facts = sorted(scope.get("deploy") or {})
        if not facts:
            return (f"'${{{exc.name}}}' is only known in a run triggered by a deploy; expected "
                    f"a default for other runs, as in '${{{exc.name}:-value}}'")
        return (f"the deploy that triggered this run did not give "
                f"'{exc.name.removeprefix('deploy.')}'; expected one of: {', '.join(facts)}, "
                f"or a default, as in '${{{exc.name}:-value}}'")
    hint = difflib.get_close_matches(exc.name, known, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    return (f"undefined variable '{exc.name}' in environment '{scope['environment']}'"
            f"{suggestion}; expected one of: {', '.join(known) or 'none'}")


def resolve_scope(suite: Suite, environment: str, redactor: Redactor,
                  deploy: dict[str, Any] | None = None,
                  require_secrets: bool = True) -> dict[str, Any]:
    env = suite.environments[environment]
    secrets: dict[str, Any] = {}
    errors: list[ConfigError] = []
    for name, ref in env.secrets.items():
        value = env_var_secret_value(ref, suite.base_dir)
        path = ("environments", environment, "secrets", name, "env" if ref.env else "file")
        if value and len(value) < MIN_SECRET_LENGTH:  # too short to redact without mangling text
            errors.append(ConfigError(
                f"secret '{name}' of environment '{environment}' is {len(value)} characters "
                f"long; expected at least {MIN_SECRET_LENGTH}, so that it can be redacted",
                suite.source.locate(path), field_path(path)))
        elif value:
            secrets[name] = Secret(value)
            redactor.register(value)
        elif require_secrets:
            source = (f"environment variable {ref.env} to be set" if ref.env
                      else f"file {ref.file} to hold it (it is missing, unreadable or empty)")
            errors.append(ConfigError(
                f"secret '{name}' of environment '{environment}' is absent; expected {source}",
                suite.source.locate(path), field_path(path)))
        else:
            secrets[name] = f"<secret {name}>"
    raise_all(errors)
    kubernetes = env.kubernetes.model_dump() if env.kubernetes else None
    return {**env.variables, "environment": environment, "secrets": secrets,
            "deploy": dict(deploy or {}), "kubernetes": kubernetes}


def build_plan(suite: Suite, environment: str, *, only: list[str] | None = None,
               deploy: dict[str, Any] | None = None, redactor: Redactor | None = None,
               require_secrets: bool = True,
               overrides: dict[str, str] | None = None, run_id: str | None = None) -> RunPlan:
    """`overrides` replace the environment's variables (the CLI's `--var name=value`).
    `run_id` is `${run.id}`; without it, every plan gets a new one."""
    if environment not in suite.environments:
        names = list(suite.environments)
        hint = difflib.get_close_matches(environment, names, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise UsageError(f"unknown environment '{environment}'{suggestion}; expected one of: "
                         f"{', '.join(names)}")
    redactor = Redactor() if redactor is None else redactor
    scope = resolve_scope(suite, environment, redactor, deploy, require_secrets)
    scope.update(overrides or {})
    # One value for every check and attempt of the run: a check tags what it makes with it
    # (stripe.webhook_delivery's event ids) and a later check of the same run finds it by it.
    scope["run"] = {"id": run_id or uuid.uuid4().hex[:12]}
    known = sorted({*suite.environments[environment].variables, *(overrides or {}), "environment"}
                   | {f"secrets.{s}" for s in suite.environments[environment].secrets})
    selected = select_checks(suite, environment, only)
    planned: list[PlannedCheck] = []
    errors: list[ConfigError] = []
    for ci, ki, category, spec in suite.all_checks():
        if spec.id not in selected:
            continue
        path = suite.check_path(ci, ki)
        try:
            planned.append(_plan_check(suite, category.name, spec, path, scope, known, redactor))
        except ConfigError as exc:
            errors.extend([exc, *getattr(exc, "others", ())])
    # A secret interpolated into a param can show up as "got ...".
    raise_all([reworded(error, redactor.redact(error.message)) for error in errors])
    return RunPlan(suite, environment, planned, redactor, scope, suite.defaults.concurrency,
                   traffic=traffic_policy(suite, environment, scope["run"]["id"]))


def traffic_policy(suite: Suite, environment: str, run_id: str) -> TrafficPolicy:
    env = suite.environments[environment]
    caps = env.traffic.caps()
    allowed = env.traffic.allow if env.traffic.allow is not None else not env.production
    return TrafficPolicy(environment=environment, run_id=run_id, production=env.production,
                         allowed=allowed, caps=caps, budget=RunBudget(caps.requests_per_run))


def _plan_check(suite: Suite, category: str, spec: CheckSpec, path: tuple[str | int, ...],
                scope: dict[str, Any], known: list[str], redactor: Redactor) -> PlannedCheck:
    kind = load_kind(spec.type)
    raw = {k: v for k, v in spec.params.items() if k not in COMMON_FIELDS}
    values = _interpolate_located(raw, scope, suite, path, known)
    errors: list[ConfigError] = []
    try:
        params = kind.Params.model_validate(values)
    except ValidationError as exc:
        errors = [reworded(error, f"{spec.type}: {error.message}")
                  for error in errors_from_validation(exc, kind.Params, suite.source, path)]
    # Raised outside `except`: the chained ValidationError would carry the secret values.
    raise_all(errors)
    defaults = suite.defaults
    timeout = spec.timeout or defaults.timeout
    needed = kind.min_timeout(params)
    if needed is not None and timeout < needed:
        if spec.timeout is not None:  # the check's own: say so rather than overrule it
            where = path + ("timeout",)
            raise ConfigError(f"{spec.type}: timeout {spec.timeout:g}s is shorter than the "
                              f"{needed:g}s this check needs; expected at least {needed:g}s "
                              "or no timeout (it then gets what it needs)",
                              suite.source.locate(where), field_path(where))
        timeout = needed
    return PlannedCheck(
        spec=spec, category=category, kind=kind, params=params,
        timeout=timeout,
        retries=defaults.retries if spec.retries is None else spec.retries,
        retry_backoff=defaults.retry_backoff,
        description=redactor.redact(kind.describe(params)),
    )


def filter_choices(suite: Suite) -> dict[str, list[str]]:
    return {
        "categories": [slug(c.name) for c in suite.categories],
        "tags": sorted({t for _, _, _, check in suite.all_checks() for t in check.tags}),
        "ids": [check.id for _, _, _, check in suite.all_checks()],
    }


def select_checks(suite: Suite, environment: str, only: list[str] | None) -> set[str]:
    """Ids of the checks to run: those matching any filter (category, tag or id), plus
    everything they depend on, minus checks restricted to other environments."""
    checks = {check.id: (category, check) for _, _, category, check in suite.all_checks()}
    in_env = {cid for cid, (_, c) in checks.items()
              if c.environments is None or environment in c.environments}
    if not only:
        return in_env
    chosen: set[str] = set()
    for token in only:
        wanted = token.strip()
        if not wanted:
            continue
        matches = {cid for cid, (cat, c) in checks.items()
                   if wanted == cid or wanted in c.tags or slug(wanted) == slug(cat.name)}
        if not matches:
            choices = filter_choices(suite)
            everything = [*choices["categories"], *choices["tags"], *choices["ids"]]
            hint = difflib.get_close_matches(wanted, everything, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise UsageError(
                f"filter '{wanted}' matches no check{suggestion}; expected a category "
                f"({', '.join(choices['categories'])}), a tag "
                f"({', '.join(choices['tags']) or 'none'}) or a check id "
                f"({', '.join(choices['ids'])})")
        if not matches & in_env:  # else the run would pass having checked nothing
            raise UsageError(f"filter '{wanted}' matches only checks that do not run in "
                             f"environment '{environment}'; expected a check that does")
        chosen |= matches
    pending = list(chosen)
    while pending:  # dependencies come along, or dependents would only be skipped
        for dep in checks[pending.pop()][1].depends_on:
            if dep not in chosen:
                chosen.add(dep)
                pending.append(dep)
    return chosen & in_env
