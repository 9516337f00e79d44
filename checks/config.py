"""The suite file (`smoketest.yaml`): its pydantic models, how it is loaded and validated, and
how `${var}` references are interpolated for one environment."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from checks.errors import ConfigError, Location
from checks.kinds import kind_names, load_kind
from checks.results import Severity
from checks.yamlsource import SourceMap, YamlDocument, read_yaml_file

__all__ = [
    "CategorySpec", "CheckSpec", "EnvironmentSpec", "SecretRef", "Suite", "SuiteDefaults",
    "load_suite", "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from `10`, `2.5`, `"500ms"`, `"10s"`, `"2m"`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10, '500ms', '10s' or '2m'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as 10, '500ms', '10s' or '2m', got {value!r}")
    if seconds <= 0:
        raise ValueError("expected a duration greater than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
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
            raise ValueError("a secret needs exactly one of 'env: VARIABLE' or 'file: PATH'")
        return self


class SlackTarget(_Strict):
    channel: str | None = None


class EnvironmentSpec(_Strict):
    description: str | None = None
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    slack: SlackTarget = Field(default_factory=SlackTarget)


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


class Suite(_Strict):
    suite: str = "smoketest"
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    environments: dict[str, EnvironmentSpec]
    categories: list[CategorySpec]

    # Not part of the file: where it came from, for error messages.
    source: Any = Field(default=None, exclude=True)
    base_dir: Any = Field(default=None, exclude=True)

    def all_checks(self) -> list[tuple[int, int, CategorySpec, CheckSpec]]:
        return [(ci, ki, cat, check) for ci, cat in enumerate(self.categories)
                for ki, check in enumerate(cat.checks)]

    def check_path(self, category_index: int, check_index: int) -> tuple[str | int, ...]:
        return ("categories", category_index, "checks", check_index)


# ---------------------------------------------------------------- loading and validation

def _describe_error(error: dict[str, Any], model_fields: tuple[str, ...] = ()) -> tuple[str, str]:
    """(field, message) in words a person can act on."""
    loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
    field = ".".join(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        name = loc[-1] if loc else "?"
        hint = difflib.get_close_matches(name, model_fields, n=1)
        choices = ", ".join(model_fields)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return field, f"unknown field '{name}'{suggestion}; expected one of: {choices}"
    if kind == "missing":
        return field, f"missing required field '{loc[-1] if loc else '?'}'"
    message = error["msg"]
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "id":
        message = ("expected an id of lowercase letters, digits, '-', '_' or '.', "
                   "starting with a letter or digit")
    elif message.startswith("Value error, "):
        message = message[len("Value error, "):]
    elif "input" in error and not isinstance(error["input"], (dict, list)):
        message = f"{message[0].lower()}{message[1:]}, got {error['input']!r}"
    return field, message


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, ...]:
    """The field names of the model that owns the last element of `loc`."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return ()
        current = _inner_model(info.annotation)
    return tuple(getattr(current, "model_fields", {}) or ())


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def errors_from_validation(exc: ValidationError, model: type[BaseModel], source: SourceMap,
                           prefix: tuple[str | int, ...] = ()) -> list[ConfigError]:
    found = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
        fields = _fields_at(model, loc)
        if error["type"] == "extra_forbidden" and model is not CheckSpec and not fields:
            fields = tuple(model.model_fields)
        field, message = _describe_error({**error, "loc": loc}, fields)
        location = source.locate(prefix + loc, prefer_key=error["type"] == "extra_forbidden")
        full_field = ".".join(str(p) for p in prefix + loc)
        found.append(ConfigError(message, location, full_field or field))
    return found


def raise_all(errors: list[ConfigError]) -> None:
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
        raise ConfigError("expected a mapping with 'environments' and 'categories' at the top",
                          source.locate(()))
    try:
        suite = Suite.model_validate(document.data)
    except ValidationError as exc:
        raise_all(errors_from_validation(exc, Suite, source))
        raise  # unreachable
    suite = suite.model_copy(update={"source": source, "base_dir": base_dir or Path.cwd()})
    raise_all(_check_references(suite))
    return suite


def _check_references(suite: Suite) -> list[ConfigError]:
    source: SourceMap = suite.source
    errors: list[ConfigError] = []
    if not suite.environments:
        errors.append(ConfigError("expected at least one environment", source.locate(
            ("environments",)), "environments"))
    seen: dict[str, tuple[str | int, ...]] = {}
    names = kind_names()
    env_names = list(suite.environments)
    for ci, ki, _cat, check in suite.all_checks():
        path = suite.check_path(ci, ki)
        if check.id in seen:
            first = source.locate(seen[check.id] + ("id",))
            errors.append(ConfigError(f"duplicate check id '{check.id}' (first used on line "
                                      f"{first.line})", source.locate(path + ("id",)), "id"))
        seen.setdefault(check.id, path)
        if check.type not in names:
            hint = difflib.get_close_matches(check.type, names, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            errors.append(ConfigError(
                f"unknown check type '{check.type}'{suggestion}; expected one of: "
                f"{', '.join(names)}", source.locate(path + ("type",)), "type"))
        else:
            errors.extend(_validate_params_shape(check, path, source))
        for env in check.environments or ():
            if env not in suite.environments:
                errors.append(ConfigError(
                    f"unknown environment '{env}'; expected one of: {', '.join(env_names)}",
                    source.locate(path + ("environments",)), "environments"))
    for ci, ki, _cat, check in suite.all_checks():
        for i, dep in enumerate(check.depends_on):
            path = suite.check_path(ci, ki) + ("depends_on", i)
            if dep not in seen:
                hint = difflib.get_close_matches(dep, list(seen), n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                errors.append(ConfigError(f"depends on unknown check '{dep}'{suggestion}",
                                          source.locate(path), "depends_on"))
            elif dep == check.id:
                errors.append(ConfigError("a check cannot depend on itself",
                                          source.locate(path), "depends_on"))
    if not errors:
        errors.extend(_find_cycles(suite))
    return errors


def _validate_params_shape(check: CheckSpec, path: tuple[str | int, ...],
                           source: SourceMap) -> list[ConfigError]:
    """Validates a check's kind parameters with `${...}` left in place, so that typos and
    missing fields are found by `smokebot validate` without any secret at hand."""
    kind = load_kind(check.type)
    try:
        kind.Params.model_validate(check.params)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            # A placeholder may not satisfy a typed field; interpolation will tell later.
            if error["type"] != "extra_forbidden" and _holds_placeholder(error.get("input")):
                continue
            loc = tuple(error["loc"])
            fields = _fields_at(kind.Params, loc) or tuple(kind.Params.model_fields)
            if error["type"] == "extra_forbidden" and len(loc) == 1:
                fields = tuple(kind.Params.model_fields) + COMMON_FIELDS
            field, message = _describe_error({**error, "loc": loc}, fields)
            location = source.locate(path + loc, prefer_key=error["type"] == "extra_forbidden")
            errors.append(ConfigError(f"{check.type}: {message}", location, field))
        return errors
    return []


_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


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
            return [ConfigError(f"dependency cycle: {' -> '.join(cycle)}",
                                suite.source.locate(paths[cycle[0]] + ("depends_on",)),
                                "depends_on")]
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
    except FileNotFoundError:
        return None
