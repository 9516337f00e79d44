"""A kind that needs more time than the suite's default timeout (a load probe's warm-up plus
duration) gets it; a timeout the check sets itself below that is an error at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.config import load_suite
from checks.errors import ConfigError
from checks.kinds import register_kind
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.plan import build_plan
from checks.results import Outcome


class LongParams(KindParams):
    seconds: float


class LongCheck(CheckKind[LongParams]):
    Params = LongParams

    async def run(self, params: LongParams, ctx: CheckContext) -> Outcome:
        return Outcome.ok("done")

    def min_timeout(self, params: LongParams) -> float:
        return params.seconds + 5


@pytest.fixture(autouse=True)
def long_kind() -> None:
    register_kind("test.long", LongCheck())


def plan_for(tmp_path: Path, check: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "smoke.yaml"
    path.write_text(f"""\
suite: timeouts
defaults: {{timeout: 10s}}
environments: {{staging: {{}}}}
categories:
  - name: Load
    checks:
      - {check}
""")
    return build_plan(load_suite(path), "staging")


def test_the_default_timeout_is_raised_to_what_the_check_needs(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "{id: long, type: test.long, seconds: 30}")
    assert plan.checks[0].timeout == 35


def test_a_short_check_keeps_the_default(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "{id: long, type: test.long, seconds: 1}")
    assert plan.checks[0].timeout == 10


def test_a_timeout_set_below_the_need_is_an_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        plan_for(tmp_path, "{id: long, type: test.long, seconds: 30, timeout: 20s}")
    rendered = error.value.render()
    assert "smoke.yaml:7:" in rendered
    assert "timeout 20s is shorter than the 35s this check needs" in rendered
