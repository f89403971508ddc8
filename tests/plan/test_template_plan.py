"""Creation templates in the plan: compared by meaning, foreign statements kept, appliedFor brought in line,
the guard, the saved-plan re-derivation, the JSON form and the reports."""

from __future__ import annotations

import json
from dataclasses import replace

from reconciler.desired.model import CreationTemplate, PullAccess, Registry
from reconciler.live.state import LiveRegistry, LiveTemplate
from reconciler.plan.build import build_registry_plan, template_change
from reconciler.plan.model import Action, Plan
from reconciler.plan.planfile import plan_from_json, plan_json
from reconciler.plan.saved import PLAN_MISMATCH, saved_template_problem
from reconciler.policy.render import policy_text, render_policy
from reconciler.report.markdown import render_markdown
from reconciler.report.text import render_text
from reconciler.sandbox.ecr.readback import ecr_policy_text

ROOT = CreationTemplate("ROOT", ("REPLICATION", "CREATE_ON_PUSH"))
PAYMENTS = CreationTemplate("payments", ("CREATE_ON_PUSH",), PullAccess(accounts=("777788889999",)))
REGISTRY = Registry(
    name="main",
    account_id="123456789012",
    region="us-east-1",
    pull_access=PullAccess(accounts=("111122223333",)),
    creation_templates=(ROOT, PAYMENTS),
)
DEFAULT = policy_text(render_policy("123456789012", REGISTRY.pull_access))
LAMBDA = {
    "Sid": "LambdaECRImageRetrievalPolicy",
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage"],
}


def with_statement(text: str, statement: dict[str, object]) -> str:
    document = json.loads(text)
    document["Statement"].insert(0, statement)
    return json.dumps(document)


def test_a_missing_template_is_created_with_exactly_the_rendered_text() -> None:
    change = template_change(REGISTRY, PAYMENTS, LiveTemplate("payments", exists=False))
    assert change.action == Action.CREATE
    assert change.after == policy_text(render_policy("123456789012", PAYMENTS.pull_access))
    assert (change.applied_for_before, change.applied_for_after) == (None, ("CREATE_ON_PUSH",))
    assert change.difference.accounts_added == ("123456789012", "777788889999")


def test_a_template_in_line_after_aws_reformatting_is_a_no_op() -> None:
    live = LiveTemplate("ROOT", True, ecr_policy_text(DEFAULT), ("CREATE_ON_PUSH", "REPLICATION"))
    assert template_change(REGISTRY, ROOT, live).action == Action.NOOP


def test_only_applied_for_changing_is_an_update_that_sends_the_policy_back_compact() -> None:
    read = ecr_policy_text(DEFAULT)
    change = template_change(REGISTRY, ROOT, LiveTemplate("ROOT", True, read, ("REPLICATION",)))
    assert change.action == Action.UPDATE
    # The policy as read (same keys, same order), written as every policy we write: compact.
    assert change.after == json.dumps(json.loads(read), separators=(",", ":"))
    assert change.applied_for_lines() == ["applied for: add CREATE_ON_PUSH"]
    assert change.difference.lines() == []


def test_foreign_statements_are_kept_and_a_public_one_refuses_the_template() -> None:
    old = policy_text(render_policy("123456789012", PullAccess(accounts=("999999999999",))))
    live = LiveTemplate("ROOT", True, with_statement(old, LAMBDA), ROOT.applied_for)
    change = template_change(REGISTRY, ROOT, live)
    assert change.action == Action.UPDATE and change.after is not None
    statements = json.loads(change.after)["Statement"]
    assert statements[0] == LAMBDA
    assert change.difference.accounts_removed == ("999999999999",)

    public = {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
    refused = template_change(REGISTRY, ROOT, replace(live, policy=with_statement(old, public)))
    assert refused.action == Action.ERROR and "statement Open" in (refused.error or "")


def test_an_empty_policy_is_no_policy_and_an_unreadable_listing_is_an_error() -> None:
    change = template_change(REGISTRY, ROOT, LiveTemplate("ROOT", True, "", ROOT.applied_for))
    assert change.action == Action.UPDATE and change.before is None and change.after is not None
    failed = template_change(REGISTRY, ROOT, LiveTemplate("ROOT", False, error="AccessDenied"))
    assert failed.action == Action.ERROR and failed.error == "AccessDenied"


def test_a_saved_change_must_be_what_policies_renders() -> None:
    live = LiveTemplate("ROOT", True, DEFAULT.replace("111122223333", "999999999999"), ("REPLICATION",))
    change = template_change(REGISTRY, ROOT, live)
    assert saved_template_problem(REGISTRY, change) is None
    edited = replace(change, after=(change.after or "").replace("111122223333", "666666666666"))
    assert (saved_template_problem(REGISTRY, edited) or "").startswith(PLAN_MISMATCH)
    widened = replace(change, applied_for_after=("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"))
    assert (saved_template_problem(REGISTRY, widened) or "").startswith(PLAN_MISMATCH)
    undeclared = replace(change, prefix="other")
    assert "declares no creation template other" in (saved_template_problem(REGISTRY, undeclared) or "")
    created = template_change(REGISTRY, ROOT, LiveTemplate("ROOT", exists=False))
    # A create planned as an update of a template that did not exist: refused too.
    assert saved_template_problem(REGISTRY, replace(created, action=Action.UPDATE)) is not None


def test_plan_json_round_trip_counts_and_reports() -> None:
    live = LiveRegistry(
        "main",
        templates=(
            LiveTemplate("ROOT", True, DEFAULT, ("REPLICATION",)),
            LiveTemplate("payments", exists=False),
        ),
    )
    registry_plan = build_registry_plan(REGISTRY, live)
    plan = Plan("2026-12-01T00:00:00+00:00", "sha256:x", (registry_plan,))
    assert [t.action for t in registry_plan.templates] == [Action.UPDATE, Action.CREATE]
    assert plan.has_changes and plan.template_changes == 2
    assert plan.summary_line().endswith("creation templates: 1 to create, 1 to update")
    assert plan_from_json(plan_json(plan)) == plan

    text = render_text(plan)
    assert "~ creation template ROOT: update\n      applied for: add CREATE_ON_PUSH" in text
    assert "+ creation template payments: create\n      applied for CREATE_ON_PUSH" in text
    markdown = render_markdown(plan)
    assert "**update** creation template `ROOT`: applied for: add CREATE_ON_PUSH" in markdown


def test_a_plan_file_without_templates_still_reads() -> None:
    plan = Plan(
        "t",
        "sha256:x",
        (build_registry_plan(replace(REGISTRY, creation_templates=()), LiveRegistry("main")),),
    )
    data = json.loads(plan_json(plan))
    del data["registries"][0]["templates"]
    assert plan_from_json(json.dumps(data)) == plan
    assert "creation templates" not in plan.summary_line()
