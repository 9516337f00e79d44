"""The sample project's CI step: its tests under coverage.py, then coverage.py's JSON report,
as `coverage run -m pytest ARGS; coverage json -o FILE` would, in one process (the demo's
`suite` check runs one command, without a shell). Exits with pytest's exit code.

    python run_tests.py --coverage-json FILE [PYTEST ARGS ...]
"""

from __future__ import annotations

import sys

import coverage
import pytest


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--coverage-json":
        print(__doc__, file=sys.stderr)
        return 2
    report, pytest_args = argv[1], argv[2:]
    # [tool.coverage] of this folder's pyproject.toml says what is measured; no .coverage file.
    measured = coverage.Coverage(data_file=None)
    measured.start()
    try:
        exit_code = pytest.main(pytest_args)
    finally:
        measured.stop()
    measured.json_report(outfile=report)
    return int(exit_code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
