"""Start-up benchmark (issue 13): how long `smokebot validate` of a one-check suite and
`smokebot run` of one zero-delay HTTP check against a local server take, as subprocesses
(median of N runs, wall and CPU time; target <= 0.25 s for the run), and which imports each
spends it on (`-X importtime`, self time summed by top-level package).

`python -m bench.startup OTHER_CHECKOUT` times another tree side by side, its runs interleaved
with this tree's so that a busy machine slows both alike; for the code before a change:
`git archive HEAD | tar -x -C /tmp/before && python -m bench.startup /tmp/before`."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.engine import start_server, suite_text

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9
# Compiled modules are cached as an installed smokebot's are (pip compiles them), outside the
# trees: with PYTHONDONTWRITEBYTECODE set, every start would compile our ~45 modules again.
PYCACHE = Path.home() / ".cache" / "smokebot-bench" / "pycache"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "NO_COLOR": "1", "PYTHONPYCACHEPREFIX": str(PYCACHE), **(extra or {})}


def one_check_suite(base_url: str) -> str:
    return suite_text([f"      - {{id: up, type: http, url: '{base_url}/delay/0', "
                       "assert: ['status == healthy']}"])


def time_child(argv: list[str], cwd: Path,
               env: dict[str, str] | None = None) -> tuple[float, float]:
    """The wall and CPU time (user + system) of one child process, in s; SystemExit with its
    stderr when it fails."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=child_env(env))
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}:\n{errors.decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def timed(args: list[str], trees: list[Path], runs: int = RUNS) -> list[tuple[float, float]]:
    """Per tree, the median wall and CPU time of `python -m bot ARGS` run from it, in s."""
    samples: list[list[tuple[float, float]]] = [[] for _ in trees]
    for tree in trees:  # compiles what is not cached yet
        time_child([sys.executable, "-m", "bot", *args], tree)
    for _ in range(runs):
        for tree, times in zip(trees, samples):
            times.append(time_child([sys.executable, "-m", "bot", *args], tree))
    return [(statistics.median(w for w, _ in times), statistics.median(c for _, c in times))
            for times in samples]


def heaviest_imports(args: list[str], tree: Path, count: int = 8) -> list[tuple[str, float]]:
    """Import time by top-level package, in ms, heaviest first."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot", *args], cwd=tree,
                          capture_output=True, text=True, env=child_env())
    totals: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| (\s*)(\S+)", line)
        if match:  # self times, summed by top-level package
            totals[match.group(3).split(".")[0]] += int(match.group(1)) / 1000
    return totals.most_common(count)


def main() -> None:
    from tests.support.asgi import free_port

    trees = [ROOT, *(Path(arg).resolve() for arg in sys.argv[1:])]
    port = free_port()
    server = start_server(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp, "one.yaml")
            config.write_text(one_check_suite(f"http://127.0.0.1:{port}"))
            commands = {"--version": ["--version"],
                        "validate, 1 check": ["validate", "--config", str(config)],
                        "run, 1 HTTP check": ["run", "bench", "--config", str(config)]}
            print(f"median of {RUNS} runs, wall / CPU seconds; trees: "
                  + ", ".join(f"[{i}] {tree}" for i, tree in enumerate(trees)))
            for label, args in commands.items():
                figures = "   ".join(f"[{i}] {wall:.3f} / {cpu:.3f}"
                                     for i, (wall, cpu) in enumerate(timed(args, trees)))
                target = "  (target <= 0.25 s)" if args[0] == "run" else ""
                print(f"smokebot {label:<18} {figures}{target}")
            for label, args in list(commands.items())[1:]:
                for i, tree in enumerate(trees):
                    heavy = ", ".join(f"{name} {ms:.0f}"
                                      for name, ms in heaviest_imports(args, tree))
                    print(f"imports of `{args[0]}` [{i}], ms: {heavy}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
