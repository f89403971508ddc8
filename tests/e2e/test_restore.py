"""restore: puts back what an apply wrote, from its journal, even when the apply was killed half-way: every
repository, and the nullplatform provider config's policy (written as apply writes it: only `setup`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sample_registry import LAMBDA, OLD, provider_attributes, run_cli, stored

from reconciler.apply.journal import read_journal
from reconciler.policy.normalize import equivalent

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")


def snapshot(world: World) -> dict[str, object]:
    return {name: stored(world.ecr, name) for name in world.seeded}


def provider_policy(world: World) -> str | None:
    policy: str | None = world.nullplatform.provider(world.provider_id)["attributes"]["setup"].get("policy")
    return policy


def apply(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST
    )
    assert code == 0, err


def restore(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    out = str(world.tmp / "restore.jsonl")
    return run_cli(
        capsys,
        "restore",
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        "--out",
        out,
        *FAST,
        *extra,
    )


@pytest.mark.parametrize("merge_mode", ["deep", "group"])
def test_restore_round_trips_every_repository_and_the_provider_policy(
    world: World, capsys: pytest.CaptureFixture[str], merge_mode: str
) -> None:
    world.nullplatform.configure(merge_mode=merge_mode, mask_secrets=True)
    before = snapshot(world)
    stored_ci = json.dumps(world.nullplatform.provider(world.provider_id)["attributes"]["ci"])
    apply(world, capsys)
    assert snapshot(world) != before
    assert provider_policy(world) != OLD
    out = world.tmp / "restore.jsonl"
    code, stdout, err = restore(world, capsys)
    assert code == 0, err
    after = snapshot(world)
    for name, original in before.items():
        assert equivalent(original, after[name]), name
    attributes = world.nullplatform.provider(world.provider_id)["attributes"]
    assert attributes == provider_attributes(OLD)  # the policy back, everything else as it was
    assert json.dumps(attributes["ci"]) == stored_ci  # the masked CI credentials, byte for byte
    # The restore is journaled too, so it can itself be undone.
    assert {(r.target, r.name) for r in read_journal(out)} == {
        (r.target, r.name) for r in read_journal(world.report)
    }
    assert "1 provider configs" in stdout and "0 failed" in stdout


def test_restore_leaves_a_provider_policy_changed_since_the_apply(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    apply(world, capsys)
    theirs = json.dumps({"Version": "2012-10-17", "Statement": [LAMBDA]})
    changed = provider_attributes(theirs)
    world.nullplatform.set_attributes(world.provider_id, changed)
    code, stdout, err = restore(world, capsys)
    assert code == 1
    assert f"stale, skipped: main/{world.provider_id}" in err and "changed since the apply" in stdout
    assert world.nullplatform.provider(world.provider_id)["attributes"] == changed
    assert world.nullplatform.stats()["requests"].get("PATCH /provider/{provider_id}") == 1  # the apply's
    assert stored(world.ecr, "team-02/app") is None  # the repositories are restored all the same


def test_restore_refuses_the_provider_write_when_setup_reads_null(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    apply(world, capsys)
    applied = world.nullplatform.provider(world.provider_id)["attributes"]
    nulled = {**applied, "setup": {**applied["setup"], "region": None}}
    world.nullplatform.set_attributes(world.provider_id, nulled)
    code, _, err = restore(world, capsys)
    assert code == 1
    assert f"failed: main/{world.provider_id} (provider)" in err
    assert "setup.region read(s) as null" in err
    assert world.nullplatform.provider(world.provider_id)["attributes"] == nulled


def test_restore_leaves_a_provider_that_had_no_policy(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.nullplatform.set_attributes(world.provider_id, provider_attributes(None))
    apply(world, capsys)
    applied = world.nullplatform.provider(world.provider_id)["attributes"]
    code, stdout, _ = restore(world, capsys)
    assert code == 1
    assert f"main/{world.provider_id} (provider): it had no policy before the apply" in stdout
    assert world.nullplatform.provider(world.provider_id)["attributes"] == applied
    assert stored(world.ecr, "team-02/app") is None  # the repositories are restored


def test_restore_skips_and_names_repositories_changed_since(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run_cli(
        capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST
    )
    assert code == 0
    changed = {"Version": "2012-10-17", "Statement": [LAMBDA]}
    world.ecr.put_policy("team-01/app", json.dumps(changed))
    code, stdout, err = run_cli(
        capsys,
        "restore",
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        *FAST,
        "--out",
        str(world.tmp / "r.jsonl"),
    )
    assert code == 1
    assert "team-01/app" in err and "changed since" in stdout
    assert stored(world.ecr, "team-01/app") == changed  # someone else's change is never overwritten
    assert stored(world.ecr, "team-02/app") is None  # restored: it had no policy before


def test_restore_only_the_chosen_repositories(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(world)
    run_cli(capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST)
    applied = snapshot(world)
    code, _, _ = run_cli(
        capsys,
        "restore",
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        "--repository",
        "team-0[12]/*",
        "--out",
        str(world.tmp / "r.jsonl"),
        *FAST,
    )
    assert code == 0
    now = snapshot(world)
    assert equivalent(now["team-01/app"], before["team-01/app"])
    assert equivalent(now["team-04/app"], applied["team-04/app"])
    assert provider_policy(world) != OLD  # --repository leaves the provider config alone


def test_dry_run_restore_writes_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST)
    applied = snapshot(world)
    code, _, _ = run_cli(
        capsys,
        "restore",
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        "--dry-run",
        "--out",
        str(world.tmp / "r.jsonl"),
        *FAST,
    )
    assert code == 0
    assert snapshot(world) == applied
    assert provider_policy(world) != OLD
    assert world.nullplatform.stats()["requests"]["PATCH /provider/{provider_id}"] == 1  # the apply's only


def test_a_killed_apply_leaves_a_report_that_restore_can_use(world: World) -> None:
    before = snapshot(world)
    # Slow writes, one at a time, so the kill lands mid-run.
    world.ecr.configure(action_latency_ms={"SetRepositoryPolicy": 300})
    env = {**os.environ}
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "apply",
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        "--concurrency",
        "1",
        "--no-progress",
        "--max-rps",
        "500",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = world.report.read_text().splitlines() if world.report.exists() else []
        applied = sum('"result": "applied"' in line for line in lines)
        # Kill while a write is in flight: its "pending" line is the last one, its call takes 300 ms.
        if applied >= 3 and lines[-1].endswith("}") and json.loads(lines[-1])["result"] == "pending":
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    # The dead process's last call may still be in the emulator (as in AWS): let it land before looking.
    while world.ecr.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    world.ecr.configure(action_latency_ms={})
    written = [r for r in read_journal(world.report) if r.result == "applied"]
    assert 3 <= len(written) < 14, "the kill should land mid-run"
    # Every write the report claims happened did happen; nothing else was touched.
    for record in written:
        if record.target == "repository":
            assert equivalent(
                stored(world.ecr, record.name), json.loads(record.after) if record.after else None
            )
    # Write-ahead: every write has its "pending" line before its result, and the one in flight at the kill
    # (writes go one at a time, 300 ms each) has a "pending" line and no result: it may or may not have
    # landed.
    records = read_journal(world.report)
    for record in written:
        assert any(
            r.result == "pending"
            and (r.target, r.name, r.after) == (record.target, record.name, record.after)
            for r in records[: records.index(record)]
        ), record.name
    finished = {(r.target, r.name) for r in records if r.result != "pending"}
    unfinished = [r for r in records if r.result == "pending" and (r.target, r.name) not in finished]
    assert len(unfinished) == 1, [(r.name, r.result) for r in records]
    in_flight = {r.name: r for r in records if r.result == "pending"} | {r.name: r for r in written}
    for name, record in in_flight.items():
        if record.result == "pending" and record.target == "repository":
            now = stored(world.ecr, name)
            assert now == before[name] or equivalent(now, json.loads(record.after or "null"))
    untouched = [n for n in world.seeded if n not in in_flight]
    assert all(stored(world.ecr, n) == before[n] for n in untouched)

    from reconciler.cli import main

    assert (
        main(
            [
                "restore",
                "--policies",
                str(world.policies),
                "--report",
                str(world.report),
                "--out",
                str(world.tmp / "r.jsonl"),
                *FAST,
            ]
        )
        == 0
    )
    for name, original in before.items():
        assert equivalent(stored(world.ecr, name), original), name


def test_restore_settles_writes_that_were_in_flight_when_the_run_died(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import asdict

    from sample_registry import ACCESS, ACCOUNT

    from reconciler.apply.journal import WriteRecord
    from reconciler.policy.render import policy_text, render_policy

    new = policy_text(render_policy(ACCOUNT, ACCESS))
    landed, lost = "team-01/app", "team-04/app"  # both had OLD; only the first write reached ECR
    world.ecr.put_policy(landed, new)

    def pending(name: str, target: str = "repository", before: str | None = None) -> WriteRecord:
        return WriteRecord(
            "main",
            ACCOUNT,
            "us-east-1",
            None,
            target,
            name,
            "update",
            before or world.seeded[name],
            new,
            "pending",
            time="2026-11-28T00:00:00Z",
        )

    records = [pending(landed), pending(lost), pending(world.provider_id, "provider", OLD)]
    world.report.write_text("".join(json.dumps(asdict(r)) + "\n" for r in records))
    code, out, err = run_cli(
        capsys,
        "restore",
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        "--out",
        str(world.tmp / "r.jsonl"),
        *FAST,
    )
    assert code == 0, err
    assert f"main/{lost}: its last write never landed; nothing to do" in out
    assert f"main/{world.provider_id}: its last write never landed; nothing to do" in out
    assert "PATCH /provider/{provider_id}" not in world.nullplatform.stats()["requests"]
    assert provider_policy(world) == OLD
    assert world.ecr.stored_policy(landed) == world.seeded[landed]
    assert world.ecr.stored_policy(lost) == world.seeded[lost]
