"""The last gate: never public (every statement), pull only (ours), within ECR's size limit."""

from __future__ import annotations

import json

import pytest

from reconciler.desired.model import PullAccess
from reconciler.errors import GuardViolation
from reconciler.policy.guard import MAX_POLICY_CHARS, check_text, violations
from reconciler.policy.render import policy_text, render_policy

LAMBDA = {
    "Sid": "LambdaECRImageRetrievalPolicy",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _star(condition: dict | None = None, action: object = "ecr:BatchGetImage") -> dict:
    statement: dict = {"Sid": "X", "Effect": "Allow", "Principal": "*", "Action": action}
    if condition is not None:
        statement["Condition"] = condition
    return statement


@pytest.mark.parametrize(
    "access",
    [
        PullAccess(organization_paths=("o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",)),
        PullAccess(accounts=("111122223333",)),
        PullAccess(("o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/",), ("111122223333",)),
    ],
)
def test_rendered_policies_pass(access: PullAccess) -> None:
    document = render_policy("123456789012", access)
    document["Statement"].append(LAMBDA)
    assert violations(document) == []
    check_text(policy_text(document))


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        (_star(), "public"),
        ({**_star(), "Principal": {"AWS": "*"}}, "public"),
        ({**_star(), "Principal": {"AWS": ["111122223333", "*"]}}, "public"),
        (_star({"StringEquals": {"aws:PrincipalAccount": "*"}}), "public"),
        (_star({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-*"}}), "public"),
        (_star({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-*/*"]}}), "public"),
        (_star({"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}), "public"),
        (_star({"StringEqualsIfExists": {"aws:PrincipalAccount": "111122223333"}}), "public"),
        (_star({"StringEquals": {"aws:username": "bob"}}), "public"),
        ({**LAMBDA, "Principal": None}, "public"),
        ({k: v for k, v in LAMBDA.items() if k != "Principal"} | {"NotPrincipal": {"AWS": "x"}}, "public"),
        (
            _star({"StringEquals": {"aws:PrincipalAccount": "111122223333"}})
            | {"NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/x"}},
            "NotPrincipal",
        ),
        ({**LAMBDA, "Action": ["ecr:PutImage"]}, "non-pull actions: ecr:putimage"),
        ({**LAMBDA, "Action": "ecr:*"}, "non-pull"),
        ({**LAMBDA, "Action": "*"}, "non-pull"),
        ({k: v for k, v in LAMBDA.items() if k != "Action"} | {"NotAction": "ecr:PutImage"}, "NotAction"),
    ],
)
def test_unsafe_statements_are_refused(statement: dict, fragment: str) -> None:
    found = violations(_doc(statement))
    assert any(fragment in problem for problem in found), found
    with pytest.raises(GuardViolation, match="refusing"):
        check_text(json.dumps(_doc(statement)))


def test_deny_statements_are_not_grants() -> None:
    assert violations(_doc({**_star(action="ecr:*"), "Effect": "Deny"})) == []


def test_size_limit_is_checked_on_the_exact_text() -> None:
    document = render_policy("123456789012", PullAccess(accounts=("111122223333",)))
    text = policy_text(document)
    padded = text[:-1] + " " * (MAX_POLICY_CHARS - len(text)) + "}"
    assert len(padded) == MAX_POLICY_CHARS
    check_text(padded)
    with pytest.raises(GuardViolation, match="10241 characters"):
        check_text(padded[:-1] + " }")


def test_invalid_json_is_refused() -> None:
    with pytest.raises(GuardViolation, match="not valid JSON"):
        check_text("{")


def test_for_all_values_does_not_restrict() -> None:
    # ForAllValues is vacuously true when the request carries no such key.
    statement = _star({"ForAllValues:StringEquals": {"aws:PrincipalAccount": "111122223333"}})
    assert any("public" in p for p in violations(_doc(statement)))


def _owns(sid: str | None) -> bool:
    return sid is not None and sid.startswith("AllowPull")


CI_PUSH = {
    "Sid": "CiPush",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::222233334444:role/ci"},
    "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"],
}


@pytest.mark.parametrize(
    "statement",
    [
        CI_PUSH,
        {**CI_PUSH, "Sid": "Replication", "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"]},
        {**CI_PUSH, "Action": "*"},
        {k: v for k, v in CI_PUSH.items() if k != "Action"} | {"NotAction": "ecr:DeleteRepository"},
        _star({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, action="ecr:*"),
        {k: v for k, v in CI_PUSH.items() if k != "Sid"},
    ],
)
def test_foreign_statements_granting_more_than_pull_to_named_principals_pass(statement: dict) -> None:
    document = render_policy("123456789012", PullAccess(accounts=("111122223333",)))
    document["Statement"].insert(0, statement)
    assert violations(document, _owns) == []
    check_text(policy_text(document), _owns)
    # Read as all ours (a rendered text, and the default), the same statement is refused.
    assert violations(document) != []
    with pytest.raises(GuardViolation, match="refusing"):
        check_text(policy_text(document))


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ({**CI_PUSH, "Sid": "AllowPullCi"}, "non-pull actions: ecr:completelayerupload"),
        (
            {k: v for k, v in CI_PUSH.items() if k != "Action"} | {"Sid": "AllowPull", "NotAction": "x"},
            "NotAction",
        ),
        (_star() | {"Sid": "Foreign"}, "public"),
        (_star({"StringLike": {"aws:PrincipalAccount": "*"}}) | {"Sid": "Foreign"}, "public"),
        ({k: v for k, v in CI_PUSH.items() if k != "Principal"} | {"NotPrincipal": {"AWS": "x"}}, "public"),
    ],
)
def test_ours_must_be_pull_only_and_nothing_may_be_public(statement: dict, fragment: str) -> None:
    found = violations(_doc(statement), _owns)
    assert any(fragment in problem for problem in found), found
    with pytest.raises(GuardViolation, match="refusing"):
        check_text(json.dumps(_doc(statement)), _owns)


# Conditions that look restricting but match every organization or account, and the pinned shapes that do
# restrict. The guard (what may be written) and the access audit (what is public) must agree on each.
MATCH_EVERYONE = [
    {"StringLike": {"aws:PrincipalOrgID": "o*"}},
    {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
    {"StringEquals": {"aws:PrincipalOrgID": "o-short"}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "*/*"}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o*"}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5*"}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/*", "*"]}},
    {"StringLike": {"aws:PrincipalAccount": [f"*{d}" for d in range(10)]}},
    {"StringLike": {"aws:PrincipalAccount": "1*"}},
    {"StringLike": {"aws:PrincipalAccount": "????????????"}},
    {"StringEquals": {"aws:PrincipalAccount": "${aws:PrincipalAccount}"}},
    {"StringEquals": {"aws:PrincipalAccount": []}},
    {"StringEquals": {"aws:PrincipalAccount": 111122223333}},
    {"StringEquals": {"aws:SourceAccount": "${aws:SourceAccount}"}},
    {"StringLike": {"aws:SourceOrgID": "o-*"}},
    {"ArnLike": {"aws:PrincipalArn": "arn:*"}},
    {"stringequals": {"aws:PrincipalAccount": "111122223333"}},
    {"StringEqualsIgnoreCase": {"aws:PrincipalAccount": "111122223333"}},
]
RESTRICTING = [
    {"StringEquals": {"aws:PrincipalAccount": ["123456789012", "111122223333"]}},
    {"StringEquals": {"AWS:PRINCIPALACCOUNT": "111122223333"}},  # key names are case-insensitive
    {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
    {"ForAnyValue:StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/"}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*"}},
    {"StringEquals": {"aws:SourceAccount": "111122223333"}},
    {"StringEquals": {"aws:SourceOrgID": "o-a1b2c3d4e5"}},
    # One pinned clause is enough: all clauses must hold.
    {"StringEquals": {"aws:PrincipalAccount": "111122223333"}, "StringLike": {"aws:PrincipalOrgID": "o*"}},
]


@pytest.mark.parametrize("condition", MATCH_EVERYONE, ids=str)
def test_a_condition_that_matches_everyone_restricts_nothing(condition: dict) -> None:
    from reconciler.policy.findings import Kind, findings

    statement = _star(condition, action="ecr:*")
    found = violations(_doc(statement), _owns)
    assert any("public" in problem for problem in found), found
    with pytest.raises(GuardViolation, match="public"):
        check_text(json.dumps(_doc(statement)), _owns)
    assert Kind.PUBLIC in {f.kind for f in findings(_doc(statement), "123456789012")}  # the audit agrees


@pytest.mark.parametrize("condition", RESTRICTING, ids=str)
def test_pinned_account_and_organization_conditions_restrict(condition: dict) -> None:
    from reconciler.policy.findings import Kind, findings

    statement = _star(condition, action="ecr:*")
    assert violations(_doc(statement), _owns) == []
    check_text(json.dumps(_doc(statement)), _owns)
    assert Kind.PUBLIC not in {f.kind for f in findings(_doc(statement), "123456789012")}


# Text the guard does not understand is refused (fail-closed), never skipped.
OURS = {
    "Sid": "AllowPull",
    "Effect": "Allow",
    "Principal": {"AWS": "111122223333"},
    "Action": "ecr:BatchGetImage",
}


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ({**_star(action="ecr:*"), "Effect": "allow"}, "Effect 'allow'"),
        ({**_star(action="ecr:*"), "Effect": "Allow "}, "Effect 'Allow '"),
        ({k: v for k, v in _star(action="ecr:*").items() if k != "Effect"}, "Effect None"),
        (
            {k: v for k, v in _star(action="ecr:*").items() if k != "Effect"} | {"effect": "Allow"},
            "elements IAM does not know: effect",
        ),
        ({**LAMBDA, "Principal": {"AWS": "arn:aws:iam::*:root"}}, "public"),
        ({**LAMBDA, "Principal": {"AWS": " *"}}, "public"),
        ({**LAMBDA, "Principal": {"AWS": "**"}}, "public"),
        ({**LAMBDA, "Principal": {"AWS": "11112222333?"}}, "public"),
        ({**LAMBDA, "Principal": ["*"]}, "public"),
        ({**LAMBDA, "Principal": " *"}, "public"),
        ({**LAMBDA, "Principal": {"AWS": [["*"]]}}, "public"),
        (
            {k: v for k, v in LAMBDA.items() if k != "Principal"} | {"notprincipal": {"AWS": "x"}},
            "elements IAM does not know: notprincipal",
        ),
    ],
)
def test_text_the_guard_does_not_understand_is_refused_whoever_wrote_it(
    statement: dict, fragment: str
) -> None:
    found = violations(_doc(statement), _owns)  # foreign: the rules for everyone's statements
    assert any(fragment in problem for problem in found), found
    with pytest.raises(GuardViolation, match="refusing"):
        check_text(json.dumps(_doc(statement)), _owns)


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ({k: v for k, v in OURS.items() if k != "Action"} | {"action": "ecr:*"}, "has no Action"),
        (
            {k: v for k, v in OURS.items() if k != "Action"} | {"notaction": "ecr:BatchGetImage"},
            "has no Action",
        ),
        ({k: v for k, v in OURS.items() if k != "Action"}, "has no Action"),
        ({**OURS, "Effect": "allow", "Action": "ecr:*"}, "Effect 'allow'"),
    ],
)
def test_our_statements_must_say_what_they_grant_in_iams_own_words(statement: dict, fragment: str) -> None:
    found = violations(_doc(statement), _owns)
    assert any(fragment in problem for problem in found), found


@pytest.mark.parametrize(
    "text",
    [
        '{"Version": "2012-10-17", "Statement": [{"Sid": "X", "Effect": "Allow", "Principal": "*", '
        '"Principal": {"AWS": "111122223333"}, "Action": "ecr:BatchGetImage"}]}',
        '{"Version": "2012-10-17", "Statement": [], "Statement": [{"Sid": "X", "Effect": "Allow", '
        '"Principal": "*", "Action": "ecr:*"}]}',
    ],
)
def test_a_key_given_twice_is_refused(text: str) -> None:
    with pytest.raises(GuardViolation, match="twice in one object"):
        check_text(text, _owns)


def test_an_unknown_top_level_element_is_refused() -> None:
    document = {"Version": "2012-10-17", "statement": [_star(action="ecr:*")]}
    assert any("elements IAM does not know: statement" in p for p in violations(document, _owns))


def test_what_ecr_hands_back_passes_ours_and_foreign_alike() -> None:
    # ECR's read-back (reformatted: root ARNs, one-item lists as strings, sorted keys), with Lambda's
    # service statement, a CI push grant, a Deny and a statement with no Sid: nothing legitimate breaks.
    from reconciler.sandbox.ecr.readback import ecr_policy_text

    document = render_policy(
        "123456789012", PullAccess(("o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",), ("111122223333",))
    )
    deny = {"Sid": "DenyPush", "Effect": "Deny", "Principal": "*", "Action": ["ecr:PutImage"]}
    no_sid = {k: v for k, v in CI_PUSH.items() if k != "Sid"}
    document["Statement"] += [LAMBDA, CI_PUSH, deny, no_sid]
    text = ecr_policy_text(policy_text(document))
    assert text != policy_text(document)
    assert violations(json.loads(text), _owns) == []
    check_text(text, _owns)
