"""Suite-loading benchmark (issue 13): a 500-check suite file read with libyaml's parser and
with the pure-Python one, both through checks.yamlsource's bounded composer (median of
several runs; target: libyaml about 5x faster), and the whole load_suite for reference."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import yaml

from checks import yamlsource
from checks.config import load_suite

RUNS = 7


def suite_text(count: int = 500) -> str:
    """A suite of `count` HTTP checks in categories of ten, about 320 bytes a check."""
    lines = ["suite: bench", "environments:", "  staging:",
             "    variables: {base_url: 'https://staging.example.com'}", "categories:"]
    for category in range(count // 10):
        lines += [f"  - name: Category {category}", "    checks:"]
        for number in range(category * 10, category * 10 + 10):
            lines += [f"      - id: check-{number}", "        type: http",
                      f"        url: '{{base_url}}/api/v1/items/{number}'",
                      "        method: GET", "        timeout: 5",
                      "        headers:", "          Accept: application/json",
                      "        assert:", "          - status == 200",
                      f"        description: 'Item {number} answers'"]
    return "\n".join(lines) + "\n"


def median_seconds(load: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        load()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    text = suite_text()
    print(f"500 checks, {len(text):,} bytes; median of {RUNS} runs")
    if yamlsource._C_LOADER is None:
        print(f"libyaml is not installed (yaml.__with_libyaml__ = {yaml.__with_libyaml__}): "
              "only the pure-Python loader runs")
    fast = median_seconds(lambda: yamlsource.load_yaml(text, "bench.yaml"))
    with mock.patch.object(yamlsource, "_C_LOADER", None):
        pure = median_seconds(lambda: yamlsource.load_yaml(text, "bench.yaml"))
    print(f"load_yaml, pure Python:  {pure * 1000:7.1f} ms")
    print(f"load_yaml, libyaml:      {fast * 1000:7.1f} ms   ({pure / fast:.1f}x faster; "
          "target about 5x)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "suite.yaml")
        path.write_text(text)
        print(f"load_suite (YAML + models): {median_seconds(lambda: load_suite(path)) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
