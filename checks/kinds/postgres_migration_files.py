"""The release's migration files, as postgres.migrations' `expect_from` names them: which
migrations a release expects to find applied, by the key each framework's bookkeeping keeps.

    Ecto     priv/repo/migrations/20251028110000_add_x.exs  key 20251028110000
    Rails    db/migrate/20251028110000_add_x.rb             key 20251028110000
    Alembic  versions/*.py holding `revision = "abc123"`    key abc123 (+ down_revision, depends_on)
    Django   <app>/migrations/0003_name.py                  key <app>/0003_name (+ replaces)
    Flyway   V1_2__desc.sql                                 key 1.2; R__desc.sql by its file name
    Prisma   migrations/20251028110000_name/migration.sql   key 20251028110000_name (the folder)
    custom   any file                                       key its leading digits, else its stem

Files are only read, never imported or run: Alembic and Django modules are parsed with `ast`
and their assignments read as literals. A file that does not follow its framework's naming
(a README, Phoenix's `.formatter.exs`, env.py) is skipped and named in `skipped`.
"""

from __future__ import annotations

import ast
import enum
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.errors import CheckError

__all__ = ["Framework", "MigrationFile", "ReleaseFiles", "flyway_version", "read_release_files"]

MAX_FILES = 10_000  # a folder with more is not a migrations folder (or the glob is too wide)
SKIPPED_SHOWN = 10
_NOT_SEARCHED = frozenset({"node_modules", "__pycache__", "site-packages", "venv", ".venv"})
_GLOB = re.compile(r"[*?\[]")


class Framework(str, enum.Enum):
    AUTO = "auto"
    ECTO = "ecto"
    RAILS = "rails"
    ALEMBIC = "alembic"
    DJANGO = "django"
    FLYWAY = "flyway"
    PRISMA = "prisma"
    CUSTOM = "custom"

    @property
    def display_name(self) -> str:
        return {"ecto": "Ecto", "rails": "Rails", "alembic": "Alembic", "django": "Django",
                "flyway": "Flyway", "prisma": "Prisma", "custom": "custom"}.get(self.value,
                                                                               self.value)


@dataclass(frozen=True)
class MigrationFile:
    key: str  # what the bookkeeping holds once this file has run
    name: str  # what a person reads: the file's stem, Prisma's folder name
    path: Path
    parents: tuple[str, ...] = ()  # Alembic: down_revision(s) and depends_on
    replaces: tuple[str, ...] = ()  # Django: the keys a squashed migration stands for
    repeatable: bool = False  # Flyway's R__ files: keyed by file name, run again when changed


@dataclass(frozen=True)
class ReleaseFiles:
    where: Path  # the folder, or the glob's folder
    files: tuple[MigrationFile, ...]
    skipped: tuple[str, ...] = ()


_EXAMPLES = {
    Framework.ECTO: "20251028110000_add_x.exs", Framework.RAILS: "20251028110000_add_x.rb",
    Framework.ALEMBIC: "abc123_add_x.py holding revision = \"abc123\"",
    Framework.DJANGO: "<app>/migrations/0003_add_x.py",
    Framework.FLYWAY: "V1_2__add_x.sql or R__views.sql",
    Framework.PRISMA: "20251028110000_add_x/migration.sql", Framework.CUSTOM: "any file",
}
_TIMESTAMPED = {Framework.ECTO: re.compile(r"^(\d+)_\w*\.exs$"),
                Framework.RAILS: re.compile(r"^(\d+)_\w*\.rb$")}
_FLYWAY_VERSIONED = re.compile(r"^V(\d+(?:[._]\d+)*)__.*\.sql$")
_FLYWAY_REPEATABLE = re.compile(r"^R__.*\.sql$")
_LEADING_DIGITS = re.compile(r"^(\d+)")


def flyway_version(text: str) -> str | None:
    """`1_2`, `1.2`, `1.2.0` and `01.2` are all Flyway version 1.2 (it compares the numbers);
    None when `text` is not a version."""
    parts = re.split(r"[._]", text.strip())
    if not parts or not all(p.isdigit() for p in parts):
        return None
    numbers = [int(p) for p in parts]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return ".".join(str(n) for n in numbers)


def read_release_files(framework: Framework, expect_from: str, resolved: Path) -> ReleaseFiles:
    """The migrations of the release in `expect_from` (a folder or a glob), `resolved` being
    it made absolute (from the suite file's folder). CheckError, permanent, when there is
    nothing to read: a missing folder, no migration in it, two files claiming one key."""
    folder, pattern = _split_glob(resolved)
    if not folder.is_dir():
        raise CheckError(f"expect_from: {folder} is not a folder (from {expect_from!r}; a "
                         "relative path starts at the suite file's folder)", permanent=True)
    candidates = _glob(folder, pattern) if pattern else _walk(framework, folder)
    files: list[MigrationFile] = []
    skipped: list[str] = []
    for path in candidates:
        found = _read_one(framework, path)
        if found is None:
            skipped.append(_relative(path, folder))
        else:
            files.append(found)
    if not files:
        raise CheckError(f"expect_from: no {framework.display_name} migration files in "
                         f"{folder}{f' matching {pattern}' if pattern else ''}; expected "
                         f"files such as {_EXAMPLES[framework]}", permanent=True)
    _refuse_duplicates(files, folder)
    return ReleaseFiles(folder, tuple(files), tuple(skipped[:SKIPPED_SHOWN]))


# ------------------------------------------------------------------------------ finding files

def _split_glob(path: Path) -> tuple[Path, str | None]:
    parts = path.parts
    for i, part in enumerate(parts):
        if _GLOB.search(part):
            return Path(*parts[:i]), "/".join(parts[i:])
    return path, None


def _glob(folder: Path, pattern: str) -> list[Path]:
    found: list[Path] = []
    for match in sorted(folder.glob(pattern)):
        path = match / "migration.sql" if match.is_dir() else match  # Prisma's folders
        if path.is_file() and not path.name.startswith("."):
            found.append(path)
            _bounded(found, folder)
    return found


def _walk(framework: Framework, folder: Path) -> list[Path]:
    """A folder's candidates: its own files, and for the frameworks whose tools look deeper
    (Alembic's recursive version locations, Django's apps, Flyway's locations) its subfolders'."""
    if framework is Framework.PRISMA:
        return sorted(p for p in folder.glob("*/migration.sql") if p.is_file())
    if framework not in (Framework.ALEMBIC, Framework.DJANGO, Framework.FLYWAY):
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _NOT_SEARCHED)
        for name in sorted(names):
            if not name.startswith("."):
                found.append(Path(root) / name)
                _bounded(found, folder)
    if framework is Framework.DJANGO:  # only modules of a `migrations` package
        found = [p for p in found if p.parent.name == "migrations" and p.suffix == ".py"]
    return found


def _bounded(found: list[Path], folder: Path) -> None:
    if len(found) > MAX_FILES:
        raise CheckError(f"expect_from: more than {MAX_FILES} files under {folder}; "
                         "expected the folder of the release's migrations", permanent=True)


# ------------------------------------------------------------------------------ reading one

def _read_one(framework: Framework, path: Path) -> MigrationFile | None:
    name = path.name
    if framework in _TIMESTAMPED:
        match = _TIMESTAMPED[framework].match(name)
        return MigrationFile(match.group(1), path.stem, path) if match else None
    if framework is Framework.PRISMA:
        return MigrationFile(path.parent.name, path.parent.name, path) \
            if name == "migration.sql" else None
    if framework is Framework.FLYWAY:
        if match := _FLYWAY_VERSIONED.match(name):
            version = flyway_version(match.group(1))
            return MigrationFile(version, path.stem, path) if version else None
        if _FLYWAY_REPEATABLE.match(name):
            return MigrationFile(name, path.stem, path, repeatable=True)
        return None  # U (undo) and B (baseline) files are not expected to be applied
    if framework is Framework.ALEMBIC:
        return _alembic(path) if path.suffix == ".py" else None
    if framework is Framework.DJANGO:
        if path.suffix != ".py" or name.startswith(("_", "~")):  # Django's own rule
            return None
        app = path.parent.parent.name
        return MigrationFile(f"{app}/{path.stem}", f"{app}/{path.stem}", path,
                             replaces=_django_replaces(path))
    match = _LEADING_DIGITS.match(path.stem)
    return MigrationFile(match.group(1) if match else path.stem, path.stem, path)


def _alembic(path: Path) -> MigrationFile | None:
    found = _module_literals(path, ("revision", "down_revision", "depends_on"))
    revision = found.get("revision")
    if revision is None:
        return None  # env.py, a helper module
    if not isinstance(revision, str) or not revision:
        raise _unreadable(path, "revision", "a revision id such as \"abc123\"")
    parents = (*_revisions(path, "down_revision", found.get("down_revision")),
               *_revisions(path, "depends_on", found.get("depends_on")))
    return MigrationFile(revision, path.stem, path, parents=parents)


def _revisions(path: Path, field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _unreadable(path, field, "None, a revision id, or a tuple of them")


def _django_replaces(path: Path) -> tuple[str, ...]:
    tree = _parse(path)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            value = _literals(path, node.body, ("replaces",)).get("replaces")
            if value is None:
                return ()
            try:
                return tuple(f"{app}/{name}" for app, name in value)
            except (TypeError, ValueError):
                raise _unreadable(path, "replaces", "a list of (app, name) pairs") from None
    return ()


def _module_literals(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    return _literals(path, _parse(path).body, names)


def _literals(path: Path, body: list[ast.stmt], names: tuple[str, ...]) -> dict[str, Any]:
    """`name = <literal>` and `name: <type> = <literal>` among `body`'s statements."""
    found: dict[str, Any] = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                raise _unreadable(path, target.id, "a literal value") from None
    return found


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"cannot be read ({type(exc).__name__})"
    except SyntaxError as exc:
        problem = f"is not valid Python (line {exc.lineno}: {exc.msg})"
    raise CheckError(f"expect_from: {path} {problem}", permanent=True)


def _unreadable(path: Path, field: str, expected: str) -> CheckError:
    return CheckError(f"expect_from: cannot read {field} in {path}; expected "
                      f"{expected}", permanent=True)


def _refuse_duplicates(files: list[MigrationFile], folder: Path) -> None:
    seen: dict[str, MigrationFile] = {}
    for file in files:
        first = seen.setdefault(file.key, file)
        if first is not file:
            raise CheckError(f"expect_from: {_relative(first.path, folder)} and "
                             f"{_relative(file.path, folder)} are both migration {file.key}; "
                             "expected one file per migration", permanent=True)


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)
