"""Renderers of a finished run (and the live progress of one): terminal, Markdown, JSON and
JUnit XML. Each takes a `RunResult` and the run's `Redactor`, and redacts everything it emits."""

from __future__ import annotations

from checks.report.json import render_json
from checks.report.junit import render_junit
from checks.report.markdown import render_markdown
from checks.report.terminal import TerminalProgress, render_summary

__all__ = ["TerminalProgress", "render_json", "render_junit", "render_markdown",
           "render_summary"]
