"""Errors raised by smokebot's adapters (`bot/`), under the engine's one error tree.

    SmokebotError (checks.errors)   base; carries `exit_code` and renders itself for a user
    ├── QueueUnavailable            Redis (the run queue) cannot be reached; transient
    └── StoreError                  the history store could not do what was asked
        ├── StoreUnavailable        PostgreSQL cannot be reached, the connection was lost, or
        │                           no pooled connection came free in time; transient: the
        │                           caller says "try again shortly" and the pool reconnects
        │                           by itself when PostgreSQL is back
        ├── RunNotFound             no run has that id (`run_id`)
        ├── DuplicateRun            a run already holds that idempotency key (`existing`)
        └── MigrationError          a migration file is malformed, or an applied one was edited

psycopg's and psycopg_pool's exceptions are translated into the store's in `bot/store.py`, and
redis's into QueueUnavailable by the queue, so callers never handle a driver's types.
Messages never contain a DSN's password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from checks.errors import SmokebotError

if TYPE_CHECKING:
    from bot.store import Run

__all__ = ["DuplicateRun", "MigrationError", "QueueUnavailable", "RunNotFound", "StoreError",
           "StoreUnavailable"]


class QueueUnavailable(SmokebotError):
    """Redis, which carries runs to the workers, is unreachable; retrying later can help."""


class StoreError(SmokebotError):
    """The history store (PostgreSQL) could not do what was asked."""


class StoreUnavailable(StoreError):
    """PostgreSQL is unreachable or saturated; retrying later can help."""

    def __init__(self, message: str, *, where: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.where = where  # host:port/database, never the password
        self.reason = reason  # "connection refused", "database \"x\" does not exist", ...


class RunNotFound(StoreError):
    def __init__(self, run_id: UUID | str) -> None:
        super().__init__(f"no run with id {run_id} in the history store")
        self.run_id = run_id


class DuplicateRun(StoreError):
    """A run was already created with this idempotency key: the trigger was delivered twice."""

    def __init__(self, existing: Run) -> None:
        super().__init__(f"a run already exists for idempotency key {existing.idempotency_key!r}: "
                         f"{existing.id} ({existing.status.value})")
        self.existing = existing


class MigrationError(StoreError):
    pass
