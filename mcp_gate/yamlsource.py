"""Read policies.yaml into plain data while remembering the line of every value.

PyYAML's ``safe_load`` forgets where things came from, but a policy error is only
useful if it says ``policies.yaml:14: rules[2].match.tool``.  So we compose the node
graph ourselves, build the Python value, and keep a map from each value's path to
its line.  ``${VAR}`` / ``${VAR:-default}`` are expanded here too, because only
here do we still know the line a missing variable was written on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class SourceError:
    """One problem found in the file, with the place it was found."""

    line: int | None
    path: Path
    message: str


@dataclass
class YamlDocument:
    """The parsed document: plain data, the line of every path, and what went wrong."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    errors: list[SourceError] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or, failing that, of its closest parent that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def rename_key(self, old: str, new: str) -> None:
        """Move a top-level key (and the lines under it) to another name."""
        if not isinstance(self.data, dict) or old not in self.data:
            return
        self.data[new] = self.data.pop(old)
        self.lines = {((new,) + p[1:] if p[:1] == (old,) else p): ln for p, ln in self.lines.items()}


def expand_variables(text: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand ``${VAR}`` and ``${VAR:-default}`` (defaults may nest); ``$$`` is a literal ``$``.

    Returns the expanded text and the problems found.  A missing variable is an
    error, never an empty string: a policy that silently lost its token or its
    path is worse than one that refuses to load.
    """
    problems: list[str] = []
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if end is None:
                problems.append(f"unterminated variable reference {text[i:]!r}")
                return "".join(out), problems
            out.append(_expand_reference(text[i + 2 : end], environ, problems))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out), problems


def _closing_brace(text: str, start: int) -> int | None:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _expand_reference(body: str, environ: Mapping[str, str], problems: list[str]) -> str:
    name, has_default, default = body.partition(":-")
    if not _NAME.fullmatch(name):
        problems.append(f"malformed variable reference ${{{body}}}: use ${{NAME}} or ${{NAME:-default}}")
        return ""
    value = environ.get(name)
    if value is not None and (value != "" or not has_default):
        return value
    if has_default:
        expanded, nested = expand_variables(default, environ)
        problems.extend(nested)
        return expanded
    problems.append(f"environment variable {name} is not set (write ${{{name}:-default}} for a default)")
    return ""


class _Builder:
    """Turns a composed YAML node graph into plain Python values, tracking lines."""

    def __init__(self, environ: Mapping[str, str], document: YamlDocument) -> None:
        self._environ = environ
        self._doc = document
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        self._scalars.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self._doc.errors.append(SourceError(line, path, "mapping keys must be plain strings"))
                continue
            key = str(self._scalars.construct_object(key_node))
            if key in result:
                self._doc.errors.append(
                    SourceError(line, path + (key,), f"duplicate key {key!r} (first given on line {self._doc.lines[path + (key,)]})")
                )
                continue
            self._doc.lines[path + (key,)] = line
            result[key] = self.build(value_node, path + (key,))
        return result

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        value = self._scalars.construct_object(node)
        if isinstance(value, str) and "$" in value:
            value, problems = expand_variables(value, self._environ)
            line = node.start_mark.line + 1
            self._doc.errors.extend(SourceError(line, path, problem) for problem in problems)
        return value


def parse_yaml(text: str, environ: Mapping[str, str]) -> YamlDocument:
    """Parse one YAML document; syntax errors come back in ``errors``, not as exceptions."""
    document = YamlDocument(data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        document.errors.append(SourceError(line, (), f"invalid YAML: {exc.problem or exc}"))
        return document
    except yaml.YAMLError as exc:
        document.errors.append(SourceError(None, (), f"invalid YAML: {exc}"))
        return document
    if node is None:
        document.data = {}
        return document
    try:
        document.data = _Builder(environ, document).build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        document.errors.append(SourceError(mark.line + 1 if mark else None, (), f"invalid YAML: {exc.problem}"))
    return document
