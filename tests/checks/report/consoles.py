"""Rich consoles that record what the terminal reporter printed, for its tests."""

from __future__ import annotations

import io

from rich.console import Console


def recording_console(*, terminal: bool = False, width: int = 120) -> Console:
    """A console writing to memory; `terminal` makes it a live one (colours, a progress bar)."""
    return Console(file=io.StringIO(), record=True, width=width, force_terminal=terminal,
                   force_interactive=terminal)


def plain_lines(console: Console) -> list[str]:
    """Exported text with runs of spaces collapsed, so assertions do not depend on padding."""
    return [" ".join(line.split()) for line in console.export_text().splitlines()]
