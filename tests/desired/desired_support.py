"""Shared by the desired-state tests (a plain module: tests must not import conftest)."""

from __future__ import annotations

from reconciler.errors import Problem
from reconciler.validation.loader import check_bytes

# Every feature of the format, each on a known line (tests point at these lines).
VALID = """\
registry:
  name: main
  account_id: "123456789012"
  region: us-east-1
  write_role_arn: arn:aws:iam::123456789012:role/ecr-policy-reconciler
nullplatform:
  nrn: "organization=1:account=2"
pull_access:
  organization_paths: ["o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"]
  accounts: ["111122223333", "444455556666"]
repositories:
  include: ["*"]
  exclude: ["sandbox/*"]
overrides:
  - repositories: ["payments/*"]
    pull_access:
      accounts: ["777788889999"]
managed_sids: ["AllowPull*"]
"""

MINIMAL = """\
registry:
  name: {name}
  account_id: "{account}"
  region: {region}
pull_access:
  accounts: ["111122223333"]
"""


def problems(text: str | bytes, source: str = "main.yaml") -> list[Problem]:
    """The problems check_bytes finds in one file's content (empty when valid)."""
    data = text.encode() if isinstance(text, str) else text
    return list(check_bytes(data, source).problems)


def minimal(name: str = "main", account: str = "123456789012", region: str = "us-east-1") -> str:
    return MINIMAL.format(name=name, account=account, region=region)
