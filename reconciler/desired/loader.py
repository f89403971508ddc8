"""Load `policies/*.yaml` into a `DesiredState`, strictly, reporting every problem with its line and column.

Each file goes through these steps; every step collects problems instead of stopping at the first one:

1. bytes: size limit (refused before parsing), UTF-8, no tabs;
2. YAML node graph, composed by a SafeLoader that refuses anchors and aliases (no billion laughs), explicit
   tags and deep nesting, and records where each node is;
3. plain values plus an index from value paths to nodes; duplicate keys are found here (PyYAML would keep
   the last one silently);
4. JSON Schema (schema.json, the same file editors use) for the structure, and field checks that say how to
   fix an account id, an organization path, a region...;
5. checks on every part whose structure is valid: rendered policy size, the guard's safety rules,
   managed_sids against the Sids we write, overlapping overrides;
6. the model. After all files: unique registry names, one file per account and region.

Problems from step 5 show up only once the part they are about is structurally valid: they would be noise
(or crash) on a broken part.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from reconciler.desired.model import (
    DEFAULT_MANAGED_SIDS,
    DesiredState,
    NullplatformTarget,
    Override,
    PullAccess,
    Registry,
)
from reconciler.errors import Problem, ReconcilerError, ValidationFailed
from reconciler.policy.guard import MAX_POLICY_CHARS, violations
from reconciler.policy.render import policy_text, render_policy, render_statements

MAX_FILE_BYTES = 1024 * 1024
# Real files nest 5 levels deep; the limit only stops documents built to exhaust the composer's recursion.
MAX_DEPTH = 50
POLICY_SUFFIXES = (".yaml", ".yml")

ORGANIZATION_PATH_EXAMPLE = "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"
ACCOUNT_EXAMPLE = '"111122223333"'
_OU_EXAMPLE = f'"{ORGANIZATION_PATH_EXAMPLE}"'

# The same patterns are in schema.json (a test keeps them equal). Python checks use fullmatch: `$` alone
# would accept a trailing newline.
PATTERNS: dict[str, str] = {
    "name": r"^[a-z0-9][a-z0-9_.-]{0,62}$",
    "account_id": r"^[0-9]{12}$",
    "region": r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$",
    "role_arn": r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$",
    "nrn": r"^organization=[0-9]+(:[a-z_]+=[0-9]+)*$",
    "organization_path": (
        r"^o-[a-z0-9]{10,32}/(r-[0-9a-z]{4,32}|\*)/(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}/)+\*?$"
    ),
}
_NAME = re.compile(PATTERNS["name"])
_ACCOUNT = re.compile(PATTERNS["account_id"])
_REGION = re.compile(PATTERNS["region"])
_ROLE_ARN = re.compile(PATTERNS["role_arn"])
_NRN = re.compile(PATTERNS["nrn"])
_ORGANIZATION_PATH = re.compile(PATTERNS["organization_path"])
_ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
_ROOT_ID = re.compile(r"r-[0-9a-z]{4,32}")
_OU_ID = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")
_DIGITS = re.compile(r"[0-9]+")
_WILDCARDS = frozenset("*?[")

_STR_TAG = "tag:yaml.org,2002:str"

JsonPath = tuple[str | int, ...]


# --- problems located by value path ------------------------------------------------------------------


@dataclass(frozen=True)
class _Issue:
    """A problem before it gets its file name; `path` says which part of the document it is about."""

    path: JsonPath
    line: int
    column: int
    message: str


def _issue(path: JsonPath, node: yaml.Node, message: str) -> _Issue:
    mark = node.start_mark
    return _Issue(path, mark.line + 1, mark.column + 1, message)


def _label(path: JsonPath) -> str:
    """`overrides[0].pull_access`: how messages name a part of the document."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the file"


def _where(path: JsonPath) -> str:
    return f"in {_label(path)}" if path else "at the top level"


def _describe(value: Any) -> str:
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


# --- YAML: node graph with marks ---------------------------------------------------------------------


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


def _yaml_error_issue(text: str, exc: yaml.YAMLError) -> _Issue:
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _position(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        return _Issue((), line, column, f"character U+{code:04X} is not allowed in YAML: remove it")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if exc.problem and "another document" in exc.problem:
            return _Issue((), line, column, "a policies file holds one YAML document: remove this '---'")
        message = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
        if exc.context and exc.problem and exc.context_mark:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return _Issue((), line, column, message)
    return _Issue((), 1, 1, f"invalid YAML: {exc}")


# --- nodes -> plain values, with an index back to the nodes -------------------------------------------


@dataclass
class _Document:
    data: Any
    nodes: dict[JsonPath, yaml.Node] = field(default_factory=dict)  # value nodes
    keys: dict[JsonPath, yaml.Node] = field(default_factory=dict)  # key nodes of mapping entries
    issues: list[_Issue] = field(default_factory=list)

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


def _scalar_value(node: yaml.ScalarNode, loader: _MarkedLoader) -> Any:
    if node.tag == _STR_TAG or id(node) in loader.explicit_tags:
        return node.value
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        # An implicit timestamp like 2024-02-30 or a bare `<<`: keep the text; checks will say what's wrong.
        return node.value


def _convert(node: yaml.Node, path: JsonPath, loader: _MarkedLoader, doc: _Document) -> Any:
    doc.nodes[path] = node
    if id(node) in loader.explicit_tags:
        tag = loader.explicit_tags[id(node)][1].replace("tag:yaml.org,2002:", "!!")
        doc.issues.append(
            _issue(path, node, f"YAML tags are not supported (found {tag}): remove it; quote strings instead")
        )
    if isinstance(node, yaml.ScalarNode):
        return _scalar_value(node, loader)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), loader, doc) for index, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(node, path, loader, doc)
    return None  # unreachable: the composer makes only these three kinds


def _convert_mapping(node: yaml.MappingNode, path: JsonPath, loader: _MarkedLoader, doc: _Document) -> Any:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
            doc.issues.append(_issue(path, key_node, f"keys must be plain names, not {kind}"))
            continue
        # The key's text, not its YAML type: `yes:` stays "yes" (not True) and `1` and "1" collide.
        key = key_node.value
        child = (*path, key)
        if key in result:
            first = doc.keys[child].start_mark.line + 1
            here = key_node.start_mark.line + 1
            doc.issues.append(
                _issue(
                    child,
                    key_node,
                    f"duplicate key {key!r} {_where(path)} (lines {first} and {here}): YAML would keep "
                    "only the last one; remove or merge one of them",
                )
            )
            continue
        doc.keys[child] = key_node
        result[key] = _convert(value_node, child, loader, doc)
    return result


def _parse(text: str) -> _Document | list[_Issue]:
    loader: _MarkedLoader | None = None
    try:
        loader = _MarkedLoader(text)  # raises ReaderError on a control character
        root = loader.get_single_node()
    except _Refused as refused:
        mark = refused.mark
        return [_Issue((), mark.line + 1 if mark else 1, mark.column + 1 if mark else 1, refused.message)]
    except yaml.YAMLError as exc:
        return [_yaml_error_issue(text, exc)]
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return [_Issue((), 1, 1, _EMPTY_FILE)]
    doc = _Document(data=None)
    doc.data = _convert(root, (), loader, doc)
    return doc


_EMPTY_FILE = (
    "the file is empty: it must be a mapping with at least registry (name, account_id, region) and "
    "pull_access; see policies/main.yaml"
)


# --- field checks: a message that says how to fix the value ------------------------------------------

Checker = Callable[[Any, yaml.Node], str | None]


def _raw(node: yaml.Node) -> str | None:
    """The text as written, for a plain scalar YAML turned into something else (a number, a date...)."""
    return node.value if isinstance(node, yaml.ScalarNode) and node.style is None else None


def check_account_id(value: Any, node: yaml.Node) -> str | None:
    if isinstance(value, str):
        if _ACCOUNT.fullmatch(value):
            return None
        return f"account id {value!r} must be exactly 12 digits, like {ACCOUNT_EXAMPLE}"
    raw = _raw(node)
    if isinstance(value, int) and not isinstance(value, bool) and raw and _DIGITS.fullmatch(raw):
        if len(raw) == 12:
            return f'account id {raw} must be a quoted string: write "{raw}"'
        if len(raw) < 12:
            return (
                f"account id {raw} has {len(raw)} digits, not 12: unquoted, YAML reads it as a number, so a "
                f'leading zero was probably lost; quote it with all 12 digits, like "{raw.zfill(12)}"'
            )
        return f"account id {raw} has {len(raw)} digits: it must be exactly 12 digits, quoted"
    shown = f"{raw} " if raw else ""
    return (
        f"account id {shown}must be a quoted 12-digit string like {ACCOUNT_EXAMPLE}, not {_describe(value)}"
    )


def check_organization_path(value: Any, node: yaml.Node) -> str | None:
    if not isinstance(value, str):
        return f"organization path must be a quoted string like {_OU_EXAMPLE}, not {_describe(value)}"
    if _ORGANIZATION_PATH.fullmatch(value):
        return None
    return f"organization path {value!r} {_organization_path_fault(value)}; write it like {_OU_EXAMPLE}"


def _organization_path_fault(value: str) -> str:
    """Why an organization path is wrong (it is known not to match the pattern)."""
    segments = value.split("/")
    organization = segments[0]
    if _WILDCARDS & set(organization) or not organization:
        return "would match every organization: it must start with your organization id (o-...)"
    if not _ORGANIZATION_ID.fullmatch(organization):
        return f"must start with an organization id like o-a1b2c3d4e5, not {organization!r}"
    if len(segments) < 2 or not segments[1]:
        return "has no root: after the organization id comes the root id (r-...) or *"
    if segments[1] != "*" and not _ROOT_ID.fullmatch(segments[1]):
        return f"has {segments[1]!r} where the root id (r-...) or * belongs"
    rest = segments[2:]
    if rest in ([], [""], ["*"]):
        return "names no OU, so it would match every account in the organization; add at least one OU id"
    for segment in rest[:-1]:
        if _WILDCARDS & set(segment):
            return "may use * only as the root or as the last part"
        if not _OU_ID.fullmatch(segment):
            return f"has {segment!r} where an OU id (ou-xxxx-xxxxxxxx) belongs"
    last = rest[-1]
    if _OU_ID.fullmatch(last):
        return "must end with /* (the OU and everything below it) or / (accounts directly in the OU)"
    if _WILDCARDS & set(last):
        return "may use * only as the root or as the whole last part (/*)"
    return f"has {last!r} where an OU id (ou-xxxx-xxxxxxxx) belongs"


def _pattern_checker(pattern: re.Pattern[str], what: str, example: str) -> Checker:
    def check(value: Any, node: yaml.Node) -> str | None:
        if isinstance(value, str) and pattern.fullmatch(value):
            return None
        if isinstance(value, str):
            return f"{what} {value!r} is not valid: write it like {example}"
        raw = _raw(node)
        shown = f" {raw}" if raw else ""
        return f"{what}{shown} must be a string like {example}, not {_describe(value)}"

    return check


check_name = _pattern_checker(
    _NAME,
    "registry name",
    "main (1-63 lowercase letters, digits, '_', '.', '-'; starting with a letter or digit)",
)
check_region = _pattern_checker(_REGION, "region", "us-east-1 (an AWS region name)")
check_role_arn = _pattern_checker(
    _ROLE_ARN, "role_arn", "arn:aws:iam::123456789012:role/ecr-policy-reconciler (an IAM role ARN)"
)
check_nrn = _pattern_checker(_NRN, "nrn", '"organization=1:account=2" (a nullplatform NRN)')


def check_provider_id(value: Any, node: yaml.Node) -> str | None:
    if isinstance(value, str):
        return (
            None if value else "provider_id must not be empty: remove the key to look the provider up by nrn"
        )
    raw = _raw(node)
    if raw and not isinstance(value, bool):
        return f'provider_id {raw} must be a quoted string: write "{raw}"'
    return f"provider_id must be a quoted string, not {_describe(value)}"


def check_glob(value: Any, node: yaml.Node) -> str | None:
    if isinstance(value, str):
        return None if value else 'a glob must not be empty: use "*" for everything'
    raw = _raw(node)
    shown = f" {raw}" if raw else ""
    return f'glob{shown} must be a quoted string like "payments/*", not {_describe(value)}'


def _list_items(
    container: Any, key: str, path: JsonPath, check: Checker
) -> Iterator[tuple[JsonPath, Checker]]:
    items = container.get(key) if isinstance(container, dict) else None
    if isinstance(items, list):
        for index in range(len(items)):
            yield (*path, key, index), check


def _access_fields(access: Any, path: JsonPath) -> Iterator[tuple[JsonPath, Checker]]:
    yield from _list_items(access, "organization_paths", path, check_organization_path)
    yield from _list_items(access, "accounts", path, check_account_id)


def _fields(data: Any) -> Iterator[tuple[JsonPath, Checker]]:
    """Every leaf value with a field check, where the structure above it is what the schema expects."""
    if not isinstance(data, dict):
        return
    registry = data.get("registry")
    if isinstance(registry, dict):
        for key, check in (
            ("name", check_name),
            ("account_id", check_account_id),
            ("region", check_region),
            ("role_arn", check_role_arn),
        ):
            if key in registry:
                yield ("registry", key), check
    nullplatform = data.get("nullplatform")
    if isinstance(nullplatform, dict):
        for key, check in (("nrn", check_nrn), ("provider_id", check_provider_id)):
            if key in nullplatform:
                yield ("nullplatform", key), check
    yield from _access_fields(data.get("pull_access"), ("pull_access",))
    yield from _list_items(data.get("repositories"), "include", ("repositories",), check_glob)
    yield from _list_items(data.get("repositories"), "exclude", ("repositories",), check_glob)
    yield from _list_items(data, "managed_sids", (), check_glob)
    overrides = data.get("overrides")
    if isinstance(overrides, list):
        for index, override in enumerate(overrides):
            yield from _list_items(override, "repositories", ("overrides", index), check_glob)
            if isinstance(override, dict):
                yield from _access_fields(override.get("pull_access"), ("overrides", index, "pull_access"))


def _value_at(data: Any, path: JsonPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _field_issues(doc: _Document) -> list[_Issue]:
    issues = []
    for path, check in _fields(doc.data):
        message = check(_value_at(doc.data, path), doc.nodes[path])
        if message:
            issues.append(_issue(path, doc.nodes[path], message))
    return issues


# --- JSON Schema: structure ---------------------------------------------------------------------------


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema for one policies file (reconciler/desired/schema.json)."""
    text = resources.files("reconciler.desired").joinpath("schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


_GLOBS = 'a list of quoted globs like ["payments/*"]'
_EXPECTED: dict[str, str] = {
    "": (
        "a mapping with registry, pull_access and optionally nullplatform, repositories, overrides, "
        "managed_sids"
    ),
    "registry": "a mapping with name, account_id and region",
    "nullplatform": "a mapping with nrn (and optionally provider_id)",
    "pull_access": "a mapping with organization_paths and/or accounts",
    "repositories": "a mapping with include and/or exclude",
    "overrides": "a list of overrides, each a mapping with repositories and pull_access",
    "override": "a mapping with repositories and pull_access",
    "organization_paths": f'a list of organization paths like ["{ORGANIZATION_PATH_EXAMPLE}"]',
    "accounts": f"a list of quoted account ids like [{ACCOUNT_EXAMPLE}]",
    "globs": _GLOBS,
}
_REQUIRED_HINT: dict[str, str] = {
    "registry": "the ECR registry: name, account_id and region",
    "pull_access": "who may pull: organization_paths and/or accounts",
    "name": "a unique name like main",
    "account_id": 'the registry\'s account, a quoted 12-digit string like "123456789012"',
    "region": "like us-east-1",
    "nrn": 'like "organization=1:account=2"',
    "repositories": 'the globs this override applies to, like ["payments/*"]',
}


def _kind(path: JsonPath) -> str:
    """Which entry of _EXPECTED describes the value at a path."""
    if not path:
        return ""
    last = path[-1]
    if isinstance(last, int):
        return "override" if path[:-1] == ("overrides",) else ""
    if last in ("include", "exclude", "managed_sids") or (last == "repositories" and len(path) > 1):
        return "globs"
    return last


def _unknown_keys(
    doc: _Document, path: JsonPath, instance: dict[str, Any], allowed: list[str]
) -> list[_Issue]:
    issues = []
    where = _where(path)
    for key in instance:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"unknown key {key!r} {where}{guess}: allowed keys are {', '.join(allowed)}"
            issues.append(_issue((*path, key), doc.key_or_value((*path, key)), message))
    return issues


def _missing_keys(
    doc: _Document, path: JsonPath, instance: dict[str, Any], required: list[str]
) -> list[_Issue]:
    issues = []
    for key in required:
        if key not in instance:
            hint = _REQUIRED_HINT.get(key)
            message = f"{_label(path)} is missing the required key {key!r}" + (f" ({hint})" if hint else "")
            issues.append(_issue(path, doc.key_or_value(path), message))
    return issues


def _wrong_type(doc: _Document, path: JsonPath, instance: Any, expected_type: str) -> list[_Issue]:
    expected = _EXPECTED.get(_kind(path)) or f"a {expected_type}"
    if instance is None:
        message = f"{_label(path)} is empty: it must be {expected}"
    else:
        message = f"{_label(path)} must be {expected}, not {_describe(instance)}"
    return [_issue(path, doc.node(path), message)]


def _schema_issue(doc: _Document, error: jsonschema.ValidationError) -> list[_Issue]:
    """A schema error, reworded to say how to fix it and pointed at the right node."""
    path: JsonPath = tuple(error.absolute_path)
    instance, value, subschema = error.instance, error.validator_value, error.schema
    if (
        error.validator == "additionalProperties"
        and isinstance(instance, dict)
        and isinstance(subschema, dict)
    ):
        return _unknown_keys(doc, path, instance, list(subschema.get("properties", {})))
    if error.validator == "required" and isinstance(instance, dict) and isinstance(value, list):
        return _missing_keys(doc, path, instance, value)
    if error.validator == "type":
        return _wrong_type(doc, path, instance, str(value))
    if error.validator == "minItems":
        what = _EXPECTED.get(_kind(path), "a list")
        default = " (remove the key to use the default)" if path[-1:] in (("include",), ("exclude",)) else ""
        return [_issue(path, doc.node(path), f"{_label(path)} is an empty list: it must be {what}{default}")]
    if error.validator == "uniqueItems" and isinstance(instance, list):
        return _duplicate_items(doc, path, instance)
    if error.validator == "anyOf" and path[-1:] == ("pull_access",):
        message = f"{_label(path)} grants no access: give organization_paths, accounts, or both"
        return [_issue(path, doc.key_or_value(path), message)]
    return [_issue(path, doc.node(path), f"{_label(path)}: {error.message}")]


def _duplicate_items(doc: _Document, path: JsonPath, items: list[Any]) -> list[_Issue]:
    seen: dict[str, int] = {}
    issues = []
    for index, item in enumerate(items):
        key = json.dumps(item, sort_keys=True, default=str)
        if key in seen:
            first = doc.line((*path, seen[key]))
            message = f"{item!r} is listed twice in {_label(path)} (first at line {first}): remove one"
            issues.append(_issue((*path, index), doc.node((*path, index)), message))
        else:
            seen[key] = index
    return issues


def _structure_issues(doc: _Document) -> list[_Issue]:
    """Schema and field problems; a field check replaces the schema's generic message for the same value."""
    fields = _field_issues(doc)
    explained = {issue.path for issue in fields}
    issues = list(fields)
    for error in _validator().iter_errors(doc.data):
        if tuple(error.absolute_path) in explained and error.validator in ("type", "pattern", "minLength"):
            continue
        issues.extend(_schema_issue(doc, error))
    return issues


# --- semantic checks on the valid parts ----------------------------------------------------------------


class _Dirty:
    """Which parts of the document have a problem (in them or below them)."""

    def __init__(self, issues: Sequence[_Issue]) -> None:
        self.parts = {issue.path[:length] for issue in issues for length in range(len(issue.path) + 1)}

    def clean(self, path: JsonPath) -> bool:
        return path not in self.parts


def _pull_access(data: Mapping[str, Any]) -> PullAccess:
    return PullAccess(
        organization_paths=tuple(data.get("organization_paths", ())),
        accounts=tuple(data.get("accounts", ())),
    )


def _rendering_issues(doc: _Document, path: JsonPath, account: str, access: PullAccess) -> list[_Issue]:
    """Render the policy as it will be written: it must pass the guard and fit ECR's size limit."""
    document = render_policy(account, access)
    issues = []
    size = len(policy_text(document))
    if size > MAX_POLICY_CHARS:
        culprit = "accounts" if access.accounts else "organization_paths"
        message = (
            f"the policy rendered for {_label(path)} is {size:,} characters; ECR allows at most "
            f"{MAX_POLICY_CHARS:,} ({len(access.accounts)} accounts, {len(access.organization_paths)} "
            "organization paths): list fewer accounts, or grant access by organization_paths instead"
        )
        issues.append(_issue((*path, culprit), doc.node((*path, culprit)), message))
    for violation in violations(document):
        message = f"{_label(path)} would render an unsafe policy: {violation}"
        issues.append(_issue(path, doc.key_or_value(path), message))
    return issues


def _semantic_issues(doc: _Document, found: Sequence[_Issue]) -> list[_Issue]:
    data = doc.data
    if not isinstance(data, dict):
        return []
    dirty = _Dirty(found)
    issues: list[_Issue] = []
    accesses: list[tuple[JsonPath, PullAccess]] = []
    if "pull_access" in data and dirty.clean(("pull_access",)):
        accesses.append((("pull_access",), _pull_access(data["pull_access"])))
    overrides = data.get("overrides")
    if isinstance(overrides, list):
        for index, override in enumerate(overrides):
            if dirty.clean(("overrides", index)):
                accesses.append((("overrides", index, "pull_access"), _pull_access(override["pull_access"])))
        # Overlap needs only the globs: check it even when an override's access is still broken.
        with_globs = [
            index
            for index, override in enumerate(overrides)
            if isinstance(override, dict)
            and isinstance(override.get("repositories"), list)
            and dirty.clean(("overrides", index, "repositories"))
        ]
        issues.extend(_overlap_issues(doc, with_globs))
    registry = data.get("registry")
    if isinstance(registry, dict) and "account_id" in registry and dirty.clean(("registry", "account_id")):
        account = registry["account_id"]
        for path, access in accesses:
            issues.extend(_rendering_issues(doc, path, account, access))
    if "managed_sids" in data and dirty.clean(("managed_sids",)):
        issues.extend(_managed_sids_issues(doc, data["managed_sids"], accesses))
    return issues


def _managed_sids_issues(
    doc: _Document, managed: list[str], accesses: Sequence[tuple[JsonPath, PullAccess]]
) -> list[_Issue]:
    # The account id does not change which Sids are rendered, only the condition values.
    written = {s["Sid"] for _, access in accesses for s in render_statements("000000000000", access)}
    issues = []
    for sid in sorted(written):
        if not any(fnmatchcase(sid, glob) for glob in managed):
            message = (
                f"managed_sids does not match the Sid {sid} that the reconciler writes, so it would not "
                f'recognise its own statements next time: add "{sid}" or use the default ["AllowPull*"]'
            )
            issues.append(_issue(("managed_sids",), doc.key_or_value(("managed_sids",)), message))
    return issues


# --- overlapping overrides: do two fnmatch globs match a common name? -----------------------------------

# A character class as fnmatch reads it: `negated` means "any character except those in `ranges`".
_CharClass = tuple[bool, tuple[tuple[int, int], ...]]
_STAR = "*"
_Token = _CharClass | str
_ANY: _CharClass = (True, ())
_PREFERRED = [ord(c) for c in "abcdefghijklmnopqrstuvwxyz0123456789-_./"]


def _glob_tokens(pattern: str) -> list[_Token]:
    """fnmatch's syntax: * (any string), ? (any character), [seq] / [!seq] (with ranges), else literal."""
    tokens: list[_Token] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            if not tokens or tokens[-1] != _STAR:
                tokens.append(_STAR)
        elif char == "?":
            tokens.append(_ANY)
        elif char == "[":
            j = i + (1 if i < n and pattern[i] == "!" else 0)
            j += 1 if j < n and pattern[j] == "]" else 0
            j = pattern.find("]", j)
            if j < 0:
                tokens.append((False, ((ord("["), ord("[")),)))
                continue
            body, i = pattern[i:j], j + 1
            negated = body.startswith("!")
            tokens.append((negated, _class_ranges(body[1:] if negated else body)))
        else:
            tokens.append((False, ((ord(char), ord(char)),)))
    return tokens


def _class_ranges(body: str) -> tuple[tuple[int, int], ...]:
    ranges: list[tuple[int, int]] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = ord(body[k]), ord(body[k + 2])
            if low <= high:  # fnmatch drops reversed ranges
                ranges.append((low, high))
            k += 3
        else:
            ranges.append((ord(body[k]), ord(body[k])))
            k += 1
    return tuple(sorted(ranges))


def _uncovered(low: int, high: int, ranges: Sequence[tuple[int, int]]) -> int | None:
    """The first code point in [low, high] outside every range, if any."""
    point = low
    for r_low, r_high in sorted(ranges):
        if point < r_low:
            break
        point = max(point, r_high + 1)
    return point if point <= high else None


def _common_char(a: _CharClass, b: _CharClass) -> str | None:
    """A character both classes accept (readable ones first), or None."""
    (a_negated, a_ranges), (b_negated, b_ranges) = a, b
    if a_negated and b_negated:
        excluded = [*a_ranges, *b_ranges]
        for code in _PREFERRED:
            if _uncovered(code, code, excluded) is not None:
                return chr(code)
        found = _uncovered(0x20, 0x10FFFF, excluded)
        return chr(found) if found is not None else None
    if a_negated:
        (a_negated, a_ranges), (b_negated, b_ranges) = b, a
    for low, high in a_ranges:
        if b_negated:
            found = _uncovered(low, high, b_ranges)
            if found is not None:
                return chr(found)
        else:
            for b_low, b_high in b_ranges:
                if max(low, b_low) <= min(high, b_high):
                    return chr(max(low, b_low))
    return None


def common_match(first: str, second: str) -> str | None:
    """A name both fnmatch globs match (a shortest one), or None when no name matches both.

    Walks the product of the two patterns' automata: a state is a position in each pattern; `*` may be
    skipped or may consume a character and stay.
    """
    a, b = _glob_tokens(first), _glob_tokens(second)
    start, goal = (0, 0), (len(a), len(b))
    parent: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state == goal:
            text: list[str] = []
            step = parent[state]
            while step is not None:
                text.append(step[1])
                step = parent[step[0]]
            return "".join(reversed(text))
        for following, char in _moves(a, b, state):
            if following not in parent:
                parent[following] = (state, char)
                queue.append(following)
    return None


def _moves(a: list[_Token], b: list[_Token], state: tuple[int, int]) -> Iterator[tuple[tuple[int, int], str]]:
    i, j = state
    if i < len(a) and a[i] == _STAR:
        yield (i + 1, j), ""
    if j < len(b) and b[j] == _STAR:
        yield (i, j + 1), ""
    if i < len(a) and j < len(b):
        a_token, b_token = a[i], b[j]
        a_class = _ANY if a_token == _STAR else a_token
        b_class = _ANY if b_token == _STAR else b_token
        assert not isinstance(a_class, str) and not isinstance(b_class, str)
        char = _common_char(a_class, b_class)
        if char is not None:
            yield (i if a_token == _STAR else i + 1, j if b_token == _STAR else j + 1), char


@dataclass(frozen=True)
class _OverrideGlob:
    override: int  # index in overrides
    position: int  # index in that override's repositories
    glob: str


def _literal_prefix(glob: str) -> str:
    """The characters every name the glob matches starts with (a conservative cut at the first wildcard)."""
    cut = min((i for i in (glob.find(c) for c in "*?[") if i >= 0), default=len(glob))
    return glob[:cut]


def _literal_suffix(glob: str) -> str:
    """The characters every matched name ends with (cut after the last wildcard or class bracket)."""
    return glob[max(glob.rfind(c) for c in "*?[]") + 1 :]


class _AffixIndex:
    """Finds the literal prefixes (or reversed suffixes) compatible with a key: one starts the other.

    Compatibility is symmetric, and both its halves can be counted without listing them: the keys that are
    prefixes of the key (at most len+1 buckets) and the keys the key starts (a range of the sorted keys).
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self.buckets: dict[str, list[int]] = {}
        for number, key in enumerate(keys):
            self.buckets.setdefault(key, []).append(number)
        ordered = sorted(range(len(keys)), key=lambda n: keys[n])
        self.ordered_keys = [keys[n] for n in ordered]
        self.ordered_numbers = ordered

    def _shorter(self, key: str) -> list[list[int]]:
        return [self.buckets[key[:length]] for length in range(len(key)) if key[:length] in self.buckets]

    def _longer_or_equal(self, key: str) -> range:
        low = bisect.bisect_left(self.ordered_keys, key)
        high = bisect.bisect_left(self.ordered_keys, key + "\U0010ffff")
        return range(low, high)

    def count(self, key: str) -> int:
        return sum(len(bucket) for bucket in self._shorter(key)) + len(self._longer_or_equal(key))

    def compatible(self, key: str) -> Iterator[int]:
        for bucket in self._shorter(key):
            yield from bucket
        for position in self._longer_or_equal(key):
            yield self.ordered_numbers[position]


def _compatible(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _candidate_pairs(globs: Sequence[_OverrideGlob]) -> Iterator[tuple[_OverrideGlob, _OverrideGlob]]:
    """Pairs of globs from different overrides that might overlap, without comparing every pair.

    Two globs can match a common name only if one's literal prefix starts the other's, and likewise for the
    suffixes. Each glob looks up whichever of the two indexes gives fewer candidates, and checks the other
    condition on those; a pair is kept once (from its lower-numbered glob).
    """
    prefixes = [_literal_prefix(g.glob) for g in globs]
    suffixes = [_literal_suffix(g.glob)[::-1] for g in globs]  # reversed: a suffix check is a prefix check
    by_prefix, by_suffix = _AffixIndex(prefixes), _AffixIndex(suffixes)
    for number, item in enumerate(globs):
        if by_prefix.count(prefixes[number]) <= by_suffix.count(suffixes[number]):
            candidates, still_to_check = by_prefix.compatible(prefixes[number]), suffixes
        else:
            candidates, still_to_check = by_suffix.compatible(suffixes[number]), prefixes
        for other in candidates:
            if (
                other > number
                and globs[other].override != item.override
                and _compatible(still_to_check[number], still_to_check[other])
            ):
                yield item, globs[other]


def _overlap_issues(doc: _Document, indexes: Sequence[int]) -> list[_Issue]:
    """Each repository may match at most one override (else which access applies would be arbitrary)."""
    overrides = doc.data["overrides"]
    globs = [
        _OverrideGlob(index, position, glob)
        for index in indexes
        for position, glob in enumerate(overrides[index]["repositories"])
    ]
    found: dict[tuple[int, int], tuple[_OverrideGlob, _OverrideGlob, str]] = {}
    for first, second in _candidate_pairs(globs):
        earlier, later = sorted((first, second), key=lambda g: (g.override, g.position))
        key = (earlier.override, later.override)
        if key not in found:  # one problem per pair of overrides is enough
            name = common_match(earlier.glob, later.glob)
            if name is not None:
                found[key] = (earlier, later, name)
    return [_overlap_issue(doc, earlier, later, name) for earlier, later, name in found.values()]


def _overlap_issue(doc: _Document, earlier: _OverrideGlob, later: _OverrideGlob, name: str) -> _Issue:
    path = ("overrides", later.override, "repositories", later.position)
    later_line, earlier_line = (
        doc.line(("overrides", later.override)),
        doc.line(("overrides", earlier.override)),
    )
    overlap = f"{later.glob!r} (override at line {later_line}) "
    if later.glob == earlier.glob:
        overlap += f"is also in the override at line {earlier_line}"
    else:
        overlap += f"and {earlier.glob!r} (override at line {earlier_line}) both match {name!r}"
    message = (
        f"overrides overlap: {overlap}; a repository may match only one override: narrow the globs "
        "or merge the overrides"
    )
    return _issue(path, doc.node(path), message)


# --- the model ---------------------------------------------------------------------------------------


def _registry(doc: _Document, source: str) -> Registry:
    """Build the model from a document that passed every check."""
    data = doc.data
    registry = data["registry"]
    nullplatform = data.get("nullplatform")
    repositories = data.get("repositories", {})
    return Registry(
        name=registry["name"],
        account_id=registry["account_id"],
        region=registry["region"],
        role_arn=registry.get("role_arn"),
        pull_access=_pull_access(data["pull_access"]),
        nullplatform=(
            NullplatformTarget(nrn=nullplatform["nrn"], provider_id=nullplatform.get("provider_id"))
            if nullplatform is not None
            else None
        ),
        include=tuple(repositories.get("include", ("*",))),
        exclude=tuple(repositories.get("exclude", ())),
        overrides=tuple(
            Override(
                repositories=tuple(item["repositories"]),
                pull_access=_pull_access(item["pull_access"]),
                line=doc.line(("overrides", index)),
            )
            for index, item in enumerate(data.get("overrides", ()))
        ),
        managed_sids=tuple(data.get("managed_sids", DEFAULT_MANAGED_SIDS)),
        source=source,
    )


# --- one file ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identity:
    """Where a file says its registry's name, account and region are (for the checks across files)."""

    name: tuple[str, int, int] | None  # value, line, column
    account_region: tuple[str, str, int, int] | None


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file: a Registry when it is valid, else its problems."""

    source: str
    registry: Registry | None
    problems: tuple[Problem, ...]
    identity: _Identity = _Identity(None, None)


def _identity(doc: _Document, issues: Sequence[_Issue]) -> _Identity:
    registry = doc.data.get("registry") if isinstance(doc.data, dict) else None
    if not isinstance(registry, dict):
        return _Identity(None, None)
    dirty = _Dirty(issues)
    name = account = None
    if "name" in registry and dirty.clean(("registry", "name")):
        mark = doc.nodes[("registry", "name")].start_mark
        name = (registry["name"], mark.line + 1, mark.column + 1)
    if all(k in registry and dirty.clean(("registry", k)) for k in ("account_id", "region")):
        mark = doc.nodes[("registry", "account_id")].start_mark
        account = (registry["account_id"], registry["region"], mark.line + 1, mark.column + 1)
    return _Identity(name, account)


# YAML also breaks lines at a lone CR, NEL, LS and PS; editors and GitHub disagree on those, so a line number
# would point at the wrong place. Refusing them keeps every line number the one a person sees.
# Applied to each line split at \n: a CR at the very end of a line is half of a CRLF, which is fine.
_ODD_LINE_BREAK = re.compile("\r(?=.)|[\x85\u2028\u2029]", re.DOTALL)


def _text_issues(data: bytes) -> tuple[str | None, list[_Issue]]:
    """Decode and screen the raw bytes: UTF-8, not empty, no tabs, only \\n or \\r\\n line breaks."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = (
            f"byte 0x{data[exc.start]:02x} is not valid UTF-8: the file must be UTF-8 (save it as UTF-8)"
        )
        return None, [_Issue((), line, column, message)]
    if not text.strip():
        return None, [_Issue((), 1, 1, _EMPTY_FILE)]
    issues = []
    for number, line_text in enumerate(text.split("\n"), start=1):
        if "\t" in line_text:
            message = (
                "tab character: YAML indentation must use spaces; replace the tabs on this line with spaces"
            )
            issues.append(_Issue((), number, line_text.index("\t") + 1, message))
        odd = _ODD_LINE_BREAK.search(line_text)
        if odd:
            message = f"unusual line break U+{ord(odd.group()):04X}: end lines with \\n (or \\r\\n) only"
            issues.append(_Issue((), number, odd.start() + 1, message))
    return (None, issues) if issues else (text, [])


def check_bytes(data: bytes, source: str) -> FileResult:
    """Every problem of one file's content, and its Registry when there are none."""
    if len(data) > MAX_FILE_BYTES:
        return _result(source, [_Issue((), 1, 1, _too_big(len(data)))])
    text, issues = _text_issues(data)
    if text is None:
        return _result(source, issues)
    parsed = _parse(text)
    if isinstance(parsed, list):
        return _result(source, parsed)
    doc = parsed
    issues = doc.issues + _structure_issues(doc)
    issues += _semantic_issues(doc, issues)
    registry = None if issues else _registry(doc, source)
    return _result(source, issues, registry, _identity(doc, issues))


def _too_big(size: int) -> str:
    return f"file is {size:,} bytes; policies files are limited to 1 MiB ({MAX_FILE_BYTES:,} bytes)"


def _result(
    source: str, issues: Sequence[_Issue], registry: Registry | None = None, identity: _Identity | None = None
) -> FileResult:
    # A set: jsonschema reports a missing key once per `required` error, and each lists them all.
    problems = tuple(sorted({Problem(source, i.line, i.column, i.message) for i in issues}))
    return FileResult(source, registry, problems, identity or _Identity(None, None))


def check_file(path: str | Path) -> FileResult:
    """Like check_bytes, reading the file; refuses files over 1 MiB before reading them whole."""
    source = str(path)
    try:
        with open(path, "rb") as stream:
            size = Path(path).stat().st_size
            if size > MAX_FILE_BYTES:
                return _result(source, [_Issue((), 1, 1, _too_big(size))])
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return _result(source, [_Issue((), 1, 1, f"cannot read the file: {exc.strerror or exc}")])
    return check_bytes(data, source)


def load_bytes(data: bytes, source: str = "<memory>") -> Registry:
    """The Registry one file's content describes; raises ValidationFailed with all its problems."""
    result = check_bytes(data, source)
    if result.registry is None:
        raise ValidationFailed(list(result.problems))
    return result.registry


def load_file(path: str | Path) -> Registry:
    """The Registry one file describes; raises ValidationFailed with all its problems."""
    result = check_file(path)
    if result.registry is None:
        raise ValidationFailed(list(result.problems))
    return result.registry


# --- the directory -----------------------------------------------------------------------------------


def policy_files(directory: str | Path) -> list[Path]:
    """The policies files: *.yaml and *.yml directly in the directory, sorted; hidden files skipped."""
    root = Path(directory)
    if not root.exists():
        raise ReconcilerError(
            f"policies directory {str(root)!r} does not exist: create it with one YAML file per registry "
            "(see policies/main.yaml), or point --policies at it"
        )
    if not root.is_dir():
        raise ReconcilerError(
            f"{str(root)!r} is not a directory: --policies takes the directory of YAML files"
        )
    files = sorted(
        p
        for p in root.iterdir()
        if p.suffix in POLICY_SUFFIXES and not p.name.startswith(".") and not p.is_dir()
    )
    if not files:
        raise ReconcilerError(
            f"no policies files in {str(root)!r}: add one *.yaml file per registry (see policies/main.yaml)"
        )
    return files


def _across_files(results: Sequence[FileResult]) -> list[Problem]:
    """Registry names are unique, and one account + region is described by one file only."""
    problems = []
    names: dict[str, tuple[str, int]] = {}
    places: dict[tuple[str, str], tuple[str, int]] = {}
    for result in results:
        if result.identity.name:
            name, line, column = result.identity.name
            if name in names:
                other, other_line = names[name]
                message = (
                    f"registry name {name!r} is also used in {other} (line {other_line}): make names unique"
                )
                problems.append(Problem(result.source, line, column, message))
            else:
                names[name] = (result.source, line)
        if result.identity.account_region:
            account, region, line, column = result.identity.account_region
            if (account, region) in places:
                other, other_line = places[(account, region)]
                message = (
                    f"registry {account} in {region} is also described by {other} (line {other_line}): "
                    "keep one file per account and region"
                )
                problems.append(Problem(result.source, line, column, message))
            else:
                places[(account, region)] = (result.source, line)
    return problems


def load_policies(directory: str | Path) -> DesiredState:
    """The desired state in a policies directory.

    Raises ValidationFailed listing every problem of every file (and across files), or ReconcilerError
    when the directory is missing or holds no policies files.
    """
    results = [check_file(path) for path in policy_files(directory)]
    problems = [p for result in results for p in result.problems] + _across_files(results)
    if problems:
        raise ValidationFailed(problems)
    return DesiredState(tuple(r.registry for r in results if r.registry is not None))
