"""The JSON Schema of a policies file (schema.json, the same file editors use), and its errors reworded to say
how to fix them, pointed at the right node."""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from reconciler.desired.document import Document, Issue, JsonPath, describe, issue, label, where
from reconciler.desired.fields import ACCOUNT_EXAMPLE, ORGANIZATION_PATH_EXAMPLE


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema for one policies file (reconciler/desired/schema.json)."""
    text = resources.files("reconciler.desired").joinpath("schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


_GLOBS = 'a list of quoted globs like ["payments/*"]'
_EXPECTED: dict[str, str] = {
    "": (
        "a mapping with registry, pull_access and optionally nullplatform, repositories, overrides, "
        "creation_templates, managed_sids"
    ),
    "registry": "a mapping with name, account_id and region",
    "nullplatform": "a mapping with nrn (and optionally provider_id)",
    "pull_access": "a mapping with organization_paths and/or accounts",
    "repositories": "a mapping with include and/or exclude",
    "overrides": "a list of overrides, each a mapping with repositories and pull_access",
    "override": "a mapping with repositories and pull_access",
    "creation_templates": (
        "a list of creation templates, each a mapping with prefix and applied_for (and optionally "
        "pull_access)"
    ),
    "creation_template": "a mapping with prefix and applied_for (and optionally pull_access)",
    "applied_for": "a list of REPLICATION, PULL_THROUGH_CACHE and/or CREATE_ON_PUSH",
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
    "prefix": "ROOT, or the start of repository names like team-a",
    "applied_for": "a list of REPLICATION, PULL_THROUGH_CACHE and/or CREATE_ON_PUSH",
}


def _kind(path: JsonPath) -> str:
    """Which entry of _EXPECTED describes the value at a path."""
    if not path:
        return ""
    last = path[-1]
    if isinstance(last, int):
        if path[:-1] == ("creation_templates",):
            return "creation_template"
        return "override" if path[:-1] == ("overrides",) else ""
    if last in ("include", "exclude", "managed_sids") or (last == "repositories" and len(path) > 1):
        return "globs"
    return last


# Keys a file may still hold from an earlier version, and what replaced them.
_RETIRED: dict[JsonPath, str] = {
    ("registry", "role_arn"): (
        "registry.role_arn is no longer used: it was split in two, read_role_arn (assumed by plan, access, "
        "the dry runs and the drift check) and write_role_arn (assumed by apply, backfill, restore and "
        "self-heal); a pull request's plan must not reach a role that writes. Replace it with both keys "
        '(docs/SETUP.md, "The read role" and "The write role")'
    ),
}


def _unknown_keys(doc: Document, path: JsonPath, instance: dict[str, Any], allowed: list[str]) -> list[Issue]:
    issues = []
    place = where(path)
    for key in instance:
        retired = _RETIRED.get((*path, key))
        if retired is not None:
            issues.append(issue((*path, key), doc.key_or_value((*path, key)), retired))
        elif key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"unknown key {key!r} {place}{guess}: allowed keys are {', '.join(allowed)}"
            issues.append(issue((*path, key), doc.key_or_value((*path, key)), message))
    return issues


def _missing_keys(
    doc: Document, path: JsonPath, instance: dict[str, Any], required: list[str]
) -> list[Issue]:
    issues = []
    for key in required:
        if key not in instance:
            hint = _REQUIRED_HINT.get(key)
            message = f"{label(path)} is missing the required key {key!r}" + (f" ({hint})" if hint else "")
            issues.append(issue(path, doc.key_or_value(path), message))
    return issues


def _wrong_type(doc: Document, path: JsonPath, instance: Any, expected_type: str) -> list[Issue]:
    expected = _EXPECTED.get(_kind(path)) or f"a {expected_type}"
    if instance is None:
        message = f"{label(path)} is empty: it must be {expected}"
    else:
        message = f"{label(path)} must be {expected}, not {describe(instance)}"
    return [issue(path, doc.node(path), message)]


def schema_issue(doc: Document, error: jsonschema.ValidationError) -> list[Issue]:
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
        return [issue(path, doc.node(path), f"{label(path)} is an empty list: it must be {what}{default}")]
    if error.validator == "uniqueItems" and isinstance(instance, list):
        return _duplicate_items(doc, path, instance)
    if error.validator == "anyOf" and path[-1:] == ("pull_access",):
        message = f"{label(path)} grants no access: give organization_paths, accounts, or both"
        return [issue(path, doc.key_or_value(path), message)]
    return [issue(path, doc.node(path), f"{label(path)}: {error.message}")]


def _duplicate_items(doc: Document, path: JsonPath, items: list[Any]) -> list[Issue]:
    seen: dict[str, int] = {}
    issues = []
    for index, item in enumerate(items):
        key = json.dumps(item, sort_keys=True, default=str)
        if key in seen:
            first = doc.line((*path, seen[key]))
            message = f"{item!r} is listed twice in {label(path)} (first at line {first}): remove one"
            issues.append(issue((*path, index), doc.node((*path, index)), message))
        else:
            seen[key] = index
    return issues
