"""The JSON Schema (draft 2020-12) of the suite file, so that editors complete it and mark
mistakes as they are typed (`smokebot schema > smoketest.schema.json`).

Each check is a `oneOf` over the registered kinds, told apart by `type` (a `const`): the
fields every check has (`checks.config.CheckSpec`) plus that kind's parameters, under the
names the file uses (`assert`, not `assert_`), and nothing else.

A kind parameter may hold a `${variable}` that is only resolved per environment, so every
parameter that is not plain text also accepts a string containing `${...}` (at the top level of
the parameters only: deeper down, a placeholder in a typed field is flagged by the editor,
though `smokebot validate` accepts it).

A kind whose module cannot be imported (an optional library not installed) does not break the
schema for the others: it keeps a branch with the common fields that allows any other key, so
a suite using it is not flagged, and its name and the import error are listed under
`x-unavailable-kinds` for the caller to show.
"""

from __future__ import annotations

import copy
from typing import Any

from checks.config import CheckSpec, Suite
from checks.kinds import kind_names, load_kind
from checks.kinds.base import KindParams

__all__ = ["DIALECT", "suite_json_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_PLACEHOLDER = {
    "type": "string",
    "pattern": r"\$\{[^}]*\}",
    "description": "a ${variable}, ${secrets.name} or ${deploy.field} reference",
}
_INTERNAL_FIELDS = ("source", "base_dir")  # set by the loader, never written in the file
_HOVER_KEYS = ("title", "description", "default")


def suite_json_schema() -> dict[str, Any]:
    schema = Suite.model_json_schema(by_alias=True)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    for name in _INTERNAL_FIELDS:
        schema["properties"].pop(name, None)
    common = defs.pop(CheckSpec.__name__)
    # pydantic cannot say "exactly one of env and file"; the validator does, so must we.
    defs["SecretRef"]["oneOf"] = [{"required": ["env"]}, {"required": ["file"]}]

    branches: list[dict[str, Any]] = []
    unavailable: dict[str, str] = {}
    for name in kind_names():
        try:
            params: type[KindParams] = load_kind(name).Params
            branch = _kind_branch(name, params, common, defs)
        except Exception as exc:  # a broken or uninstallable kind must not hide the others
            unavailable[name] = f"{type(exc).__name__}: {exc}"
            branch = _unavailable_branch(name, common, unavailable[name])
        defs[f"check.{name}"] = branch
        branches.append({"$ref": f"#/$defs/check.{name}"})
    defs["CategorySpec"]["properties"]["checks"]["items"] = {"oneOf": branches}

    schema.pop("description", None)  # Suite's docstring is for programmers
    result: dict[str, Any] = {**schema, "$schema": DIALECT, "title": "smokebot suite"}
    if unavailable:
        result["x-unavailable-kinds"] = unavailable
    return result


def _common_properties(name: str, common: dict[str, Any]) -> dict[str, Any]:
    properties = copy.deepcopy(common["properties"])
    properties["type"] = {"const": name, "title": "Type"}
    return properties


def _kind_branch(name: str, params: type[KindParams], common: dict[str, Any],
                 defs: dict[str, Any]) -> dict[str, Any]:
    """Common fields plus the kind's parameters; the kind's own $defs are renamed
    `<kind>.<Model>` so that two kinds may each have a model called `Header`."""
    own = params.model_json_schema(by_alias=True, ref_template=f"#/$defs/{name}.{{model}}")
    for def_name, definition in own.pop("$defs", {}).items():
        defs[f"{name}.{def_name}"] = definition
    properties = _common_properties(name, common)
    for key, prop in own.get("properties", {}).items():
        if key not in properties:  # a param named like a common field never reaches the kind
            properties[key] = _accepting_placeholder(prop)
    required = list(common.get("required", [])) + [
        key for key in own.get("required", []) if key not in common["properties"]]
    branch: dict[str, Any] = {
        "title": name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if own.get("description"):
        branch["description"] = own["description"]
    return branch


def _unavailable_branch(name: str, common: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        "title": name,
        "description": f"check type '{name}' could not be loaded ({reason}); its parameters "
                       "are not checked here",
        "type": "object",
        "properties": _common_properties(name, common),
        "required": list(common.get("required", [])),
        "additionalProperties": True,
    }


def _accepting_placeholder(prop: dict[str, Any]) -> dict[str, Any]:
    inner = {k: v for k, v in prop.items() if k not in _HOVER_KEYS}
    plain_text = inner.get("type") == "string" and not {"pattern", "enum", "format"} & set(inner)
    if plain_text or not inner:
        return prop  # any text, or anything at all: `${...}` included
    wrapper = {k: prop[k] for k in _HOVER_KEYS if k in prop}
    wrapper["anyOf"] = [inner, _PLACEHOLDER]
    return wrapper
