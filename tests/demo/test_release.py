"""The release's migration folder the demo hands the suite: its own, or a copy with one
migration the database has not applied."""

from __future__ import annotations

from pathlib import Path

from demo.release import MIGRATIONS, PENDING_MIGRATION, release_migrations


def test_the_release_is_demo_migrations_when_nothing_is_pending(tmp_path: Path) -> None:
    assert release_migrations(tmp_path, pending=False) == MIGRATIONS
    assert list(tmp_path.iterdir()) == []


def test_a_pending_release_is_a_copy_with_one_migration_more(tmp_path: Path) -> None:
    folder = release_migrations(tmp_path, pending=True)

    names = sorted(path.name for path in folder.iterdir())
    assert folder.parent == tmp_path
    assert names == sorted([*(path.name for path in MIGRATIONS.iterdir()), PENDING_MIGRATION])
    assert "Ecto.Migration" in (folder / PENDING_MIGRATION).read_text(encoding="utf-8")
    assert PENDING_MIGRATION not in {path.name for path in MIGRATIONS.iterdir()}
