"""Which deploy names run an environment when its `deploy:` block does not list them: GitHub
deployment environments and the generic webhook default to the environment's own name (an
explicit list replaces the default, `[]` opts out); Argo CD applications never default."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.deploys import find_environment
from bot.suites import load_suite
from checks.config import Suite

SUITE = """\
suite: shop
environments:
  staging:
    deploy: {coalesce_window: 1s}
  production:
    deploy:
      github: [prod-eu, prod-us]
      argocd: [shop-production]
  preview:
    deploy: {github: [], generic: []}
  qa: {}
categories:
  - name: API
    checks:
      - {id: health, type: http, url: "http://127.0.0.1:9/healthz"}
"""


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return load_suite(path)


def test_a_github_environment_named_like_a_suite_environment_runs_it_by_default(
        suite: Suite) -> None:
    assert find_environment(suite, "github", "staging") == "staging"
    assert find_environment(suite, "deploy", "staging") == "staging"  # as the generic webhook


def test_an_explicit_github_list_replaces_the_default(suite: Suite) -> None:
    assert find_environment(suite, "github", "prod-us") == "production"
    assert find_environment(suite, "github", "production") is None
    assert find_environment(suite, "deploy", "production") == "production"  # generic: default


def test_an_empty_list_opts_out_of_the_default(suite: Suite) -> None:
    assert find_environment(suite, "github", "preview") is None
    assert find_environment(suite, "deploy", "preview") is None


def test_argo_cd_applications_are_only_ever_mapped_explicitly(suite: Suite) -> None:
    assert find_environment(suite, "argocd", "staging") is None
    assert find_environment(suite, "argocd", "production") is None
    assert find_environment(suite, "argocd", "shop-production") == "production"


def test_an_environment_without_a_deploy_block_is_never_run_by_a_webhook(suite: Suite) -> None:
    assert [find_environment(suite, source, "qa") for source in ("github", "deploy", "argocd")] \
        == [None, None, None]
