"""Where each principal value of a registry file is written (path:line:col), for checks made after loading.

The model keeps values, not positions (positions are not meaning, and the fingerprint must not see them).
Checks that run later, against AWS Organizations, re-read the file the registry came from to point at the
value they reject, exactly as `validate` would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.desired.document import Document, JsonPath
from reconciler.desired.model import Registry
from reconciler.desired.source import read_document
from reconciler.errors import ReconcilerError

ACCOUNT = "account"
ORGANIZATION_PATH = "organization path"
EXTERNAL_ACCOUNT = "external account"


@dataclass(frozen=True)
class Located:
    """One value as written: `kind` ACCOUNT | ORGANIZATION_PATH | EXTERNAL_ACCOUNT, file position 1-based."""

    value: str
    kind: str
    path: JsonPath
    source: str
    line: int
    column: int


def _strings(data: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    container: Any = data
    for part in path:
        in_mapping = isinstance(container, dict) and isinstance(part, str) and part in container
        in_list = isinstance(container, list) and isinstance(part, int) and part < len(container)
        if not (in_mapping or in_list):
            return
        container = container[part]
    if isinstance(container, list):
        for index, value in enumerate(container):
            if isinstance(value, str):
                yield (*path, index), value


def _access(prefix: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    yield (*prefix, "organization_paths"), ORGANIZATION_PATH
    yield (*prefix, "accounts"), ACCOUNT


def principal_values(registry: Registry) -> list[Located]:
    """Every account, organization path and external account the registry's file names, in file order."""
    try:
        parsed = read_document(Path(registry.source).read_bytes())
    except OSError as exc:
        raise ReconcilerError(f"cannot read {registry.source}: {exc.strerror}") from exc
    if not isinstance(parsed, Document):
        raise ReconcilerError(f"{registry.source} changed while the reconciler was running; run again")
    doc = parsed
    lists: list[tuple[JsonPath, str]] = [*_access(("pull_access",))]
    overrides = doc.data.get("overrides") if isinstance(doc.data, dict) else None
    for index in range(len(overrides) if isinstance(overrides, list) else 0):
        lists += _access(("overrides", index, "pull_access"))
    templates = doc.data.get("creation_templates") if isinstance(doc.data, dict) else None
    for index in range(len(templates) if isinstance(templates, list) else 0):
        lists += _access(("creation_templates", index, "pull_access"))
    lists.append((("organization", "external_accounts"), EXTERNAL_ACCOUNT))
    found: list[Located] = []
    for list_path, kind in lists:
        for path, value in _strings(doc.data, list_path):
            mark = doc.nodes[path].start_mark
            found.append(Located(value, kind, path, registry.source, mark.line + 1, mark.column + 1))
    return sorted(found, key=lambda item: (item.line, item.column))


def key_position(registry: Registry, path: JsonPath, *, key: bool = False) -> tuple[int, int]:
    """Line and column of a value (`organization.role_arn`), or with `key` of its key (`organization:`);
    (1, 1) when the file no longer has it."""
    try:
        parsed = read_document(Path(registry.source).read_bytes())
    except OSError:
        return 1, 1
    if not isinstance(parsed, Document):
        return 1, 1
    node = parsed.keys.get(path) if key else parsed.nodes.get(path)
    if node is None:
        node = parsed.key_or_value(path)
    return node.start_mark.line + 1, node.start_mark.column + 1
