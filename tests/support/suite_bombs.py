"""A valid one-check suite, and the "billion laughs" built on it: what the suite-file limit
tests (engine, CLI and bot) send."""

from __future__ import annotations

__all__ = ["VALID_SUITE", "laughs"]

VALID_SUITE = """\
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:9"}
categories:
  - name: Health
    checks:
      - id: health
        type: http
        url: ${base_url}/health
"""  # the check's `url:` value starts at line 9, column 14


def laughs(levels: int) -> str:
    """The "billion laughs": nine aliases of the level below on each line (9**9 at nine),
    before the valid suite."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n" + VALID_SUITE
