"""Loaded files render exactly the documented policies (docs/NULLPLATFORM.md, "The policies we render")."""

from __future__ import annotations

import json

from desired_support import minimal

from reconciler.policy.render import policy_text, provider_policy, render_policy
from reconciler.validation.loader import load_bytes

PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetDownloadUrlForLayer",
]

OU_ONLY = """\
registry:
  name: main
  account_id: "123456789012"
  region: us-east-1
pull_access:
  organization_paths: ["o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"]
"""

# The documented "Organization OU" policy, with the example path filled in.
DOCUMENTED_OU = """\
{"Version": "2012-10-17",
 "Statement": [{"Sid": "AllowPull", "Effect": "Allow", "Principal": "*",
   "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:DescribeImages",
              "ecr:DescribeRepositories", "ecr:GetDownloadUrlForLayer"],
   "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"}}}]}
"""


def test_ou_only_renders_the_documented_policy_with_the_path_as_a_string() -> None:
    registry = load_bytes(OU_ONLY.encode())
    rendered = provider_policy(registry)
    assert rendered == json.loads(DOCUMENTED_OU)
    # Key order as documented, written compact (the text the reconciler writes everywhere).
    assert policy_text(rendered) == json.dumps(json.loads(DOCUMENTED_OU), separators=(",", ":"))
    condition = rendered["Statement"][0]["Condition"]["ForAnyValue:StringLike"]["aws:PrincipalOrgPaths"]
    assert isinstance(condition, str)


def test_accounts_only_renders_registry_account_first_and_deduplicated() -> None:
    text = minimal().replace(
        'accounts: ["111122223333"]', 'accounts: ["111122223333", "123456789012", "444455556666"]'
    )
    registry = load_bytes(text.encode())
    assert provider_policy(registry) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPull",
                "Effect": "Allow",
                "Principal": "*",
                "Action": PULL_ACTIONS,
                "Condition": {
                    "StringEquals": {"aws:PrincipalAccount": ["123456789012", "111122223333", "444455556666"]}
                },
            }
        ],
    }
    assert list(provider_policy(registry)["Statement"][0]) == [
        "Sid",
        "Effect",
        "Principal",
        "Action",
        "Condition",
    ]


def test_both_render_two_statements_with_or_semantics() -> None:
    text = OU_ONLY + '  accounts: ["111122223333"]\n'
    statements = provider_policy(load_bytes(text.encode()))["Statement"]
    assert [s["Sid"] for s in statements] == ["AllowPullOrganizationPaths", "AllowPullAccounts"]


def test_override_renders_its_own_access() -> None:
    text = (
        OU_ONLY
        + 'overrides:\n  - repositories: ["payments/*"]\n    pull_access:\n      accounts: ["777788889999"]\n'
    )
    registry = load_bytes(text.encode())
    assert registry.access_for("payments/api") == registry.overrides[0].pull_access
    assert registry.access_for("web/app") == registry.pull_access
    rendered = render_policy(registry.account_id, registry.overrides[0].pull_access)
    assert rendered["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": ["123456789012", "777788889999"]}
    }
