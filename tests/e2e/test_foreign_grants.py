"""Foreign statements granting more than pull (a CI role pushing, a replication account) on the sandbox:
kept byte for byte and noted, never blocking our write; a public foreign statement is refused, never written.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sample_registry import OLD, run_cli

from reconciler.apply.journal import final_records, read_journal
from reconciler.plan.model import Action, Plan
from reconciler.plan.planfile import plan_from_json

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
CI_ROLE = "arn:aws:iam::222233334444:role/ci"
CI_PUSH: dict[str, Any] = {
    "Sid": "CiPush",
    "Effect": "Allow",
    "Principal": {"AWS": CI_ROLE},
    "Action": [
        "ecr:BatchCheckLayerAvailability",
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
    ],
}
REPLICATION: dict[str, Any] = {
    "Sid": "ReplicationAccess",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::555566667777:root"},
    "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
}
PUBLIC: dict[str, Any] = {
    "Sid": "Everyone",
    "Effect": "Allow",
    "Principal": "*",
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}
PUSH_NOTE = f"push to {CI_ROLE}"
REPLICATION_NOTE = "replication to account 555566667777"


def _policy(ours: str | None, *foreign: dict[str, Any]) -> str:
    document = json.loads(ours) if ours else {"Version": "2012-10-17", "Statement": []}
    document["Statement"][:0] = list(foreign)
    return json.dumps(document, indent=2)


SEEDED = {
    "ci/push-old": (_policy(OLD, CI_PUSH), (CI_PUSH,)),
    "ci/push-only": (_policy(None, CI_PUSH), (CI_PUSH,)),
    "ci/replication-old": (_policy(OLD, REPLICATION), (REPLICATION,)),
    "ci/replication-only": (_policy(None, REPLICATION), (REPLICATION,)),
    "ci/both-old": (_policy(OLD, CI_PUSH, REPLICATION), (CI_PUSH, REPLICATION)),
    "ci/both-only": (_policy(None, REPLICATION, CI_PUSH), (REPLICATION, CI_PUSH)),
}
PUBLIC_TEXT = _policy(OLD, CI_PUSH, PUBLIC)


@pytest.fixture
def site(world: World) -> World:
    for name, (text, _) in SEEDED.items():
        world.ecr.create_repository(name, policy_text=text)
    world.ecr.create_repository("ci/public", policy_text=PUBLIC_TEXT)
    return world


def _plan(site: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Plan]:
    out = site.tmp / "plan.json"
    code, _, _ = run_cli(capsys, "plan", "--policies", str(site.policies), "--out", str(out), *FAST, *extra)
    return code, plan_from_json(out.read_text(encoding="utf-8"))


def test_foreign_push_and_replication_grants_are_noted_applied_kept_and_converge(
    site: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, planned = _plan(site, capsys)
    assert code == 1  # the public one is an error; the others are plain updates
    changes = {c.repository: c for c in planned.registries[0].changes}
    for name, (_, foreign) in SEEDED.items():
        change = changes[name]
        assert change.action == Action.UPDATE, (name, change.error)
        expected = {CI_PUSH["Sid"]: PUSH_NOTE, REPLICATION["Sid"]: REPLICATION_NOTE}
        assert change.notes == tuple(sorted(expected[s["Sid"]] for s in foreign))
    public = changes["ci/public"]
    assert public.action == Action.ERROR and public.after is None
    assert "statement Everyone" in (public.error or "") and "public" in (public.error or "")

    code, markdown, _ = run_cli(
        capsys, "plan", "--policies", str(site.policies), "--format", "markdown", *FAST
    )
    assert f"4 repositories also grant {PUSH_NOTE} (not ours, kept)" in markdown
    assert f"4 repositories also grant {REPLICATION_NOTE} (not ours, kept)" in markdown

    code, out, err = run_cli(
        capsys, "apply", "--policies", str(site.policies), "--report", str(site.report), *FAST
    )
    assert code == 1, out + err
    assert "ci/public" in err and "statement Everyone" in err
    assert f"note: also grants {PUSH_NOTE} (not ours, kept)" in out
    records = {r.name: r for r in final_records(read_journal(site.report))}
    for name, (_, foreign) in SEEDED.items():
        record = records[name]
        assert record.result == "applied" and record.before is not None and record.after is not None
        assert site.ecr.stored_policy(name) == record.after  # what was sent is what is stored
        read = json.loads(record.before)["Statement"]
        written = json.loads(record.after)["Statement"]
        # Theirs first, exactly as read (ECR's read-back form, key order included), then ours.
        assert [json.dumps(s) for s in written[: len(foreign)]] == [
            json.dumps(s) for s in read[: len(foreign)]
        ]
        assert written[: len(foreign)] == list(foreign)
        assert [s["Sid"] for s in written[len(foreign) :]] == [
            "AllowPullOrganizationPaths",
            "AllowPullAccounts",
        ]
    assert records["ci/public"].result == "failed" and records["ci/public"].after is None
    assert site.ecr.stored_policy("ci/public") == PUBLIC_TEXT  # never written

    code, again = _plan(site, capsys, "--detailed-exitcode")
    assert code == 1 and not again.has_changes
    assert [(c.repository, c.action) for c in again.registries[0].changes] == [("ci/public", Action.ERROR)]
    assert set(SEEDED) <= set(again.registries[0].unchanged)
