"""Words for foreign grants beyond pull: readable, and the same for the same grant however it is spelled."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.policy.grants import foreign_grant_notes, grant_words


def _allow(action: Any = None, **extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": "222233334444"}, **extra}
    if action is not None:
        statement["Action"] = action
    return statement


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        (_allow(["ecr:BatchGetImage", "ecr:ListImages"]), None),
        (_allow("ecr:PutImage"), "push"),
        (
            _allow(["ecr:ReplicateImage", "ecr:PutImage", "ecr:BatchDeleteImage"]),
            "push, replication and delete",
        ),
        (_allow(["ecr:SetRepositoryPolicy"]), "policy changes"),
        (_allow(["ecr:TagResource", "ecr:putimage", "ECR:tagresource"]), "push and ecr:TagResource"),
        (_allow("ecr:*"), "every ECR action"),
        (_allow(["*", "ecr:PutImage"]), "every action"),
        (_allow(NotAction=["ecr:DeleteRepository"]), "every action except ecr:DeleteRepository"),
        ({**_allow("ecr:PutImage"), "Effect": "Deny"}, None),
    ],
)
def test_grant_words(statement: dict[str, Any], words: str | None) -> None:
    assert grant_words(statement) == words


def test_notes_name_each_principal_and_skip_ours_pull_and_public() -> None:
    document = {
        "Statement": [
            _allow("ecr:PutImage", Sid="AllowPullMine"),  # ours: the guard's business, not a note
            _allow("ecr:BatchGetImage", Sid="Pull"),
            {**_allow("ecr:PutImage"), "Principal": "*"},  # public: refused by the guard, not noted
            {
                **_allow(["ecr:PutImage"]),
                "Principal": {
                    "AWS": ["arn:aws:iam::222233334444:root", "arn:aws:iam::222233334444:role/ci"],
                    "Service": "codebuild.amazonaws.com",
                },
            },
            {
                **_allow("ecr:ReplicateImage"),
                "Principal": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
            },
        ]
    }
    notes = foreign_grant_notes(document, lambda sid: sid is not None and sid.startswith("AllowPull"))
    assert notes == (
        "push to account 222233334444",
        "push to arn:aws:iam::222233334444:role/ci",
        "push to codebuild.amazonaws.com",
        "replication to any principal with aws:PrincipalOrgID o-a1b2c3d4e5",
    )
