"""What `smokebot validate` and `smokebot run` import (issue 13): validating an http check
needs its parameters, not an HTTP client, a console or a CA bundle; a run imports the HTTP
client it sends with, and not httpx's own command line. Read from `sys.modules` once the command
has run, in a fresh interpreter as a user's shell starts one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.suite_bombs import VALID_SUITE

REPO = Path(__file__).resolve().parents[3]
# The command, in-process, then every module it imported, one a line, into a file (a None
# in sys.modules stands for a module refused, not imported).
PROGRAM = """
import sys
from bot.cli import cli
try:
    cli.main(sys.argv[2:], prog_name="smokebot")
except SystemExit:
    pass
loaded = sorted(name for name, module in sys.modules.items() if module is not None)
open(sys.argv[1], "w").write("\\n".join(loaded))
"""


def _imported(tmp_path: Path, *args: str) -> set[str]:
    suite = tmp_path / "smoketest.yaml"
    suite.write_text(VALID_SUITE)
    modules = tmp_path / "modules.txt"
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(modules), *args, "--config",
                           str(suite)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert modules.exists(), done.stderr
    return set(modules.read_text().split())


def _roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_validate_imports_no_http_client_console_or_ca_bundle(tmp_path: Path) -> None:
    imported = _imported(tmp_path, "validate")

    assert "checks.kinds.http" in imported  # the check's parameters were validated
    assert _roots(imported) & {"httpx", "httpcore", "aiohttp", "rich", "certifi"} == set()


def test_run_imports_the_client_it_sends_with_and_not_httpxs_command_line(
        tmp_path: Path) -> None:
    # Nothing listens on 127.0.0.1:9: the check errors, having sent its request.
    imported = _imported(tmp_path, "run", "staging")

    assert {"httpx", "aiohttp"} <= _roots(imported)
    assert "pygments" not in _roots(imported)
    assert "httpcore" not in _roots(imported)  # httpx's own transport, used only via a proxy
