"""Step 6 of loading a policies file: the model, from a document that passed every check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.desired.document import Document
from reconciler.desired.model import (
    DEFAULT_MANAGED_SIDS,
    CreationTemplate,
    NullplatformTarget,
    OrganizationCheck,
    Override,
    PullAccess,
    Registry,
    applied_for_order,
)


def build_registry(doc: Document, source: str) -> Registry:
    """Build the model from a document that passed every check."""
    data = doc.data
    registry = data["registry"]
    nullplatform = data.get("nullplatform")
    repositories = data.get("repositories", {})
    return Registry(
        name=registry["name"],
        account_id=registry["account_id"],
        region=registry["region"],
        read_role_arn=registry.get("read_role_arn"),
        write_role_arn=registry.get("write_role_arn"),
        pull_access=pull_access(data["pull_access"]),
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
                pull_access=pull_access(item["pull_access"]),
                line=doc.line(("overrides", index)),
            )
            for index, item in enumerate(data.get("overrides", ()))
        ),
        managed_sids=tuple(data.get("managed_sids", DEFAULT_MANAGED_SIDS)),
        source=source,
        creation_templates=tuple(
            CreationTemplate(
                prefix=item["prefix"],
                applied_for=applied_for_order(item["applied_for"]),
                pull_access=pull_access(item["pull_access"]) if "pull_access" in item else None,
                line=doc.line(("creation_templates", index)),
            )
            for index, item in enumerate(data.get("creation_templates", ()))
        ),
        organization=organization_check(data.get("organization")),
        remove_deleted_principals=data.get("remove_deleted_principals", False) is True,
    )


def organization_check(data: Mapping[str, Any] | None) -> OrganizationCheck | None:
    if data is None:
        return None
    return OrganizationCheck(
        role_arn=data.get("role_arn"), external_accounts=tuple(data.get("external_accounts", ()))
    )


def pull_access(data: Mapping[str, Any]) -> PullAccess:
    return PullAccess(
        organization_paths=tuple(data.get("organization_paths", ())),
        accounts=tuple(data.get("accounts", ())),
    )
