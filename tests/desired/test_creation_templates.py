"""`creation_templates:` in a policies file: the model it builds, and the checks ECR's own rules call for."""

from __future__ import annotations

import jsonschema
import pytest
import yaml
from desired_support import minimal, problems

from reconciler.desired import fields
from reconciler.desired.fields import PATTERNS
from reconciler.desired.model import CreationTemplate, PullAccess, registry_fingerprint
from reconciler.desired.schema import schema
from reconciler.validation.loader import load_bytes

TEMPLATES = """\
creation_templates:
  - prefix: ROOT
    applied_for: [CREATE_ON_PUSH, REPLICATION]
  - prefix: payments
    applied_for: [PULL_THROUGH_CACHE]
    pull_access:
      accounts: ["777788889999"]
"""


def test_templates_are_built_with_their_line_and_access() -> None:
    registry = load_bytes((minimal() + TEMPLATES).encode())

    root, payments = registry.creation_templates
    # appliedFor is a set: one order whatever the file's.
    assert root == CreationTemplate("ROOT", ("REPLICATION", "CREATE_ON_PUSH"), None, line=8)
    assert payments.pull_access == PullAccess(accounts=("777788889999",))
    assert payments.line == 10
    # No pull_access: the registry's default, as the provider config gets.
    assert registry.template_access(root) == registry.pull_access
    assert registry.template_access(payments) == payments.pull_access


def test_the_order_of_applied_for_and_the_lines_do_not_change_the_fingerprint() -> None:
    one = load_bytes((minimal() + TEMPLATES).encode())
    other = load_bytes(
        (
            minimal()
            + "\n\n"
            + TEMPLATES.replace("[CREATE_ON_PUSH, REPLICATION]", "[REPLICATION, CREATE_ON_PUSH]")
        ).encode()
    )
    assert registry_fingerprint(one) == registry_fingerprint(other)
    changed = load_bytes((minimal() + TEMPLATES.replace("[PULL_THROUGH_CACHE]", "[REPLICATION]")).encode())
    assert registry_fingerprint(changed) != registry_fingerprint(one)


def test_a_registry_without_templates_keeps_its_fingerprint() -> None:
    # The digest of the same registry as it was computed before templates existed (no such key at all).
    import hashlib
    import json
    from dataclasses import asdict

    registry = load_bytes(minimal().encode())
    payload = asdict(registry) | {"source": None}
    del payload["creation_templates"]
    del payload["organization"]  # nor the organization key (None here), which came later
    del payload["remove_deleted_principals"]  # nor this one (false here), later still
    expected = (
        "sha256:"
        + hashlib.sha256(json.dumps([payload], sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    )
    assert registry_fingerprint(registry) == expected


def test_a_template_access_counts_for_managed_sids() -> None:
    text = minimal().replace(
        "accounts:", 'organization_paths: ["o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"]\n  accounts:'
    )
    text = (
        text.replace('accounts: ["111122223333"]', "") + TEMPLATES + 'managed_sids: ["AllowPullAccounts"]\n'
    )
    found = [p.message for p in problems(text)]
    # The default renders AllowPullOrganizationPaths... and the payments template renders AllowPull.
    assert any("does not match the Sid AllowPull that the reconciler writes" in m for m in found), found


def test_schema_prefix_pattern_is_the_loaders() -> None:
    template = schema()["properties"]["creation_templates"]["items"]["properties"]
    assert template["prefix"]["pattern"] == PATTERNS["template_prefix"]
    assert template["applied_for"]["items"]["enum"] == list(fields.APPLIED_FOR)


@pytest.mark.parametrize(
    "value",
    [
        "ROOT",
        "team-a",
        "team-a/",
        "team-a/services",
        "a.b_c__d--e",
        "a" * 256,
        "a" * 257,
        "Root",
        "root",
        "team-a/*",
        "/team",
        "team//a",
        "Team",
        "-team",
        "team-",
        "",
        "ROOT/",
    ],
)
def test_schema_and_prefix_check_agree(value: str) -> None:
    node = yaml.ScalarNode("tag:yaml.org,2002:str", value, style='"')
    loader_accepts = fields.check_template_prefix(value, node) is None
    prefix = schema()["properties"]["creation_templates"]["items"]["properties"]["prefix"]
    assert loader_accepts == jsonschema.Draft202012Validator(prefix).is_valid(value)
