"""postgres.migrations: whether the deployed schema is where the release expects it, from the
application's own migration bookkeeping (Ecto, Rails, Alembic, Django, Flyway, Prisma, or a
custom table; see `checks.kinds.postgres_migration_bookkeeping`).

`framework: auto` (the default) picks the framework by which bookkeeping table the schema
holds, and says why. Expectations, in any combination: `latest` (at least this version
applied), `expect_from` (every migration of the release's files applied; see
`checks.kinds.postgres_migration_files`), `no_failed` (on by default: Flyway's failed rows,
Prisma's unfinished ones). Alembic keeps only its heads: what lies below them is found by
walking the release's files down from the heads. The bookkeeping is read in a READ ONLY
transaction that is rolled back, through the session every postgres.* kind uses.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from checks.config import describe_input
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.postgres_migration_bookkeeping import (
    DEFAULT_TABLES, Bookkeeping, NoBookkeeping, read_bookkeeping,
)
from checks.kinds.postgres_migration_files import (
    Framework, MigrationFile, ReleaseFiles, flyway_version, read_release_files,
)
from checks.kinds.postgres_session import (
    PostgresParams, Session, describe_target, with_session,
)
from checks.results import Outcome

__all__ = ["Framework", "MigrationsCheck", "MigrationsParams"]

NAMES_IN_SUMMARY = 3
LISTED_IN_EVIDENCE = 100
_LEADING_DIGITS = re.compile(r"^(\d+)")


class MigrationsParams(PostgresParams):
    framework: Framework = Framework.AUTO
    schema_: str = Field("public", alias="schema", min_length=1)
    # The bookkeeping table, when not the framework's own name (Flyway's `table` setting).
    table: str | None = Field(None, min_length=1, validate_default=True)
    column: str | None = Field(None, min_length=1, validate_default=True)  # custom only
    latest: str | None = None
    expect_from: str | None = Field(None, min_length=1)
    no_failed: bool = True

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("latest", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        if value is None:
            return None
        # YAML reads `latest: 20251027093000` as a number and `latest: 1.10` as 1.1.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, float):
            raise ValueError(f"expected a version as text, got the number {value:g}: quote it, "
                             "as in latest: '1.10' (a number loses trailing zeros)")
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise ValueError("expected a version such as 20251027093000, '1.2' (Flyway), 'abc123' "
                         f"(Alembic) or 'billing/0003_add_x' (Django), got "
                         f"{describe_input(value)}")

    @field_validator("table")
    @classmethod
    def _table_needs_framework(cls, table: str | None, info: ValidationInfo) -> str | None:
        framework = info.data.get("framework")
        if table is not None and framework is Framework.AUTO:
            tables = ", ".join(sorted(set(DEFAULT_TABLES.values())))
            raise ValueError("expected framework with table: auto-detection looks for each "
                             f"framework's own table ({tables})")
        if table is None and framework is Framework.CUSTOM:
            raise ValueError("framework custom needs table: the table holding the applied "
                             "versions")
        return table

    @field_validator("column")
    @classmethod
    def _column_for_custom(cls, column: str | None, info: ValidationInfo) -> str | None:
        framework = info.data.get("framework")
        if framework is Framework.CUSTOM and column is None:
            raise ValueError("framework custom needs column: the column holding the applied "
                             "versions")
        if framework not in (Framework.CUSTOM, None) and column is not None:
            raise ValueError(f"column is for framework custom; {framework.value} keeps its "
                             "versions where the framework does")
        return column


# ------------------------------------------------------------------------------ judging

@dataclass
class _Verdict:
    failures: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, Any] = field(default_factory=dict)


def _judge(params: MigrationsParams, book: Bookkeeping,
           release: ReleaseFiles | None) -> Outcome:
    framework = book.framework
    verdict = _Verdict()
    applied = set(book.applied)
    unknown: list[str] = []
    if release is not None:
        applied, unknown = _applied_per_release(book, release.files)
    latest_applied = _latest_applied(book)
    verdict.evidence.update({"framework": framework.value, "table": book.table})
    verdict.details.append(f"framework: {framework.display_name}"
                           + (f" (detected: {book.detected})" if book.detected else ""))
    if book.detected:
        verdict.evidence["detected"] = book.detected
    noun = "head" if framework is Framework.ALEMBIC else "migration"
    verdict.details.append(f"table: {book.table}: {_plural(len(book.applied), noun)} applied"
                           + (f", latest {latest_applied}" if latest_applied else ""))
    verdict.evidence.update({"applied_count": len(book.applied),
                             "latest_applied": latest_applied})
    verdict.measurements["applied_count"] = len(book.applied)
    if latest_applied is not None and latest_applied.isdigit():
        verdict.measurements["latest_applied"] = int(latest_applied)

    if params.no_failed and book.failed:
        names = [f.name for f in book.failed]
        verdict.failures.append(f"{_plural(len(names), 'failed migration')}: {_names(names)}")
        verdict.details += [f"failed: {f.name} ({f.detail})" for f in book.failed]
    if book.records_failures:
        verdict.evidence["failed"] = [{"name": f.name, "detail": f.detail}
                                      for f in book.failed[:LISTED_IN_EVIDENCE]]
        verdict.measurements["failed_count"] = len(book.failed)

    if release is not None:
        _judge_release(params, book, release, applied, unknown, verdict)
    if params.latest is not None:
        _judge_latest(params.latest, book, applied, release, latest_applied, verdict)

    if verdict.failures:
        return Outcome.failed("; ".join(verdict.failures), details="\n".join(verdict.details),
                              measurements=verdict.measurements, evidence=verdict.evidence)
    return Outcome.ok(_passed_summary(params, book, release, latest_applied),
                      details="\n".join(verdict.details), measurements=verdict.measurements,
                      evidence=verdict.evidence)


def _judge_release(params: MigrationsParams, book: Bookkeeping, release: ReleaseFiles,
                   applied: set[str], unknown: list[str], verdict: _Verdict) -> None:
    if book.framework is Framework.ALEMBIC and unknown:
        # What lies below a head the files lack cannot be told: no pending list is made up.
        verdict.failures.append(f"alembic_version holds {', '.join(unknown)}, which the "
                                "release's revisions do not include: the database is ahead of "
                                "this release, or apart from it")
        verdict.evidence.update({"expect_from": params.expect_from,
                                 "release_folder": str(release.where),
                                 "release_count": len(release.files), "not_in_release": unknown})
        return
    pending = [f for f in release.files if not _is_applied(f, applied, book)]
    pending.sort(key=lambda f: _order(book.framework, f.key, f.name))
    names = [f.name for f in pending]
    verdict.details.append(f"release: {_plural(len(release.files), 'migration')} in "
                           f"{params.expect_from} ({release.where}), {len(pending)} pending")
    verdict.details += [f"pending: {name}" for name in names]
    verdict.details += [f"applied but not in the release: {key}" for key in unknown]
    if release.skipped:
        verdict.details.append(f"skipped (not {book.framework.display_name} migrations to "
                               f"apply): {', '.join(release.skipped)}")
    verdict.evidence.update({
        "expect_from": params.expect_from, "release_folder": str(release.where),
        "release_count": len(release.files), "pending": names[:LISTED_IN_EVIDENCE],
        "not_in_release": unknown[:LISTED_IN_EVIDENCE], "skipped": list(release.skipped)})
    verdict.measurements["pending_count"] = len(pending)
    if pending:
        verdict.failures.append(f"{_plural(len(pending), 'migration')} pending: {_names(names)}")


def _judge_latest(latest: str, book: Bookkeeping, applied: set[str],
                  release: ReleaseFiles | None, latest_applied: str | None,
                  verdict: _Verdict) -> None:
    verdict.evidence["expected_latest"] = latest
    reached = _reaches(latest, book, applied, release)
    if reached:
        verdict.details.append(f"latest: {latest} or later is applied")
        return
    got = f"latest applied {latest_applied}" if latest_applied else "no migration applied"
    if book.framework is Framework.ALEMBIC:
        got = f"revision {latest} is not applied (heads: {latest_applied or 'none'})"
        verdict.failures.append(got)
    elif book.framework is Framework.DJANGO:
        verdict.failures.append(f"{latest} is not applied")
    else:
        verdict.failures.append(f"{got}, expected at least {latest}")
    verdict.details.append(f"latest: {verdict.failures[-1]}")


def _reaches(latest: str, book: Bookkeeping, applied: set[str],
             release: ReleaseFiles | None) -> bool:
    framework = book.framework
    if framework is Framework.ALEMBIC:
        if latest in applied:
            return True
        if release is None:
            raise CheckError(f"latest: alembic_version holds only the current heads "
                             f"({', '.join(book.applied) or 'none'}); whether revision {latest} "
                             "is applied below them takes the revision files: set expect_from "
                             "to the versions folder", permanent=True)
        return False
    if framework is Framework.DJANGO:
        app, _, name = latest.partition("/")
        if not app or not name:
            raise CheckError(f"latest: expected app/name for Django, such as "
                             f"billing/0003_add_x, got {latest!r}", permanent=True)
        wanted = _number(name)
        return latest in applied or (wanted is not None and any(
            key.startswith(f"{app}/") and _at_least(key.split("/", 1)[1], wanted)
            for key in applied))
    if framework is Framework.FLYWAY:
        wanted_version = flyway_version(latest.removeprefix("V").removeprefix("v"))
        if wanted_version is None:
            raise CheckError(f"latest: expected a Flyway version such as 1.2, got {latest!r}",
                             permanent=True)
        reached = [_version_tuple(k) for k in applied if flyway_version(k)]
        if book.baseline:
            reached.append(_version_tuple(book.baseline))
        return any(v >= _version_tuple(wanted_version) for v in reached)
    wanted = _number(latest)
    if wanted is None:  # a custom table of names, not numbers: that one must be there
        return latest in applied
    return any(_at_least(key, wanted) for key in applied)


def _applied_per_release(book: Bookkeeping,
                         files: tuple[MigrationFile, ...]) -> tuple[set[str], list[str]]:
    """The keys that count as applied given the release's files, and the applied keys the
    release does not know (a newer release ran here, or a file was renamed)."""
    framework = book.framework
    keys = {f.key for f in files}
    applied = set(book.applied)
    if framework is Framework.ALEMBIC:
        return _alembic_applied(book.applied, files)
    if framework is Framework.DJANGO:
        for file in files:  # a squashed migration recorded stands for the ones it replaces
            if file.replaces and file.key in applied:
                applied.update(file.replaces)
        apps = {f.key.split("/", 1)[0] for f in files}
        unknown = [k for k in book.applied if k not in keys and k.split("/", 1)[0] in apps
                   and not any(k in f.replaces for f in files)]
        return applied, unknown
    unknown = [k for k in book.applied if k not in keys]
    if framework is Framework.FLYWAY and book.baseline:
        unknown = [k for k in unknown if k != book.baseline]
    return applied, unknown


def _alembic_applied(heads: tuple[str, ...],
                     files: tuple[MigrationFile, ...]) -> tuple[set[str], list[str]]:
    """alembic_version holds the heads only: everything reachable from them through
    down_revision (and depends_on) is applied too."""
    by_revision = {f.key: f for f in files}
    applied: set[str] = set()
    stack = list(heads)
    while stack:
        revision = stack.pop()
        if revision in applied:
            continue
        applied.add(revision)
        file = by_revision.get(revision)
        if file is not None:
            stack.extend(file.parents)
    return applied, [h for h in heads if h not in by_revision]


def _is_applied(file: MigrationFile, applied: set[str], book: Bookkeeping) -> bool:
    if file.key in applied:
        return True
    if file.replaces and all(key in applied for key in file.replaces):
        return True  # Django records a squash's replaced migrations when it applies it
    if book.framework is Framework.FLYWAY and book.baseline and not file.repeatable:
        return _version_tuple(file.key) <= _version_tuple(book.baseline)
    return False


def _latest_applied(book: Bookkeeping) -> str | None:
    if not book.applied:
        return None
    if book.framework is Framework.ALEMBIC:
        return ", ".join(book.applied)
    if book.framework is Framework.DJANGO:
        return book.applied[-1]  # the table's own order: the last one run
    if book.framework is Framework.FLYWAY:
        versions = [k for k in book.applied if flyway_version(k)]
        return max(versions, key=_version_tuple) if versions else None
    numbered = [k for k in book.applied if _number(k) is not None]
    if not numbered:
        return book.applied[-1]
    return max(numbered, key=lambda k: (_number(k), k))


def _order(framework: Framework, key: str, name: str) -> tuple[Any, ...]:
    if framework is Framework.FLYWAY and flyway_version(key):
        return (0, _version_tuple(key), name)
    number = _number(name)
    return (0, number, name) if number is not None else (1, 0, name)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _at_least(key: str, wanted: int) -> bool:
    number = _number(key)
    return number is not None and number >= wanted


def _number(text: str) -> int | None:
    match = _LEADING_DIGITS.match(text)
    return int(match.group(1)) if match else None


def _passed_summary(params: MigrationsParams, book: Bookkeeping, release: ReleaseFiles | None,
                    latest_applied: str | None) -> str:
    count = len(book.applied)
    noun = "head" if book.framework is Framework.ALEMBIC else "migration"
    text = f"{book.framework.display_name}: {_plural(count, noun)} applied"
    if latest_applied and book.framework is not Framework.ALEMBIC:
        text += f", latest {latest_applied}"
    elif latest_applied:
        text += f" ({latest_applied})"
    if release is not None:
        text += f"; all {len(release.files)} of the release's migrations applied"
    if params.latest is not None:
        text += f"; {params.latest} reached"
    if params.no_failed and book.records_failures:
        text += "; none failed"
    return text


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_IN_SUMMARY])
    hidden = len(names) - NAMES_IN_SUMMARY
    return f"{shown}, … ({hidden} more)" if hidden > 0 else shown


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# ------------------------------------------------------------------------------ the kind

class MigrationsCheck(CheckKind[MigrationsParams]):
    """The application's migration bookkeeping says the deployed schema is where the release
    expects it."""

    Params = MigrationsParams

    async def run(self, params: MigrationsParams, ctx: CheckContext) -> Outcome:
        where = params.expect_from
        files = ctx.resolve_path(where) if where else None  # from the suite file's folder
        release: ReleaseFiles | None = None
        if where and files and params.framework is not Framework.AUTO:
            # Read first: a wrong folder is found without a connection.
            release = await asyncio.to_thread(read_release_files, params.framework, where,
                                              files)

        async def look(session: Session) -> Bookkeeping | Outcome:
            conn = session.conn
            await conn.set_read_only(True)  # BEGIN READ ONLY: the server refuses any write
            try:
                async with conn.transaction(force_rollback=True):
                    return await read_bookkeeping(conn, params.framework, params.schema_,
                                                  params.table, params.column)
            except NoBookkeeping as missing:
                return Outcome.failed(missing.summary, evidence=missing.evidence)

        book = await with_session(params, ctx, look, action="migration lookup",
                                  privilege="SELECT", read_only_hint=(
                                      "something behind the bookkeeping table (a view, a "
                                      "function) writes, and this check only reads"))
        if isinstance(book, Outcome):
            return book
        if where and files and release is None:  # the framework was known only now
            release = await asyncio.to_thread(read_release_files, book.framework, where, files)
        return _judge(params, book, release)

    def describe(self, params: MigrationsParams) -> str:
        framework = "migrations" if params.framework is Framework.AUTO else \
            f"{params.framework.display_name} migrations"
        where = f"{describe_target(params.dsn)}, schema {params.schema_}"
        wants = []
        if params.latest is not None:
            wants.append(f"at least {params.latest}")
        if params.expect_from:
            wants.append(f"every migration of {params.expect_from} applied")
        if params.no_failed:
            wants.append("none failed")
        return f"{framework} in {where}: {', '.join(wants) or 'read and reported'}"
