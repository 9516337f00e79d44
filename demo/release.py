"""The release's Ecto migration files, which the suite's postgres.migrations check compares with
the demo database's `schema_migrations` (demo/schema.sql): demo/migrations/ holds exactly the
versions applied there.

Degrading "migrations" gives the suite a copy of the folder with one migration more, as a
release whose `mix ecto.migrate` step did not run would have; the database is left alone, so
no other run sees the change.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["MIGRATIONS", "PENDING_MIGRATION", "PENDING_MIGRATIONS", "release_migrations"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PENDING_MIGRATIONS = "migrations"  # the component `--degrade` breaks
PENDING_MIGRATION = "20251029080000_add_usage_counters_to_customers.exs"

_PENDING_SOURCE = """\
defmodule Rsolv.Repo.Migrations.AddUsageCountersToCustomers do
  use Ecto.Migration

  def change do
    alter table(:customers) do
      add :fixes_this_month, :integer, null: false, default: 0
    end
  end
end
"""


def release_migrations(directory: Path, *, pending: bool) -> Path:
    """demo/migrations, or with `pending` a copy of it in `directory` with PENDING_MIGRATION
    added, which the database has not applied."""
    if not pending:
        return MIGRATIONS
    copy = directory / "migrations"
    shutil.copytree(MIGRATIONS, copy)
    (copy / PENDING_MIGRATION).write_text(_PENDING_SOURCE, encoding="utf-8")
    return copy
