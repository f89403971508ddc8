"""The nullplatform double's provider specifications: which attribute groups and keys a provider may
hold, which are secret (read as `null`, stored intact), and how a PATCH's attributes merge
(docs/NULLPLATFORM.md)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

ECR_SLUG = "ecr"
DOCKER_SERVER_SLUG = "docker-server"


@dataclass(frozen=True)
class Specification:
    """What a provider specification allows: its attribute groups and their keys, and which are secret."""

    groups: dict[str, frozenset[str]]
    secrets: frozenset[tuple[str, str]] = frozenset()  # (group, key): never revealed on read
    flags: frozenset[tuple[str, str]] = frozenset()  # (group, key): a boolean; every other value a string


SPECIFICATIONS: dict[str, Specification] = {
    # The Asset Repository ECR provider; its CI credentials are treated as secret (docs/NULLPLATFORM.md).
    ECR_SLUG: Specification(
        groups={
            "ci": frozenset({"region", "access_key", "secret_key"}),
            "setup": frozenset({"region", "role_arn", "naming_rule", "policy"}),
            "read": frozenset({"region", "role_arn"}),
        },
        secrets=frozenset({("ci", "access_key"), ("ci", "secret_key")}),
    ),
    # As nullplatform's asset/docker_server module writes it.
    DOCKER_SERVER_SLUG: Specification(
        groups={"setup": frozenset({"server", "path", "username", "password", "use_namespace"})},
        secrets=frozenset({("setup", "password")}),
        flags=frozenset({("setup", "use_namespace")}),
    ),
}
ECR_ATTRIBUTE_KEYS: dict[str, frozenset[str]] = SPECIFICATIONS[ECR_SLUG].groups
SPEC_NAMESPACE = uuid.UUID("5b0c5a8e-6a43-4b8e-9a57-6f1f1c1e0ecf")


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`patch` over `base`: objects merge key by key, anything else (lists included) replaces."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def masked(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of `record` as an authenticated read shows it: its specification's secrets as null."""
    shown = copy.deepcopy(record)
    spec = SPECIFICATIONS.get(str(record.get("specification_slug")))
    attributes = shown.get("attributes")
    if spec is None or not isinstance(attributes, dict):
        return shown
    for group, key in spec.secrets:
        values = attributes.get(group)
        if isinstance(values, dict) and key in values:
            values[key] = None
    return shown


def specification_id(slug: str) -> str:
    return str(uuid.uuid5(SPEC_NAMESPACE, slug))


def attribute_problem(attributes: dict[str, Any], slug: str = ECR_SLUG) -> str | None:
    """Why `attributes` do not fit the specification `slug` (the first problem), or None."""
    spec = SPECIFICATIONS.get(slug)
    if spec is None:
        return None
    for section, value in attributes.items():
        allowed = spec.groups.get(section)
        if allowed is None:
            return f"attributes: unknown property {section!r}"
        if not isinstance(value, dict):
            return f"attributes.{section}: must be an object"
        unknown = sorted(set(value) - allowed)
        if unknown:
            return f"attributes.{section}: unknown property {unknown[0]!r}"
        # A null is accepted and stored, as the real API stores what a read-modify-write sends back
        # over a secret it had masked (the failure docs/NULLPLATFORM.md warns about).
        for key, item in value.items():
            flag = (section, key) in spec.flags
            if item is not None and not isinstance(item, bool if flag else str):
                kind = "a boolean" if flag else "a string (the policy is a JSON string)"
                return f"attributes.{section}.{key}: must be {kind}"
    return None
