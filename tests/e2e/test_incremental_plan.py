"""`plan --since SNAPSHOT`: for every kind of change the plan is the one a full read gives (or the stated
fallback), and only the repositories CloudTrail names are read again."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sample_registry import DESIRED, OLD, run_cli

from reconciler.plan.model import Plan
from reconciler.plan.planfile import read_plan

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
LONG_AGO = 3 * 3600  # the registry was seeded (and its CloudTrail events recorded) hours before the snapshot


def plan(world: World, capsys: pytest.CaptureFixture[str], name: str, *extra: str) -> Plan:
    out = world.tmp / f"{name}.json"
    code, _, err = run_cli(
        capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST, *extra
    )
    assert code == 0, err
    return read_plan(str(out))


def meaning(result: Plan) -> list[dict[str, Any]]:
    """A plan without when it was made and where its live state came from."""
    registries = []
    for registry in result.registries:
        data = asdict(registry)
        data.pop("source")
        registries.append(data)
    return registries


@pytest.fixture
def snapshot(world: World, capsys: pytest.CaptureFixture[str]) -> Path:
    world.ecr.age_events(LONG_AGO)
    path = world.tmp / "snapshot.jsonl"
    plan(world, capsys, "snapshot-run", "--snapshot-out", str(path))
    return path


def compare(world: World, capsys: pytest.CaptureFixture[str], snapshot: Path) -> tuple[Plan, Plan, int]:
    """(full plan, --since plan, policies the --since plan read)."""
    full = plan(world, capsys, "full")
    world.ecr.reset_stats()
    since = plan(world, capsys, "since", "--since", str(snapshot))
    reads = world.ecr.stats()["requests"].get("GetRepositoryPolicy", 0)
    return full, since, reads


def source(result: Plan) -> str:
    (registry,) = result.registries
    return registry.source


def test_the_snapshot_holds_every_repository_managed_or_not(world: World, snapshot: Path) -> None:
    lines = [json.loads(line) for line in snapshot.read_text().splitlines()]
    names = {line["repository"] for line in lines if "repository" in line}
    assert names == set(world.seeded)  # sandbox/x is excluded from management, still in the snapshot
    texts = {line["repository"]: line["text"] for line in lines if "repository" in line}
    assert texts["team-02/app"] is None
    assert lines[-1] == {"end": "main", "repositories": len(world.seeded)}


def test_nothing_changed_reads_no_policy(
    world: World, capsys: pytest.CaptureFixture[str], snapshot: Path
) -> None:
    full, since, reads = compare(world, capsys, snapshot)
    assert meaning(since) == meaning(full)
    assert reads == 0
    assert "0 repositories re-read after 0 CloudTrail events" in source(since)


@pytest.mark.parametrize("kind", ["policy set", "policy deleted", "created", "deleted", "recreated"])
def test_a_change_by_hand_is_read_again_and_planned_as_a_full_read_would(
    world: World, capsys: pytest.CaptureFixture[str], snapshot: Path, kind: str
) -> None:
    client = world.ecr.client()
    if kind == "policy set":
        client.set_repository_policy(repositoryName="team-00/app", policyText=OLD)
    elif kind == "policy deleted":
        client.delete_repository_policy(repositoryName="team-00/app")
    elif kind == "created":
        client.create_repository(repositoryName="team-new/app")
        client.set_repository_policy(repositoryName="team-new/app", policyText=DESIRED)
    elif kind == "deleted":
        client.delete_repository(repositoryName="team-01/app", force=True)
    else:
        client.delete_repository(repositoryName="team-00/app", force=True)
        client.create_repository(repositoryName="team-00/app")
    full, since, reads = compare(world, capsys, snapshot)
    assert meaning(since) == meaning(full)
    assert reads == (0 if kind == "deleted" else 1)
    assert "from the snapshot of" in source(since)


def test_a_change_while_the_snapshot_was_read_is_read_again(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whether the snapshot saw the text before or after the change, the event is after the read began."""
    world.ecr.age_events(LONG_AGO)
    world.ecr.configure(action_latency_ms={"GetRepositoryPolicy": 100.0})
    path = world.tmp / "snapshot.jsonl"
    reading = threading.Thread(target=plan, args=(world, capsys, "snapshot-run", "--snapshot-out", str(path)))
    reading.start()
    client = world.ecr.client(bypass=True)
    client.set_repository_policy(repositoryName="team-00/app", policyText=OLD)
    reading.join()
    world.ecr.reset_knobs()
    full, since, reads = compare(world, capsys, path)
    assert meaning(since) == meaning(full)
    assert reads == 1


def test_a_change_not_yet_delivered_is_missed_and_the_plan_says_it_may_be(
    world: World, capsys: pytest.CaptureFixture[str], snapshot: Path
) -> None:
    world.ecr.configure(cloudtrail_delivery_delay=600.0)
    world.ecr.client().set_repository_policy(repositoryName="team-00/app", policyText=OLD)
    full, since, reads = compare(world, capsys, snapshot)
    assert "team-00/app" in {c.repository for c in full.registries[0].changes}
    assert "team-00/app" in since.registries[0].unchanged  # what the snapshot saw
    assert reads == 0
    assert "may not be delivered to CloudTrail yet" in source(since)


def _rewrite_head(path: Path, **changes: Any) -> None:
    lines = path.read_text().splitlines()
    head = json.loads(lines[1]) | changes
    lines[1] = json.dumps(head)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("another account", "is of account 999999999999 in us-east-1, not 123456789012 in us-east-1"),
        ("another region", "is of account 123456789012 in eu-west-1"),
        ("too old", "older than CloudTrail's 90-day event history"),
        ("incomplete", "holds an incomplete read of main"),
        ("missing", "snapshot unusable: cannot read snapshot"),
        ("not a snapshot", "snapshot unusable"),
        ("denied", "CloudTrail LookupEvents failed: AccessDeniedException"),
    ],
)
def test_a_snapshot_that_cannot_stand_in_gives_a_full_read_that_says_why(
    world: World, capsys: pytest.CaptureFixture[str], snapshot: Path, spoil: str, reason: str
) -> None:
    if spoil == "another account":
        _rewrite_head(snapshot, account_id="999999999999")
    elif spoil == "another region":
        _rewrite_head(snapshot, region="eu-west-1")
    elif spoil == "too old":
        _rewrite_head(snapshot, read_started_at="2020-01-01T00:00:00+00:00")
    elif spoil == "incomplete":
        snapshot.write_text("\n".join(snapshot.read_text().splitlines()[:-1]) + "\n")
    elif spoil == "missing":
        snapshot.unlink()
    elif spoil == "not a snapshot":
        snapshot.write_text('{"format": "something else"}\n')
    else:
        world.ecr.configure(cloudtrail_denied=True)
    world.ecr.client().set_repository_policy(repositoryName="team-00/app", policyText=OLD)
    full, since, reads = compare(world, capsys, snapshot)
    assert meaning(since) == meaning(full)
    assert reads == len(world.managed)
    assert source(since).startswith("full read (")
    assert reason in source(since)


def test_the_plan_says_where_its_live_state_came_from(
    world: World, capsys: pytest.CaptureFixture[str], snapshot: Path
) -> None:
    code, out, _ = run_cli(capsys, "plan", "--policies", str(world.policies), *FAST, "--since", str(snapshot))
    assert code == 0
    assert "live state: from the snapshot of" in out
    code, out, _ = run_cli(
        capsys,
        "plan",
        "--policies",
        str(world.policies),
        *FAST,
        "--since",
        str(snapshot),
        "--format",
        "markdown",
    )
    assert "> Live state: from the snapshot of" in out
    code, out, _ = run_cli(capsys, "plan", "--policies", str(world.policies), *FAST)
    assert "live state" not in out.lower()


def test_a_snapshot_is_a_full_read_only(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys,
        "plan",
        "--policies",
        str(world.policies),
        *FAST,
        "--repository",
        "team-*",
        "--snapshot-out",
        str(tmp_path / "s.jsonl"),
    )
    assert code == 1
    assert "--snapshot-out saves a full read" in err
    assert not (tmp_path / "s.jsonl").exists()


def test_repositories_whose_read_failed_are_read_again(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world.ecr.age_events(LONG_AGO)
    world.ecr.configure(access_denied={"team-00/*"})
    path = tmp_path / "s.jsonl"
    code, _, _ = run_cli(
        capsys, "plan", "--policies", str(world.policies), *FAST, "--snapshot-out", str(path)
    )
    assert code == 1  # the refused read is an error in that plan
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"repository": "team-00/app", "unknown": True} in lines
    world.ecr.reset_knobs()
    full, since, reads = compare(world, capsys, path)
    assert meaning(since) == meaning(full)
    assert reads == 1


def test_a_run_that_stops_leaves_no_snapshot(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.live.ecr import EcrClient
    from reconciler.run.runner import make_plan
    from reconciler.run.settings import Scope, Tuning

    read = EcrClient.iter_policies

    def stopped_midway(self: EcrClient, names: Any) -> Any:
        yield next(iter(read(self, names)))
        raise KeyboardInterrupt

    monkeypatch.setattr(EcrClient, "iter_policies", stopped_midway)
    path = tmp_path / "s.jsonl"
    with pytest.raises(KeyboardInterrupt):
        make_plan(world.policies, Scope(), Tuning(progress=False), snapshot_out=path)
    assert not path.exists()
    assert not list(tmp_path.glob("*.partial"))
