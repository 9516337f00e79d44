"""`k8s.secret`: a secret exists and holds the required keys, each value checked in memory
against its rules (non-empty, a prefix such as `sk_test_`, a pattern, a minimum length).

The result names keys, says present or missing, gives lengths and the rules that failed;
never a value, a part of one, or its base64. Every value is registered with the redactor the
moment it is read (see `Cluster.secret_data`), so that not even a bug elsewhere can print it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.k8s_client import K8sParams, compiling_regex, open_cluster, resolve_target
from checks.results import Outcome
from checks.secrets import Secret

__all__ = ["KeyRules", "SecretCheck", "SecretParams", "failed_rules"]


class KeyRules(BaseModel):
    """What one key's value must satisfy. Every rule's text is configuration, never data, so
    a failure may quote the rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    non_empty: bool = True
    prefix: str | None = None  # sk_test_ in staging, sk_live_ in production
    # a regular expression the whole value must match
    pattern: Annotated[str | None, AfterValidator(compiling_regex)] = None
    min_length: Annotated[int, Field(ge=1)] | None = None


def _keys_as_mapping(value: Any) -> Any:
    """`keys: [a, b]` is short for `keys: {a: {}, b: {}}`; `a:` with no rules is `{}`."""
    if isinstance(value, list):
        return {str(key): {} for key in value}
    if isinstance(value, dict):
        return {key: ({} if rules is None else rules) for key, rules in value.items()}
    return value


class SecretParams(K8sParams):
    secret: str
    keys: Annotated[dict[str, KeyRules], BeforeValidator(_keys_as_mapping),
                    Field(min_length=1)]


def failed_rules(value: Secret, rules: KeyRules) -> list[str]:
    """The rules `value` breaks, described by the rule alone."""
    text = value.reveal()
    failed = []
    if rules.non_empty and not text:
        failed.append("non_empty")
    if rules.min_length is not None and len(text) < rules.min_length:
        failed.append(f"min_length (expected at least {rules.min_length} chars)")
    if rules.prefix is not None and not text.startswith(rules.prefix):
        failed.append(f"prefix (expected {rules.prefix})")
    if rules.pattern is not None and not re.fullmatch(rules.pattern, text):
        failed.append(f"pattern (expected to match {rules.pattern})")
    return failed


class SecretCheck(CheckKind[SecretParams]):
    Params: ClassVar[type[SecretParams]] = SecretParams

    def describe(self, params: SecretParams) -> str:
        where = f" in {params.namespace}" if params.namespace else ""
        return f"secret {params.secret}{where} holds {', '.join(params.keys)}"

    async def run(self, params: SecretParams, ctx: CheckContext) -> Outcome:
        target = resolve_target(ctx, params.namespace)
        async with open_cluster(target, ctx.redactor, params.request_timeout) as cluster:
            values = await cluster.secret_data(target.namespace, params.secret)

        report: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        lines = [f"secret {params.secret} in {target.namespace}:"]
        for key, rules in params.keys.items():
            value = values.get(key)
            if value is None:
                report[key] = {"present": False, "length": None, "failed_rules": []}
                problems.append(f"missing key {key}")
                lines.append(f"  {key}: missing")
                continue
            failed = failed_rules(value, rules)
            length = len(value.reveal())
            report[key] = {"present": True, "length": length,
                           "failed_rules": [rule.split(" ", 1)[0] for rule in failed]}
            problems += [f"key {key} fails rule {rule}" for rule in failed]
            verdict = "fails " + ", ".join(failed) if failed else "ok"
            lines.append(f"  {key}: present, {length} chars, {verdict}")

        present = sum(entry["present"] for entry in report.values())
        measurements = {"keys_required": len(report), "keys_present": present}
        evidence = {"namespace": target.namespace, "secret": params.secret, "keys": report}
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return Outcome.failed(f"secret {params.secret}: {problems[0]}{more}",
                                  details="\n".join(lines + ["", *problems]),
                                  measurements=measurements, evidence=evidence)
        return Outcome.ok(f"secret {params.secret}: {present}/{len(report)} keys present, "
                          f"every rule holds", details="\n".join(lines),
                          measurements=measurements, evidence=evidence)
