"""`smokebot validate` on a suite file built to hurt (issue 10): exit 2, one line naming
file:line, no traceback, at once. The messages themselves are the engine's contract
(tests/checks/test_suite_file_limits.py); here, what the command makes of them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.support.suite_bombs import VALID_SUITE as VALID
from tests.support.suite_bombs import laughs

REPO = Path(__file__).resolve().parents[3]


BOMBS: dict[str, tuple[bytes, str]] = {
    "billion-laughs": (laughs(9).encode(), "6:10: the file holds more than 100,000 values once "
                                           "its aliases are expanded"),
    "nested-brackets": (b"environments: " + b"[" * 5000 + b"]" * 5000 + b"\n",
                        "1:78: nested more than 64 levels deep"),
    "alias-loop": (b"loop: &a [1, *a]\n" + VALID.encode(), "1:14: the alias '*a' is inside"),
    "oversized": (VALID.encode() + b"#" * (2 * 1024 * 1024) + b"\n",
                  "10: the file is 2.0 MiB (2,097,337 bytes); expected at most 1 MiB"),
    "utf-16": (b"\xff\xfe" + VALID.encode("utf-16-le"),
               "1:1: the file is UTF-16 (little endian); expected UTF-8"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
               "3:1: binary file (a NUL byte)"),
    "latin-1": (VALID.replace("/health", "/santé").encode("latin-1"),
                "9:30: invalid UTF-8 (byte 0xE9)"),
    "unclosed-reference": (VALID.replace("${base_url}/health", "${base_url/api/health").encode(),
                           "9:14: categories[0].checks[0].url: '${base_url/api/health' is "
                           "never closed"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_validate_exits_2_naming_the_line_without_a_traceback(tmp_path: Path, name: str) -> None:
    content, expected = BOMBS[name]
    suite = tmp_path / "smoketest.yaml"
    suite.write_bytes(content)

    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["validate", "--config", str(suite)], prog_name="smokebot")
    elapsed = time.perf_counter() - started

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {suite}:{expected}"), result.stderr
    assert result.stderr.count("\n") == 1  # one line
    assert "Traceback" not in result.output
    assert elapsed < 2.0


def test_the_real_entry_point_refuses_the_billion_laughs_at_once(tmp_path: Path) -> None:
    # As it was found: before, `python -m bot validate` ran past 60 s and 4 GB.
    suite = tmp_path / "smoketest.yaml"
    suite.write_text(laughs(9), encoding="utf-8")
    process = subprocess.run([sys.executable, "-m", "bot", "validate", "-c", str(suite)],
                             cwd=REPO, capture_output=True, text=True, timeout=30)
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr == (
        f"error: {suite}:6:10: the file holds more than 100,000 values once its aliases are "
        "expanded; expected fewer (each alias repeats the whole node it names)\n")
