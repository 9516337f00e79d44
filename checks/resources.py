"""What the checks of one run share: objects a kind makes once per run rather than once per
check (the http kinds' connection pools, so a check to a host reuses the connection an earlier
check opened). The runner makes one `RunResources` per run, hands it to every check in
`CheckContext.resources`, and closes it when the run ends; the runner knows nothing of what is
in it."""

from __future__ import annotations

import inspect
import logging
from typing import Any, TypeVar

__all__ = ["RunResources"]

T = TypeVar("T")

log = logging.getLogger("smokebot.checks")


class RunResources:
    def __init__(self) -> None:
        self._made: dict[type, Any] = {}
        self._closed = False

    def get(self, kind: type[T]) -> T:
        """The run's one instance of `kind`, made by `kind()` for the first check that asks.
        Making it is not async, so checks that ask at once get the same one. It is closed with
        the run if it has an `aclose()` (or `close()`)."""
        if self._closed:
            raise RuntimeError("the run's resources are closed: the run has ended")
        made = self._made.get(kind)
        if made is None:
            made = self._made[kind] = kind()
        return made  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Closes what was made, the last made first. A resource that fails to close is logged:
        the run's results stand."""
        self._closed = True
        made, self._made = list(self._made.values()), {}
        for resource in reversed(made):
            close = getattr(resource, "aclose", None) or getattr(resource, "close", None)
            if close is None:
                continue
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - closing must not lose the run
                log.warning("could not close %s after the run: %s: %s",
                            type(resource).__name__, type(exc).__name__, exc)
