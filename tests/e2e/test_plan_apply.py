"""End to end on the sandbox: plan, apply, plan again; nothing foreign lost; secrets untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sample_registry import (
    CI_SECRET,
    DESIRED,
    LAMBDA,
    OLD,
    provider_attributes,
    reserialized,
    run_cli,
    stored,
)

from reconciler.apply.journal import read_journal
from reconciler.plan.model import Action, Plan
from reconciler.plan.planfile import plan_from_json

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")


def plan(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Plan]:
    out = world.tmp / "plan.json"
    code, _, _ = run_cli(capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST, *extra)
    return code, plan_from_json(out.read_text())


def apply(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_cli(
        capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST, *extra
    )


def test_plan_makes_exactly_pages_plus_n_reads_and_sees_aws_rewrites_as_equal(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ecr.reset_stats()
    code, result = plan(world, capsys, "--detailed-exitcode")
    assert code == 2
    stats = world.ecr.stats()
    assert stats["requests"] == {"DescribeRepositories": 1, "GetRepositoryPolicy": len(world.managed)}
    (registry,) = result.registries
    # The in-sync ones are read back AWS-rewritten (root ARNs, collapsed lists) and still no-ops.
    in_sync = sorted(n for n, t in world.seeded.items() if t == DESIRED and not n.startswith("payments"))
    assert set(in_sync) <= set(registry.unchanged)
    assert "sandbox/x" not in registry.unchanged + tuple(c.repository for c in registry.changes)
    assert registry.provider is not None and registry.provider.action == Action.UPDATE


def test_apply_converges_keeps_foreign_statements_and_provider_secrets(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = apply(world, capsys)
    assert code == 0, err
    assert "0 failed" in out
    for name in world.managed:
        statements = stored(world.ecr, name)["Statement"]
        if name.startswith("team-foreign"):
            assert statements[0] == LAMBDA  # byte-for-byte the foreign statement
        sids = {s.get("Sid") for s in statements}
        assert {"AllowPullOrganizationPaths", "AllowPullAccounts"} <= sids or name.startswith("payments")
    assert world.ecr.stored_policy("sandbox/x") == OLD  # out of scope: untouched
    provider = world.nullplatform.provider(world.provider_id)["attributes"]
    assert provider["ci"]["secret_key"] == CI_SECRET
    assert json.loads(provider["setup"]["policy"]) == json.loads(DESIRED)
    assert provider["setup"]["naming_rule"] == "<namespace>/<application>"

    world.ecr.reset_stats()
    code, again = plan(world, capsys, "--detailed-exitcode")
    assert code == 0 and not again.has_changes
    world.ecr.reset_stats()
    code, out, _ = apply(world, capsys)
    assert code == 0
    # A second apply sends no write at all; it reads each repository once, and lists three times: the
    # pass, the closing sweep, and the last listing that names what appeared after the sweep.
    requests = world.ecr.stats()["requests"]
    assert requests == {"DescribeRepositories": 3, "GetRepositoryPolicy": len(world.managed)}
    assert "0 applied" in out


def test_apply_writes_exactly_the_repositories_that_differ(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _, planned = plan(world, capsys)
    expected = sum(1 for c in planned.registries[0].changes if c.action != Action.ERROR)
    world.ecr.reset_stats()
    code, _, _ = apply(world, capsys)
    assert code == 0
    requests = world.ecr.stats()["requests"]
    assert requests.get("SetRepositoryPolicy", 0) + requests.get("DeleteRepositoryPolicy", 0) == expected
    records = read_journal(world.report)
    # Each write: a "pending" line before the call, its result after.
    assert len([r for r in records if r.target == "repository" and r.result == "applied"]) == expected
    assert {r.result for r in records} == {"pending", "applied"}
    assert len([r for r in records if r.result == "pending"]) == len(records) // 2


def test_access_denied_on_one_repository_is_isolated(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ecr.configure(access_denied={"team-01/app"})
    code, out, err = apply(world, capsys)
    assert code == 1
    assert "team-01/app" in err and "AccessDenied" in err
    assert "1 failed" in out
    assert stored(world.ecr, "team-04/app")["Statement"][0]["Sid"] == "AllowPullOrganizationPaths"
    world.ecr.configure(access_denied=set())
    assert apply(world, capsys)[0] == 0
    assert plan(world, capsys, "--detailed-exitcode")[0] == 0


def test_throttling_storm_and_5xx_bursts_still_converge(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ecr.reset_stats()
    # A storm over the first 8 policy reads: by count, not by time, so it is the same storm on a loaded
    # machine (none of 8 throttled at 70 %: 0.3^8, under 1 in 10,000).
    world.ecr.throttle_storm(0.7, calls=8, actions={"GetRepositoryPolicy"})
    world.ecr.configure(error_rate={"SetRepositoryPolicy": 0.3, "GetRepositoryPolicy": 0.2})
    code, out, err = apply(world, capsys)
    stats = world.ecr.stats()
    # Both faults really happened (a storm at 70 %, then ~30 calls at 20-30 % fail) ...
    assert stats["throttled"].get("GetRepositoryPolicy", 0) > 0, stats
    assert stats["injected"].get("server_error", 0) > 0, stats
    # ... and every one was retried away: all planned writes applied, none failed.
    assert code == 0, err
    assert "0 failed" in out and "0 stale" in out
    records = read_journal(world.report)
    assert {r.result for r in records} == {"pending", "applied"}
    world.ecr.configure(error_rate={})
    assert plan(world, capsys, "--detailed-exitcode")[0] == 0


def test_max_changes_refuses_before_any_write(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.ecr.reset_stats()
    code, _, err = apply(world, capsys, "--max-changes", "2")
    assert code == 1
    assert "more than --max-changes 2" in err
    requests = world.ecr.stats()["requests"]
    assert "SetRepositoryPolicy" not in requests and "DeleteRepositoryPolicy" not in requests
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD


def test_dry_run_writes_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.ecr.reset_stats()
    code, out, _ = apply(world, capsys, "--dry-run")
    assert code == 0 and "Dry run:" in out
    assert set(world.ecr.stats()["requests"]) == {"DescribeRepositories", "GetRepositoryPolicy"}
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD


def test_saved_plan_skips_repositories_changed_since_and_applies_the_rest(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _, saved = plan(world, capsys)
    # Someone edits one repository by hand, and another is deleted, between plan and apply.
    world.ecr.put_policy("team-01/app", json.dumps({"Version": "2012-10-17", "Statement": [LAMBDA]}))
    world.ecr.client().delete_repository(repositoryName="team-02/app", force=True)
    code, _, err = apply(world, capsys, "--plan", str(world.tmp / "plan.json"))
    assert code == 0, err
    assert "stale, skipped: main/team-01/app" in err and "team-02/app" in err
    assert stored(world.ecr, "team-01/app")["Statement"] == [LAMBDA]  # their change survives
    assert stored(world.ecr, "team-04/app")["Statement"][0]["Sid"] == "AllowPullOrganizationPaths"
    stale = [r for r in read_journal(world.report) if r.result == "stale"]
    assert {r.name for r in stale} == {"team-01/app", "team-02/app"}
    assert saved.registries[0].changes


def test_fail_on_stale_fails_the_run_naming_what_it_skipped(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """The approved-plan apply: what changed since the plan is skipped (never overwritten), and the run
    fails naming it, so nobody reads a skipped change as applied."""
    plan(world, capsys)
    world.ecr.put_policy("team-01/app", json.dumps({"Version": "2012-10-17", "Statement": [LAMBDA]}))
    code, _, err = apply(world, capsys, "--plan", str(world.tmp / "plan.json"), "--fail-on-stale")
    assert code == 1
    assert "error: 1 skipped as stale (changed since the plan was made): main/team-01/app;" in err
    assert "the next apply or the drift check brings them in line" in err
    assert stored(world.ecr, "team-01/app")["Statement"] == [LAMBDA]
    assert stored(world.ecr, "team-04/app")["Statement"][0]["Sid"] == "AllowPullOrganizationPaths"


def test_saved_plan_from_other_desired_state_is_refused(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    plan(world, capsys)
    policies = world.policies / "main.yaml"
    policies.write_text(policies.read_text().replace('"444455556666"', '"444455556667"'))
    world.ecr.reset_stats()
    code, _, err = apply(world, capsys, "--plan", str(world.tmp / "plan.json"))
    assert code == 1
    assert "was made from other desired state" in err
    assert "SetRepositoryPolicy" not in world.ecr.stats()["requests"]


def test_backfill_touches_only_chosen_repositories_and_never_the_provider(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run_cli(
        capsys,
        "backfill",
        "--policies",
        str(world.policies),
        "--repository",
        "team-0[0-4]/*",
        "--report",
        str(world.report),
        *FAST,
    )
    assert code == 0
    assert {r.name for r in read_journal(world.report)} == {"team-01/app", "team-02/app", "team-04/app"}
    assert stored(world.ecr, "team-05/app") is None
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD


def test_repositories_only_plan_reads_nothing_from_nullplatform_and_backfill_writes_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the backfill workflow runs: `plan --repositories-only` (its approver reads it), then `backfill
    --plan` of that file with `--fail-on-stale`: the repositories of the plan, never the provider config."""
    world.nullplatform.reset_stats()
    out = world.tmp / "backfill-plan.json"
    args = ("--policies", str(world.policies), "--repository", "team-0[0-4]/*", *FAST)
    code, text, _ = run_cli(capsys, "plan", "--repositories-only", *args[:2], "--out", str(out), *FAST)
    assert code == 0
    assert text.startswith("Repositories only: the provider config and the creation templates were not read")
    assert world.nullplatform.stats()["requests"] == {}  # no token, no provider read
    assert all(r.provider is None and not r.templates for r in plan_from_json(out.read_text()).registries)
    world.ecr.put_policy("team-01/app", json.dumps({"Version": "2012-10-17", "Statement": [LAMBDA]}))
    code, _, err = run_cli(
        capsys, "backfill", *args, "--plan", str(out), "--fail-on-stale", "--report", str(world.report)
    )
    assert code == 1  # team-01/app changed since the plan: skipped, named
    assert "error: 1 skipped as stale (changed since the plan was made): main/team-01/app;" in err
    assert stored(world.ecr, "team-01/app")["Statement"] == [LAMBDA]
    written = {r.name for r in read_journal(world.report) if r.result == "applied"}
    assert written == {"team-02/app", "team-04/app"}  # the globs narrow the saved plan too
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD


@pytest.mark.parametrize("command", ["backfill", "apply"])
def test_a_saved_plan_of_some_repositories_writes_only_those(
    world: World, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A plan made with --repository globs says so, and writing it (without the globs, as the backfill
    workflow does) reaches no repository beyond them: the others are not "new since plan"."""
    before = {name: world.ecr.stored_policy(name) for name in world.seeded}
    out = world.tmp / "some.json"
    code, _, _ = run_cli(
        capsys, "plan", "--policies", str(world.policies), "--repository", "team-0[0-4]/*", "--out", str(out)
    )
    assert code == 0
    saved = plan_from_json(out.read_text())
    assert (saved.repositories, saved.repositories_only) == (("team-0[0-4]/*",), True)
    code, text, err = run_cli(
        capsys,
        command,
        "--policies",
        str(world.policies),
        "--plan",
        str(out),
        "--report",
        str(world.report),
        *FAST,
    )
    assert code == 0, err
    assert "new since plan" not in text
    changed = {name for name in world.seeded if world.ecr.stored_policy(name) != before[name]}
    assert changed == {"team-01/app", "team-02/app", "team-04/app"}
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD


def test_backfill_of_a_full_saved_plan_leaves_the_provider_config(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    plan(world, capsys)  # plans the provider config too (it holds an old policy)
    code, _, err = run_cli(
        capsys, "backfill", "--policies", str(world.policies), "--plan", str(world.tmp / "plan.json"), *FAST
    )
    assert code == 0, err
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD
    assert stored(world.ecr, "team-01/app")["Statement"][0]["Sid"] == "AllowPullOrganizationPaths"


def test_snapshot_out_needs_a_full_read(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = world.tmp / "snapshot.jsonl"
    code, _, err = run_cli(
        capsys,
        "plan",
        "--policies",
        str(world.policies),
        "--repositories-only",
        "--snapshot-out",
        str(snapshot),
    )
    assert code == 1 and "cannot be combined with --since, --repository or --repositories-only" in err
    assert not snapshot.exists()


def _written_meanwhile(world: World, saved: Plan) -> dict[str, str]:
    """Another run (a backfill, the drift self-heal from the same commit) writes what the saved plan would,
    serialized its own way, to the provider config, one repository it updates and one it gives a policy."""
    (registry,) = saved.registries
    assert registry.provider is not None and registry.provider.after is not None
    texts = {c.repository: c.after for c in registry.changes}
    written = {name: reserialized(texts[name] or "") for name in ("team-01/app", "team-02/app")}
    for name, text in written.items():
        world.ecr.put_policy(name, text)
    provider_text = reserialized(registry.provider.after)
    world.nullplatform.set_attributes(world.provider_id, provider_attributes(provider_text))
    return written | {world.provider_id: provider_text}


def test_a_saved_plan_target_already_written_the_same_is_in_line_not_stale(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _, saved = plan(world, capsys)
    written = _written_meanwhile(world, saved)
    world.ecr.reset_stats()
    code, out, err = apply(world, capsys, "--plan", str(world.tmp / "plan.json"), "--fail-on-stale")
    assert code == 0, err
    assert "stale" not in err
    assert "team-01/app: update, already in line" in out and "team-02/app: create, already in line" in out
    assert ", 3 already in line," in out and ", 0 stale," in out
    # Nothing was sent to them: each holds the other run's text byte for byte, and the report names none.
    for name in ("team-01/app", "team-02/app"):
        assert world.ecr.stored_policy(name) == written[name]
    setup = world.nullplatform.provider(world.provider_id)["attributes"]["setup"]
    assert setup["policy"] == written[world.provider_id]
    # Their lines say `in-line` (what became of each planned change), no `pending`: nothing to restore.
    lines = {r.name: r.result for r in read_journal(world.report) if r.name in written}
    assert lines == dict.fromkeys(written, "in-line")
    writes = [c for c in saved.registries[0].changes if c.action in (Action.CREATE, Action.UPDATE)]
    assert world.ecr.stats()["requests"]["SetRepositoryPolicy"] == len(writes) - 2
    assert plan(world, capsys, "--detailed-exitcode")[0] == 0


def test_a_saved_plan_target_written_with_something_else_is_still_stale(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _, saved = plan(world, capsys)
    _written_meanwhile(world, saved)
    world.ecr.put_policy("team-04/app", json.dumps({"Version": "2012-10-17", "Statement": [LAMBDA]}))
    code, out, err = apply(world, capsys, "--plan", str(world.tmp / "plan.json"), "--fail-on-stale")
    assert code == 1
    assert "error: 1 skipped as stale (changed since the plan was made): main/team-04/app;" in err
    assert ", 3 already in line," in out and ", 1 stale," in out
    assert stored(world.ecr, "team-04/app")["Statement"] == [LAMBDA]


def _plan_of_some(world: World, capsys: pytest.CaptureFixture[str]) -> str:
    out = world.tmp / "some.json"
    args = ("--policies", str(world.policies), "--repository", "team-0[0-4]/*", "--out", str(out))
    code, _, _ = run_cli(capsys, "plan", *args)
    assert code == 0
    return str(out)


@pytest.mark.parametrize("command", ["backfill", "apply"])
def test_a_repository_glob_outside_the_saved_plans_globs_is_refused_before_anything_is_read(
    world: World, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`--repository` narrows a saved plan; one that can match nothing the plan covers would only ever
    select nothing: refused up front, naming both, rather than "matches no repository" after writing."""
    saved = _plan_of_some(world, capsys)
    world.ecr.reset_stats()
    world.nullplatform.reset_stats()
    args = ("--policies", str(world.policies), "--plan", saved, "--report", str(world.report), *FAST)
    code, _, err = run_cli(
        capsys, command, *args, "--repository", "payments*", "--repository", "team-0[4-9]/*"
    )
    assert code == 1
    assert f"--repository 'payments*' can match no repository the plan {saved} covers" in err
    assert "(it was made with --repository 'team-0[0-4]/*')" in err
    assert "team-0[4-9]" not in err  # it shares team-04/app with the plan
    assert world.ecr.stats()["requests"] == {}
    assert world.nullplatform.stats()["requests"] == {}
    assert not world.report.exists()
    # A glob sharing names with the plan's narrows it as before.
    code, _, err = run_cli(capsys, command, *args, "--repository", "team-0[4-9]/*")
    assert code == 0, err
    assert {r.name for r in read_journal(world.report) if r.result == "applied"} == {"team-04/app"}


def test_a_saved_plan_is_narrowed_to_its_own_globs_before_its_changes_are_kept(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan file whose changes reach beyond its own `repositories` (edited on its way) writes only what
    those globs match: the plan is filtered with the scope already narrowed to it."""
    saved = _plan_of_some(world, capsys)
    data = json.loads(Path(saved).read_text())
    assert data["repositories"] == ["team-0[0-4]/*"]
    data["repositories"] = ["team-01/*"]
    Path(saved).write_text(json.dumps(data))
    code, _, err = run_cli(
        capsys,
        "backfill",
        "--policies",
        str(world.policies),
        "--plan",
        saved,
        "--report",
        str(world.report),
        *FAST,
    )
    assert code == 0, err
    assert {r.name for r in read_journal(world.report) if r.result == "applied"} == {"team-01/app"}
