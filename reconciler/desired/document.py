"""A policies file as the loader works on it: plain values, the YAML node of each value, and problems located
by value path (they get their file name only at the end), with the words messages use for paths and values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """A problem before it gets its file name; `path` says which part of the document it is about."""

    path: JsonPath
    line: int
    column: int
    message: str


def issue(path: JsonPath, node: yaml.Node, message: str) -> Issue:
    mark = node.start_mark
    return Issue(path, mark.line + 1, mark.column + 1, message)


def label(path: JsonPath) -> str:
    """`overrides[0].pull_access`: how messages name a part of the document."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the file"


def where(path: JsonPath) -> str:
    return f"in {label(path)}" if path else "at the top level"


def describe(value: Any) -> str:
    """What a person would call the value YAML produced (to explain a type mismatch)."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean (true/false)"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} (quote it to make it a string)"


@dataclass
class Document:
    data: Any
    nodes: dict[JsonPath, yaml.Node] = field(default_factory=dict)  # value nodes
    keys: dict[JsonPath, yaml.Node] = field(default_factory=dict)  # key nodes of mapping entries
    issues: list[Issue] = field(default_factory=list)

    def node(self, path: JsonPath) -> yaml.Node:
        """The node of a path, or of its nearest ancestor that has one (the root always does)."""
        while path not in self.nodes and path:
            path = path[:-1]
        return self.nodes[path]

    def key_or_value(self, path: JsonPath) -> yaml.Node:
        """Where to point for a problem about a whole entry: its key (`registry:`), else the value."""
        return self.keys.get(path) or self.node(path)

    def line(self, path: JsonPath) -> int:
        return self.node(path).start_mark.line + 1


class Dirty:
    """Which parts of the document have a problem (in them or below them)."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.parts = {issue.path[:length] for issue in issues for length in range(len(issue.path) + 1)}

    def clean(self, path: JsonPath) -> bool:
        return path not in self.parts
