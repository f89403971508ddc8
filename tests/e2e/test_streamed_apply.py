"""apply as one streamed pass, with nullplatform creating repositories while it runs.

nullplatform gives each repository it creates the policy its provider config holds at that moment. A
thread plays it here: every 0.2 s it reads the provider config from the nullplatform double and, one second
later (its provisioning time), creates a repository with that policy. apply must write the provider config
first, so that every repository created after that gets the new policy from nullplatform itself, bring in
line every one created before it (the pass and the closing sweep), and name any it could not see as left
for the next run. Afterwards a plan shows a change for no repository but those named.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterator

import pytest
from sample_registry import OLD, run_cli

from reconciler.apply.journal import final_records, read_journal
from reconciler.plan.model import Action
from reconciler.plan.planfile import plan_from_json

from .conftest import World

# Slow enough that the apply takes a few seconds and nullplatform creates repositories all through it.
PACED = ("--no-progress", "--max-rps", "40")
BULK = 100  # repositories on the old policy, so the pass has writes to do
PERIOD = 0.2
PROVISIONING = 1.0


class PlayingNullplatform:
    """Creates `team-new-NNN/app` every PERIOD seconds with the provider config's policy as read
    PROVISIONING seconds before the repository appears."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.created: list[str] = []
        self._pending: deque[tuple[float, str, str | None]] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def policy_now(self) -> str | None:
        setup = self.world.nullplatform.provider(self.world.provider_id)["attributes"]["setup"]
        policy: str | None = setup.get("policy")
        return policy

    def _create_due(self, now: float) -> None:
        while self._pending and self._pending[0][0] <= now:
            _, name, policy = self._pending.popleft()
            self.world.ecr.create_repository(name, policy_text=policy)
            self.created.append(name)

    def _run(self) -> None:
        sequence = 0
        while not self._stop.wait(PERIOD):
            now = time.monotonic()
            self._pending.append((now + PROVISIONING, f"team-new-{sequence:03d}/app", self.policy_now()))
            sequence += 1
            self._create_due(now)

    def __enter__(self) -> PlayingNullplatform:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._create_due(float("inf"))  # what nullplatform was provisioning still appears


@pytest.fixture
def busy(world: World) -> Iterator[World]:
    for index in range(BULK):
        world.ecr.create_repository(f"bulk-{index:03d}/app", policy_text=OLD)
    yield world


def left_for_next_run(out: str) -> set[str]:
    match = re.search(r"^Left for the next run \(.*?\): (.*)$", out, re.MULTILINE)
    return set(match.group(1).split(", ")) if match else set()


def assert_every_repository_in_line_or_named(
    world: World, capsys: pytest.CaptureFixture[str], named: set[str]
) -> None:
    out_file = world.tmp / "after.json"
    code, out, err = run_cli(
        capsys, "plan", "--policies", str(world.policies), "--out", str(out_file), "--no-progress"
    )
    assert code == 0, out + err
    (registry,) = plan_from_json(out_file.read_text()).registries
    differing = {c.repository for c in registry.changes if c.action != Action.ERROR}
    assert not [c for c in registry.changes if c.action == Action.ERROR]
    assert registry.provider is not None and registry.provider.action == Action.NOOP
    assert differing <= named, f"left on the old policy and not named: {sorted(differing - named)}"


def test_apply_writes_the_provider_first_and_leaves_no_repository_created_meanwhile_behind(
    busy: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world = busy
    with PlayingNullplatform(world) as nullplatform:
        time.sleep(PROVISIONING + 3 * PERIOD)  # some exist before the apply, more are on their way
        code, out, err = run_cli(
            capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *PACED
        )
    assert code == 0, out + err
    assert len(nullplatform.created) > 10
    records = read_journal(world.report)
    # The provider config is written before any repository (and it was read before the listing).
    assert records[0].target == "provider" and records[0].result == "pending"
    assert records[1].target == "provider" and records[1].result == "applied"
    # Repositories nullplatform was provisioning with the old policy when the provider was written
    # appeared after the pass listed the registry: the closing sweep brought them in line.
    swept = re.search(r"^Closing sweep: (\d+) repositories appeared during the pass", out, re.MULTILINE)
    assert swept and int(swept.group(1)) >= 1, out
    applied = {r.name for r in final_records(records) if r.result == "applied"}
    assert any(name.startswith("team-new-") for name in applied)
    assert {f"bulk-{i:03d}/app" for i in range(BULK)} <= applied
    assert_every_repository_in_line_or_named(world, capsys, left_for_next_run(out))


def test_apply_of_a_saved_plan_brings_in_line_what_was_created_since_the_plan(
    busy: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world = busy
    plan_file = world.tmp / "plan.json"
    code, _, err = run_cli(capsys, "plan", "--policies", str(world.policies), "--out", str(plan_file), *PACED)
    assert code == 0, err
    with PlayingNullplatform(world) as nullplatform:
        time.sleep(PROVISIONING + 5 * PERIOD)  # created between the plan and the apply, on the old policy
        code, out, err = run_cli(
            capsys,
            "apply",
            "--policies",
            str(world.policies),
            "--plan",
            str(plan_file),
            "--report",
            str(world.report),
            *PACED,
        )
    assert code == 0, out + err
    assert nullplatform.created
    new = re.search(r", (\d+) new since plan", out)
    assert new and int(new.group(1)) >= 5, out
    assert "(new since plan)" in out  # and each one's line says so
    records = read_journal(world.report)
    assert records[0].target == "provider"
    applied = {r.name for r in final_records(records) if r.result == "applied"}
    assert {f"bulk-{i:03d}/app" for i in range(BULK)} <= applied
    assert sum(1 for name in applied if name.startswith("team-new-")) >= 5
    assert_every_repository_in_line_or_named(world, capsys, left_for_next_run(out))


def test_reads_feed_writes_through_bounded_queues(
    busy: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes start while reads go on, and when writing is the slower stage the reads wait for it instead
    of piling up what is still to write: memory stays flat however many repositories differ."""
    from reconciler.live.ecr import EcrClient
    from reconciler.live.state import LivePolicy

    world = busy
    workers = 2
    world.ecr.configure(action_latency_ms={"SetRepositoryPolicy": 50})  # reads ~10x faster than writes
    read_policy, set_policy = EcrClient.read_policy, EcrClient.set_policy
    lock = threading.Lock()
    counts = {"read": 0, "written": 0}
    backlog: list[int] = []  # at each write: bulk repositories read and not yet being written

    def counting_read(self: EcrClient, repository: str) -> LivePolicy:
        live = read_policy(self, repository)
        if repository.startswith("bulk-"):
            with lock:
                counts["read"] += 1
        return live

    def counting_set(self: EcrClient, repository: str, text: str) -> str:
        if repository.startswith("bulk-"):
            with lock:
                counts["written"] += 1
                backlog.append(counts["read"] - counts["written"])
        return set_policy(self, repository, text)

    monkeypatch.setattr(EcrClient, "read_policy", counting_read)
    monkeypatch.setattr(EcrClient, "set_policy", counting_set)
    code, out, err = run_cli(
        capsys,
        "apply",
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        "--no-progress",
        "--concurrency",
        str(workers),
    )
    assert code == 0, out + err
    assert counts == {"read": BULK, "written": BULK}
    # In transit at most: the write queue (2 x workers), a change held by each reader waiting to queue
    # it, one taken by each writer and not yet sent. Reading everything first would reach BULK - 1.
    assert max(backlog) <= 4 * workers, backlog
    assert backlog[0] < BULK - 1  # the first write went out while reads were still going on
