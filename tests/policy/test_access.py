"""Who may pull: answers worked out by hand from IAM's rules (docs/AWS.md, "IAM evaluation"),
then checked against the evaluator. Each test says the reasoning in a line or two."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.policy.access import ORG_NOT_CONFIGURED, OrgView, Verdict, may_pull
from reconciler.policy.conditions import RequestContext, evaluate
from reconciler.policy.findings import Kind, findings, grants

OWNER = "123456789012"
A = "111122223333"
B = "444455556666"
C = "777788889999"
ORG = "o-a1b2c3d4e5"
PARENT = "ou-ab12-parent01"
CHILD = "ou-ab12-child001"
OTHER_OU = "ou-ab12-other001"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
# A sits in a child OU under PARENT; B directly under the root; C is not in the organization.
ORG_VIEW = OrgView(
    org_id=ORG,
    members=frozenset({OWNER, A, B}),
    paths={A: (f"{ORG}/r-ab12/{PARENT}/{CHILD}/",), B: (f"{ORG}/r-ab12/",), OWNER: (f"{ORG}/r-ab12/",)},
)


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(sid: str, principal: Any = "*", action: Any = None, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": action or PULL, **extra}


def deny(sid: str, principal: Any = "*", action: Any = None, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Deny", "Principal": principal, "Action": action or PULL, **extra}


def accounts(*ids: str) -> dict[str, Any]:
    return {"StringEquals": {"aws:PrincipalAccount": list(ids)}}


def org_paths(*paths: str) -> dict[str, Any]:
    return {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": list(paths)}}


def test_account_condition_grants_listed_accounts_only() -> None:
    # Principal * AND PrincipalAccount in [A]: A's requests match; C's value is not listed.
    document = policy(allow("AllowPull", Condition=accounts(A)))
    answer = may_pull(document, A)
    assert answer.verdict == Verdict.YES and answer.statements == ("AllowPull",)
    assert answer.principals == ("any",)
    assert may_pull(document, C).verdict == Verdict.NO


def test_deny_overrides_allow() -> None:
    # Allow A and B; Deny names B's account for BatchGetImage. Explicit Deny beats Allow for B, and a pull
    # needs that action, so B may not pull. A is untouched by the Deny.
    document = policy(
        allow("AllowPull", Condition=accounts(A, B)),
        deny("DenyB", {"AWS": f"arn:aws:iam::{B}:root"}, "ecr:BatchGetImage"),
    )
    assert may_pull(document, A).verdict == Verdict.YES
    b = may_pull(document, B)
    assert b.verdict == Verdict.NO and b.reasons == ("denied by DenyB",)
    (grant,) = grants(document)
    assert grant.status == "limited" and grant.denied_by == ("DenyB",)
    assert grant.accounts == (A, B) and grant.denied_accounts == (B,)


def test_unconditional_deny_everyone_revokes_a_public_grant() -> None:
    # Deny * ecr:* with no condition applies to every request: nothing is granted, nothing is public.
    document = policy(allow("Open"), deny("Closed", action="ecr:*"))
    assert may_pull(document, A).verdict == Verdict.NO
    (grant,) = grants(document)
    assert grant.status == "revoked"
    assert Kind.PUBLIC not in {f.kind for f in findings(document, OWNER)}


def test_string_like_over_ou_paths_matches_child_ou() -> None:
    # A's path o-x/r-ab12/ou-parent/ou-child/ matches o-x/*/ou-parent/* (StringLike's * spans '/');
    # B's path o-x/r-ab12/ has no ou-parent segment; C is outside the organization: the key is absent,
    # so ForAnyValue is false.
    document = policy(allow("AllowPull", Condition=org_paths(f"{ORG}/*/{PARENT}/*")))
    assert may_pull(document, A, ORG_VIEW).verdict == Verdict.YES
    assert may_pull(document, B, ORG_VIEW).verdict == Verdict.NO
    assert may_pull(document, C, ORG_VIEW).verdict == Verdict.NO


def test_org_path_grant_without_organization_is_unresolved() -> None:
    # Without the organization we do not know A's path: neither yes nor no.
    document = policy(allow("AllowPull", Condition=org_paths(f"{ORG}/*/{PARENT}/*")))
    answer = may_pull(document, A)
    assert answer.verdict == Verdict.UNRESOLVED
    assert answer.reasons == (f"AllowPull: {ORG_NOT_CONFIGURED}",)


def test_org_path_or_account_grant_resolves_for_listed_account_without_organization() -> None:
    # Two statements (OR): A is listed by account, so the unknown path does not matter for A.
    document = policy(
        allow("AllowPullOrganizationPaths", Condition=org_paths(f"{ORG}/*/{PARENT}/*")),
        allow("AllowPullAccounts", Condition=accounts(OWNER, A)),
    )
    assert may_pull(document, A).statements == ("AllowPullAccounts",)
    assert may_pull(document, B).verdict == Verdict.UNRESOLVED


def test_role_arn_principal_grants_that_role_only() -> None:
    # A role ARN means that role's sessions: some principals of A may pull (that role), no other account.
    role = f"arn:aws:iam::{A}:role/ci-puller"
    document = policy(allow("Role", {"AWS": role}))
    answer = may_pull(document, A)
    assert answer.verdict == Verdict.YES and answer.principals == (role,)
    assert may_pull(document, B).verdict == Verdict.NO
    # A Deny on the whole account A covers that role too.
    denied = policy(allow("Role", {"AWS": role}), deny("NoA", {"AWS": A}))
    assert may_pull(denied, A).verdict == Verdict.NO


def test_deny_on_one_role_leaves_the_rest_of_the_account() -> None:
    # Allow account A; Deny one role of A: that role may not pull, A's other principals still may.
    role = f"arn:aws:iam::{A}:role/blocked"
    document = policy(allow("AllowA", {"AWS": A}), deny("NoRole", {"AWS": role}))
    answer = may_pull(document, A)
    assert answer.verdict == Verdict.YES and answer.principals == ("any",)


def test_service_principal_is_no_account() -> None:
    # {"Service": "lambda.amazonaws.com"} is the service, no account: no account gets pull from it, and the
    # condition on aws:sourceArn (a key we do not evaluate) never comes into play for accounts.
    document = policy(
        allow(
            "LambdaECRImageRetrievalPolicy",
            {"Service": "lambda.amazonaws.com"},
            Condition={"StringLike": {"aws:sourceArn": f"arn:aws:lambda:us-east-1:{OWNER}:function:*"}},
        )
    )
    for account in (OWNER, A, C):
        assert may_pull(document, account, ORG_VIEW).verdict == Verdict.NO
    assert findings(document, OWNER, ORG_VIEW) == []
    (grant,) = grants(document)
    assert grant.principals == ("service lambda.amazonaws.com",) and grant.accounts == ()


def test_public_statement() -> None:
    # Principal * (or {"AWS": "*"}) with no account or organization condition: anyone may pull.
    for principal in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
        document = policy(allow("Open", principal))
        assert may_pull(document, C).verdict == Verdict.YES
        kinds = [f.kind for f in findings(document, OWNER)]
        assert Kind.PUBLIC in kinds and Kind.BEYOND_PULL not in kinds
    # A condition on another key (source IP) is no account condition: still public.
    document = policy(allow("Open", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert Kind.PUBLIC in {f.kind for f in findings(document, OWNER)}
    # An account condition that matches every account restricts nothing.
    document = policy(allow("Open", Condition={"StringLike": {"aws:PrincipalAccount": "*"}}))
    assert Kind.PUBLIC in {f.kind for f in findings(document, OWNER)}


def test_action_wildcards_and_case() -> None:
    # Actions are case-insensitive with * and ? (one character each). "ECR:batch*" covers BatchGetImage
    # but not GetDownloadUrlForLayer: no pull. "GetDownloadUrlFor????" needs exactly four characters after
    # "For" and "Layer" has five: still no pull. "getdownloadurlfor???er" matches: pull.
    assert may_pull(policy(allow("P", action="ECR:batch*", Condition=accounts(A))), A).verdict == Verdict.NO
    four = policy(allow("P", action=["ecr:batch*", "ecr:GetDownloadUrlFor????"], Condition=accounts(A)))
    assert may_pull(four, A).verdict == Verdict.NO
    five = policy(allow("P", action=["ecr:batch*", "ecr:getdownloadurlfor???er"], Condition=accounts(A)))
    assert may_pull(five, A).verdict == Verdict.YES
    # ecr:* (and *) grant pull, and to another account they grant push, delete and policy changes too.
    star = policy(allow("All", {"AWS": A}, "ecr:*"))
    assert may_pull(star, A).verdict == Verdict.YES
    (beyond,) = [f for f in findings(star, OWNER) if f.kind == Kind.BEYOND_PULL]
    assert "push" in beyond.detail and "delete" in beyond.detail and "policy changes" in beyond.detail
    # The same grant to the registry's own account is not cross-account.
    own = policy(allow("All", {"AWS": OWNER}, "*"))
    assert Kind.BEYOND_PULL not in {f.kind for f in findings(own, OWNER)}


def test_not_action_and_not_principal() -> None:
    # NotAction ecr:PutImage = every other action: pull included, and findings for both NotAction and
    # "beyond pull" (delete, policy changes ...). NotPrincipal with Allow = everyone but the listed: public.
    document = policy(
        {"Sid": "Most", "Effect": "Allow", "Principal": {"AWS": A}, "NotAction": "ecr:PutImage"}
    )
    assert may_pull(document, A).verdict == Verdict.YES
    kinds = {f.kind for f in findings(document, OWNER)}
    assert {Kind.NOT_ACTION, Kind.BEYOND_PULL} <= kinds
    everyone_but = policy({"Sid": "AllBut", "Effect": "Allow", "NotPrincipal": {"AWS": B}, "Action": PULL})
    assert may_pull(everyone_but, C).verdict == Verdict.YES
    # B is the listed one: how IAM treats an account in NotPrincipal is not evaluated, never guessed.
    assert may_pull(everyone_but, B).verdict == Verdict.UNRESOLVED
    assert {Kind.NOT_PRINCIPAL, Kind.PUBLIC} <= {f.kind for f in findings(everyone_but, OWNER)}


def test_unknown_condition_key_is_not_evaluated() -> None:
    # aws:PrincipalTag/team is not a key we evaluate: the answer depends on it, so it is unresolved.
    document = policy(
        allow(
            "Tagged",
            Condition={"StringEquals": {"aws:PrincipalTag/team": "x", **accounts(A)["StringEquals"]}},
        )
    )
    answer = may_pull(document, A)
    assert answer.verdict == Verdict.UNRESOLVED
    assert "condition key aws:PrincipalTag/team is not evaluated" in answer.reasons[0]
    # ...but the same statement is false for B whatever the tag: AND with a false clause is false.
    assert may_pull(document, B).verdict == Verdict.NO
    assert grants(document)[0].not_evaluated == ("condition key aws:PrincipalTag/team is not evaluated",)


@pytest.mark.parametrize(
    "operator",
    ["StringNotEquals", "StringEqualsIfExists", "StringEqualsIgnoreCase", "ForAnyValue:StringNotLike"],
)
def test_negated_ifexists_and_other_operators_are_not_evaluated(operator: str) -> None:
    document = policy(allow("P", Condition={operator: {"aws:PrincipalAccount": A}}))
    answer = may_pull(document, A)
    assert answer.verdict == Verdict.UNRESOLVED
    assert f"condition operator {operator} is not evaluated" in answer.reasons[0]


def test_bare_operator_on_the_multivalued_org_paths_key_is_not_evaluated() -> None:
    # IAM wants ForAnyValue:/ForAllValues: on aws:PrincipalOrgPaths; what a bare StringLike does with a
    # multivalued key is not stated, so it is not guessed, even when the path is known.
    document = policy(allow("Bare", Condition={"StringLike": {"aws:PrincipalOrgPaths": f"{ORG}/*"}}))
    answer = may_pull(document, A, ORG_VIEW)
    assert answer.verdict == Verdict.UNRESOLVED
    assert "multivalued key aws:PrincipalOrgPaths" in answer.reasons[0]


def test_for_all_values_on_a_missing_key_is_true() -> None:
    # ForAllValues over an empty set is true: C (outside the organization, so no aws:PrincipalOrgPaths)
    # matches "ForAllValues:StringLike aws:PrincipalOrgPaths ou-parent/*" - which is why it restricts
    # nothing, and why the finding calls it public. A (in the child OU) matches too; B does not.
    document = policy(
        allow(
            "AllValues",
            Condition={"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": f"{ORG}/*/{PARENT}/*"}},
        )
    )
    assert may_pull(document, C, ORG_VIEW).verdict == Verdict.YES
    assert may_pull(document, A, ORG_VIEW).verdict == Verdict.YES
    assert may_pull(document, B, ORG_VIEW).verdict == Verdict.NO
    assert Kind.PUBLIC in {f.kind for f in findings(document, OWNER, ORG_VIEW)}
    # ForAnyValue on the same missing key is false.
    any_value = policy(allow("AnyValue", Condition=org_paths(f"{ORG}/*/{PARENT}/*")))
    assert may_pull(any_value, C, ORG_VIEW).verdict == Verdict.NO


def test_case_rules() -> None:
    # Key names are case-insensitive; StringEquals/StringLike values are case-sensitive.
    context = RequestContext({"aws:principalorgid": ("o-a1b2c3d4e5",)}, {})
    assert evaluate({"StringEquals": {"AWS:PRINCIPALORGID": "o-a1b2c3d4e5"}}, context).value is True
    assert evaluate({"StringEquals": {"aws:PrincipalOrgID": "O-A1B2C3D4E5"}}, context).value is False
    assert evaluate({"StringLike": {"aws:principalOrgId": "o-A1*"}}, context).value is False
    assert evaluate({"StringLike": {"aws:principalOrgId": "o-a1?2*"}}, context).value is True
    # Over a whole policy: an OU path in upper case does not match A's real (lower-case) path.
    upper = policy(allow("P", Condition=org_paths(f"{ORG}/*/{PARENT.upper()}/*")))
    assert may_pull(upper, A, ORG_VIEW).verdict == Verdict.NO


def test_org_id_condition_and_reformatted_principals() -> None:
    # aws:PrincipalOrgID is the organization's id for members, absent for C. An account id and its root
    # ARN are the same principal (ECR rewrites one to the other).
    document = policy(allow("Org", Condition={"StringEquals": {"aws:PrincipalOrgID": ORG}}))
    assert may_pull(document, B, ORG_VIEW).verdict == Verdict.YES
    assert may_pull(document, C, ORG_VIEW).verdict == Verdict.NO
    assert may_pull(document, B).reasons == (f"Org: {ORG_NOT_CONFIGURED}",)
    rewritten = policy(allow("Root", {"AWS": [f"arn:aws:iam::{A}:root", "AROAEXAMPLEDELETEDROLE"]}))
    assert may_pull(rewritten, A).verdict == Verdict.YES
    assert grants(rewritten)[0].principals == (f"account {A}", "deleted principal AROAEXAMPLEDELETEDROLE")


def test_member_without_known_path_is_unresolved_and_outside_accounts_are_found() -> None:
    # The org knows its members but not OWNER-less D's path: an org-path grant is unresolved for D.
    d = "222233334444"
    view = OrgView(org_id=ORG, members=frozenset({OWNER, A, d}), paths={A: ORG_VIEW.paths[A]})
    document = policy(
        allow("AllowPullOrganizationPaths", Condition=org_paths(f"{ORG}/*/{PARENT}/*")),
        allow("AllowPullAccounts", Condition=accounts(OWNER, A, C)),
    )
    assert may_pull(document, d, view).reasons == (
        f"AllowPullOrganizationPaths: the organization path of account {d} is not known",
    )
    outside = [f for f in findings(document, OWNER, view) if f.kind == Kind.OUTSIDE_ORGANIZATION]
    assert [(f.statement, C in f.detail) for f in outside] == [("AllowPullAccounts", True)]
    # Without the organization that finding is not made (the audit says it was not checked).
    assert Kind.OUTSIDE_ORGANIZATION not in {f.kind for f in findings(document, OWNER)}


def test_no_policy() -> None:
    assert may_pull(None, A).verdict == Verdict.NO
    assert [f.kind for f in findings(None, OWNER)] == [Kind.NO_POLICY]


@pytest.mark.parametrize("principal", [{"AWS": "arn:aws:iam::*:root"}, {"AWS": " *"}, ["*"], {"AWS": "**"}])
def test_a_principal_with_a_wildcard_in_it_is_read_as_everyone_like_the_guard_does(principal: Any) -> None:
    document = policy(allow("Open", principal))
    assert Kind.PUBLIC in {f.kind for f in findings(document, OWNER)}
    assert may_pull(document, C).verdict == Verdict.YES


def test_a_deny_that_removes_pull_leaves_the_rest_of_a_public_statement_in_the_findings() -> None:
    # Allow * ecr:* with Deny * BatchGetImage: nobody may pull, but anyone may still push, delete, ...
    document = policy(allow("Open", action="ecr:*"), deny("NoPull", action="ecr:BatchGetImage"))
    (grant,) = grants(document)
    assert grant.status == "revoked"
    by_kind = {f.kind: f for f in findings(document, OWNER)}
    assert by_kind[Kind.PUBLIC].statement == "Open"
    assert by_kind[Kind.PUBLIC].detail.startswith("anyone may push; delete; policy changes; settings")
    assert "pull is denied by NoPull" in by_kind[Kind.PUBLIC].detail
    assert Kind.BEYOND_PULL in by_kind
    # Another account's ecr:* with its pull denied: still push and more for that account.
    ci = {"AWS": f"arn:aws:iam::{A}:root"}
    document = policy(allow("CiAll", ci, "ecr:*"), deny("NoPull", {"AWS": A}, "ecr:GetDownloadUrlForLayer"))
    assert [f.kind for f in findings(document, OWNER)] == [Kind.BEYOND_PULL]


def test_what_the_revoking_deny_also_denies_is_not_reported() -> None:
    # Deny * ecr:* takes everything away: nothing public, nothing beyond pull.
    document = policy(allow("Open", action="ecr:*"), deny("Closed", action="ecr:*"))
    assert findings(document, OWNER) == []
    # Deny * pull and push: what is left is delete, policy changes and settings.
    push = ["ecr:PutImage", "ecr:*Layer*", "ecr:ReplicateImage", "ecr:BatchImportUpstreamImage"]
    document = policy(allow("Open", action="ecr:*"), deny("NoPullPush", action=["ecr:BatchGetImage", *push]))
    (public,) = [f for f in findings(document, OWNER) if f.kind == Kind.PUBLIC]
    assert public.detail.startswith("anyone may delete; policy changes; settings (")
