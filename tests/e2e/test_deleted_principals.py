"""Deleted IAM principals in foreign statements, on the sandbox: a role or user named in a foreign statement
is deleted, ECR reads it back as its unique id (AROA.../AIDA...) and refuses to store it again.

Without `remove_deleted_principals` such a repository is an error in the plan (no write tried) while the
others converge; with it the ids go from Principal (only them), NotPrincipal stays an error, a second plan
is clean, and restore reports the target it cannot put back. Also: the audit finding, and a registry
granting 450 accounts fitting ECR's 10,240 characters now that policies are written compact.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sample_registry import DESIRED, LAMBDA, OLD, POLICIES_YAML, run_cli, stored, with_statements

from reconciler.apply.journal import final_records, read_journal
from reconciler.plan.access_changes import compute_delta
from reconciler.plan.model import Action, Plan
from reconciler.plan.planfile import plan_from_json
from reconciler.policy.guard import MAX_POLICY_CHARS

from .conftest import World
from .support import write_policies

FAST = ("--no-progress", "--max-rps", "500")
OPT_IN = POLICIES_YAML + "remove_deleted_principals: true\n"
GONE_ROLE = "arn:aws:iam::222233334444:role/old-ci"
GONE_USER = "arn:aws:iam::222233334444:user/alice"
LIVE_ROLE = "arn:aws:iam::222233334444:role/ci"
PULLERS: dict[str, Any] = {
    "Sid": "CiPull",
    "Effect": "Allow",
    "Principal": {"AWS": [GONE_ROLE, LIVE_ROLE]},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ci"}},
}
DENY_USER: dict[str, Any] = {
    "Sid": "NoAlice",
    "Effect": "Deny",
    "Principal": {"AWS": GONE_USER},
    "Action": "ecr:*",
}
NOT_PRINCIPAL: dict[str, Any] = {
    "Sid": "OnlyCi",
    "Effect": "Deny",
    "NotPrincipal": {"AWS": [GONE_ROLE, LIVE_ROLE]},
    "Action": "ecr:PutImage",
}
SEEDED = {
    "ci/in-sync": with_statements(DESIRED, PULLERS, DENY_USER, LAMBDA),
    "ci/old": with_statements(OLD, PULLERS),
    "ci/not-principal": with_statements(DESIRED, NOT_PRINCIPAL),
}


@pytest.fixture
def site(world: World) -> dict[str, str]:
    for name, text in SEEDED.items():
        world.ecr.create_repository(name, policy_text=text)
    # Deleted after the policies were set, as in life: from now on they read back as unique ids.
    return {arn: world.ecr.delete_principal(arn) for arn in (GONE_ROLE, GONE_USER)}


def _plan(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Plan, str]:
    out = world.tmp / "plan.json"
    code, text, err = run_cli(
        capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST, *extra
    )
    return code, plan_from_json(out.read_text(encoding="utf-8")), text + err


def _apply(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_cli(
        capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST, *extra
    )


def test_refusable_repositories_are_named_at_plan_time_and_not_written_while_the_others_converge(
    world: World, site: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    role_id, user_id = site[GONE_ROLE], site[GONE_USER]
    code, plan, _ = _plan(world, capsys)
    assert code == 1
    changes = {c.repository: c for c in plan.registries[0].changes}
    errors = {name for name, c in changes.items() if c.action == Action.ERROR}
    assert errors == set(SEEDED)
    in_sync = changes["ci/in-sync"].error or ""
    assert f"statement CiPull names {role_id} in Principal" in in_sync
    assert f"statement NoAlice names {user_id} in Principal" in in_sync
    assert "remove it from the statement by hand" in in_sync
    assert "`remove_deleted_principals: true`" in in_sync
    assert all(changes[n].after is None for n in SEEDED)

    world.ecr.reset_stats()
    code, out, err = _apply(world, capsys)
    assert code == 1, out + err
    for name in SEEDED:
        assert name in err
    records = {r.name: r for r in final_records(read_journal(world.report))}
    for name in SEEDED:  # journaled as the errors they are; no write was even tried
        assert records[name].result == "failed" and not records[name].sent
    assert world.ecr.stats()["errors"].get("SetRepositoryPolicy", 0) == 0
    others = [r.result for name, r in records.items() if name not in SEEDED]
    assert others and all(result == "applied" for result in others)
    for name, text in SEEDED.items():
        assert world.ecr.stored_policy(name) == text

    code, again, _ = _plan(world, capsys)
    assert code == 1
    assert {c.repository for c in again.registries[0].changes} == set(SEEDED)  # the rest converged


def test_the_opt_in_removes_only_the_ids_and_a_second_plan_is_clean(
    world: World, site: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    role_id, user_id = site[GONE_ROLE], site[GONE_USER]
    write_policies(world.tmp, OPT_IN)
    code, plan, _ = _plan(world, capsys)
    assert code == 1  # NotPrincipal: removing the id would widen the statement
    changes = {c.repository: c for c in plan.registries[0].changes}
    not_principal = changes["ci/not-principal"]
    assert not_principal.action == Action.ERROR
    assert f"statement OnlyCi names {role_id} in NotPrincipal" in (not_principal.error or "")
    assert "remove_deleted_principals" not in (not_principal.error or "")

    in_sync = changes["ci/in-sync"]
    assert in_sync.action == Action.UPDATE
    assert in_sync.difference.lines() == [
        f"remove deleted principal {role_id} from foreign statement CiPull",
        f"remove deleted principal {user_id} from foreign statement NoAlice",
        "remove foreign statement NoAlice (it named only deleted principals)",
    ]
    # A deleted principal has no access to lose: the removal alone changes nobody's access.
    alone = replace(plan.registries[0], changes=(in_sync,), provider=None, templates=(), access=None)
    assert compute_delta(alone).changes == ()
    assert "remove deleted principal" in changes["ci/old"].difference.summary()

    code, out, err = _apply(world, capsys)
    assert code == 1 and "ci/not-principal" in err, out + err
    kept_pullers = {**PULLERS, "Principal": {"AWS": [LIVE_ROLE]}}
    assert stored(world.ecr, "ci/in-sync")["Statement"] == [
        kept_pullers,
        LAMBDA,
        *json.loads(DESIRED)["Statement"],
    ]
    assert stored(world.ecr, "ci/old")["Statement"] == [kept_pullers, *json.loads(DESIRED)["Statement"]]
    assert world.ecr.stored_policy("ci/not-principal") == SEEDED["ci/not-principal"]

    code, again, _ = _plan(world, capsys)
    assert [(c.repository, c.action) for c in again.registries[0].changes] == [
        ("ci/not-principal", Action.ERROR)
    ]

    # Putting back a policy that names a unique id cannot succeed: said, not tried; the others are restored.
    world.ecr.reset_stats()
    code, out, _ = run_cli(
        capsys, "restore", "--report", str(world.report), "--out", str(world.tmp / "r.jsonl"), *FAST
    )
    assert code == 1
    for name in ("ci/in-sync", "ci/old"):
        line = next(x for x in out.splitlines() if x.startswith(f"main/{name} (repository): not restorable"))
        assert role_id in line
        assert stored(world.ecr, name)["Statement"][0] == kept_pullers
    assert world.ecr.stats()["errors"].get("SetRepositoryPolicy", 0) == 0
    restored = {r.name: r.result for r in final_records(read_journal(world.tmp / "r.jsonl"))}
    assert restored and all(result == "applied" for result in restored.values())
    assert not {"ci/in-sync", "ci/old"} & set(restored)


def test_the_audit_reports_deleted_principals(
    world: World, site: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "access", "--policies", str(world.policies), "--fail-on", "deleted-principal", *FAST
    )
    assert code == 2, out + err
    lines = [x for x in out.splitlines() if "deleted-principal" in x]
    assert any("ci/in-sync" in x and "CiPull" in x and site[GONE_ROLE] in x for x in lines), out
    assert any("ci/in-sync" in x and "NoAlice" in x and site[GONE_USER] in x for x in lines), out
    assert any("ci/not-principal" in x and "OnlyCi" in x for x in lines), out


def test_an_old_saved_plan_is_refused_with_plan_again(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    out = world.tmp / "plan.json"
    code, _, _ = run_cli(capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST)
    data = json.loads(out.read_text(encoding="utf-8"))
    changes = data["registries"][0]["changes"]
    provider = data["registries"][0]["provider"]
    for change in [*changes, provider]:  # as the earlier version wrote them: indented
        if change["after"] is not None:
            change["after"] = json.dumps(json.loads(change["after"]), indent=2)
    out.write_text(json.dumps(data), encoding="utf-8")
    code, stdout, err = run_cli(
        capsys,
        "apply",
        "--plan",
        str(out),
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        *FAST,
    )
    assert code == 1
    assert "earlier version of the reconciler" in err and "plan again" in err, stdout + err
    assert not world.report.exists() or not [r for r in read_journal(world.report) if r.result == "applied"]


def test_a_registry_granting_450_accounts_plans_and_applies_within_ecrs_limit(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = ", ".join(f'"{n:012d}"' for n in range(100000000000, 100000000450))
    text = POLICIES_YAML.replace('accounts: ["111122223333", "444455556666"]', f"accounts: [{accounts}]", 1)
    assert text != POLICIES_YAML
    write_policies(world.tmp, text)
    code, out, err = run_cli(capsys, "validate", "--policies", str(world.policies))
    assert code == 0, out + err
    code, plan, output = _plan(world, capsys)
    assert code == 0, output
    team = next(c for c in plan.registries[0].changes if c.repository == "team-01/app")
    assert team.after is not None and 7_000 < len(team.after) <= MAX_POLICY_CHARS  # 13,541 indented
    code, out, err = _apply(world, capsys)
    assert code == 0, out + err
    sizes = [len(world.ecr.stored_policy(n) or "") for n in world.managed if n != "payments/api"]
    assert sizes and max(sizes) <= MAX_POLICY_CHARS
    assert (
        len(
            stored(world.ecr, "team-01/app")["Statement"][1]["Condition"]["StringEquals"][
                "aws:PrincipalAccount"
            ]
        )
        == 451
    )
    code, again, _ = _plan(world, capsys)
    assert code == 0 and not again.has_changes
