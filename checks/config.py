"""The suite file (`smoketest.yaml`): its pydantic models, how it is loaded and validated, and
how `${var}` references are interpolated for one environment."""

from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema,
    field_validator, model_validator,
)

from checks.errors import ConfigError
from checks.kinds import kind_names, load_kind
from checks.paths import split_path
from checks.results import Severity
from checks.traffic import HARD_CAPS, TrafficCaps
from checks.yamlsource import SourceMap, YamlDocument, read_yaml_file

__all__ = [
    "CategorySpec", "CheckSpec", "DeployMapping", "Duration", "EnvironmentSpec", "RolloutWait",
    "SecretRef", "Suite", "SuiteDefaults", "VersionSource", "field_path", "load_suite",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from `10`, `2.5`, `"500ms"`, `"10s"`, `"2m"`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a duration such as 10, '500ms', '10s' or '2m', "
                         f"got {describe_input(value)}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif match := _DURATION.match(value):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as 10, '500ms', '10s' or '2m', got {value!r}")
    if not math.isfinite(seconds) or seconds <= 0:  # nan would slip past `<= 0`
        raise ValueError(f"expected a duration greater than zero, got {describe_input(value)}")
    return seconds


def describe_input(value: Any) -> str:
    """A wrong value as the suite file spells it: 'text', 3, true, null, a list, a mapping."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return repr(value)
    return str(value)


# Editors read this; the validator above is what accepts a value.
_DURATION_SCHEMA = {
    "anyOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"}],
    "description": "seconds (10, 2.5) or a duration with a unit: '500ms', '10s', '2m', '1h'",
}
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]
CHECK_ID = r"^[a-z0-9][a-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret's value comes from: an environment variable or a file."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            got = "neither" if self.env is None else "both"
            raise ValueError("expected exactly one of 'env: VARIABLE' or 'file: PATH' for a "
                             f"secret, got {got}")
        return self


def _variable_value(value: Any) -> Any:
    # Checked up front so a wrong value gets one message, not one per member of the union.
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"expected text, a number or true/false, got {describe_input(value)}")


VariableValue = Annotated[str | int | float | bool, BeforeValidator(_variable_value)]


# What started a run, as `mention_on_failure.triggers` names it: a deploy webhook, `/smoketest`,
# or a re-run (a summary's buttons, `@smokebot rerun`).
MENTION_TRIGGERS = ("deploy", "slash", "rerun")


class MentionOnFailure(_Strict):
    """The user group mentioned in a failed run's thread, for the runs of these triggers."""

    group: str = Field(min_length=1)  # a user group id, S0ONCALL
    triggers: list[Literal["deploy", "slash", "rerun"]] = Field(
        default_factory=lambda: ["deploy"], min_length=1)


def _mention_form(value: Any) -> Any:
    # The short form, a plain group id, mentions for deploys only, as it always did.
    if isinstance(value, str):
        return {"group": value}
    if value is None or isinstance(value, dict):
        return value
    raise ValueError(f"expected a user group id, or {{group: S0ONCALL, triggers: [deploy, "
                     f"slash, rerun]}}, got {describe_input(value)}")


class SlackTarget(_Strict):
    """Where an environment reports in Slack and who may run it from there. Empty lists
    mean anyone / any channel; `confirm` asks for a confirmation button (production) before
    any run a person starts: `/smoketest`, Re-run failed, Re-run all, `@smokebot rerun`."""

    channel: str | None = None  # where deploy-triggered runs post (a channel id)
    allowed_channels: list[str] = Field(default_factory=list)
    allowed_users: list[str] = Field(default_factory=list)
    allowed_usergroups: list[str] = Field(default_factory=list)
    confirm: bool = False
    # A group id (deploys' runs only), or {group, triggers}: whose runs mention it on failure.
    mention_on_failure: Annotated[MentionOnFailure | None, BeforeValidator(
        _mention_form, json_schema_input_type=str | MentionOnFailure | None)] = None

    def failure_mention(self, trigger: str) -> str | None:
        """The group to mention when a run started by `trigger` (one of MENTION_TRIGGERS)
        fails, or None."""
        mention = self.mention_on_failure
        return mention.group if mention is not None and trigger in mention.triggers else None


class KubernetesTarget(_Strict):
    """How the Kubernetes check kinds reach this environment's cluster."""

    kubeconfig: str | None = None  # default: $KUBECONFIG or ~/.kube/config
    context: str | None = None
    in_cluster: bool = False  # use the pod's service account
    namespace: str | None = None  # default namespace for k8s.* checks


SourceName = Annotated[str, Field(min_length=1)]


class RolloutWait(_Strict):
    """Before a deploy's checks start, wait for this deployment's rollout to complete; a
    rollout that does not complete within `timeout` is itself a reported failure."""

    deployment: str
    namespace: str | None = None  # default: the environment's `kubernetes.namespace`
    timeout: Duration = 300.0


class DeployMapping(_Strict):
    """Which deploy webhooks run this environment's suite: under each source's key (`github:
    [staging]`, `argocd: [shop-staging]`), the names that source gives the environment. An
    environment without a `deploy:` block is never run by a webhook.

    Besides the two settings below, every key is a source's, holding a list of names. Which
    keys name a source is for the program that receives the webhooks to say (the bot reports
    any other key when it loads the suite); this library knows no sources."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, list[SourceName]] = Field(init=False)

    wait_for_rollout: RolloutWait | None = None
    # Deploys arriving within this window of each other run only the newest.
    coalesce_window: Duration = 2.0

    @property
    def sources(self) -> dict[str, list[str]]:
        """Each source key the file writes, with its names, in file order."""
        return dict(self.model_extra or {})

    def names_for(self, key: str) -> list[str] | None:
        """The names under source key `key`; None when the file does not write that key."""
        return self.sources.get(key)


class TrafficSettings(_Strict):
    """What traffic probes (load, ratelimit) may do in one environment: whether they run at
    all (default: yes, but not in an environment marked production) and limits below
    smokebot's hard caps."""

    allow: bool | None = None
    max_rps: Annotated[float, Field(gt=0, le=HARD_CAPS.rps)] | None = None
    max_duration: Annotated[Duration, Field(le=HARD_CAPS.duration_s)] | None = None
    max_requests: Annotated[int, Field(ge=1, le=HARD_CAPS.requests_per_check)] | None = None
    max_requests_per_run: Annotated[
        int, Field(ge=1, le=HARD_CAPS.requests_per_run)] | None = None
    max_concurrency: Annotated[int, Field(ge=1, le=HARD_CAPS.concurrency)] | None = None

    def caps(self) -> TrafficCaps:
        return HARD_CAPS.lowered(rps=self.max_rps, duration_s=self.max_duration,
                                 requests_per_check=self.max_requests,
                                 requests_per_run=self.max_requests_per_run,
                                 concurrency=self.max_concurrency)


class EnvironmentSpec(_Strict):
    description: str | None = None
    variables: dict[str, VariableValue] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    slack: SlackTarget = Field(default_factory=SlackTarget)
    kubernetes: KubernetesTarget | None = None
    deploy: DeployMapping | None = None
    # Marks a production environment: traffic probes are refused there unless `traffic.allow`.
    production: bool = False
    traffic: TrafficSettings = Field(default_factory=TrafficSettings)


class SuiteDefaults(_Strict):
    timeout: Duration = 10.0
    retries: Annotated[int, Field(ge=0, le=10)] = 0
    retry_backoff: Duration = 0.5
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 50


class CheckSpec(BaseModel):
    """The fields every check has. The rest of a check's keys are its kind's parameters,
    validated afterwards by that kind's own model."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: Annotated[str, Field(pattern=CHECK_ID, max_length=80)]
    name: str | None = None
    type: str
    description: str | None = None
    timeout: Duration | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    depends_on: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    severity: Severity = Severity.CRITICAL
    environments: list[str] | None = None  # run only in these; default all

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def title(self) -> str:
        return self.name or self.id


COMMON_FIELDS = tuple(CheckSpec.model_fields)


class CategorySpec(_Strict):
    name: str
    description: str | None = None
    checks: list[CheckSpec]


class VersionSource(_Strict):
    """Where a run's version comes from when its trigger names none (no `--version-label`, no
    deploy version): a value one of its checks read, `{from: health, path: version}`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str = Field(alias="from", pattern=CHECK_ID)  # a check's id
    path: str = Field(min_length=1)  # into its JSON response, else its measurements, evidence

    @field_validator("path")
    @classmethod
    def _readable(cls, path: str) -> str:
        split_path(path)  # raises ValueError naming what a path looks like
        return path


class Suite(_Strict):
    suite: str = "smoketest"
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    environments: dict[str, EnvironmentSpec]
    categories: list[CategorySpec]
    version: VersionSource | None = None

    # Not part of the file: where it came from, for error messages.
    source: Any = Field(default=None, exclude=True)
    base_dir: Any = Field(default=None, exclude=True)

    def all_checks(self) -> list[tuple[int, int, CategorySpec, CheckSpec]]:
        return [(ci, ki, cat, check) for ci, cat in enumerate(self.categories)
                for ki, check in enumerate(cat.checks)]

    def check_path(self, category_index: int, check_index: int) -> tuple[str | int, ...]:
        return ("categories", category_index, "checks", check_index)


# ---------------------------------------------------------------- loading and validation

# Fields of Suite that the loader sets; a file that writes them is wrong.
_INTERNAL_FIELDS = ("source", "base_dir")
# What a missing field holds, so that the message says what to write.
_MISSING_HINTS = {
    "environments": "a mapping of environment names, such as staging, to their variables "
                    "and secrets",
    "categories": "a list of categories, each with a name and its checks",
    "checks": "a list of checks, each with an id and a type",
    "name": "text",
    "id": "an id of lowercase letters, digits, '-', '_' or '.'",
}
# What a value of the wrong shape should have been, by pydantic error type.
_EXPECTED = {
    "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "text",
    "list_type": "a list, such as [a, b]", "dict_type": "a mapping of names to values",
    "model_type": "a mapping of names to values",
    "model_attributes_type": "a mapping of names to values",
}
_NUMBER_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def field_path(path: tuple[str | int, ...]) -> str:
    """`('categories', 0, 'checks', 2, 'url')` -> `categories[0].checks[2].url`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    hint = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def unknown_field_message(name: str, choices: tuple[str, ...]) -> str:
    return (f"unknown field '{name}'{_did_you_mean(name, choices)}; "
            f"expected one of: {', '.join(choices)}")


def _describe_error(error: dict[str, Any], model_fields: tuple[str, ...] = ()) -> str:
    """The message for one pydantic error, in words a person can act on: what was expected,
    and what was found."""
    loc = error["loc"]
    name = str(loc[-1]) if loc else "?"
    kind = error["type"]
    if kind == "extra_forbidden":
        return unknown_field_message(name, model_fields)
    if kind == "missing":
        if name == "type":
            return f"missing required field 'type'; expected one of: {', '.join(kind_names())}"
        hint = f" ({_MISSING_HINTS[name]})" if name in _MISSING_HINTS else ""
        return f"missing required field '{name}'{hint}"
    message: str = error["msg"]
    if message.startswith("Value error, "):  # our own validators already say it all
        return message[len("Value error, "):]
    if kind == "string_pattern_mismatch" and name == "id":
        expected = ("an id of lowercase letters, digits, '-', '_' or '.', starting with a "
                    "letter or digit")
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
    elif kind in _NUMBER_BOUNDS:
        expected = "a number " + message.removeprefix("Input should be ")
    elif kind == "string_pattern_mismatch":
        expected = f"text matching {error.get('ctx', {}).get('pattern', '?')!r}"
    else:
        for lead in ("Input should be ", "String should have ", "List should have "):
            if message.startswith(lead):
                expected = message[len(lead):]
                break
        else:
            return f"{message[0].lower()}{message[1:]}, got {describe_input(error.get('input'))}"
    got = describe_input(error.get("input"))
    hint = ""
    if kind == "string_type" and isinstance(error.get("input"), (int, float, bool)):
        hint = " (quote it to make it text)"
    return f"expected {expected}, got {got}{hint}"


def _field_names(model: type[BaseModel]) -> tuple[str, ...]:
    """The names a suite file uses for a model's fields: aliases (`assert`), and none of the
    fields that are not written in the file."""
    return tuple(info.alias or name for name, info in model.model_fields.items()
                 if not info.exclude)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, ...]:
    """The field names of the model that owns the last element of `loc`."""
    current: Any = model
    for part in loc[:-1]:
        owner = _inner_model(current) if _is_model(current) else None
        if owner is not None:
            by_name = {info.alias or name: info for name, info in owner.model_fields.items()}
            info = by_name.get(part)
            if info is None:
                return ()
            current = info.annotation
        else:  # a list or a mapping: this part is an index or a key
            current = _element(current)
            if current is None:
                return ()
    found = _inner_model(current)
    return _field_names(found) if found is not None else ()


def _is_model(annotation: Any) -> bool:
    """A model, or `Model | None`; not a container of models."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    origin = getattr(annotation, "__origin__", None)
    return origin is None and len(args) == 1 and _is_model(args[0])


def _element(annotation: Any) -> Any:
    """What a list or dict annotation holds (through `X | None`)."""
    args = getattr(annotation, "__args__", ()) or ()
    origin = getattr(annotation, "__origin__", None)
    if origin in (list, tuple, set):
        return args[0] if args else None
    if origin is dict:
        return args[1] if len(args) == 2 else None
    for arg in args:  # a union: the first container member
        if arg is not type(None) and (found := _element(arg)) is not None:
            return found
    return None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if getattr(annotation, "__origin__", None) in (list, tuple, set, dict):
        return None
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def errors_from_validation(exc: ValidationError, model: type[BaseModel], source: SourceMap,
                           prefix: tuple[str | int, ...] = (), *,
                           top_level_fields: tuple[str, ...] = ()) -> list[ConfigError]:
    """One ConfigError per pydantic error, located in the file. `prefix` is where the
    validated mapping sits in the file; `top_level_fields` are further names that an unknown
    field at the top could have meant (a check's common fields, for its kind's params)."""
    found = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
        fields = _fields_at(model, loc)
        if len(loc) <= 1:
            fields = _field_names(model) + top_level_fields
        message = _describe_error({**error, "loc": loc}, fields)
        location = source.locate(prefix + loc, prefer_key=error["type"] == "extra_forbidden")
        found.append(ConfigError(message, location, field_path(prefix + loc)))
    return found


def reworded(error: ConfigError, message: str) -> ConfigError:
    """The same error with another message. A new exception, because `str(error)` and a
    traceback show `args`, which assigning `.message` would leave as it was."""
    return ConfigError(message, error.location, error.field)


def raise_all(errors: list[ConfigError]) -> None:
    """Raises the first error, carrying the others in `others` so that all can be shown."""
    if errors:
        first = errors[0]
        if len(errors) > 1:
            first = ConfigError(first.message, first.location, first.field)
            first.others = errors[1:]  # type: ignore[attr-defined]
        raise first


def load_suite(path: str | Path) -> Suite:
    """Reads and validates a suite file: structure, check kinds and their parameters,
    dependencies. Interpolation happens later, per environment (see `checks.plan`)."""
    document = read_yaml_file(path)
    return parse_suite(document, base_dir=Path(path).resolve().parent)


def parse_suite(document: YamlDocument, base_dir: Path | None = None) -> Suite:
    source = document.source
    if not isinstance(document.data, dict):
        raise ConfigError("expected a mapping with 'environments' and 'categories' at the top, "
                          f"got {describe_input(document.data)}", source.locate(()))
    internal = [key for key in document.data if key in _INTERNAL_FIELDS]
    if internal:  # fields of the model that the file must not set
        raise ConfigError(unknown_field_message(internal[0], _field_names(Suite)),
                          source.locate((internal[0],), prefer_key=True), internal[0])
    errors: list[ConfigError] = []
    try:
        suite = Suite.model_validate(document.data)
    except ValidationError as exc:
        errors = errors_from_validation(exc, Suite, source)
    raise_all(errors)  # outside `except`: no pydantic traceback chained to a user error
    suite = suite.model_copy(update={"source": source, "base_dir": base_dir or Path.cwd()})
    raise_all(_check_references(suite))
    return suite


def _check_references(suite: Suite) -> list[ConfigError]:
    source: SourceMap = suite.source
    errors: list[ConfigError] = []
    if not suite.environments:
        errors.append(ConfigError(
            "expected at least one environment, such as 'staging: {variables: {...}}'",
            source.locate(("environments",)), "environments"))
    for env_name, env in suite.environments.items():
        rollout = env.deploy.wait_for_rollout if env.deploy else None
        if rollout is not None:  # interpolated before the rollout is waited for
            path = ("environments", env_name, "deploy", "wait_for_rollout")
            errors.extend(_unclosed_references(
                {"deployment": rollout.deployment, "namespace": rollout.namespace}, path, source))
    seen: dict[str, tuple[str | int, ...]] = {}
    names = kind_names()
    env_names = list(suite.environments)
    for ci, ki, _cat, check in suite.all_checks():
        path = suite.check_path(ci, ki)
        if check.id in seen:
            first = source.locate(seen[check.id] + ("id",))
            errors.append(ConfigError(
                f"duplicate check id '{check.id}' (first used on line {first.line}); expected "
                f"each check to have its own id", source.locate(path + ("id",)),
                field_path(path + ("id",))))
        seen.setdefault(check.id, path)
        if check.type not in names:
            errors.append(ConfigError(
                f"unknown check type '{check.type}'{_did_you_mean(check.type, names)}; "
                f"expected one of: {', '.join(names)}", source.locate(path + ("type",)),
                field_path(path + ("type",))))
        else:
            errors.extend(_validate_params_shape(check, path, source))
        errors.extend(_unclosed_references(check.params, path, source))
        for i, env in enumerate(check.environments or ()):
            if env not in suite.environments:
                errors.append(ConfigError(
                    f"unknown environment '{env}'{_did_you_mean(env, env_names)}; expected one "
                    f"of: {', '.join(env_names)}", source.locate(path + ("environments", i)),
                    field_path(path + ("environments", i))))
    for ci, ki, _cat, check in suite.all_checks():
        for i, dep in enumerate(check.depends_on):
            path = suite.check_path(ci, ki) + ("depends_on", i)
            if dep == check.id:
                errors.append(ConfigError(
                    f"check '{check.id}' depends on itself; expected the id of another check",
                    source.locate(path), field_path(path)))
            elif dep not in seen:
                others = [cid for cid in seen if cid != check.id]
                errors.append(ConfigError(
                    f"depends on unknown check '{dep}'{_did_you_mean(dep, others)}; expected "
                    f"one of: {', '.join(others) or 'none (no other check)'}",
                    source.locate(path), field_path(path)))
    if suite.version is not None and suite.version.from_ not in seen:
        path = ("version", "from")
        known = list(seen)
        errors.append(ConfigError(
            f"the version is to be read by unknown check '{suite.version.from_}'"
            f"{_did_you_mean(suite.version.from_, known)}; expected one of: "
            f"{', '.join(known) or 'none (no check)'}", source.locate(path), field_path(path)))
    if not errors:
        errors.extend(_find_cycles(suite))
    return errors


def _validate_params_shape(check: CheckSpec, path: tuple[str | int, ...],
                           source: SourceMap) -> list[ConfigError]:
    """Validates a check's kind parameters with `${...}` left in place, so that typos and
    missing fields are found by `smokebot validate` without any secret at hand."""
    try:
        kind = load_kind(check.type)
    except Exception as exc:  # an uninstalled optional dependency, or a broken kind module
        return [ConfigError(
            f"check type '{check.type}' cannot be loaded ({type(exc).__name__}: {exc}); "
            "expected its module and the libraries it needs to be installed",
            source.locate(path + ("type",)), field_path(path + ("type",)))]
    try:
        kind.Params.model_validate(check.params)
    except ValidationError as exc:
        errors = errors_from_validation(exc, kind.Params, source, path,
                                        top_level_fields=COMMON_FIELDS)
        # A placeholder may not satisfy a typed field; interpolation will tell later.
        return [reworded(error, f"{check.type}: {error.message}")
                for error, raw in zip(errors, exc.errors())
                if raw["type"] == "extra_forbidden" or not _holds_placeholder(raw.get("input"))]
    return []


_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
# How `checks.plan` reads a string, left to right: `$$`, a whole `${...}`, else a `${` that
# nothing closes, which the plan would leave in the text as it is.
_REFERENCE_OR_UNCLOSED = re.compile(r"\$\$|\$\{[^}]*\}|(\$\{)")
_NAME_PREFIX = re.compile(r"[A-Za-z0-9_.-]*")


def _unclosed_references(value: Any, path: tuple[str | int, ...],
                         source: SourceMap) -> list[ConfigError]:
    """A `${` without its `}` in a value that is interpolated: found when the file is loaded,
    not sent as it is (`url: ${base_url/api/health`)."""
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in _unclosed_references(v, path + (k,), source)]
    if isinstance(value, list):
        return [e for i, v in enumerate(value)
                for e in _unclosed_references(v, path + (i,), source)]
    if not isinstance(value, str) or "${" not in value:
        return []
    unclosed = next((m for m in _REFERENCE_OR_UNCLOSED.finditer(value) if m.group(1)), None)
    if unclosed is None:
        return []
    rest = value[unclosed.end():]
    name = _NAME_PREFIX.match(rest).group(0)  # type: ignore[union-attr]
    after = rest[len(name):]
    # `${base_url/api` -> `${base_url}/api`; a default (`${v:-1`) is not guessed at.
    example = _shown(f"${{{name}}}{after}", 60) if name and not after.startswith(":") \
        else "${name}"
    return [ConfigError(
        f"'{_shown('${' + rest, 60)}' is never closed; expected a '}}' after the variable's "
        f"name, as in '{example}' (write '$${{' for a literal '${{')", source.locate(path),
        field_path(path))]


def _shown(text: str, limit: int) -> str:
    """On one line, and cut with an ellipsis past `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _holds_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(_PLACEHOLDER.search(value))


def _find_cycles(suite: Suite) -> list[ConfigError]:
    graph = {check.id: check.depends_on for _, _, _, check in suite.all_checks()}
    paths = {check.id: suite.check_path(ci, ki) for ci, ki, _, check in suite.all_checks()}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                return trail[trail.index(dep):] + [dep] if dep in trail else [node, dep]
            if state.get(dep) is None and (cycle := visit(dep, trail + [dep])):
                return cycle
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None and (cycle := visit(node, [node])):
            path = paths[cycle[0]] + ("depends_on", graph[cycle[0]].index(cycle[1]))
            return [ConfigError(
                f"dependency cycle: {' -> '.join(cycle)}; expected dependencies without a "
                "loop: remove one of these depends_on entries",
                suite.source.locate(path), field_path(path))]
    return []


def env_var_secret_value(ref: SecretRef, base_dir: Path) -> str | None:
    """The secret's value, or None when it is absent."""
    if ref.env is not None:
        return os.environ.get(ref.env)
    path = Path(ref.file or "")
    if not path.is_absolute():
        path = base_dir / path
    try:
        return path.read_text(encoding="utf-8").rstrip("\n")
    except (OSError, UnicodeDecodeError):  # missing, a directory, unreadable: all "absent"
        return None
