"""The drift verdict (who may self-heal), what a self-heal did, and the issue body's size and contents."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.plan.drift import Verdict, assess, healing
from reconciler.plan.model import (
    Action,
    Difference,
    Plan,
    ProviderChange,
    RegistryPlan,
    RepositoryChange,
    TemplateChange,
)
from reconciler.report.drift_issue import (
    MARKER,
    Seen,
    SelfHeal,
    first_seen,
    render_issue_body,
)
from reconciler.report.markdown import GITHUB_COMMENT_LIMIT


def change(name: str, action: Action = Action.UPDATE, **difference: tuple[str, ...]) -> RepositoryChange:
    return RepositoryChange(
        repository=name,
        action=action,
        before="{}",
        after="{}",
        live_fingerprint="sha256:x",
        difference=Difference(**difference),
        error="AccessDenied" if action == Action.ERROR else None,
    )


def registry(
    *changes: RepositoryChange, provider: Action | None = None, error: str | None = None
) -> RegistryPlan:
    return RegistryPlan(
        registry="main",
        account_id="123456789012",
        region="us-east-1",
        desired_fingerprint="sha256:d",
        provider=None if provider is None else ProviderChange("organization=1", "p1", provider, "{}", "{}"),
        changes=changes,
        unchanged=("in/line",),
        error=error,
    )


def plan(*registries: RegistryPlan) -> Plan:
    return Plan("2026-12-01T00:00:00+00:00", "sha256:d", registries)


def test_only_repositories_out_of_line_is_healable() -> None:
    assert assess(plan(registry())).verdict == Verdict.CLEAN
    assert assess(plan(registry(provider=Action.NOOP))).verdict == Verdict.CLEAN
    drifted = plan(registry(change("a/app"), change("b/app", Action.CREATE), provider=Action.NOOP))
    assert assess(drifted) == assess(drifted, ())
    assert assess(drifted).verdict == Verdict.HEALABLE and assess(drifted).reasons == ()


def test_errors_provider_drift_and_run_failures_need_a_person() -> None:
    cases = {
        "provider": (plan(registry(change("a/app"), provider=Action.UPDATE)), (), "provider config"),
        "repository error": (plan(registry(change("a/app"), change("b/app", Action.ERROR))), (), "could not"),
        "registry error": (plan(registry(error="AccessDenied listing")), (), "could not"),
        "provider error": (plan(registry(change("a/app"), provider=Action.ERROR)), (), "could not"),
        "creation template": (
            plan(
                replace(
                    registry(change("a/app")),
                    templates=(
                        TemplateChange(
                            "team",
                            Action.UPDATE,
                            "{}",
                            "{}",
                            ("PULL_THROUGH_CACHE",),
                            ("CREATE_ON_PUSH",),
                            "x",
                        ),
                    ),
                )
            ),
            (),
            "creation template",
        ),
        "principal check": (plan(registry(change("a/app"))), ("ou-x is not in o-y",), "ou-x"),
        "validation, no plan": (plan(), ("policies/ did not pass validation",), "validation"),
    }
    for name, (drift_plan, errors, reason) in cases.items():
        assessment = assess(drift_plan, errors)
        assert assessment.verdict == Verdict.DRIFT, name
        assert any(reason in r for r in assessment.reasons), (name, assessment.reasons)


def test_healing_matches_planned_changes_with_the_apply_outcome() -> None:
    drifted = plan(registry(change("a/app"), change("b/app"), change("c/app"), change("d/app", Action.ERROR)))
    done = healing(
        drifted,
        {("main", "a/app"): ("applied", None), ("main", "b/app"): ("stale", "changed since the plan")},
    )
    assert done.applied == ("main/a/app",)
    assert done.not_applied == (
        ("main/b/app", "stale: changed since the plan"),
        ("main/c/app", "not written"),
    )
    assert not done.complete
    assert healing(
        drifted,
        {(r, n): ("applied", None) for r, n in [("main", "a/app"), ("main", "b/app"), ("main", "c/app")]},
    ).complete
    assert not healing(plan(registry()), {}).complete  # nothing healed is not "healed"
    # Already in line (another run wrote the same since the drift plan): healed, nothing sent.
    in_line = healing(drifted, {(r, n): ("in-line", None) for r, n in [("main", "a/app"), ("main", "b/app")]})
    assert in_line.applied == ("main/a/app", "main/b/app")


def test_losses_lead_the_plan_as_in_the_pull_request_comment() -> None:
    """The body reuses the PR comment's rendering: losses in a warning, then gains, then the plan."""
    drifted = plan(
        registry(
            change("a/app", accounts_added=("111122223333",), accounts_removed=("999900001111",)),
            change("b/app", Action.CREATE, accounts_added=("111122223333",)),
        )
    )
    body = render_issue_body(
        drifted, assess(drifted), last_seen=Seen("2026-12-01T06:17:00Z"), first=None, heal=SelfHeal(False)
    )
    warning = body.index("> [!WARNING]")
    assert "account `999900001111` loses pull on 1 repository" in body[warning:]
    assert warning < body.index("account `111122223333` gains pull on 2 repositories")
    assert body.index("| Registry |") < body.index("### How to fix it") < body.index("### Self-heal")
    assert first_seen(body) is None


@pytest.mark.slow
def test_the_body_stays_within_githubs_limit_for_a_huge_plan() -> None:
    """100,000 repositories, each with its own difference (nothing groups): still one valid body, the
    summary and the first-seen data intact, the plan cut with a pointer to the full one."""
    huge = plan(
        registry(*(change(f"team-{i:06d}/app", accounts_removed=(f"{i:012d}",)) for i in range(100_000)))
    )
    first = Seen("2026-11-01T06:17:00Z", "https://github.com/acme/ecr-policies/actions/runs/1")
    body = render_issue_body(
        huge,
        assess(huge),
        last_seen=Seen("2026-12-01T06:17:00Z", "https://github.com/acme/ecr-policies/actions/runs/2"),
        first=first,
        heal=SelfHeal(enabled=True),
        run_errors=["x" * 10_000] * 50,
    )
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert body.startswith(MARKER) and first_seen(body) == first
    assert "100000 to update" in body and "section(s) were cut" in body
    assert "… and 30 more errors" in body and "### How to fix it" in body and "### Self-heal" in body
    assert body.count("<details>") == body.count("</details>")


def test_first_seen_survives_a_body_edited_without_the_run_link() -> None:
    assert first_seen(
        f"{MARKER}\n<!-- ecr-policy-reconciler:drift-first-seen 2026-11-01T06:17:00Z -->"
    ) == Seen("2026-11-01T06:17:00Z")
    assert first_seen("no data here") is None
