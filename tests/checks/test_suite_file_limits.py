"""A suite file cannot hurt the loader (issue 10): aliases that expand to billions of values,
nesting deeper than Python's recursion, a huge file, bytes that are not UTF-8 text, and a
`${` left open are each refused at once with `file:line[:column]: what was expected`.

The time and memory bounds below are generous: they separate "refused in milliseconds" from
what the loader did before (minutes and gigabytes, or a RecursionError)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from checks.config import load_suite
from checks.errors import ConfigError
from checks.plan import build_plan
from checks.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, load_yaml
from tests.support.suite_bombs import VALID_SUITE as VALID
from tests.support.suite_bombs import laughs

FAST_S = 2.0
SMALL_BYTES = 20 * 1024 * 1024



def refused(path: Path, content: str | bytes, *, trace: bool = False) -> tuple[str, float, int]:
    """The rendered error of loading `content` from `path`, the seconds it took and, with
    `trace`, the peak of memory allocated meanwhile (tracemalloc slows the loader down)."""
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as caught:
            load_suite(path)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
    finally:
        tracemalloc.stop()
    return caught.value.render(), elapsed, peak


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    return tmp_path / "smoketest.yaml"


# --------------------------------------------------------------------------------- aliases

@pytest.mark.parametrize("levels", [5, 9])
def test_billion_laughs_is_refused_in_milliseconds_and_little_memory(
        suite_file: Path, levels: int) -> None:
    # Before: 5 levels took 2 s and 180 MB, 6 levels 20 s and 1.6 GB; 9 never ended.
    message, elapsed, peak = refused(suite_file, laughs(levels), trace=True)
    # a0..a4 and their keys hold 74,739 values; the first *a4 (66,430 more) passes 100,000.
    assert message == (
        f"{suite_file}:6:10: the file holds more than 100,000 values once its aliases are "
        "expanded; expected fewer (each alias repeats the whole node it names)")
    assert elapsed < FAST_S
    assert peak < 5 * 1024 * 1024, f"{peak:,} bytes"


def test_aliases_that_stay_small_load_as_before(suite_file: Path) -> None:
    text = VALID.replace("  staging:\n", "  staging: &env\n").replace(
        "categories:", "  production: *env\ncategories:")
    suite_file.write_text(text, encoding="utf-8")
    suite = load_suite(suite_file)
    assert list(suite.environments) == ["staging", "production"]
    assert suite.environments["production"] == suite.environments["staging"]


def test_an_alias_inside_the_node_it_repeats_is_refused(suite_file: Path) -> None:
    # Composed, it is a list that contains itself: constructing it recursed until Python gave up.
    message, elapsed, _ = refused(suite_file, "loop: &a [1, *a]\n" + VALID)
    assert message == (
        f"{suite_file}:1:14: the alias '*a' is inside the node it repeats; expected an alias "
        "of a node defined before it, not around it")
    assert elapsed < FAST_S


def test_more_than_ten_thousand_aliases_are_refused(suite_file: Path) -> None:
    message, elapsed, _ = refused(suite_file,
                                  "x: &s a\ny: [" + ", ".join(["*s"] * 10_001) + "]\n" + VALID)
    # The 10,001st `*s` of line 2: "y: [" and 10,000 times "*s, " before it.
    assert message == (f"{suite_file}:2:{4 + 10_000 * 4 + 1}: more than 10,000 aliases; "
                       "expected at most 10,000 uses of '*name'")
    assert elapsed < FAST_S


# --------------------------------------------------------------------------------- nesting

def test_five_thousand_nested_brackets_are_refused_without_a_recursion_error(
        suite_file: Path) -> None:
    # Before: RecursionError inside yaml.compose, a traceback and exit 1.
    message, elapsed, _ = refused(suite_file, "environments: " + "[" * 5000 + "]" * 5000 + "\n")
    # The root mapping and 63 lists fit in 64 levels; the 64th `[` opens the 65th.
    assert message == (f"{suite_file}:1:{len('environments: ') + 64}: nested more than 64 "
                       "levels deep; expected a flatter file")
    assert elapsed < FAST_S


def test_a_deep_block_mapping_is_refused_at_the_line_that_passes_the_limit(
        suite_file: Path) -> None:
    text = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v\n"
    message, elapsed, _ = refused(suite_file, text)
    # Line n holds the key k(n-1), in the mapping n-1 levels below the top: k63 is at 64.
    assert message == (f"{suite_file}:64:{2 * 63 + 1}: nested more than 64 levels deep; "
                       "expected a flatter file")
    assert elapsed < FAST_S


def test_nesting_up_to_the_limit_is_allowed() -> None:
    inner = MAX_DEPTH - 1  # the top mapping is the first level
    document = load_yaml("x: " + "[" * inner + "]" * inner + "\n", "f.yaml")
    depth, value = 0, document.data["x"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    assert depth == inner
    with pytest.raises(ConfigError, match="nested more than 64 levels deep"):
        load_yaml("x: " + "[" * (inner + 1) + "]" * (inner + 1) + "\n", "f.yaml")


# ------------------------------------------------------------------------------------ size

def test_a_file_over_one_mebibyte_is_refused_at_the_line_that_passes_the_limit(
        suite_file: Path) -> None:
    line = "# " + "x" * 97 + "\n"  # 100 bytes
    content = VALID + line * 15_000  # 1.43 MiB
    message, elapsed, peak = refused(suite_file, content, trace=True)
    passing = (MAX_FILE_BYTES - len(VALID)) // len(line) + VALID.count("\n") + 1
    assert message == (f"{suite_file}:{passing}: the file is 1.4 MiB ({len(content):,} bytes); "
                       "expected at most 1 MiB (the limit is passed on this line)")
    assert elapsed < FAST_S
    assert peak < 2 * MAX_FILE_BYTES + 1024 * 1024  # read once, up to the limit


def test_a_file_of_exactly_the_limit_is_read(suite_file: Path) -> None:
    padding = MAX_FILE_BYTES - len(VALID) - 1
    suite_file.write_text(VALID + "#" * padding + "\n", encoding="utf-8")
    assert suite_file.stat().st_size == MAX_FILE_BYTES
    assert [c.id for _, _, _, c in load_suite(suite_file).all_checks()] == ["health"]


# -------------------------------------------------------------------------------- encodings

@pytest.mark.parametrize(("encode", "named"), [
    (lambda text: b"\xff\xfe" + text.encode("utf-16-le"), "UTF-16 (little endian)"),
    (lambda text: text.encode("utf-16-be"), "UTF-16 (big endian)"),  # no BOM: by its NULs
    (lambda text: b"\xff\xfe\x00\x00" + text.encode("utf-32-le"), "UTF-32 (little endian)"),
    (lambda text: text.encode("utf-32-be"), "UTF-32 (big endian)"),
])
def test_a_utf16_or_utf32_file_is_named_with_its_encoding(
        suite_file: Path, encode: Callable[[str], bytes], named: str) -> None:
    message, elapsed, _ = refused(suite_file, encode(VALID))
    assert message == f"{suite_file}:1:1: the file is {named}; expected UTF-8 (save it as UTF-8)"
    assert elapsed < FAST_S


def test_a_utf8_byte_order_mark_is_accepted_and_keeps_the_columns(suite_file: Path) -> None:
    suite_file.write_bytes(b"\xef\xbb\xbf" + VALID.encode("utf-8"))
    assert list(load_suite(suite_file).environments) == ["staging"]
    message, _, _ = refused(suite_file, b"\xef\xbb\xbfenvironments: {staging: {}}\ncolour: red\n"
                                        b"categories: []\n")
    assert message.startswith(f"{suite_file}:2:1: colour: unknown field 'colour'")


def test_binary_junk_is_a_binary_file_at_its_first_nul(suite_file: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4
    message, elapsed, _ = refused(suite_file, png)
    assert message == (f"{suite_file}:3:1: binary file (a NUL byte); expected a YAML text "
                       "file in UTF-8")
    assert elapsed < FAST_S


def test_a_nul_in_an_otherwise_valid_file_names_its_line(suite_file: Path) -> None:
    message, _, _ = refused(suite_file, VALID.replace("/health", "/hea\x00lth"))
    assert message == (f"{suite_file}:9:{len('        url: ${base_url}/hea') + 1}: binary file "
                       "(a NUL byte); expected a YAML text file in UTF-8")


def test_invalid_utf8_names_the_line_and_column_of_the_first_bad_byte(suite_file: Path) -> None:
    latin1 = VALID.replace("  staging:\n", "  staging:\n    description: café ü\n")
    message, elapsed, _ = refused(suite_file, latin1.encode("latin-1"))
    assert message == (
        f"{suite_file}:3:{len('    description: caf') + 1}: invalid UTF-8 (byte 0xE9); "
        "expected the file in UTF-8 (an editor saving Latin-1 or Windows-1252 writes such "
        "bytes)")
    assert elapsed < FAST_S


def test_the_column_of_a_bad_byte_counts_characters_not_bytes(suite_file: Path) -> None:
    text = "environments: {staging: {description: 'héé"
    message, _, _ = refused(suite_file, text.encode("utf-8") + b"\xff'}}\ncategories: []\n")
    assert message.startswith(f"{suite_file}:1:{len(text) + 1}: invalid UTF-8 (byte 0xFF)")


def test_a_control_character_names_its_line_and_column(suite_file: Path) -> None:
    message, _, _ = refused(suite_file, VALID.replace("/health", "/hea\x1blth"))
    assert message == (
        f"{suite_file}:9:{len('        url: ${base_url}/hea') + 1}: a control character "
        "(U+001B); expected printable text (write it as an escape, such as \\t, in a "
        "double-quoted string)")


# ---------------------------------------------------------------------------- ${...} syntax

def _check_with(url: str, **more: Any) -> str:
    extra = "".join(f"        {key}: {value}\n" for key, value in more.items())
    return VALID.replace("url: ${base_url}/health", f"url: {url}") + extra


def test_an_unterminated_reference_names_the_file_line_and_field(suite_file: Path) -> None:
    message, elapsed, _ = refused(suite_file, _check_with("${base_url/api/health"))
    assert message == (
        f"{suite_file}:9:14: categories[0].checks[0].url: '${{base_url/api/health' is never "
        "closed; expected a '}' after the variable's name, as in '${base_url}/api/health' "
        "(write '$${' for a literal '${')")
    assert elapsed < FAST_S


def test_an_unterminated_reference_deep_in_a_param_points_at_its_string(
        suite_file: Path) -> None:
    headers = "{X-Release: 'v${release:-1'}"
    message, _, _ = refused(suite_file, _check_with("${base_url}/health", headers=headers))
    column = len("        headers: {X-Release: ") + 1
    assert message == (
        f"{suite_file}:10:{column}: categories[0].checks[0].headers.X-Release: '${{release:-1' "
        "is never closed; expected a '}' after the variable's name, as in '${name}' (write "
        "'$${' for a literal '${')")


def test_an_unterminated_reference_in_a_rollout_wait_is_refused(suite_file: Path) -> None:
    deploy = '    deploy: {github: [staging], wait_for_rollout: {deployment: "${app"}}\n'
    text = VALID.replace("categories:", deploy + "categories:")
    message, _, _ = refused(suite_file, text)
    column = deploy.index('"${app') + 1
    assert message == (
        f"{suite_file}:4:{column}: "
        "environments.staging.deploy.wait_for_rollout.deployment: '${app' is never closed; "
        "expected a '}' after the variable's name, as in '${app}' (write '$${' for a literal "
        "'${')")


def test_escapes_lone_dollars_and_spaced_names_still_work(suite_file: Path) -> None:
    suite_file.write_text(_check_with("'${ base_url }/$${literal}/$5/$'"),
                          encoding="utf-8")
    plan = build_plan(load_suite(suite_file), "staging")
    assert plan.checks[0].params.url == "http://127.0.0.1:9/${literal}/$5/$"  # type: ignore


def test_an_empty_reference_is_reported_when_planned_as_before(suite_file: Path) -> None:
    suite_file.write_text(_check_with("${}/health"), encoding="utf-8")
    suite = load_suite(suite_file)  # a closed reference: read when the plan is built
    with pytest.raises(ConfigError) as caught:
        build_plan(suite, "staging", require_secrets=False)
    assert caught.value.render() == (
        f"{suite_file}:9:14: categories[0].checks[0].url: cannot read '${{}}': expected "
        "${name}, ${secrets.name} or ${deploy.field}")
