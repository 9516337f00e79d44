"""Loads YAML while remembering where every key and value stood, so that an error found later
(by pydantic, or while interpolating) can name file:line:column.

A suite file cannot make the loader take more than a bounded time and memory: the file is at
most MAX_FILE_BYTES of UTF-8 text, nested at most MAX_DEPTH levels, and holds at most
MAX_VALUES values once its aliases are expanded (counted while composing, so a "billion
laughs" file is refused before anything is expanded). Each is a ConfigError naming the line.

Where PyYAML was built with libyaml, libyaml scans and parses (about 4x faster on a 500-check
suite) and our composer, with its bounds, builds the tree from libyaml's events; a file that
libyaml refuses is read again by the pure-Python loader, whose words and marks are the
errors' (PyYAML's and libyaml's messages differ)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from checks.errors import ConfigError, Location

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_VALUES", "SourceMap",
           "YamlDocument", "decode_suite_bytes", "load_yaml", "read_yaml_file"]

# A suite of 500 checks is about 100 KiB and 10,000 values, nested under 10 levels: the
# limits leave ten times that, and bound any load to a few seconds and ~150 MB (PyYAML's
# pure-Python parser takes 20-40 µs a value).
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000
MAX_ALIASES = 10_000

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
    # An alias is the node it names, reused in the graph: this walk expands it, which the
    # composer (_BoundedLoader) has already counted and bounded.
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


class _Bounds(yaml.composer.Composer):
    """PyYAML's composer, counting as it composes: the nesting depth, the aliases, and the
    values the tree would hold with every alias expanded (an alias adds the size of the node
    it repeats, known once that node is closed). The composer recurses once per level, so the
    depth limit also keeps 5,000 nested `[` from reaching Python's recursion limit."""

    def _start_bounds(self, file: str) -> None:
        self._file = file
        self._tags: dict[tuple[str, Any], str] = {}  # (scalar, implicit) -> resolved tag
        self._depth = 0
        self._values = 0
        self._aliases = 0
        self._sizes: dict[str, int] = {}  # anchor -> values of its node, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise self._refuse(f"more than {MAX_ALIASES:,} aliases; expected at most "
                                   f"{MAX_ALIASES:,} uses of '*name'", event)
            if event.anchor in self.anchors:  # else PyYAML reports the undefined alias
                if event.anchor not in self._sizes:  # `&a [*a]`: a tree without an end
                    raise self._refuse(f"the alias '*{event.anchor}' is inside the node it "
                                       "repeats; expected an alias of a node defined before "
                                       "it, not around it", event)
                self._count(self._sizes[event.anchor], event)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        if self._depth >= MAX_DEPTH:
            raise self._refuse(f"nested more than {MAX_DEPTH} levels deep; expected a "
                               "flatter file", event)
        before = self._values
        self._count(1, event)
        self._depth += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self._values - before
        return node  # type: ignore[no-any-return]

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        # A suite repeats its keys (`id`, `type`) hundreds of times: match each text once.
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]
        tag = self._tags.get((value, implicit))
        if tag is None:
            tag = self._tags[value, implicit] = super().resolve(kind, value, implicit)
        return tag

    def _count(self, values: int, event: yaml.Event) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            expanded = " once its aliases are expanded" if self._aliases else ""
            hint = (" (each alias repeats the whole node it names)" if self._aliases
                    else " (split the suite)")
            raise self._refuse(f"the file holds more than {MAX_VALUES:,} values{expanded}; "
                               f"expected fewer{hint}", event)

    def _refuse(self, message: str, event: yaml.Event) -> ConfigError:
        return ConfigError(message, Location(self._file, *_at(event.start_mark)))


class _BoundedLoader(_Bounds, yaml.SafeLoader):
    """The pure-Python scanner and parser: the reference for every error's words and marks."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self._start_bounds(file)


# What only the pure-Python loader reads as PyYAML does: a control character (its reader
# refuses it before parsing) and a tab (libyaml lets `a:<TAB>b` through, PyYAML refuses it).
_PURE_ONLY = re.compile(f"\t|{yaml.reader.Reader.NON_PRINTABLE.pattern}")

# In a flow collection PyYAML ends a plain scalar at `?` and reads `a:` or `a:]` as a key,
# where libyaml reads on: such a scalar from libyaml is one PyYAML would have refused. An
# empty value (`{a: }`) libyaml places one column later.
_FLOW_PLAIN_PYYAML_ENDS = re.compile(r"^$|[?,\[\]{}]|:(?:$|[,\[\]{}])")


class _NotAsPyYAML(yaml.YAMLError):
    """libyaml read something that PyYAML may read otherwise: read it again with PyYAML."""


_C_LOADER: type[_BoundedCLoader] | None = None
if yaml.__with_libyaml__:
    class _BoundedCLoader(_Bounds, yaml.cyaml.CParser, yaml.resolver.Resolver):
        """libyaml scans and parses; the same bounded composer builds the nodes from its
        events, so the limits hold while composing, as in _BoundedLoader. Where the two
        grammars part (a tag, a flow scalar PyYAML would end early) it gives way to PyYAML."""

        def __init__(self, text: str, file: str) -> None:
            yaml.cyaml.CParser.__init__(self, text)
            yaml.composer.Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self._start_bounds(file)
            self._flow_depth = 0

        def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
            event = self.peek_event()
            if getattr(event, "tag", None) is not None:
                raise _NotAsPyYAML("a tag")
            if isinstance(event, yaml.ScalarEvent):
                if (self._flow_depth and not event.style  # plain: libyaml says ""
                        and _FLOW_PLAIN_PYYAML_ENDS.search(event.value)):
                    raise _NotAsPyYAML("a flow scalar")
            elif isinstance(event, yaml.CollectionStartEvent) and event.flow_style:
                self._flow_depth += 1
                try:
                    return super().compose_node(parent, index)
                finally:
                    self._flow_depth -= 1
            return super().compose_node(parent, index)

    _C_LOADER = _BoundedCLoader


def _at(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of `text[index]`."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def load_yaml(text: str, file: str) -> YamlDocument:
    node = _compose(text, file)
    if node is None:
        raise ConfigError("the file is empty; expected a mapping with 'environments' and "
                          "'categories'", Location(file, 1, 1))
    source = SourceMap(file)
    return YamlDocument(_construct(node, (), source), source)


def _compose(text: str, file: str) -> yaml.Node | None:
    """The document's node tree, composed from libyaml's events where libyaml is installed;
    a file it refuses, passes a bound in, or may read otherwise is composed again by the
    pure-Python loader, so every error keeps PyYAML's words and marks."""
    if _C_LOADER is not None and not _PURE_ONLY.search(text):
        loader = _C_LOADER(text, file)
        try:
            return loader.get_single_node()  # type: ignore[no-any-return]
        except (yaml.YAMLError, ConfigError):
            pass  # an error is rare: worded below, as PyYAML words it
        finally:
            loader.dispose()
    return _compose_pure(text, file)


def _compose_pure(text: str, file: str) -> yaml.Node | None:
    try:
        loader = _BoundedLoader(text, file)
    except yaml.reader.ReaderError as exc:  # a control character: PyYAML checks them first
        raise ConfigError(f"a control character (U+{exc.character:04X}); expected printable "
                          "text (write it as an escape, such as \\t, in a double-quoted "
                          "string)", Location(file, *_line_column(text, exc.position))) from None
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise ConfigError(f"invalid YAML: {_explain(exc)}", where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Location(file)) from None
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path) -> YamlDocument:
    path = Path(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)  # a huge file (or /dev/zero) is not read
            size = os.fstat(stream.fileno()).st_size
    except FileNotFoundError:
        raise ConfigError("suite file not found (pass --config FILE or set SMOKEBOT_CONFIG)",
                          Location(str(path))) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the suite file: {exc}", Location(str(path))) from None
    if len(data) > MAX_FILE_BYTES:
        line = data.count(b"\n", 0, MAX_FILE_BYTES) + 1
        found = _size(size) if size > MAX_FILE_BYTES else f"more than {_size(MAX_FILE_BYTES)}"
        raise ConfigError(f"the file is {found}; expected at most {_size(MAX_FILE_BYTES)} (the "
                          "limit is passed on this line)", Location(str(path), line))
    return load_yaml(decode_suite_bytes(data, str(path)), str(path))


def _size(count: int) -> str:
    if count % 1024 == 0 and count >= 1024 * 1024:
        return f"{count // (1024 * 1024)} MiB"
    return f"{count / (1024 * 1024):.1f} MiB ({count:,} bytes)"


# Other Unicode encodings, by their byte order mark; UTF-32's first, as it starts like UTF-16's.
_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
         (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))
_UTF8_BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _encoding_name(codec: str) -> str:
    """`utf-16-le` -> `UTF-16 (little endian)`."""
    family, _, order = codec.upper().rpartition("-")
    return f"{family} ({'little' if order == 'LE' else 'big'} endian)"


def _sniff_encoding(data: bytes) -> str | None:
    """The UTF-16 or UTF-32 codec a file is written in: by its byte order mark, else by where
    the NUL bytes of ASCII text fall (YAML 1.2, 5.2); None for UTF-8 or not text at all."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    head = data[:4]
    patterns = (("utf-32-be", len(head) == 4 and head[:3] == b"\0\0\0" and head[3] != 0),
                ("utf-32-le", len(head) == 4 and head[0] != 0 and head[1:] == b"\0\0\0"),
                ("utf-16-be", len(head) >= 2 and head[0] == 0 and head[1] != 0),
                ("utf-16-le", len(head) >= 2 and head[0] != 0 and head[1] == 0))
    for codec, matches in patterns:
        if matches:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                return None  # NUL bytes, but not text in that encoding either: binary
            return codec if not _CONTROL.search(text) else None
    return None


def decode_suite_bytes(data: bytes, file: str) -> str:
    """The text of a suite file, which is UTF-8 (a byte order mark is allowed); an error that
    says what the bytes are instead: another encoding, binary, or where UTF-8 breaks."""
    codec = _sniff_encoding(data)
    if codec is not None:
        raise ConfigError(f"the file is {_encoding_name(codec)}; expected UTF-8 (save it as "
                          "UTF-8)", Location(file, 1, 1))
    data = data.removeprefix(_UTF8_BOM)
    nul = data.find(b"\0")
    if nul >= 0:
        line, column = _byte_line_column(data, nul)
        raise ConfigError("binary file (a NUL byte); expected a YAML text file in UTF-8",
                          Location(file, line, column))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_line_column(data, exc.start)
        raise ConfigError(f"invalid UTF-8 (byte 0x{data[exc.start]:02X}); expected the file "
                          "in UTF-8 (an editor saving Latin-1 or Windows-1252 writes such "
                          "bytes)", Location(file, line, column)) from None


def _byte_line_column(data: bytes, index: int) -> tuple[int, int]:
    """1-based line and column (in characters) of the byte at `index`; what precedes it is
    valid UTF-8."""
    line_start = data.rfind(b"\n", 0, index) + 1
    column = len(data[line_start:index].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, index) + 1, column
