"""The contract every check kind fulfils."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from checks.redact import Redactor
from checks.results import Outcome

if TYPE_CHECKING:
    from checks.resources import RunResources
    from checks.traffic import TrafficPolicy

__all__ = ["CheckContext", "CheckKind", "KindParams", "resolve_path"]


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
    # For a long check to say how far it is: progress("812/3000 requests", 0.27).
    progress: Callable[..., None] = lambda text, fraction=None: None
    # What traffic probes (load, ratelimit) may send in this run; None: the default policy.
    traffic: TrafficPolicy | None = None
    check_id: str = ""
    # What the run's checks share (connection pools), closed when the run ends; None when a
    # kind is run on its own, outside a run: it then makes and closes its own.
    resources: RunResources | None = None
    # The suite file's folder: relative paths a check names (ca_file, cwd) start there.
    suite_dir: Path | None = None

    def resolve_path(self, path: str | Path) -> Path:
        return resolve_path(path, self.suite_dir)

    @property
    def run_id(self) -> str | None:
        """The plan's `${run.id}`, the same in every check and attempt of a run; None in a
        context built without a plan (a test, a plugin)."""
        run = self.variables.get("run")
        found = run.get("id") if isinstance(run, dict) else None
        return str(found) if found else None


def resolve_path(path: str | Path, suite_dir: Path | None) -> Path:
    """`~` expanded; a relative path taken from the suite file's folder (the working directory
    when there is no suite file), so that a suite behaves the same whatever directory smokebot
    was started in."""
    resolved = Path(path).expanduser()
    if resolved.is_absolute():
        return resolved
    return (suite_dir or Path.cwd()) / resolved


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

    def exclusive_group(self, params: P) -> str | None:
        """A name shared by checks that must not run at the same time within a run (traffic
        probes, whose figures would disturb each other): the runner runs them one by one."""
        return None

    def min_timeout(self, params: P) -> float | None:
        """The least time a check of these parameters needs (a load probe's warm-up plus
        duration): the plan raises the suite's default timeout to it, and refuses a timeout
        the check sets itself below it."""
        return None
