"""A secret value that cannot be printed by accident, and its safe description."""

from __future__ import annotations

__all__ = ["KNOWN_PREFIXES", "Secret", "describe_secret", "known_prefix"]


class Secret:
    """Holds a secret; `str`, `repr` and f-strings show a fingerprint, never the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return describe_secret(self._value)

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> object:  # pickling would write the value somewhere
        raise TypeError("a Secret cannot be pickled")

    # Immutable, so a copy is itself; without these, copy.deepcopy would hit __reduce__.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


# Prefixes that only say which kind of key a value is: each is published by its issuer and
# fixed for every key of that kind, so showing it tells a reader nothing secret. Nothing else
# of a value is ever shown, not even its first characters.
KNOWN_PREFIXES = (
    "sk_test_", "sk_live_", "pk_test_", "pk_live_", "rk_test_", "rk_live_", "whsec_",  # Stripe
    "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xapp-",  # Slack tokens (bot, user, app-level ...)
    "github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",  # GitHub tokens
    "glpat-",  # GitLab personal access tokens
    "AKIA", "ASIA",  # AWS access key ids (long-term, temporary)
)
# A prefix is shown only with at least this many characters hidden after it: a value that is
# (almost) all prefix would otherwise be (almost) shown whole.
_HIDDEN_AFTER_PREFIX = 8
_LONGEST_FIRST = sorted(KNOWN_PREFIXES, key=len, reverse=True)


def known_prefix(value: str) -> str:
    """The public kind marker `value` starts with, or "" when it has none."""
    for prefix in _LONGEST_FIRST:
        if value.startswith(prefix) and len(value) - len(prefix) >= _HIDDEN_AFTER_PREFIX:
            return prefix
    return ""


def describe_secret(value: str | None) -> str:
    """`sk_test_…(32 chars)` for a key of a known kind, `(32 chars)` for any other secret: a
    public kind marker and the length, never any other part."""
    if value is None:
        return "absent"
    if value == "":
        return "empty"
    prefix = known_prefix(value)
    length = f"({len(value)} chars)"
    return f"{prefix}…{length}" if prefix else length
