"""The pages package's public surface, and its templates shipped with it."""

from __future__ import annotations

from importlib.resources import files

import bot.pages


def test_the_package_exports_its_surface_and_ships_its_templates() -> None:
    assert bot.pages.__all__ == ["LinkSigner", "page_routes", "run_link"]
    assert all(callable(getattr(bot.pages, name)) for name in bot.pages.__all__)
    templates = files("bot.pages") / "templates"
    assert sorted(p.name for p in templates.iterdir() if p.name.endswith(".html")) == [
        "_chart.html", "_run_live.html", "base.html", "check.html", "error.html", "run.html",
        "runs.html"]
