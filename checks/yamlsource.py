"""Loads YAML while remembering where every key and value stood, so that an error found later
(by pydantic, or while interpolating) can name file:line:column."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from checks.errors import ConfigError, Location

__all__ = ["SourceMap", "YamlDocument", "load_yaml"]

Path_ = tuple[str | int, ...]


@dataclass
class SourceMap:
    file: str
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path_, *, prefer_key: bool = False) -> Location:
        """The nearest recorded position: the node itself, else its closest ancestor."""
        path = tuple(path)
        while True:
            table = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            for positions in table:
                if path in positions:
                    line, column = positions[path]
                    return Location(self.file, line, column)
            if not path:
                return Location(self.file)
            path = path[:-1]


@dataclass
class YamlDocument:
    data: Any
    source: SourceMap


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _unsupported_tag(node: yaml.Node, file: str) -> ConfigError:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")  # as it was written
    return ConfigError(f"unsupported YAML tag '{tag}'; expected plain values without tags",
                       Location(file, *_mark(node)))


def _construct(node: yaml.Node, path: Path_, source: SourceMap) -> Any:
    source.values[path] = _mark(node)
    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
        raise _unsupported_tag(node, source.file)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                raise ConfigError("YAML merge keys (<<) are not supported; expected the keys "
                                  "written out", Location(source.file, *_mark(key_node)))
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError("expected a name as key, got a list or mapping",
                                  Location(source.file, *_mark(key_node)))
            key = key_node.value  # as written: `true:` is the key 'true', not True
            if key in result:
                line, _ = source.keys[path + (key,)]
                raise ConfigError(f"duplicate key '{key}' (first defined on line {line}); "
                                  "expected each key once", Location(source.file, *_mark(key_node)))
            source.keys[path + (key,)] = _mark(key_node)
            result[key] = _construct(value_node, path + (key,), source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), source) for i, item in enumerate(node.value)]
    if node.tag == _TIMESTAMP:  # a date stays the text it was written as
        return node.value
    try:
        return yaml.constructor.SafeConstructor().construct_object(node)
    except yaml.constructor.ConstructorError:
        raise _unsupported_tag(node, source.file) from None
    except ValueError as exc:  # e.g. a malformed !!binary
        raise ConfigError(f"invalid YAML value {node.value!r}: {exc}",
                          Location(source.file, *_mark(node))) from None


def _explain(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's parser words, turned into what to fix."""
    problem = exc.problem or "invalid YAML"
    opened = exc.context_mark
    at = f"line {opened.line + 1}, column {opened.column + 1}" if opened else ""
    if problem.startswith("found character '\\t'"):  # PyYAML spells the tab as \t
        return "a tab character; expected indentation with spaces, not tabs"
    if "cannot start any token" in problem:
        return f"{problem}; expected plain text or a quoted string (quote values that start " \
               "with a special character)"
    if exc.context == "while scanning a quoted scalar":
        return f"a quoted string is never closed; expected the closing quote of the string " \
               f"opened at {at}"
    if problem.startswith("expected <block end>") and exc.context and "block" in exc.context:
        return f"unexpected indentation; expected this line to line up with the entries of " \
               f"the block that starts at {at}"
    if problem == "mapping values are not allowed here":
        return "a ':' where a value was expected; quote a value that contains ': ', or indent " \
               "a nested mapping under its key on a line of its own"
    context = f" ({exc.context} that starts at {at})" if exc.context and at else (
        f" ({exc.context})" if exc.context else "")
    return f"{problem}{context}"


def load_yaml(text: str, file: str) -> YamlDocument:
    source = SourceMap(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise ConfigError(f"invalid YAML: {_explain(exc)}", where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Location(file)) from None
    if node is None:
        raise ConfigError("the file is empty; expected a mapping with 'environments' and "
                          "'categories'", Location(file, 1, 1))
    return YamlDocument(_construct(node, (), source), source)


def read_yaml_file(path: str | Path) -> YamlDocument:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("suite file not found (pass --config FILE or set SMOKEBOT_CONFIG)",
                          Location(str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the suite file: {exc}", Location(str(path))) from None
    return load_yaml(text, str(path))
