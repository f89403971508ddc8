"""desired x live -> Plan: actions, ownership, readable differences, guard, JSON round trip."""

from __future__ import annotations

import json

import pytest

from reconciler.desired.model import DesiredState, NullplatformTarget, Override, PullAccess, Registry
from reconciler.live.state import LivePolicy, LiveProvider, LiveRegistry
from reconciler.plan.build import build_plan, build_registry_plan
from reconciler.plan.model import Action, Plan
from reconciler.plan.planfile import plan_from_json, plan_json
from reconciler.policy.render import policy_text, render_policy
from reconciler.report.markdown import GITHUB_COMMENT_LIMIT, render_markdown
from reconciler.report.text import render_text

REGISTRY = Registry(
    name="main",
    account_id="123456789012",
    region="us-east-1",
    pull_access=PullAccess(accounts=("111122223333", "444455556666")),
    nullplatform=NullplatformTarget(nrn="organization=1:account=2"),
    exclude=("sandbox/*",),
    overrides=(Override(("payments/*",), PullAccess(accounts=("777788889999",))),),
)
DESIRED_TEXT = policy_text(render_policy(REGISTRY.account_id, REGISTRY.pull_access))
LAMBDA = {
    "Sid": "LambdaECRImageRetrievalPolicy",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}


def aws_style(text: str) -> str:
    """Roughly what GetRepositoryPolicy hands back: re-serialized, lists of one collapsed."""
    document = json.loads(text)
    for statement in document["Statement"]:
        for clauses in statement.get("Condition", {}).values():
            for key, value in clauses.items():
                if isinstance(value, list) and len(value) == 1:
                    clauses[key] = value[0]
    return json.dumps(document, indent=2, sort_keys=True, separators=(",", " : "))


def plan_for(*policies: LivePolicy, provider: LiveProvider | None = None):
    return build_registry_plan(REGISTRY, LiveRegistry("main", tuple(policies), provider))


def test_in_sync_after_aws_reformatting_is_a_no_op() -> None:
    plan = plan_for(LivePolicy("team/app", aws_style(DESIRED_TEXT)))
    assert plan.changes == ()
    assert plan.unchanged == ("team/app",)


def test_no_policy_is_created_with_the_rendered_text() -> None:
    plan = plan_for(LivePolicy("team/app", None))
    (change,) = plan.changes
    assert change.action == Action.CREATE
    assert change.after == DESIRED_TEXT
    assert change.difference.accounts_added == ("111122223333", "123456789012", "444455556666")


def test_drift_is_an_update_with_a_readable_difference_and_foreign_statements_kept() -> None:
    old = render_policy(REGISTRY.account_id, PullAccess(accounts=("111122223333", "999999999999")))
    old["Statement"].insert(0, LAMBDA)
    plan = plan_for(LivePolicy("team/app", aws_style(json.dumps(old))))
    (change,) = plan.changes
    assert change.action == Action.UPDATE
    assert change.difference.accounts_added == ("444455556666",)
    assert change.difference.accounts_removed == ("999999999999",)
    assert "Lambda" not in change.difference.summary()
    written = json.loads(change.after)
    assert written["Statement"][0] == json.loads(aws_style(json.dumps(old)))["Statement"][0]


def test_override_applies_to_matching_repositories() -> None:
    plan = plan_for(LivePolicy("payments/api", DESIRED_TEXT))
    (change,) = plan.changes
    assert change.difference.accounts_removed == ("111122223333", "444455556666")
    assert json.loads(change.after)["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalAccount"] == [
        "123456789012",
        "777788889999",
    ]


def test_excluded_repositories_are_never_planned() -> None:
    plan = plan_for(LivePolicy("sandbox/x", None))
    assert plan.changes == () and plan.unchanged == ()


def test_read_errors_and_invalid_json_are_errors_not_writes() -> None:
    plan = plan_for(
        LivePolicy("a", None, error="AccessDeniedException: no"),
        LivePolicy("b", "{not json"),
    )
    assert [(c.repository, c.action) for c in plan.changes] == [("a", Action.ERROR), ("b", Action.ERROR)]
    assert all(c.after is None for c in plan.changes)


CI_PUSH = {
    "Sid": "CiPush",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::222233334444:role/ci"},
    "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"],
}
REPLICATION = {
    "Sid": "Replication",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::555566667777:root"},
    "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
}


def test_foreign_grants_beyond_pull_are_kept_and_noted_not_errors() -> None:
    ci_and_replication = json.dumps({"Version": "2012-10-17", "Statement": [CI_PUSH, REPLICATION]})
    plan = plan_for(LivePolicy("team/app", ci_and_replication), LivePolicy("team/web", ci_and_replication))
    assert [c.action for c in plan.changes] == [Action.UPDATE, Action.UPDATE]
    for change in plan.changes:
        assert change.notes == (
            "push to arn:aws:iam::222233334444:role/ci",
            "replication to account 555566667777",
        )
        assert json.loads(change.after or "")["Statement"][:2] == [CI_PUSH, REPLICATION]
    text = render_text(plan_as_plan(plan))
    assert "note: also grants push to arn:aws:iam::222233334444:role/ci (not ours, kept)" in text
    markdown = render_markdown(plan_as_plan(plan))
    assert "2 repositories also grant push to arn:aws:iam::222233334444:role/ci (not ours, kept)" in markdown
    assert plan_from_json(plan_json(plan_as_plan(plan))).registries[0].changes == plan.changes


def test_a_foreign_grant_reads_the_same_whatever_its_spelling() -> None:
    respelled = {
        **CI_PUSH,
        "Sid": "Other",
        "Principal": {"AWS": ["arn:aws:iam::222233334444:role/ci"]},
        "Action": ["ECR:completeLayerUpload", "ecr:PutImage", "ecr:BatchGetImage"],
    }
    first = plan_for(LivePolicy("a", json.dumps({"Statement": [CI_PUSH]})))
    second = plan_for(LivePolicy("b", json.dumps({"Statement": [respelled]})))
    # Both name the grant, and the same way (a notes function that finds nothing would pass the equality).
    assert first.changes[0].notes == ("push to arn:aws:iam::222233334444:role/ci",)
    assert second.changes[0].notes == first.changes[0].notes


def test_a_public_foreign_statement_blocks_the_write_and_names_the_statement() -> None:
    public = {**LAMBDA, "Sid": "Everyone", "Principal": "*"}
    plan = plan_for(
        LivePolicy("team/app", json.dumps({"Version": "2012-10-17", "Statement": [CI_PUSH, public]}))
    )
    (change,) = plan.changes
    assert change.action == Action.ERROR and change.after is None
    assert "statement Everyone" in (change.error or "") and "public" in (change.error or "")
    assert "CiPush" not in (change.error or "")


def plan_as_plan(registry_plan):  # type: ignore[no-untyped-def]
    return Plan(created_at="", desired_fingerprint="", registries=(registry_plan,))


def test_provider_config_is_planned_with_ownership() -> None:
    old = render_policy(REGISTRY.account_id, PullAccess(accounts=("111122223333",)))
    plan = plan_for(provider=LiveProvider("organization=1:account=2", "p1", json.dumps(old)))
    assert plan.provider is not None
    assert plan.provider.action == Action.UPDATE
    assert plan.provider.difference.accounts_added == ("444455556666",)
    in_sync = plan_for(provider=LiveProvider("organization=1:account=2", "p1", aws_style(DESIRED_TEXT)))
    assert in_sync.provider is not None and in_sync.provider.action == Action.NOOP


def test_a_provider_whose_write_apply_would_refuse_is_an_error_in_the_plan_only_when_it_needs_one() -> None:
    blocked = "nullplatform provider p1: not written: setup.naming_rule read(s) as null (...)"
    old = json.dumps(render_policy(REGISTRY.account_id, PullAccess(accounts=("111122223333",))))
    for before in (old, None):  # an update, a create
        plan = plan_for(provider=LiveProvider("organization=1:account=2", "p1", before, blocked=blocked))
        assert plan.provider is not None
        assert plan.provider.action == Action.ERROR and plan.provider.error == blocked
        assert plan.provider.after is None and plan.provider.before == before
        assert plan.provider.difference.accounts_added  # what it would have changed is still shown
        assert blocked in render_text(plan_as_plan(plan))
    in_sync = plan_for(
        provider=LiveProvider("organization=1:account=2", "p1", aws_style(DESIRED_TEXT), blocked=blocked)
    )
    assert in_sync.provider is not None and in_sync.provider.action == Action.NOOP  # nothing to write


def test_adopting_an_older_sid_replaces_it() -> None:
    registry = Registry(**{**REGISTRY.__dict__, "managed_sids": ("AllowPull*", "CrossAccountPull")})
    old = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CrossAccountPull",
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::111122223333:root"]},
                "Action": ["ecr:BatchGetImage"],
            }
        ],
    }
    plan = build_registry_plan(registry, LiveRegistry("main", (LivePolicy("team/app", json.dumps(old)),)))
    (change,) = plan.changes
    assert "remove statement CrossAccountPull" in change.difference.other
    assert [s["Sid"] for s in json.loads(change.after)["Statement"]] == ["AllowPull"]


def test_plan_json_round_trips_and_versions() -> None:
    desired = DesiredState((REGISTRY,))
    plan = build_plan(
        desired,
        [LiveRegistry("main", (LivePolicy("a", None), LivePolicy("b", DESIRED_TEXT)), None)],
    )
    again = plan_from_json(plan_json(plan))
    assert again == plan
    assert plan.summary_line() == "Plan: 1 to create, 0 to update, 0 to delete; provider config: not managed"
    with pytest.raises(Exception, match="version 99"):
        plan_from_json(plan_json(plan).replace('"version": 4', '"version": 99'))


def test_markdown_stays_under_the_comment_limit_for_10000_changed_repositories() -> None:
    policies = tuple(LivePolicy(f"team-{i}/app", None) for i in range(5000)) + tuple(
        LivePolicy(f"odd-{i}/app", "{bad json") for i in range(5000)
    )
    plan = build_plan(DesiredState((REGISTRY,)), [LiveRegistry("main", policies, None)])
    body = render_markdown(plan, marker="<!-- m -->")
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert "5000 repositories" in body  # identical changes grouped
    assert body.count("<details>") == body.count("</details>")
    assert "Plan: 5000 to create" in render_text(plan)


def test_markdown_truncates_distinct_changes_with_a_note() -> None:
    policies = tuple(
        LivePolicy(
            f"team-{i}/app",
            policy_text(render_policy(REGISTRY.account_id, PullAccess(accounts=(f"{100000000000 + i}",)))),
        )
        for i in range(10_000)
    )
    plan = build_plan(DesiredState((REGISTRY,)), [LiveRegistry("main", policies, None)])
    body = render_markdown(plan)
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert "too long for one comment" in body
    assert body.count("<details>") == body.count("</details>")


def test_a_repository_deleted_before_its_read_is_gone_not_an_error() -> None:
    gone = LivePolicy(
        "team/gone",
        None,
        "GetRepositoryPolicy failed: RepositoryNotFoundException",
        "RepositoryNotFoundException",
    )
    denied = LivePolicy(
        "team/denied", None, "GetRepositoryPolicy failed: AccessDenied", "AccessDeniedException"
    )
    plan = plan_for(gone, denied, LivePolicy("team/app", None))
    assert plan.gone == ("team/gone",)
    assert [(c.repository, c.action) for c in plan.changes] == [
        ("team/app", Action.CREATE),
        ("team/denied", Action.ERROR),
    ]
    whole = plan_as_plan(plan)
    assert whole.summary_line().endswith("; 1 gone; 1 errors")
    assert "1 repositories deleted while planning, nothing to do: team/gone" in render_text(whole)
    assert "1 repositories deleted while planning, nothing to do: `team/gone`" in render_markdown(whole)
    assert plan_from_json(plan_json(whole)).registries[0].gone == ("team/gone",)


def test_a_plan_file_written_before_notes_and_gone_still_reads() -> None:
    data = json.loads(plan_json(plan_as_plan(plan_for(LivePolicy("team/app", None)))))
    for registry in data["registries"]:
        del registry["gone"]
        for change in registry["changes"]:
            del change["notes"]
    (registry,) = plan_from_json(json.dumps(data)).registries
    assert registry.gone == () and registry.changes[0].notes == ()
