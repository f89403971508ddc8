"""Ownership: foreign statements survive exactly; ours are replaced."""

from __future__ import annotations

import copy

from reconciler.desired.model import PullAccess, Registry
from reconciler.policy.ownership import merge, split
from reconciler.policy.render import render_statements

REGISTRY = Registry(
    name="main",
    account_id="123456789012",
    region="us-east-1",
    pull_access=PullAccess(accounts=("111122223333",)),
    managed_sids=("AllowPull*", "CrossAccountPull"),
)
LAMBDA = {
    "Sid": "LambdaECRImageRetrievalPolicy",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}
NO_SID = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
    "Action": "ecr:BatchGetImage",
}
OLD = {
    "Sid": "CrossAccountPull",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::555566667777:root"},
    "Action": ["ecr:BatchGetImage"],
}


def test_split_by_managed_sids() -> None:
    live = {"Version": "2012-10-17", "Statement": [LAMBDA, OLD, NO_SID]}
    parts = split(live, REGISTRY.owns_sid)
    assert parts.owned == [OLD]
    assert parts.foreign == [LAMBDA, NO_SID]


def test_merge_keeps_foreign_statements_byte_for_byte() -> None:
    live = {"Version": "2012-10-17", "Statement": [copy.deepcopy(LAMBDA), OLD, copy.deepcopy(NO_SID)]}
    ours = render_statements(REGISTRY.account_id, REGISTRY.pull_access)
    merged = merge(live, REGISTRY.owns_sid, ours)
    assert merged is not None
    assert merged["Statement"] == [LAMBDA, NO_SID, *ours]


def test_merge_with_nothing_left_means_no_policy() -> None:
    live = {"Version": "2012-10-17", "Statement": [OLD]}
    assert merge(live, REGISTRY.owns_sid, []) is None
    assert merge(None, REGISTRY.owns_sid, []) is None


def test_statement_without_sid_is_never_owned() -> None:
    assert not REGISTRY.owns_sid(None)
    assert REGISTRY.owns_sid("AllowPullAccounts")
    assert not REGISTRY.owns_sid("allowpull")  # Sids are case-sensitive, like IAM's


def test_rendering_is_deterministic_and_both_forms_use_distinct_sids() -> None:
    access = PullAccess(("o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",), ("111122223333", "123456789012"))
    first = render_statements("123456789012", access)
    assert first == render_statements("123456789012", access)
    assert [s["Sid"] for s in first] == ["AllowPullOrganizationPaths", "AllowPullAccounts"]
    # The registry's own account comes first and appears once.
    assert first[1]["Condition"]["StringEquals"]["aws:PrincipalAccount"] == ["123456789012", "111122223333"]
