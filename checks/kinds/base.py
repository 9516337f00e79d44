"""The contract every check kind fulfils."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from checks.redact import Redactor
from checks.results import Outcome

__all__ = ["CheckContext", "CheckKind", "KindParams"]


class KindParams(BaseModel):
    """Base for a kind's parameters: unknown fields are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=KindParams)


@dataclass(frozen=True)
class CheckContext:
    environment: str
    redactor: Redactor
    variables: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("smokebot.checks"))


class CheckKind(Generic[P]):
    """One kind of check. Subclasses set `Params` and implement `run`.

    `run` returns an Outcome when it managed to look (passed or not) and raises CheckError
    when it could not; any other exception is reported as an internal error."""

    Params: ClassVar[type[KindParams]]

    async def run(self, params: P, ctx: CheckContext) -> Outcome:
        raise NotImplementedError

    def describe(self, params: P) -> str:
        """One line saying what is checked, for `smokebot list` and reports."""
        return ""
