"""Suite files are parsed by libyaml where it is installed (issue 13), and read exactly as the
pure-Python loader reads them: the same values, the same file:line:column for every key and
value, the same error words and marks, the same limits."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from checks import yamlsource
from checks.errors import ConfigError
from checks.yamlsource import MAX_DEPTH, load_yaml

FILE = "suite.yaml"

VALID = {
    "mapping and list": "a: 1\nb:\n  - x\n  - {y: 2, z: [3, 4]}\n",
    "anchors and aliases": "base: &b {timeout: 5, retries: 2}\nfirst: *b\nsecond: [*b, *b]\n",
    "scalars": "t: true\nn: null\ne:\nf: 1.5\ni: 0x1F\nd: 2024-01-02\ns: '07'\nq: \"a\\tb\"\n",
    "block strings": "lit: |\n  one\n  two\nfold: >-\n  three\n  four\nafter: x\n",
    "non-ASCII": "name: Ünïcödé ✓\nnext: {клю: значение, emoji: 🚀}\nlast: é\n",
    "CRLF line ends": "a: 1\r\nb:\r\n  - 2\r\n  - 3\r\n",
    "comments and document markers": "%YAML 1.1\n---\n# a comment\na: 1  # trailing\n...\n",
    "keys as written": "true: 1\n1: 2\nnull: 3\n",
    "binary": "b: !!binary aGVsbG8=\n",
    "question mark in a block value": "url: http://127.0.0.1/health?full=1\n",
    "empty values in flow": "a: {b: , c: 1}\nd: [e, {f: }]\n",
}

INVALID = {
    "tab indentation": "a:\n\tb: 1\n",
    "unclosed quote": "a: 'open\nb: 2\n",
    "bad indentation": "a:\n    b: 1\n  c: 2\n",
    "colon in a value": "a: b: c\n",
    "special first character": "a: @x\n",
    "control character": "a: \x07\n",
    "duplicate key": "a: 1\nb: 2\na: 3\n",
    "undefined alias": "a: *nowhere\n",
    "alias inside its node": "a: &x [1, *x]\n",
    "merge key": "base: &b {x: 1}\nc:\n  <<: *b\n",
    "unsupported tag": "a: !!python/object:os.system x\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "too deep": "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n",
    "billion laughs": "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(6)),
    "empty": "# nothing\n",
    "complex key": "? [a, b]\n: 1\n",
    # where libyaml reads on and PyYAML refuses (found by mutating suite files)
    "tab after a colon": "a:\tb\n",
    "tab before a comment": "a: b\t# note\n",
    "question mark in a flow value": "a: {b: c?d}\n",
    "tag in a flow mapping": "a: {b: !x:y c}\n",
}


def load(text: str, *, libyaml: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The document and source map, or the error, as one comparable value."""
    with monkeypatch.context() as patch:
        if not libyaml:
            patch.setattr(yamlsource, "_C_LOADER", None)
        try:
            document = load_yaml(text, FILE)
        except ConfigError as error:
            return "error", error.render()
    return document.data, document.source.values, document.source.keys


needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="libyaml not installed")


@needs_libyaml
def test_libyaml_parses_where_it_is_installed() -> None:
    assert yamlsource._C_LOADER is not None


@needs_libyaml
@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_libyaml_reads_values_and_positions_as_the_pure_python_loader(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load(text, libyaml=True, monkeypatch=monkeypatch)
    pure = load(text, libyaml=False, monkeypatch=monkeypatch)

    assert fast[0] != "error"
    assert fast == pure


@needs_libyaml
@pytest.mark.parametrize("text", INVALID.values(), ids=INVALID.keys())
def test_libyaml_words_and_places_errors_as_the_pure_python_loader(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load(text, libyaml=True, monkeypatch=monkeypatch)
    pure = load(text, libyaml=False, monkeypatch=monkeypatch)

    assert fast[0] == "error"
    assert fast == pure


def test_positions_are_exact_without_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    data, values, keys = load("a:\n  b: [1, 'two']\n", libyaml=False, monkeypatch=monkeypatch)

    assert data == {"a": {"b": [1, "two"]}}
    assert keys[("a", "b")] == (2, 3)
    assert values[("a", "b", 1)] == (2, 10)


def test_limits_hold_without_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(INVALID["billion laughs"], libyaml=False, monkeypatch=monkeypatch) == (
        "error", "suite.yaml:5:36: the file holds more than 100,000 values once its aliases "
                 "are expanded; expected fewer (each alias repeats the whole node it names)")
