"""Every way a suite file can be wrong gets one message, `file:line:column: field: message`,
that points at the mistake and says what was expected. These messages are the contract."""

from __future__ import annotations

import traceback
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import Field

import checks.kinds
from checks.assertions import AssertionList
from checks.config import load_suite, parse_suite
from checks.errors import ConfigError, UsageError
from checks.kinds import register_kind
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.plan import build_plan
from checks.results import Outcome
from checks.yamlsource import load_yaml

FILE = "smoketest.yaml"
CANARY = "sk_test_CANARY0123456789abcdefghijklmn"


class ProbeParams(KindParams):
    url: str
    status: int = 200
    assert_: AssertionList = Field(default_factory=list, alias="assert")


class ProbeCheck(CheckKind[ProbeParams]):
    """A kind of the tests' own, so these tests need none of the real kinds."""

    Params = ProbeParams

    async def run(self, params: ProbeParams, ctx: CheckContext) -> Outcome:
        return Outcome.ok("looked")

    def describe(self, params: ProbeParams) -> str:
        return f"probe {params.url}"


@pytest.fixture(autouse=True)
def test_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the tests' kinds are registered, so the lists of valid types below are exact."""
    monkeypatch.setattr(checks.kinds, "_KINDS", {})
    monkeypatch.setattr(checks.kinds, "_loaded", {})
    register_kind("test.probe", ProbeCheck())
    register_kind("test.broken", "tests.checks.no_such_module:BrokenCheck")


def _load(text: str):
    return parse_suite(load_yaml(dedent(text), FILE))


def _render(error: ConfigError) -> str:
    return error.render()


HEAD = """\
environments:
  staging: {}
categories:
  - name: Health
    checks:
"""  # a check's `- id:` is on line 6, its further keys from line 7 on

# (id, file text, the rendered message)
LOAD_CASES = [
    ("tab-indentation", "environments:\n\tstaging: {}\n",
     "smoketest.yaml:2:1: invalid YAML: a tab character; expected indentation with spaces, "
     "not tabs"),
    ("unclosed-quote", 'environments: {}\nsuite: "smoke\n',
     "smoketest.yaml:3:1: invalid YAML: a quoted string is never closed; expected the closing "
     "quote of the string opened at line 2, column 8"),
    ("bad-indent", "environments:\n  staging: {}\n categories: []\n",
     "smoketest.yaml:3:2: invalid YAML: unexpected indentation; expected this line to line up "
     "with the entries of the block that starts at line 1, column 1"),
    ("unclosed-flow-mapping", "environments: {staging: {}\n",
     "smoketest.yaml:2:1: invalid YAML: expected ',' or '}', but got '<stream end>' (while "
     "parsing a flow mapping that starts at line 1, column 15)"),
    ("colon-in-plain-value", "suite: smoke: test\n",
     "smoketest.yaml:1:13: invalid YAML: a ':' where a value was expected; quote a value that "
     "contains ': ', or indent a nested mapping under its key on a line of its own"),
    ("value-starting-with-at", "suite: @smoke\n",
     "smoketest.yaml:1:8: invalid YAML: found character '@' that cannot start any token; "
     "expected plain text or a quoted string (quote values that start with a special "
     "character)"),
    ("empty-file", "",
     "smoketest.yaml:1:1: the file is empty; expected a mapping with 'environments' and "
     "'categories'"),
    ("only-comments", "# nothing yet\n",
     "smoketest.yaml:1:1: the file is empty; expected a mapping with 'environments' and "
     "'categories'"),
    ("top-level-list", "- staging\n- production\n",
     "smoketest.yaml:1:1: expected a mapping with 'environments' and 'categories' at the top, "
     "got a list"),
    ("top-level-text", "smoke\n",
     "smoketest.yaml:1:1: expected a mapping with 'environments' and 'categories' at the top, "
     "got 'smoke'"),
    ("duplicate-key", "environments: {staging: {}}\ncategories: []\nenvironments: {}\n",
     "smoketest.yaml:3:1: duplicate key 'environments' (first defined on line 1); expected "
     "each key once"),
    ("merge-key", "base: &base {staging: {}}\nenvironments:\n  <<: *base\ncategories: []\n",
     "smoketest.yaml:3:3: YAML merge keys (<<) are not supported; expected the keys written "
     "out"),
    ("yaml-tag", "environments: !!python/object:os.system {}\ncategories: []\n",
     "smoketest.yaml:1:15: unsupported YAML tag '!!python/object:os.system'; expected plain "
     "values without tags"),
    ("missing-environments", "categories: []\n",
     "smoketest.yaml:1:1: environments: missing required field 'environments' (a mapping of "
     "environment names, such as staging, to their variables and secrets)"),
    ("missing-categories", "environments: {staging: {}}\n",
     "smoketest.yaml:1:1: categories: missing required field 'categories' (a list of "
     "categories, each with a name and its checks)"),
    ("no-environment", "environments: {}\ncategories: []\n",
     "smoketest.yaml:1:15: environments: expected at least one environment, such as "
     "'staging: {variables: {...}}'"),
    ("unknown-top-level-field", "environments: {staging: {}}\ncategories: []\nenviroment: x\n",
     "smoketest.yaml:3:1: enviroment: unknown field 'enviroment' (did you mean "
     "'environments'?); expected one of: suite, defaults, environments, categories, version"),
    ("internal-field-in-file", "environments: {staging: {}}\ncategories: []\nbase_dir: /etc\n",
     "smoketest.yaml:3:1: base_dir: unknown field 'base_dir'; expected one of: suite, "
     "defaults, environments, categories, version"),
    ("unknown-environment-field", "environments:\n  staging:\n    slak: {channel: x}\n"
     "categories: []\n",
     "smoketest.yaml:3:5: environments.staging.slak: unknown field 'slak' (did you mean "
     "'slack'?); expected one of: description, variables, secrets, slack, kubernetes, "
     "deploy, production, traffic"),
    ("variable-not-a-scalar", "environments:\n  staging:\n    variables: {hosts: [a, b]}\n"
     "categories: []\n",
     "smoketest.yaml:3:24: environments.staging.variables.hosts: expected text, a number or "
     "true/false, got a list"),
    ("defaults-concurrency-zero", "defaults: {concurrency: 0}\nenvironments: {staging: {}}\n"
     "categories: []\n",
     "smoketest.yaml:1:25: defaults.concurrency: expected a number greater than or equal to 1, "
     "got 0"),
    ("secret-with-env-and-file", "environments:\n  staging:\n    secrets:\n"
     "      token: {env: TOKEN, file: token.txt}\ncategories: []\n",
     "smoketest.yaml:4:14: environments.staging.secrets.token: expected exactly one of "
     "'env: VARIABLE' or 'file: PATH' for a secret, got both"),
    ("secret-with-neither", "environments:\n  staging:\n    secrets:\n      token: {}\n"
     "categories: []\n",
     "smoketest.yaml:4:14: environments.staging.secrets.token: expected exactly one of "
     "'env: VARIABLE' or 'file: PATH' for a secret, got neither"),
    ("deploy-source-names-not-a-list", "environments:\n  staging:\n    deploy: {github: staging}\n"
     "categories: []\n",
     "smoketest.yaml:3:22: environments.staging.deploy.github: expected a list, such as [a, b], "
     "got 'staging'"),
    ("deploy-source-name-empty", "environments:\n  staging:\n    deploy:\n"
     "      argocd: [shop-staging, '']\n"
     "categories: []\n",
     "smoketest.yaml:4:30: environments.staging.deploy.argocd[1]: expected at least 1 character, "
     "got ''"),
    ("deploy-source-name-a-number", "environments:\n  staging:\n    deploy: {gitlab: [42]}\n"
     "categories: []\n",
     "smoketest.yaml:3:23: environments.staging.deploy.gitlab[0]: expected text, got 42 (quote "
     "it to make it text)"),
    ("category-without-checks", "environments: {staging: {}}\ncategories:\n  - name: Health\n",
     "smoketest.yaml:3:5: categories[0].checks: missing required field 'checks' (a list of "
     "checks, each with an id and a type)"),
    ("unknown-check-field", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        timout: 3\n",
     "smoketest.yaml:9:9: categories[0].checks[0].timout: test.probe: unknown field 'timout' "
     "(did you mean 'timeout'?); expected one of: url, status, assert, id, name, type, "
     "description, timeout, retries, depends_on, tags, severity, environments"),
    ("missing-check-type", HEAD + "      - id: api\n        url: http://x\n",
     "smoketest.yaml:6:9: categories[0].checks[0].type: missing required field 'type'; "
     "expected one of: test.broken, test.probe"),
    ("unknown-check-type", HEAD + "      - id: api\n        type: ftp\n",
     "smoketest.yaml:7:15: categories[0].checks[0].type: unknown check type 'ftp'; expected "
     "one of: test.broken, test.probe"),
    ("typo-in-check-type", HEAD + "      - id: api\n        type: test.prob\n",
     "smoketest.yaml:7:15: categories[0].checks[0].type: unknown check type 'test.prob' (did "
     "you mean 'test.probe'?); expected one of: test.broken, test.probe"),
    ("kind-that-cannot-load", HEAD + "      - id: api\n        type: test.broken\n",
     "smoketest.yaml:7:15: categories[0].checks[0].type: check type 'test.broken' cannot be "
     "loaded (ModuleNotFoundError: No module named 'tests.checks.no_such_module'); expected "
     "its module and the libraries it needs to be installed"),
    ("timeout-not-a-duration", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        timeout: soon\n",
     "smoketest.yaml:9:18: categories[0].checks[0].timeout: expected a duration such as 10, "
     "'500ms', '10s' or '2m', got 'soon'"),
    ("timeout-a-list", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        timeout: [1]\n",
     "smoketest.yaml:9:18: categories[0].checks[0].timeout: expected a duration such as 10, "
     "'500ms', '10s' or '2m', got a list"),
    ("negative-timeout", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        timeout: -1\n",
     "smoketest.yaml:9:18: categories[0].checks[0].timeout: expected a duration greater than "
     "zero, got -1"),
    ("zero-duration", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        timeout: 0s\n",
     "smoketest.yaml:9:18: categories[0].checks[0].timeout: expected a duration greater than "
     "zero, got '0s'"),
    ("duration-with-words", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        timeout: 10 minutes\n",
     "smoketest.yaml:9:18: categories[0].checks[0].timeout: expected a duration such as 10, "
     "'500ms', '10s' or '2m', got '10 minutes'"),
    ("retries-not-a-number", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        retries: many\n",
     "smoketest.yaml:9:18: categories[0].checks[0].retries: expected a whole number, got "
     "'many'"),
    ("too-many-retries", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        retries: 11\n",
     "smoketest.yaml:9:18: categories[0].checks[0].retries: expected a number less than or "
     "equal to 10, got 11"),
    ("tags-not-a-list", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        tags: fast\n",
     "smoketest.yaml:9:15: categories[0].checks[0].tags: expected a list, such as [a, b], got "
     "'fast'"),
    ("unknown-severity", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        severity: high\n",
     "smoketest.yaml:9:19: categories[0].checks[0].severity: expected 'critical' or "
     "'warning', got 'high'"),
    ("name-a-number", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        name: 404\n",
     "smoketest.yaml:9:15: categories[0].checks[0].name: expected text, got 404 (quote it to "
     "make it text)"),
    ("invalid-id", HEAD + "      - id: API Health\n        type: test.probe\n"
     "        url: http://x\n",
     "smoketest.yaml:6:13: categories[0].checks[0].id: expected an id of lowercase letters, "
     "digits, '-', '_' or '.', starting with a letter or digit, got 'API Health'"),
    ("duplicate-id", HEAD + "      - id: api\n        type: test.probe\n        url: http://x\n"
     "      - id: api\n        type: test.probe\n        url: http://y\n",
     "smoketest.yaml:9:13: categories[0].checks[1].id: duplicate check id 'api' (first used "
     "on line 6); expected each check to have its own id"),
    ("depends-on-unknown-check", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n      - id: login\n        type: test.probe\n"
     "        url: http://y\n        depends_on: [apii]\n",
     "smoketest.yaml:12:22: categories[0].checks[1].depends_on[0]: depends on unknown check "
     "'apii' (did you mean 'api'?); expected one of: api"),
    ("depends-on-itself", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        depends_on: [api]\n",
     "smoketest.yaml:9:22: categories[0].checks[0].depends_on[0]: check 'api' depends on "
     "itself; expected the id of another check"),
    ("dependency-cycle", HEAD
     + "      - {id: a, type: test.probe, url: x, depends_on: [b]}\n"
     + "      - {id: b, type: test.probe, url: x, depends_on: [c]}\n"
     + "      - {id: c, type: test.probe, url: x, depends_on: [a]}\n",
     "smoketest.yaml:6:56: categories[0].checks[0].depends_on[0]: dependency cycle: a -> b -> "
     "c -> a; expected dependencies without a loop: remove one of these depends_on entries"),
    ("check-in-unknown-environment", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        environments: [stagin]\n",
     "smoketest.yaml:9:24: categories[0].checks[0].environments[0]: unknown environment "
     "'stagin' (did you mean 'staging'?); expected one of: staging"),
    ("unknown-param-with-alias-hint", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        asert: [status == 200]\n",
     "smoketest.yaml:9:9: categories[0].checks[0].asert: test.probe: unknown field 'asert' "
     "(did you mean 'assert'?); expected one of: url, status, assert, id, name, type, "
     "description, timeout, retries, depends_on, tags, severity, environments"),
    ("missing-required-param", HEAD + "      - id: api\n        type: test.probe\n",
     "smoketest.yaml:6:9: categories[0].checks[0].url: test.probe: missing required field "
     "'url'"),
    ("param-of-wrong-type", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        status: ok\n",
     "smoketest.yaml:9:17: categories[0].checks[0].status: test.probe: expected a whole "
     "number, got 'ok'"),
    ("unreadable-assertion", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        assert:\n          - status == ok\n"
     "          - status === ok\n",
     "smoketest.yaml:11:13: categories[0].checks[0].assert[1]: test.probe: cannot read "
     "assertion 'status === ok': expected 'PATH OP VALUE', with spaces around OP, one of ==, "
     "!=, <=, >=, <, >, not in, in, matches, not exists, exists"),
    ("unclosed-quoted-key", HEAD + "      - id: api\n        type: test.probe\n"
     "        url: http://x\n        assert:\n          - 'services[\"ai.providers == ok'\n",
     "smoketest.yaml:10:13: categories[0].checks[0].assert[0]: test.probe: invalid path "
     "'services[\"ai.providers == ok': at character 29, expected a closing '\"' for the "
     "quoted key"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in LOAD_CASES],
                         ids=[c[0] for c in LOAD_CASES])
def test_malformed_suite_is_reported_with_location_and_expectation(text: str,
                                                                   expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_suite(load_yaml(text, FILE))
    assert caught.value.render() == expected
    message = caught.value.message
    assert "expected" in message or "missing required field" in message, message
    assert caught.value.exit_code == 2


def test_every_error_of_a_file_is_carried_not_only_the_first() -> None:
    text = HEAD + ("      - id: api\n        type: test.probe\n        url: x\n"
                   "        retries: many\n        tags: fast\n")
    with pytest.raises(ConfigError) as caught:
        parse_suite(load_yaml(text, FILE))
    rendered = [caught.value.render()] + [e.render() for e in caught.value.others]
    assert rendered == [
        "smoketest.yaml:9:18: categories[0].checks[0].retries: expected a whole number, got "
        "'many'",
        "smoketest.yaml:10:15: categories[0].checks[0].tags: expected a list, such as [a, b], "
        "got 'fast'",
    ]


def test_a_deploy_mapping_takes_any_source_key_and_keeps_the_names_in_file_order() -> None:
    # Which keys name a deploy source is the bot's to say (bot.suites); the library knows none.
    suite = _load("""\
        environments:
          staging:
            deploy:
              gitlab: [staging, stg]
              github: [staging]
              coalesce_window: 1s
        categories: []
        """)
    mapping = suite.environments["staging"].deploy
    assert mapping is not None
    assert mapping.sources == {"gitlab": ["staging", "stg"], "github": ["staging"]}
    assert (mapping.names_for("gitlab"), mapping.names_for("argocd")) == (["staging", "stg"], None)
    assert mapping.coalesce_window == 1.0


def test_a_validation_error_does_not_chain_a_pydantic_traceback() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_suite(load_yaml("environments: {staging: {}}\ncategories: 3\n", FILE))
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_missing_suite_file_names_how_to_point_at_one(tmp_path: Path) -> None:
    missing = tmp_path / "smoketest.yaml"
    with pytest.raises(ConfigError) as caught:
        load_suite(missing)
    assert caught.value.render() == (
        f"{missing}: suite file not found (pass --config FILE or set SMOKEBOT_CONFIG)")


def test_a_placeholder_in_a_typed_param_passes_validation() -> None:
    suite = _load(HEAD + "      - id: api\n        type: test.probe\n        url: x\n"
                  "        status: ${code}\n")
    assert suite.categories[0].checks[0].params["status"] == "${code}"


# ------------------------------------------------------------------ errors found when planning

PLAN_HEAD = """\
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:1", code: "two hundred"}
    secrets:
      api_key: {env: SMOKEBOT_TEST_API_KEY}
categories:
  - name: Health
    checks:
"""  # a check's `- id:` is on line 9, its further keys from line 10 on


def _plan_error(check: str, **kw: object) -> str:
    suite = _load(PLAN_HEAD + check)
    with pytest.raises(ConfigError) as caught:
        build_plan(suite, "staging", **kw)  # type: ignore[arg-type]
    message = caught.value.message
    assert "expected" in message, message
    return caught.value.render()


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SMOKEBOT_TEST_API_KEY", CANARY)
    return CANARY


def test_undefined_variable_suggests_the_close_one_and_lists_all(api_key: str) -> None:
    rendered = _plan_error("      - id: api\n        type: test.probe\n"
                           "        url: ${base_ur}/health\n")
    assert rendered == (
        "smoketest.yaml:11:14: categories[0].checks[0].url: undefined variable 'base_ur' in "
        "environment 'staging' (did you mean 'base_url'?); expected one of: base_url, code, "
        "environment, secrets.api_key")


def test_undefined_variable_deep_in_a_param_points_at_its_string(api_key: str) -> None:
    rendered = _plan_error("      - id: api\n        type: test.probe\n        url: x\n"
                           "        assert:\n          - status == ok\n"
                           "          - version == ${release}\n")
    assert rendered == (
        "smoketest.yaml:14:13: categories[0].checks[0].assert[1]: undefined variable 'release' "
        "in environment 'staging'; expected one of: base_url, code, environment, "
        "secrets.api_key")


def test_deploy_fact_outside_a_deploy_run_asks_for_a_default(api_key: str) -> None:
    rendered = _plan_error("      - id: api\n        type: test.probe\n"
                           "        url: ${base_url}/v/${deploy.commit}\n")
    assert rendered == (
        "smoketest.yaml:11:14: categories[0].checks[0].url: '${deploy.commit}' is only known in "
        "a run triggered by a deploy; expected a default for other runs, as in "
        "'${deploy.commit:-value}'")


def test_deploy_fact_the_deploy_did_not_give_lists_those_it_gave(api_key: str) -> None:
    rendered = _plan_error("      - id: api\n        type: test.probe\n"
                           "        url: ${base_url}/v/${deploy.commit}\n",
                           deploy={"version": "1.2.0", "environment": "staging"})
    assert rendered == (
        "smoketest.yaml:11:14: categories[0].checks[0].url: the deploy that triggered this run "
        "did not give 'commit'; expected one of: environment, version, or a default, as in "
        "'${deploy.commit:-value}'")


def test_malformed_reference_says_what_a_reference_looks_like(api_key: str) -> None:
    rendered = _plan_error("      - id: api\n        type: test.probe\n"
                           "        url: ${base url}\n")
    assert rendered == (
        "smoketest.yaml:11:14: categories[0].checks[0].url: cannot read '${base url}': "
        "expected ${name}, ${secrets.name} or ${deploy.field}")


def test_placeholder_whose_value_has_the_wrong_type_fails_at_plan_time(api_key: str) -> None:
    rendered = _plan_error("      - id: api\n        type: test.probe\n        url: x\n"
                           "        status: ${code}\n")
    assert rendered == ("smoketest.yaml:12:17: categories[0].checks[0].status: test.probe: "
                        "expected a whole number, got 'two hundred'")


def test_absent_secret_names_the_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMOKEBOT_TEST_API_KEY", raising=False)
    rendered = _plan_error("      - id: api\n        type: test.probe\n        url: x\n")
    assert rendered == (
        "smoketest.yaml:5:22: environments.staging.secrets.api_key.env: secret 'api_key' of "
        "environment 'staging' is absent; expected environment variable SMOKEBOT_TEST_API_KEY "
        "to be set")


def test_absent_secret_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "smoketest.yaml"
    path.write_text("environments:\n  staging:\n    secrets:\n      key: {file: key.txt}\n"
                    "categories: []\n")
    with pytest.raises(ConfigError) as caught:
        build_plan(load_suite(path), "staging")
    assert caught.value.render() == (
        f"{path}:4:19: environments.staging.secrets.key.file: secret 'key' of environment "
        "'staging' is absent; expected file key.txt to hold it (it is missing, unreadable or "
        "empty)")


def test_secret_too_short_to_redact_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKEBOT_TEST_API_KEY", "abc")
    rendered = _plan_error("      - id: api\n        type: test.probe\n        url: x\n")
    assert rendered == (
        "smoketest.yaml:5:22: environments.staging.secrets.api_key.env: secret 'api_key' of "
        "environment 'staging' is 3 characters long; expected at least 4, so that it can be "
        "redacted")


def test_error_never_contains_the_value_of_a_secret(api_key: str) -> None:
    suite = _load(PLAN_HEAD + "      - id: api\n        type: test.probe\n"
                  "        url: ${base_url}\n        status: ${secrets.api_key}\n"
                  "      - id: login\n        type: test.probe\n"
                  "        url: ${base_url}\n        status: 'x-${secrets.api_key}'\n")
    with pytest.raises(ConfigError) as caught:
        build_plan(suite, "staging")
    errors = [caught.value, *caught.value.others]
    assert [e.render() for e in errors] == [
        "smoketest.yaml:12:17: categories[0].checks[0].status: test.probe: expected a whole "
        "number, got '[redacted sk_test_…(38 chars)]'",
        "smoketest.yaml:16:17: categories[0].checks[1].status: test.probe: expected a whole "
        "number, got 'x-[redacted sk_test_…(38 chars)]'",
    ]
    # Nor does anything a traceback would print: the chain, the arguments.
    for error in errors:
        shown = "".join(traceback.format_exception(error)) + repr(error.args)
        assert CANARY not in shown


def test_checks_the_run_does_not_select_are_not_interpolated(api_key: str) -> None:
    suite = _load(PLAN_HEAD + "      - id: api\n        type: test.probe\n        url: x\n"
                  "        tags: [fast]\n      - id: later\n        type: test.probe\n"
                  "        url: ${undefined}\n")
    plan = build_plan(suite, "staging", only=["fast"])
    assert [c.id for c in plan.checks] == ["api"]


# ------------------------------------------------------------------ usage errors

def _suite_for_filters():
    return _load("""\
        environments: {staging: {}, production: {}}
        categories:
          - name: Health Checks
            checks:
              - {id: api, type: test.probe, url: x, tags: [fast]}
              - {id: db, type: test.probe, url: x, environments: [production]}
          - name: Billing
            checks:
              - {id: invoices, type: test.probe, url: x, depends_on: [api]}
        """)


def test_filter_matching_nothing_lists_every_choice() -> None:
    with pytest.raises(UsageError) as caught:
        build_plan(_suite_for_filters(), "staging", only=["billng"])
    assert caught.value.render() == (
        "filter 'billng' matches no check (did you mean 'billing'?); expected a category "
        "(health-checks, billing), a tag (fast) or a check id (api, db, invoices)")
    assert caught.value.exit_code == 2


def test_filter_matching_only_checks_of_another_environment_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        build_plan(_suite_for_filters(), "staging", only=["db"])
    assert caught.value.render() == (
        "filter 'db' matches only checks that do not run in environment 'staging'; expected a "
        "check that does")


def test_unknown_environment_suggests_and_lists() -> None:
    with pytest.raises(UsageError) as caught:
        build_plan(_suite_for_filters(), "stagin")
    assert caught.value.render() == (
        "unknown environment 'stagin' (did you mean 'staging'?); expected one of: staging, "
        "production")
