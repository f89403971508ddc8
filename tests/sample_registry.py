"""The sample registry the end-to-end and reliability tests run against: its policies file, the policies it
renders and an older one, a foreign statement, the provider's attributes (CI credentials included), and
running the CLI in-process.

A plain module (not conftest) so tests can import it; each suite seeds its own repositories from these.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.cli import main
from reconciler.desired.model import PullAccess
from reconciler.policy.render import policy_text, render_policy

if TYPE_CHECKING:
    from reconciler.sandbox.ecr import EcrEmulator

ACCOUNT = "123456789012"
NRN = "organization=1:account=2"
ACCESS = PullAccess(("o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",), ("111122223333", "444455556666"))
DESIRED = policy_text(render_policy(ACCOUNT, ACCESS))
OLD = policy_text(render_policy(ACCOUNT, PullAccess(accounts=("111122223333",))))
CI_ACCESS_KEY = "AKIACIACCESSKEYLEAK01"
CI_SECRET = "ci-secret-key-must-not-leak-8c1d"

POLICIES_YAML = f"""\
registry:
  name: main
  account_id: "{ACCOUNT}"
  region: us-east-1
nullplatform:
  nrn: "{NRN}"
pull_access:
  organization_paths: ["o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"]
  accounts: ["111122223333", "444455556666"]
repositories:
  exclude: ["sandbox/*"]
overrides:
  - repositories: ["payments/*"]
    pull_access:
      accounts: ["777788889999"]
"""

# A foreign statement: a service principal, with a Sid that is not ours.
LAMBDA: dict[str, Any] = {
    "Sid": "LambdaECRImageRetrievalPolicy",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    "Condition": {"StringLike": {"aws:sourceArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"}},
}


def with_statements(text: str | None, *statements: dict[str, Any]) -> str:
    """`text` (or no policy) with `statements` put first."""
    document: dict[str, Any] = json.loads(text) if text else {"Version": "2012-10-17", "Statement": []}
    document["Statement"][:0] = list(statements)
    return json.dumps(document)


def reserialized(text: str) -> str:
    """`text` as another writer may have stored it: the same meaning, but statements, actions and
    condition values in reverse order, a single condition value as a one-item list, and indented."""
    document = json.loads(text)
    document["Statement"].reverse()
    for statement in document["Statement"]:
        if isinstance(statement.get("Action"), list):
            statement["Action"].reverse()
        for values in statement.get("Condition", {}).values():
            for key, value in values.items():
                values[key] = value[::-1] if isinstance(value, list) else [value]
    return json.dumps(document, indent=2)


def provider_attributes(policy: str | None = OLD) -> dict[str, Any]:
    """The nullplatform provider's attributes: CI credentials, and setup with `policy` (None: no policy)."""
    setup: dict[str, Any] = {
        "region": "us-east-1",
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/np",
        "naming_rule": "<namespace>/<application>",
    }
    if policy is not None:
        setup["policy"] = policy
    return {
        "ci": {"region": "us-east-1", "access_key": CI_ACCESS_KEY, "secret_key": CI_SECRET},
        "setup": setup,
    }


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(ecr: EcrEmulator, name: str) -> Any:
    """A repository's policy as stored (parsed), or None."""
    text = ecr.stored_policy(name)
    return None if text is None else json.loads(text)
