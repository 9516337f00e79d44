"""The engine's public surface is a curated, sorted list, and the engine never imports bot/."""

from __future__ import annotations

import ast
from pathlib import Path

import checks

CHECKS_DIR = Path(checks.__file__).resolve().parent


def test_public_names_are_sorted_and_importable() -> None:
    assert checks.__all__ == sorted(checks.__all__)
    for name in checks.__all__:
        assert getattr(checks, name) is not None


# The `redis` kind checks a target's Redis with redis-py, imported when it connects (never at
# module level, so loading the kind to validate a suite does not): the bot's queue stays out.
TARGET_REDIS_MODULES = ("kinds/redis_client.py", "kinds/redis_queues.py", "kinds/redis_server.py")


def _imported(nodes: list[ast.AST]) -> list[str]:
    return [name for node in nodes
            for name in ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])]


def _run_on_import(tree: ast.Module) -> list[ast.AST]:
    """The nodes run on import: not those in a function, nor in an `if TYPE_CHECKING:`."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or (
                isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def test_engine_never_imports_slack_redis_or_bot() -> None:
    forbidden = ("bot", "slack_sdk", "slack_bolt", "redis", "saq")
    offenders = []
    for path in CHECKS_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _imported(list(ast.walk(tree)))
        if path.relative_to(CHECKS_DIR).as_posix() in TARGET_REDIS_MODULES:
            eager = set(_imported(_run_on_import(tree)))
            names = [n for n in names if n.split(".")[0] != "redis" or n in eager]
        offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []
