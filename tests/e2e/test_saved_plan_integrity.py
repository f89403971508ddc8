"""A saved plan can only write what policies/ renders, and the executor's last gate holds on its own.

`apply --plan` re-derives every change from its `before` and policies/ (the same code as `plan`) and writes
it only when the file says exactly that. Independently, the last gate (`guard.check_text`, right before
each write) refuses a public text, a non-pull action in a statement we own, and a text over ECR's limit:
the executor tests below run without the re-derivation (as `restore` does), so they fail if the gate goes;
the CLI tests expect the gate's own message, which comes first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sample_registry import NRN, OLD, provider_attributes, run_cli

from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, Result, final_records, read_journal
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.state import LivePolicy
from reconciler.plan.build import repository_change
from reconciler.plan.planfile import registry_plan_from_json
from reconciler.policy.fingerprint import live_fingerprint
from reconciler.policy.guard import MAX_POLICY_CHARS
from reconciler.run.clients import ecr_client
from reconciler.run.settings import Tuning
from reconciler.validation.loader import load_policies

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
TARGET = "team-01/app"  # holds OLD: an update in every plan
PATCH = "PATCH /provider/{provider_id}"
Tamper = Callable[[dict[str, Any]], None]


def _statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in document["Statement"] if s["Sid"] == sid)


def public(change: dict[str, Any]) -> None:
    document = json.loads(change["after"])
    del _statement(document, "AllowPullAccounts")["Condition"]
    change["after"] = json.dumps(document)


def push(change: dict[str, Any]) -> None:
    document = json.loads(change["after"])
    _statement(document, "AllowPullAccounts")["Action"].append("ecr:PutImage")
    change["after"] = json.dumps(document)


def oversized(change: dict[str, Any]) -> None:
    text = change["after"].rstrip()
    change["after"] = text[:-1] + " " * (MAX_POLICY_CHARS + 1 - len(text)) + "}"
    assert len(change["after"]) == MAX_POLICY_CHARS + 1


def other_principal(change: dict[str, Any]) -> None:
    document = json.loads(change["after"])
    _statement(document, "AllowPullAccounts")["Condition"]["StringEquals"]["aws:PrincipalAccount"].append(
        "666666666666"
    )
    change["after"] = json.dumps(document)


GATE_CASES: dict[str, tuple[Tamper, str]] = {
    "public": (
        public,
        "refusing to write an unsafe policy: statement AllowPullAccounts allows any principal without an "
        "organization or account condition (public)",
    ),
    "non-pull action": (
        push,
        "refusing to write an unsafe policy: statement AllowPullAccounts grants non-pull actions: "
        "ecr:putimage",
    ),
    "10,241 characters": (oversized, "policy text is 10241 characters"),
}


def _saved_plan(world: World, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = world.tmp / "plan.json"
    code, _, err = run_cli(capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def _change(data: dict[str, Any], name: str = TARGET) -> dict[str, Any]:
    change: dict[str, Any] = next(c for c in data["registries"][0]["changes"] if c["repository"] == name)
    return change


def _apply_file(
    world: World, capsys: pytest.CaptureFixture[str], data: dict[str, Any]
) -> tuple[int, str, str]:
    path = world.tmp / "edited.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return run_cli(
        capsys,
        "apply",
        "--policies",
        str(world.policies),
        "--plan",
        str(path),
        "--report",
        str(world.report),
        *FAST,
    )


def _results(report: Path) -> dict[str, str]:
    return {r.name: r.result for r in final_records(read_journal(report))}


# -- the last gate alone: the executor without the re-derivation --------------------------------------------


@pytest.mark.parametrize("case", GATE_CASES)
def test_the_executors_last_gate_refuses_an_unsafe_text_on_its_own(
    case: str, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper, message = GATE_CASES[case]
    data = _saved_plan(world, capsys)
    tamper(_change(data))
    tamper(data["registries"][0]["provider"])
    registry_plan = registry_plan_from_json(data["registries"][0])
    desired = load_policies(world.policies).registry("main")
    world.ecr.reset_stats()
    world.nullplatform.reset_stats()
    with Journal(world.report) as journal:
        summary = Executor(
            registry_plan,
            desired=desired,
            role_arn=None,
            ecr=ecr_client(desired, Tuning(progress=False, max_rps=500), write=True),
            provider=NullplatformClient.from_env(),
            journal=journal,
            options=ApplyOptions(verify_live=True),  # re-read and stale checks, but no re-derivation
        ).run()
    outcomes = {o.name: o for o in summary.outcomes}
    for name in (TARGET, world.provider_id):
        assert outcomes[name].result == Result.FAILED, outcomes[name]
        assert message in (outcomes[name].error or "")
    assert world.ecr.stored_policy(TARGET) == OLD  # never sent
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD
    assert PATCH not in world.nullplatform.stats()["requests"]
    applied = [o.name for o in summary.outcomes if o.result == Result.APPLIED]
    assert applied and TARGET not in applied  # the others were written
    sets = world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0)
    assert sets == len(
        [o for o in summary.outcomes if o.target == "repository" and o.result == Result.APPLIED]
    )


# -- apply --plan: the gate first, then "only what policies/ renders" ---------------------------------------


@pytest.mark.parametrize("case", GATE_CASES)
def test_apply_of_a_plan_edited_to_an_unsafe_text_is_refused_by_the_last_gate(
    case: str, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper, message = GATE_CASES[case]
    data = _saved_plan(world, capsys)
    tamper(_change(data))
    code, out, err = _apply_file(world, capsys, data)
    assert code == 1, out + err
    assert f"failed: main/{TARGET} (repository): {message}" in err
    assert world.ecr.stored_policy(TARGET) == OLD
    results = _results(world.report)
    assert results[TARGET] == "failed" and results["team-04/app"] == "applied"


def test_apply_of_a_plan_granting_a_principal_policies_does_not_name_is_refused(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _saved_plan(world, capsys)
    other_principal(_change(data))
    code, out, err = _apply_file(world, capsys, data)
    assert code == 1, out + err
    assert f"failed: main/{TARGET} (repository): the plan file does not match what policies/ renders" in err
    assert "666666666666" not in (world.ecr.stored_policy(TARGET) or "")
    assert world.ecr.stored_policy(TARGET) == OLD
    results = _results(world.report)
    assert results[TARGET] == "failed"
    assert results["team-04/app"] == "applied" and results[world.provider_id] == "applied"


def test_a_forged_before_cannot_smuggle_in_a_foreign_grant(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rendering from an edited `before` would keep its "foreign" statement; the fingerprint of what was
    read at plan time and the stale check on the live policy stop it."""
    data = _saved_plan(world, capsys)
    change = _change(data)
    forged = json.loads(change["before"])
    forged["Statement"].insert(
        0,
        {
            "Sid": "Sneaky",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::666666666666:role/x"},
            "Action": ["ecr:PutImage"],
        },
    )
    desired = load_policies(world.policies).registry("main")
    change["before"] = json.dumps(forged)
    change["after"] = repository_change(desired, LivePolicy(TARGET, change["before"])).after
    code, _, err = _apply_file(world, capsys, data)
    assert code == 1
    assert f"failed: main/{TARGET} (repository): the plan file does not match what policies/ renders" in err
    # The same with the fingerprint forged too: the live policy is not that `before`, so it is stale.
    change["live_fingerprint"] = live_fingerprint(change["before"])
    code, _, err = _apply_file(world, capsys, data)
    assert f"stale, skipped: main/{TARGET}" in err
    assert world.ecr.stored_policy(TARGET) == OLD


def test_apply_of_a_plan_with_an_edited_provider_change_leaves_the_provider_alone(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    other = world.nullplatform.add_provider("organization=1:account=3", provider_attributes())
    data = _saved_plan(world, capsys)
    provider = data["registries"][0]["provider"]
    other_principal(provider)
    code, _, err = _apply_file(world, capsys, data)
    assert code == 1
    assert (
        f"failed: main/{world.provider_id} (provider): the plan file does not match what policies/ renders"
        in err
    )
    # Pointed at another provider (policies/ names it by NRN only): the id found at the NRN must match.
    data = _saved_plan(world, capsys)
    data["registries"][0]["provider"]["provider_id"] = other
    code, _, err = _apply_file(world, capsys, data)
    assert code == 1
    assert f"failed: main/{other} (provider): the plan file names provider {other}, but {NRN} holds" in err
    for provider_id in (world.provider_id, other):
        assert world.nullplatform.provider(provider_id)["attributes"]["setup"]["policy"] == OLD
    assert PATCH not in world.nullplatform.stats()["requests"]


def test_an_untouched_saved_plan_is_applied_in_full(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    data = _saved_plan(world, capsys)
    code, out, err = _apply_file(world, capsys, data)
    assert code == 0, out + err
    planned = {c["repository"] for c in data["registries"][0]["changes"]}
    results = _results(world.report)
    assert {n for n, r in results.items() if r == "applied"} == planned | {world.provider_id}


@pytest.mark.parametrize(("field", "value"), [("account_id", "999988887777"), ("region", "eu-west-1")])
def test_a_plan_naming_another_account_or_region_is_refused_before_any_write(
    field: str, value: str, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _saved_plan(world, capsys)
    data["registries"][0][field] = value
    world.ecr.reset_stats()
    world.nullplatform.reset_stats()
    code, _, err = _apply_file(world, capsys, data)
    assert code == 1
    assert "the plan for registry 'main' names account" in err and "but policies/ says 123456789012" in err
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0
    assert PATCH not in world.nullplatform.stats()["requests"]
    assert not world.report.exists() or read_journal(world.report) == []


def test_the_report_names_the_desired_registrys_account_and_region_not_the_plans(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # The executor on its own (as restore runs it), given a plan whose account and region were edited.
    data = _saved_plan(world, capsys)
    data["registries"][0] |= {"account_id": "999988887777", "region": "eu-west-1", "error": "x"}
    registry_plan = registry_plan_from_json(data["registries"][0])
    desired = load_policies(world.policies).registry("main")
    with Journal(world.report) as journal:
        Executor(
            registry_plan,
            desired=desired,
            role_arn=None,
            ecr=ecr_client(desired, Tuning(progress=False, max_rps=500), write=True),
            provider=None,
            journal=journal,
            options=ApplyOptions(),
        ).run()
    (line,) = read_journal(world.report)
    assert (line.account_id, line.region) == ("123456789012", "us-east-1")
