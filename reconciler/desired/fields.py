"""Field checks: each says what is wrong with a value and how to fix it (an account id that lost its leading
zero to YAML, an organization path that would match every organization...).

The patterns are also in schema.json (a test keeps them equal), which gives editors the same verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from reconciler.desired.document import Document, Issue, JsonPath, describe, issue
from reconciler.desired.model import APPLIED_FOR, ROOT_PREFIX

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
    # ECR's own `prefix` pattern (botocore `ecr` model, shape Prefix; docs/AWS.md, "Repository creation
    # templates").
    "template_prefix": r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$",
}
_NAME = re.compile(PATTERNS["name"])
_ACCOUNT = re.compile(PATTERNS["account_id"])
_REGION = re.compile(PATTERNS["region"])
_ROLE_ARN = re.compile(PATTERNS["role_arn"])
_NRN = re.compile(PATTERNS["nrn"])
_ORGANIZATION_PATH = re.compile(PATTERNS["organization_path"])
_TEMPLATE_PREFIX = re.compile(PATTERNS["template_prefix"])
_ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
_ROOT_ID = re.compile(r"r-[0-9a-z]{4,32}")
_OU_ID = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")
_DIGITS = re.compile(r"[0-9]+")
_WILDCARDS = frozenset("*?[")

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
    return f"account id {shown}must be a quoted 12-digit string like {ACCOUNT_EXAMPLE}, not {describe(value)}"


def check_organization_path(value: Any, node: yaml.Node) -> str | None:
    if not isinstance(value, str):
        return f"organization path must be a quoted string like {_OU_EXAMPLE}, not {describe(value)}"
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
        return f"{what}{shown} must be a string like {example}, not {describe(value)}"

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
check_read_role_arn = _pattern_checker(
    _ROLE_ARN, "read_role_arn", "arn:aws:iam::123456789012:role/ecr-policy-reconciler-read (an IAM role ARN)"
)
check_write_role_arn = _pattern_checker(
    _ROLE_ARN,
    "write_role_arn",
    "arn:aws:iam::123456789012:role/ecr-policy-reconciler-write (an IAM role ARN)",
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
    return f"provider_id must be a quoted string, not {describe(value)}"


# ECR's limit on a creation template's `prefix` (docs/AWS.md, "Repository creation templates").
MAX_PREFIX_CHARS = 256


def check_template_prefix(value: Any, node: yaml.Node) -> str | None:
    if not isinstance(value, str):
        raw = _raw(node)
        shown = f" {raw}" if raw else ""
        return f'template prefix{shown} must be a string like "team-a" or ROOT, not {describe(value)}'
    if len(value) > MAX_PREFIX_CHARS:
        return f"template prefix is {len(value)} characters; ECR allows at most {MAX_PREFIX_CHARS}"
    if _TEMPLATE_PREFIX.fullmatch(value):
        return None
    if value.upper() == ROOT_PREFIX:
        return f"template prefix {value!r} must be written ROOT, in capitals (every repository)"
    if _WILDCARDS & set(value):
        fault = "is not a glob: ECR matches it as the start of a repository name (team-a covers team-a/*)"
    elif value != value.lower():
        fault = "must be lowercase, as ECR repository names are"
    elif value.startswith("/") or "//" in value:
        fault = "must not start with / or hold //"
    else:
        fault = "is not a repository name prefix ECR accepts"
    return (
        f"template prefix {value!r} {fault}; write ROOT (every repository) or the start of a repository "
        "name: lowercase letters and digits, separated by '.', '_', '-' or '/', like \"team-a\""
    )


def check_applied_for(value: Any, node: yaml.Node) -> str | None:
    if isinstance(value, str) and value in APPLIED_FOR:
        return None
    allowed = ", ".join(APPLIED_FOR)
    if isinstance(value, str):
        close = value.strip().upper().replace("-", "_").replace(" ", "_")
        hint = f" (did you mean {close}?)" if close in APPLIED_FOR else ""
        return f"applied_for value {value!r} is not one ECR knows{hint}: use {allowed}"
    raw = _raw(node)
    shown = f" {raw}" if raw else ""
    return f"applied_for value{shown} must be one of {allowed}, not {describe(value)}"


def check_glob(value: Any, node: yaml.Node) -> str | None:
    if isinstance(value, str):
        return None if value else 'a glob must not be empty: use "*" for everything'
    raw = _raw(node)
    shown = f" {raw}" if raw else ""
    return f'glob{shown} must be a quoted string like "payments/*", not {describe(value)}'


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


def _organization_fields(organization: Any) -> Iterator[tuple[JsonPath, Checker]]:
    if isinstance(organization, dict):
        if "role_arn" in organization:
            yield ("organization", "role_arn"), check_role_arn
        yield from _list_items(organization, "external_accounts", ("organization",), check_account_id)


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
            ("read_role_arn", check_read_role_arn),
            ("write_role_arn", check_write_role_arn),
        ):
            if key in registry:
                yield ("registry", key), check
    nullplatform = data.get("nullplatform")
    if isinstance(nullplatform, dict):
        for key, check in (("nrn", check_nrn), ("provider_id", check_provider_id)):
            if key in nullplatform:
                yield ("nullplatform", key), check
    yield from _organization_fields(data.get("organization"))
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
    yield from _template_fields(data.get("creation_templates"))


def _template_fields(templates: Any) -> Iterator[tuple[JsonPath, Checker]]:
    if not isinstance(templates, list):
        return
    for index, template in enumerate(templates):
        if not isinstance(template, dict):
            continue
        path: JsonPath = ("creation_templates", index)
        if "prefix" in template:
            yield (*path, "prefix"), check_template_prefix
        yield from _list_items(template, "applied_for", path, check_applied_for)
        yield from _access_fields(template.get("pull_access"), (*path, "pull_access"))


def _value_at(data: Any, path: JsonPath) -> Any:
    for part in path:
        data = data[part]
    return data


def field_issues(doc: Document) -> list[Issue]:
    issues = []
    for path, check in _fields(doc.data):
        message = check(_value_at(doc.data, path), doc.nodes[path])
        if message:
            issues.append(issue(path, doc.nodes[path], message))
    return issues
