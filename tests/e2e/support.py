"""Helpers for end-to-end tests: a policies/ dir, seeded repositories, running the CLI in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.desired.model import PullAccess
from reconciler.policy.render import policy_text, render_policy
from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.nullplatform import NullplatformApi

ACCOUNT = "123456789012"
NRN = "organization=1:account=2"
ACCESS = PullAccess(("o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",), ("111122223333", "444455556666"))
DESIRED = policy_text(render_policy(ACCOUNT, ACCESS))
OLD = policy_text(render_policy(ACCOUNT, PullAccess(accounts=("111122223333",))))
PAYMENTS = render_policy(ACCOUNT, PullAccess(accounts=("777788889999",)))
LAMBDA: dict[str, Any] = {
    "Sid": "LambdaECRImageRetrievalPolicy",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    "Condition": {"StringLike": {"aws:sourceArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"}},
}
SECRET = "ci-secret-key-do-not-leak-5f1e"
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


def with_foreign(text: str | None) -> str:
    document = json.loads(text) if text else {"Version": "2012-10-17", "Statement": []}
    document["Statement"].insert(0, LAMBDA)
    return json.dumps(document)


def write_policies(directory: Path, text: str = POLICIES_YAML) -> Path:
    policies = directory / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "main.yaml").write_text(text, encoding="utf-8")
    return policies


def provider_attributes(policy: str | None = OLD) -> dict[str, Any]:
    setup: dict[str, Any] = {
        "region": "us-east-1",
        "role_arn": "arn:aws:iam::123456789012:role/np",
        "naming_rule": "<namespace>/<application>",
    }
    if policy is not None:
        setup["policy"] = policy
    return {"ci": {"region": "us-east-1", "access_key": "AKIAFAKEFAKE", "secret_key": SECRET}, "setup": setup}


def seed(ecr: EcrEmulator, count: int = 12) -> dict[str, str | None]:
    """`count` team repositories cycling through states, plus payments, sandbox and foreign ones."""
    states: list[str | None] = [DESIRED, OLD, None]
    seeded: dict[str, str | None] = {}
    for index in range(count):
        seeded[f"team-{index:02d}/app"] = states[index % 3]
    seeded["team-foreign/old"] = with_foreign(OLD)
    seeded["team-foreign/none"] = with_foreign(None)
    seeded["payments/api"] = DESIRED
    seeded["sandbox/x"] = OLD
    for name, text in seeded.items():
        ecr.create_repository(name, policy_text=text)
    return seeded


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(ecr: EcrEmulator, name: str) -> Any:
    text = ecr.stored_policy(name)
    return None if text is None else json.loads(text)


def env_for(monkeypatch: pytest.MonkeyPatch, ecr: EcrEmulator, nullplatform: NullplatformApi) -> None:
    for name, value in (ecr.environment() | nullplatform.environment()).items():
        monkeypatch.setenv(name, value)
