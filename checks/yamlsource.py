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


def _construct(node: yaml.Node, path: Path_, source: SourceMap) -> Any:
    source.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError("YAML merge keys (<<) are not supported; write the keys out",
                                  Location(source.file, *_mark(key_node)))
            key = yaml.constructor.SafeConstructor().construct_object(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                line, _ = source.keys[path + (key,)]
                raise ConfigError(f"duplicate key '{key}' (first defined on line {line})",
                                  Location(source.file, *_mark(key_node)))
            source.keys[path + (key,)] = _mark(key_node)
            result[key] = _construct(value_node, path + (key,), source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), source) for i, item in enumerate(node.value)]
    return yaml.constructor.SafeConstructor().construct_object(node)


def load_yaml(text: str, file: str) -> YamlDocument:
    source = SourceMap(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError(f"invalid YAML: {problem}{context}", where) from None
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
