"""Repository creation templates as ECR's API shapes them: reading them into `LiveTemplate`s, and the
requests that write one.

Facts relied on (docs/AWS.md, "Repository creation templates"): a template applies only to repositories
created after it is set; `appliedFor` is required on create; Create answers TemplateAlreadyExistsException and
Update TemplateNotFoundException; whether Update clears the fields it is not given is not documented, so an
update sends every field back as read (a read-modify-write), with only `repositoryPolicy` and `appliedFor`
replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from reconciler.desired.model import Registry, applied_for_order
from reconciler.errors import ReconcilerError
from reconciler.live.state import LiveTemplate

# The fields of a template that an Update takes besides prefix, repositoryPolicy and appliedFor (botocore
# `ecr` model, UpdateRepositoryCreationTemplate): sent back exactly as read.
KEPT_FIELDS = (
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "lifecyclePolicy",
    "customRoleArn",
)
# What ECR fills in for a template created with none of the KEPT_FIELDS (its defaults).
DEFAULTS: dict[str, Any] = {
    "encryptionConfiguration": {"encryptionType": "AES256"},
    "resourceTags": [],
    "imageTagMutability": "MUTABLE",
}


class TemplateReader(Protocol):
    def list_templates(self) -> list[dict[str, Any]]: ...


def policy_of(template: dict[str, Any] | None) -> str | None:
    """A template's repositoryPolicy; ECR allows an empty one (min length 0), which is none."""
    text = template.get("repositoryPolicy") if template else None
    return str(text) if text else None


def applied_for_of(template: dict[str, Any] | None) -> tuple[str, ...] | None:
    """A template's appliedFor in one order (None: no template)."""
    return None if template is None else applied_for_order([str(v) for v in template.get("appliedFor", [])])


def to_live(prefix: str, template: dict[str, Any] | None) -> LiveTemplate:
    if template is None:
        return LiveTemplate(prefix, exists=False)
    return LiveTemplate(prefix, True, policy_of(template), applied_for_of(template) or ())


def observe_templates(registry: Registry, ecr: TemplateReader) -> tuple[LiveTemplate, ...]:
    """The templates policies/ declares, as they are (one listing, paged); a failed listing is an error on
    each of them, not on the registry: the repositories can still be planned."""
    if not registry.creation_templates:
        return ()
    try:
        found = {str(t.get("prefix")): t for t in ecr.list_templates()}
    except ReconcilerError as exc:
        return tuple(LiveTemplate(t.prefix, False, error=str(exc)) for t in registry.creation_templates)
    return tuple(to_live(t.prefix, found.get(t.prefix)) for t in registry.creation_templates)


def create_request(prefix: str, policy: str, applied_for: Sequence[str]) -> dict[str, Any]:
    """A new template holds only what we set; ECR fills in its defaults for the rest."""
    return {"prefix": prefix, "appliedFor": list(applied_for), "repositoryPolicy": policy}


def update_request(current: dict[str, Any], policy: str, applied_for: Sequence[str]) -> dict[str, Any]:
    """Every field of the template as read, with only the policy and appliedFor replaced."""
    request: dict[str, Any] = {"prefix": current["prefix"]}
    request.update({name: current[name] for name in KEPT_FIELDS if name in current})
    request["repositoryPolicy"] = policy
    request["appliedFor"] = list(applied_for)
    return request


def kept(template: dict[str, Any]) -> dict[str, Any]:
    """The fields an update must leave as they are, as read."""
    return {name: template[name] for name in KEPT_FIELDS if name in template}


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The KEPT_FIELDS that differ between two reads of a template (names only, never values)."""
    old, new = kept(before), kept(after)
    return [name for name in KEPT_FIELDS if old.get(name) != new.get(name)]


def set_since_created(template: dict[str, Any]) -> list[str]:
    """The KEPT_FIELDS someone set on a template beyond what a create with none of them leaves."""
    return [name for name, value in kept(template).items() if value != DEFAULTS.get(name)]
