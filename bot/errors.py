"""Errors raised by smokebot's adapters (`bot/`), under the engine's one error tree.

    SmokebotError (checks.errors)   base; carries `exit_code` and renders itself for a user
    ├── ConfigError (checks.errors) a suite file or a setting is wrong; exit 2
    │   ├── SettingError            an environment variable has a value of the wrong form
    │   └── CannotListen            `serve` cannot listen on its --host and --port (in use, not
    │                               an address of this machine, a port it may not bind)
    ├── QueueUnavailable            Redis (the run queue) cannot be reached; transient
    ├── SlackUnavailable            Slack did not take a call after retries (429, 5xx,
    │                               timeouts, refused): transient, the outbox tries again
    ├── SlackRefused                Slack answered ok=false (`problem`, e.g. not_in_channel);
    │                               `permanent`: retrying the same call cannot help
    ├── ReportFailed                a deploy's source did not take a run's verdict (GitHub's
    │                               API, a callback URL): `permanent` (401, 404, 422: give
    │                               up) or not (5xx, 429, timeouts: the deliverer retries)
    ├── GroupLookupFailed           Slack would not list a user group's members: the request
    │                               is refused with `reason`, never crashed
    ├── AckInputError               an Acknowledge modal input is wrong; `errors` maps each
    │                               input's block id to its message, shown under that input
    ├── RequestRefused              an HTTP request is refused before anything parses it
    │   │                           (`status`: 400, 401, 413, 415; `reason` is safe to log)
    │   └── WebhookRejected         a webhook request is refused
    └── StoreError                  the history store could not do what was asked
        ├── StoreUnavailable        PostgreSQL cannot be reached, the connection was lost, or
        │                           no pooled connection came free in time; transient: the
        │                           caller says "try again shortly" and the pool reconnects
        │                           by itself when PostgreSQL is back
        ├── RunNotFound             no run has that id (`run_id`)
        ├── DuplicateRun            a run already holds that idempotency key (`existing`)
        └── MigrationError          a migration file is malformed, or an applied one was edited

psycopg's and psycopg_pool's exceptions are translated into the store's in `bot/store/`,
redis's into QueueUnavailable by the queue, and slack_sdk's and aiohttp's into SlackUnavailable
or SlackRefused by the Slack client (`bot/slack/client.py`), so callers never handle a driver's
types. Messages never contain a DSN's password or a token.

This module imports nothing of `bot/` but the records, so every module may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from uuid import UUID

from checks.errors import ConfigError, SmokebotError

if TYPE_CHECKING:
    from bot.records import Run

__all__ = ["AckInputError", "CannotListen", "DuplicateRun", "GroupLookupFailed", "MigrationError",
           "QueueUnavailable", "ReportFailed", "RequestRefused", "RunNotFound", "SettingError",
           "SlackRefused", "SlackUnavailable", "StoreError", "StoreUnavailable",
           "WebhookRejected"]


class SettingError(ConfigError):
    """A SMOKEBOT_* setting has a value of the wrong form; the message names the variable and
    what was expected."""


class CannotListen(ConfigError):
    """`smokebot serve` cannot bind its address; the message names it and what to change."""


class QueueUnavailable(SmokebotError):
    """Redis, which carries runs to the workers, is unreachable; retrying later can help."""


class SlackUnavailable(SmokebotError):
    """Slack did not take the call; retrying later can help. `retry_after_s` is Slack's own
    Retry-After when it rate-limited the call. `maybe_sent` is False only when Slack's answer
    proves the call was not carried out (429): after a 5xx or a lost connection a post may
    have happened all the same."""

    def __init__(self, message: str, *, retry_after_s: float | None = None,
                 maybe_sent: bool = True) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.maybe_sent = maybe_sent


class SlackRefused(SmokebotError):
    """Slack answered the call with ok=false. `problem` is Slack's error code."""

    # The bot cannot post there; a person has to fix it.
    CHANNEL_PROBLEMS = frozenset({"not_in_channel", "channel_not_found", "is_archived",
                                  "missing_scope", "restricted_action", "ekm_access_denied",
                                  "not_authed", "invalid_auth", "account_inactive",
                                  "token_revoked"})

    def __init__(self, method: str, problem: str) -> None:
        super().__init__(f"Slack refused {method}: {problem}")
        self.method = method
        self.problem = problem or "unknown_error"

    @property
    def channel_problem(self) -> bool:
        return self.problem in self.CHANNEL_PROBLEMS


class ReportFailed(SmokebotError):
    """A run's verdict was not taken by its deploy's source (bot/report_back/). `permanent`:
    sending the same report again cannot help. `maybe_sent` is False only when the answer
    proves the report was not taken (a rate limit, a connection never made): after a 5xx or
    a timeout it may have been. `retry_after_s` is the source's own wait (Retry-After, a rate
    limit's reset). `status` is the HTTP answer's, if there was one. The message never holds
    a token."""

    def __init__(self, message: str, *, permanent: bool = False, maybe_sent: bool = True,
                 retry_after_s: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.maybe_sent = maybe_sent
        self.retry_after_s = retry_after_s
        self.status = status


class GroupLookupFailed(SmokebotError):
    """Slack would not list a user group's members: the request is refused, not crashed."""

    def __init__(self, group: str, problem: str) -> None:
        where = f"could not look up the members of <!subteam^{group}> in Slack ({problem})"
        if problem == "no_such_subteam":
            reason = f"{where}; ask an admin to fix allowed_usergroups in the suite file."
        elif problem == "missing_scope":
            reason = f"{where}; the bot needs the usergroups:read scope."
        elif problem.startswith("HTTP ") or problem == "Slack did not answer":
            reason = f"{where}; try again shortly."
        else:
            reason = f"{where}; ask an admin to check allowed_usergroups."
        super().__init__(reason)
        self.group = group
        self.problem = problem
        self.reason = reason


class AckInputError(SmokebotError):
    """An Acknowledge modal submission to refuse. `errors` maps block ids to messages; Slack
    shows each under its own input (`response_action: errors`)."""

    exit_code = 2

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


class RequestRefused(SmokebotError):
    """An HTTP request refused with `status` (400 malformed, 401 unauthenticated, 413 too
    large, 415 wrong content type); `reason` is safe to send back, log and record: it never
    quotes the body, a signature or a token."""

    status = 400

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status


class WebhookRejected(RequestRefused):
    """A webhook request refused after it was read (400 malformed, 401 unauthenticated)."""


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
