"""HTTP path benchmark (issue 13): 500 zero-delay `http` checks, each with the demo health
check's five JSON assertions, against a local server in its own process (bench.health_server),
at the default concurrency of 50:

- through the real CLI: `smokebot run` as a subprocess, writing the JSON report to a file;
- through the engine in-process: `run_plan` of an already built plan, in a fresh process;
- through StepCI (npm `stepci`, installed on first use into ~/.cache/smokebot-bench), on the
  same 500 requests and assertions, with the same concurrency.

Per-check cost = (the 500-check run - the one-check run) / 499, in wall and CPU time (medians of
RUNS runs), so start-up is not counted in it (bench.startup measures that); target <= 1.0 ms
wall per check.

`python -m bench.http_checks OTHER_TREE` times another tree side by side, its runs interleaved
with this one's; for the code before a change (HEAD has no venv: this venv runs it, with the
tree first on PYTHONPATH):

    mkdir -p /tmp/before && git archive HEAD | tar -x -C /tmp/before
    python -m bench.http_checks /tmp/before
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNT = 500
RUNS = 5
CONCURRENCY = 50
STEPCI_CACHE = Path.home() / ".cache" / "smokebot-bench"
STEPCI_SCRIPT = STEPCI_CACHE / "node_modules" / "stepci" / "dist" / "index.js"
# The demo's health check (demo/smoketest.yaml), and the same facts as StepCI checks them.
ASSERTIONS = ["status == healthy", "services.database == healthy",
              "services.ai_providers.* == healthy", "clustering.enabled == true",
              "clustering.node_count >= 2"]
STEPCI_JSONPATH = {"$.status": "healthy", "$.services.database": "healthy",
                   "$.services.ai_providers.anthropic": "healthy",
                   "$.services.ai_providers.openai": "healthy",
                   "$.clustering.enabled": True, "$.clustering.node_count": [{"gte": 2}]}

Figures = tuple[float, float]  # wall, CPU in s


def _medians(samples: dict[str, list[Figures]]) -> dict[str, Figures]:
    """Per name, the median wall and the median CPU time of its samples."""
    return {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
            for name, s in samples.items()}


def health_suite(base_url: str, count: int) -> str:
    from bench.engine import suite_text

    assertions = json.dumps(ASSERTIONS)
    return suite_text([f"      - {{id: c{i}, type: http, url: '{base_url}/api/health', "
                       f"assert: {assertions}}}" for i in range(count)])


def stepci_workflow(base_url: str, count: int) -> str:
    tests = {f"c{i}": {"steps": [{"name": f"c{i}", "http": {
        "url": f"{base_url}/api/health", "method": "GET",
        "check": {"status": 200, "jsonpath": STEPCI_JSONPATH}}}]} for i in range(count)}
    # JSON is YAML: StepCI reads it as a workflow.
    return json.dumps({"version": "1.1", "name": "bench",
                       "config": {"concurrency": CONCURRENCY}, "tests": tests})


# ------------------------------------------------------------------------------ the engine

def _engine_child(one: str, many: str) -> None:
    """In a process of the tree under test (its root first on PYTHONPATH): prints, as JSON,
    the median wall and CPU time of `run_plan` for the one-check and the 500-check suite."""
    from checks.config import load_suite
    from checks.plan import build_plan
    from checks.runner import run_plan

    plans = {name: build_plan(load_suite(path), "bench") for name, path in
             (("one", one), ("many", many))}

    def timed(name: str) -> Figures:
        started, cpu = time.perf_counter(), time.process_time()
        result = asyncio.run(run_plan(plans[name]))
        figures = time.perf_counter() - started, time.process_time() - cpu
        failed = [r for r in result.results if not r.status.value == "pass"]
        if failed:
            raise SystemExit(f"{len(failed)} checks did not pass: {failed[0].summary}")
        return figures

    timed("many")  # warm-up: imports, the first connections, CPU caches
    samples: dict[str, list[Figures]] = {"one": [], "many": []}
    for _ in range(RUNS):
        for name in samples:
            samples[name].append(timed(name))
    print(json.dumps(_medians(samples)))


def engine_figures(tree: Path, one: Path, many: Path) -> dict[str, Figures]:
    from bench.startup import child_env

    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--engine", str(one),
                           str(many)], cwd=tree, capture_output=True, text=True,
                          env=child_env({"PYTHONPATH": str(tree)}))
    if done.returncode != 0:
        raise SystemExit(f"the engine benchmark failed in {tree}:\n{done.stderr}")
    return {name: (wall, cpu) for name, (wall, cpu) in json.loads(done.stdout).items()}


# ------------------------------------------------------------------------------ the CLI

def cli_figures(trees: list[Path], one: Path, many: Path,
                reports: Path) -> list[dict[str, Figures]]:
    from bench.startup import time_child

    samples: list[dict[str, list[Figures]]] = [{"one": [], "many": []} for _ in trees]
    for tree in trees:  # compiles what is not cached yet
        time_child([sys.executable, "-m", "bot", "run", "bench", "--config", str(one)], tree,
                   {"PYTHONPATH": str(tree)})
    for _ in range(RUNS):
        for index, (tree, figures) in enumerate(zip(trees, samples)):
            for name, suite in (("one", one), ("many", many)):
                report = reports / f"{index}-{name}.json"
                figures[name].append(time_child(
                    [sys.executable, "-m", "bot", "run", "bench", "--config", str(suite),
                     "--json", str(report)], tree, {"PYTHONPATH": str(tree)}))
                counts = json.loads(report.read_text())["counts"]
                if counts.get("pass") != (1 if name == "one" else COUNT):
                    raise SystemExit(f"smokebot run in {tree}: not every check passed: {counts}")
    return [_medians(figures) for figures in samples]


# ------------------------------------------------------------------------------ StepCI

def stepci_ready() -> str | None:
    """None when StepCI can run; else why not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed"
    if not STEPCI_SCRIPT.exists():
        STEPCI_CACHE.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(["npm", "install", "--prefix", str(STEPCI_CACHE), "stepci"],
                                  capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return "npm install stepci took over 10 minutes"
        if done.returncode != 0 or not STEPCI_SCRIPT.exists():
            return f"npm install stepci failed: {done.stderr.strip()[-500:]}"
    return None


def stepci_figures(one: Path, many: Path) -> dict[str, Figures]:
    from bench.startup import time_child

    samples: dict[str, list[Figures]] = {"one": [], "many": []}
    for _ in range(RUNS):
        for name, workflow in (("one", one), ("many", many)):
            samples[name].append(time_child(
                ["node", str(STEPCI_SCRIPT), "run", str(workflow)], STEPCI_CACHE,
                {"STEPCI_DISABLE_ANALYTICS": "1"}))
    return _medians(samples)


def stepci_version() -> str:
    return json.loads((STEPCI_SCRIPT.parent.parent / "package.json").read_text())["version"]


# ------------------------------------------------------------------------------ report

def _row(label: str, figures: dict[str, Figures]) -> str:
    (wall1, cpu1), (wall, cpu) = figures["one"], figures["many"]
    per_wall = (wall - wall1) / (COUNT - 1) * 1000
    per_cpu = (cpu - cpu1) / (COUNT - 1) * 1000
    return (f"{label:<34} {per_wall:6.2f} / {per_cpu:5.2f}      {wall:6.3f} / {cpu:6.3f}"
            f"     {wall1:6.3f} / {cpu1:6.3f}")


def main() -> None:
    from bench.engine import start_server
    from tests.support.asgi import free_port

    trees = [ROOT, *(Path(arg).resolve() for arg in sys.argv[1:])]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_server(port, "bench.health_server", "/api/health")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            one, many = folder / "one.yaml", folder / "many.yaml"
            one.write_text(health_suite(base_url, 1))
            many.write_text(health_suite(base_url, COUNT))
            print(f"http: {COUNT} zero-delay checks, {len(ASSERTIONS)} JSON assertions each, "
                  f"concurrency {CONCURRENCY}; medians of {RUNS} runs; trees: "
                  + ", ".join(f"[{i}] {tree}" for i, tree in enumerate(trees)))
            print(f"{'':<34} per check ms       {COUNT} checks s         1 check s")
            print(f"{'':<34} wall / CPU         wall / CPU           wall / CPU")
            rows: list[tuple[str, dict[str, Figures]]] = []
            for i, figures in enumerate(cli_figures(trees, one, many, folder)):
                rows.append((f"[{i}] smokebot run (CLI)", figures))
            for i, tree in enumerate(trees):
                rows.append((f"[{i}] engine in-process (run_plan)",
                             engine_figures(tree, one, many)))
            for label, figures in rows:
                print(_row(label, figures), flush=True)
            why_not = stepci_ready()
            if why_not is None:
                (folder / "one.json").write_text(stepci_workflow(base_url, 1))
                (folder / "many.json").write_text(stepci_workflow(base_url, COUNT))
                print(_row(f"StepCI {stepci_version()} (node)",
                           stepci_figures(folder / "one.json", folder / "many.json")))
            else:
                print(f"StepCI: not measured: {why_not}")
            wall, wall1 = rows[0][1]["many"][0], rows[0][1]["one"][0]
            per_check = (wall - wall1) / (COUNT - 1) * 1000
            print(f"target: smokebot run [0] <= 1.0 ms wall per check: "
                  f"{'met' if per_check <= 1.0 else 'MISSED'} ({per_check:.2f} ms)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--engine"]:
        _engine_child(sys.argv[2], sys.argv[3])
    else:
        main()
