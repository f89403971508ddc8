"""Restore through the executor, over in-memory clients: a report is a file anyone can hand over, and restore
re-derives nothing from policies/, so the write sequence's last gate and stale check are all that stand
between a report's `before` and the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import (
    DESIRED,
    HAND_EDIT,
    OLD,
    PROVIDER_ID,
    PUBLIC,
    REGISTRY,
    Calls,
    FakeEcr,
    FakeProvider,
    template,
)

from reconciler.apply.executor import ApplyOptions, ApplySummary, Executor
from reconciler.apply.journal import Journal, Result, WriteRecord, read_journal
from reconciler.apply.restore import restore_targets
from reconciler.commands.restore import restore_plan
from reconciler.live import stop

NAMES = {"repository": "app/a", "provider": PROVIDER_ID, "template": "team"}


@pytest.fixture(autouse=True)
def fresh_run() -> Iterator[None]:
    stop.reset()
    yield
    stop.reset()


def applied(target: str, before: str, after: str) -> WriteRecord:
    fields: dict[str, object] = {}
    if target == "template":
        fields = {"applied_for_before": ["REPLICATION"], "applied_for_after": ["REPLICATION"]}
    return WriteRecord(
        "main",
        REGISTRY.account_id,
        REGISTRY.region,
        None,
        target,
        NAMES[target],
        "update",
        before,
        after,
        "applied",
        **fields,  # type: ignore[arg-type]
    )


def restore(tmp_path: Path, records: list[WriteRecord], live: str) -> tuple[ApplySummary, Calls]:
    """Restore `records` with every target holding `live` now; the restore's own report is read back."""
    calls = Calls()
    ecr = FakeEcr({"app/a": live}, {"team": template(live)}, calls=calls)
    provider = FakeProvider(live, calls=calls)
    plan, registries = restore_plan(restore_targets(records), {"main": REGISTRY})
    summary = ApplySummary()
    with Journal(tmp_path / "restore.jsonl") as journal:
        for registry_plan, registry in zip(plan.registries, registries, strict=True):
            part = Executor(
                registry_plan,
                desired=registry,
                role_arn=registry.write_role_arn,
                ecr=ecr,
                provider=provider,
                journal=journal,
                options=ApplyOptions(verify_live=True),  # as commands/restore.py runs it
            ).run()
            summary.outcomes.extend(part.outcomes)
    return summary, calls


@pytest.mark.parametrize("target", NAMES)
def test_a_report_whose_before_is_public_is_not_restored(tmp_path: Path, target: str) -> None:
    summary, calls = restore(tmp_path, [applied(target, PUBLIC, DESIRED)], live=DESIRED)
    assert [(o.target, o.result) for o in summary.outcomes] == [(target, Result.FAILED)]
    assert "allows any principal" in (summary.outcomes[0].error or "")
    assert calls.writes() == []


@pytest.mark.parametrize("target", NAMES)
def test_a_target_edited_by_hand_since_the_apply_is_not_restored(tmp_path: Path, target: str) -> None:
    summary, calls = restore(tmp_path, [applied(target, OLD, DESIRED)], live=HAND_EDIT)
    assert [(o.target, o.result) for o in summary.outcomes] == [(target, Result.STALE)]
    assert calls.writes() == []


@pytest.mark.parametrize("target", NAMES)
def test_two_writes_are_restored_to_what_the_first_found(tmp_path: Path, target: str) -> None:
    records = [applied(target, OLD, HAND_EDIT), applied(target, HAND_EDIT, DESIRED)]
    summary, calls = restore(tmp_path, records, live=DESIRED)
    assert len(calls.writes()) == 1
    assert [(o.target, o.result) for o in summary.outcomes] == [(target, Result.APPLIED)]
    (line,) = [r for r in read_journal(tmp_path / "restore.jsonl") if r.result == Result.APPLIED]
    assert (line.before, line.after) == (DESIRED, OLD)
