"""Steps 1 to 3 of loading a policies file: from bytes to a `Document`.

1. bytes: size limit (refused before parsing), UTF-8, no tabs, no unusual line breaks;
2. YAML node graph, composed by a SafeLoader that refuses anchors and aliases (no billion laughs), explicit
   tags and deep nesting, and records where each node is;
3. plain values plus an index from value paths to nodes; duplicate keys are found here (PyYAML would keep
   the last one silently).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from reconciler.desired.document import Document, Issue, JsonPath, issue, where

MAX_FILE_BYTES = 1024 * 1024
# Real files nest 5 levels deep; the limit only stops documents built to exhaust the composer's recursion.
MAX_DEPTH = 50

_STR_TAG = "tag:yaml.org,2002:str"

_EMPTY_FILE = (
    "the file is empty: it must be a mapping with at least registry (name, account_id, region) and "
    "pull_access; see policies/main.yaml"
)

# YAML also breaks lines at a lone CR, NEL, LS and PS; editors and GitHub disagree on those, so a line number
# would point at the wrong place. Refusing them keeps every line number the one a person sees.
# Applied to each line split at \n with its \n put back: a CR before it is half of a CRLF, which is fine; a CR
# at the very end of the file (no \n after it) is a lone CR too.
_ODD_LINE_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")


def _text_issues(data: bytes) -> tuple[str | None, list[Issue]]:
    """Decode and screen the raw bytes: UTF-8, not empty, no tabs, only \\n or \\r\\n line breaks."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = (
            f"byte 0x{data[exc.start]:02x} is not valid UTF-8: the file must be UTF-8 (save it as UTF-8)"
        )
        return None, [Issue((), line, column, message)]
    if not text.strip():
        return None, [Issue((), 1, 1, _EMPTY_FILE)]
    issues = []
    lines = text.split("\n")
    for number, line_text in enumerate(lines, start=1):
        if "\t" in line_text:
            message = (
                "tab character: YAML indentation must use spaces; replace the tabs on this line with spaces"
            )
            issues.append(Issue((), number, line_text.index("\t") + 1, message))
        odd = _ODD_LINE_BREAK.search(line_text + ("\n" if number < len(lines) else ""))
        if odd:
            message = f"unusual line break U+{ord(odd.group()):04X}: end lines with \\n (or \\r\\n) only"
            issues.append(Issue((), number, odd.start() + 1, message))
    return (None, issues) if issues else (text, [])


def too_big(size: int) -> str:
    return f"file is {size:,} bytes; policies files are limited to 1 MiB ({MAX_FILE_BYTES:,} bytes)"


def read_document(data: bytes) -> Document | list[Issue]:
    """The document in a file's content, or the problems that stopped it from being read."""
    if len(data) > MAX_FILE_BYTES:
        return [Issue((), 1, 1, too_big(len(data)))]
    text, issues = _text_issues(data)
    if text is None:
        return issues
    return _parse(text)


class _Refused(Exception):
    """A YAML feature we refuse, at the place it appears."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _MarkedLoader(yaml.SafeLoader):
    """SafeLoader composing nodes (which carry marks); refuses anchors/aliases and limits nesting depth."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.explicit_tags: dict[int, tuple[yaml.Node, str]] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                f"YAML anchors and aliases are not supported (found alias *{event.anchor}): "
                "write the value out in full",
                event.start_mark,
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Refused(
                f"YAML anchors and aliases are not supported (found anchor &{anchor}): "
                "remove it and write values out in full",
                event.start_mark,
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(
                    f"the document nests deeper than {MAX_DEPTH} levels; a policies file needs about 5",
                    event.start_mark,
                )
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        tag = getattr(event, "tag", None)
        # `!!str 0123` is a fair way to force a string; any other tag is a type we would not expect.
        if node is not None and tag not in (None, "!", _STR_TAG):
            self.explicit_tags[id(node)] = (node, tag)
        return node


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _yaml_error_issue(text: str, exc: yaml.YAMLError) -> Issue:
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _position(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        return Issue((), line, column, f"character U+{code:04X} is not allowed in YAML: remove it")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if exc.problem and "another document" in exc.problem:
            return Issue((), line, column, "a policies file holds one YAML document: remove this '---'")
        message = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
        if exc.context and exc.problem and exc.context_mark:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return Issue((), line, column, message)
    return Issue((), 1, 1, f"invalid YAML: {exc}")


def _scalar_value(node: yaml.ScalarNode, loader: _MarkedLoader) -> Any:
    if node.tag == _STR_TAG or id(node) in loader.explicit_tags:
        return node.value
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        # An implicit timestamp like 2024-02-30 or a bare `<<`: keep the text; checks will say what's wrong.
        return node.value


def _convert(node: yaml.Node, path: JsonPath, loader: _MarkedLoader, doc: Document) -> Any:
    doc.nodes[path] = node
    if id(node) in loader.explicit_tags:
        tag = loader.explicit_tags[id(node)][1].replace("tag:yaml.org,2002:", "!!")
        doc.issues.append(
            issue(path, node, f"YAML tags are not supported (found {tag}): remove it; quote strings instead")
        )
    if isinstance(node, yaml.ScalarNode):
        return _scalar_value(node, loader)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), loader, doc) for index, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(node, path, loader, doc)
    return None  # unreachable: the composer makes only these three kinds


def _convert_mapping(node: yaml.MappingNode, path: JsonPath, loader: _MarkedLoader, doc: Document) -> Any:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
            doc.issues.append(issue(path, key_node, f"keys must be plain names, not {kind}"))
            continue
        # The key's text, not its YAML type: `yes:` stays "yes" (not True) and `1` and "1" collide.
        key = key_node.value
        child = (*path, key)
        if key in result:
            first = doc.keys[child].start_mark.line + 1
            here = key_node.start_mark.line + 1
            doc.issues.append(
                issue(
                    child,
                    key_node,
                    f"duplicate key {key!r} {where(path)} (lines {first} and {here}): YAML would keep "
                    "only the last one; remove or merge one of them",
                )
            )
            continue
        doc.keys[child] = key_node
        result[key] = _convert(value_node, child, loader, doc)
    return result


def _parse(text: str) -> Document | list[Issue]:
    loader: _MarkedLoader | None = None
    try:
        loader = _MarkedLoader(text)  # raises ReaderError on a control character
        root = loader.get_single_node()
    except _Refused as refused:
        mark = refused.mark
        return [Issue((), mark.line + 1 if mark else 1, mark.column + 1 if mark else 1, refused.message)]
    except yaml.YAMLError as exc:
        return [_yaml_error_issue(text, exc)]
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return [Issue((), 1, 1, _EMPTY_FILE)]
    doc = Document(data=None)
    doc.data = _convert(root, (), loader, doc)
    return doc
