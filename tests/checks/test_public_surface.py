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


def test_engine_never_imports_slack_redis_or_bot() -> None:
    forbidden = ("bot", "slack_sdk", "slack_bolt", "redis", "saq")
    offenders = []
    for path in CHECKS_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []
