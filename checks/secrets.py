"""A secret value that cannot be printed by accident, and its safe description."""

from __future__ import annotations

__all__ = ["Secret", "describe_secret"]


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


_KNOWN_PREFIXES = ("sk_test_", "sk_live_", "pk_test_", "pk_live_", "rk_test_", "rk_live_",
                   "whsec_", "xoxb-", "xoxp-", "xapp-", "ghp_", "github_pat_")


def describe_secret(value: str | None) -> str:
    """`sk_test_…(32 chars)`: a known, non-secret prefix and the length; never any other part."""
    if value is None:
        return "absent"
    if value == "":
        return "empty"
    prefix = next((p for p in _KNOWN_PREFIXES if value.startswith(p)), "")
    return f"{prefix}…({len(value)} chars)"
