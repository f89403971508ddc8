"""The safety rules, pinned by literal cases: each statement below is safe or not to have written, and both
the production guard and the reliability tests' own check (support.unsafe_document) must say so. Neither
judges the other: a guard loosened by mistake fails here, and so does a check that drifted from the rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sample_registry import DESIRED

from reconciler.errors import GuardViolation
from reconciler.policy import guard

from .support import MAX_TEXT, OWNS_SID, unsafe_document, unsafe_text

PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
ORG_PATHS = {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"}}
ACCOUNTS = {"StringEquals": {"aws:PrincipalAccount": ["111122223333"]}}

SAFE: dict[str, dict[str, Any]] = {
    "ours to an OU path": {
        "Sid": "AllowPullOrg",
        "Effect": "Allow",
        "Principal": "*",
        "Action": PULL,
        "Condition": ORG_PATHS,
    },
    "ours to accounts": {
        "Sid": "AllowPullAccounts",
        "Effect": "Allow",
        "Principal": "*",
        "Action": PULL,
        "Condition": ACCOUNTS,
    },
    "a foreign role that pushes": {
        "Sid": "CiPush",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::222233334444:role/ci"},
        "Action": ["ecr:PutImage", "ecr:UploadLayerPart"],
    },
    "a foreign service principal": {
        "Sid": "Lambda",
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": PULL,
    },
    "a Deny to everyone": {"Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "ecr:*"},
    "a foreign grant to anyone in one account": {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "ecr:*",
        "Condition": {"StringEquals": {"aws:PrincipalAccount": "555566667777"}},
    },
}
UNSAFE: dict[str, dict[str, Any]] = {
    "a foreign Allow to *": {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": PULL},
    "a foreign Allow to AWS *": {
        "Sid": "Everyone",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": PULL,
    },
    "a wildcard account in an ARN": {
        "Sid": "AnyRoot",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::*:root"},
        "Action": PULL,
    },
    "* with a condition that names no one": {
        "Sid": "Office",
        "Effect": "Allow",
        "Principal": "*",
        "Action": PULL,
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    },
    "NotPrincipal in an Allow": {
        "Sid": "AllBut",
        "Effect": "Allow",
        "NotPrincipal": {"AWS": "arn:aws:iam::222233334444:root"},
        "Action": PULL,
    },
    "ours pushing": {
        "Sid": "AllowPullOrg",
        "Effect": "Allow",
        "Principal": "*",
        "Action": [*PULL, "ecr:PutImage"],
        "Condition": ORG_PATHS,
    },
    "ours with ecr:*": {
        "Sid": "AllowPullAccounts",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "ecr:*",
        "Condition": ACCOUNTS,
    },
    "ours with NotAction": {
        "Sid": "AllowPullAccounts",
        "Effect": "Allow",
        "Principal": "*",
        "NotAction": "ecr:DeleteRepository",
        "Condition": ACCOUNTS,
    },
}


def policy(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


@pytest.mark.parametrize("case", SAFE)
def test_safe(case: str) -> None:
    document = policy(SAFE[case])
    assert guard.violations(document, OWNS_SID) == []
    assert unsafe_document(document) == []
    guard.check_text(json.dumps(document), OWNS_SID)


@pytest.mark.parametrize("case", UNSAFE)
def test_unsafe(case: str) -> None:
    document = policy(UNSAFE[case])
    assert guard.violations(document, OWNS_SID) != []
    assert unsafe_document(document) != []
    with pytest.raises(GuardViolation, match="refusing to write an unsafe policy"):
        guard.check_text(json.dumps(document), OWNS_SID)


def test_what_the_sample_registry_renders_is_safe_and_a_text_over_ecrs_limit_is_not() -> None:
    assert unsafe_text(DESIRED) == [] and guard.violations(json.loads(DESIRED), OWNS_SID) == []
    long = json.dumps(policy(SAFE["a foreign service principal"] | {"Sid": "x" * MAX_TEXT}))
    assert unsafe_text(long) != []
    with pytest.raises(GuardViolation, match="ECR allows at most 10240"):
        guard.check_text(long, OWNS_SID)
