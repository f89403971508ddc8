"""The one write sequence, for each of its three targets (repository policy, provider config, creation
template), over in-memory clients: the last gate, the stale check, the dry run, the write-ahead line, the
write, the read-back and the settling line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
    Run,
    template,
)
from sample_registry import NRN, reserialized

from reconciler.apply.executor import ApplyOptions, ApplySummary, Executor, Outcome
from reconciler.apply.journal import Journal, Result, TargetKind, WriteRecord, read_journal
from reconciler.apply.restore import restore_targets
from reconciler.live import stop
from reconciler.plan.model import Action, ProviderChange, RegistryPlan, RepositoryChange, TemplateChange
from reconciler.plan.saved import PLAN_MISMATCH
from reconciler.policy.fingerprint import live_fingerprint

# As restore runs: re-read and stale checks, no re-derivation, no line for a target already in line.
RESTORE = ApplyOptions(verify_live=True, journal_in_line=False)
SAVED_PLAN = ApplyOptions(verify_live=True, match_rendering=True)


@pytest.fixture(autouse=True)
def fresh_run() -> Iterator[None]:
    stop.reset()
    yield
    stop.reset()  # a stop tripped here must not stop the next test's writes


@dataclass(frozen=True)
class Kind:
    """How to seed, change and settle one kind of target."""

    kind: TargetKind
    name: str
    seed: Callable[[FakeEcr, FakeProvider, str | None], None]  # the live policy now
    change: Callable[[str | None, str | None], Any]  # (planned before, after)
    settle: Callable[[Executor, Any, ApplySummary], Outcome | None]
    write_call: str


def _seed_repository(ecr: FakeEcr, provider: FakeProvider, policy: str | None) -> None:
    ecr.policies["app/a"] = policy


def _seed_provider(ecr: FakeEcr, provider: FakeProvider, policy: str | None) -> None:
    provider.policy = policy


def _seed_template(ecr: FakeEcr, provider: FakeProvider, policy: str | None) -> None:
    ecr.templates["team"] = template(policy)


def repository_change(before: str | None, after: str | None) -> RepositoryChange:
    return RepositoryChange("app/a", Action.UPDATE, before, after, live_fingerprint(before))


def provider_change(before: str | None, after: str | None) -> ProviderChange:
    return ProviderChange(NRN, PROVIDER_ID, Action.UPDATE, before, after)


def template_change(before: str | None, after: str | None) -> TemplateChange:
    return TemplateChange(
        "team", Action.UPDATE, before, after, ("REPLICATION",), ("REPLICATION",), live_fingerprint(before)
    )


KINDS = {
    "repository": Kind(
        TargetKind.REPOSITORY,
        "app/a",
        _seed_repository,
        repository_change,
        lambda e, c, s: e.settle_repository(c, s),
        "set",
    ),
    "provider": Kind(
        TargetKind.PROVIDER,
        PROVIDER_ID,
        _seed_provider,
        provider_change,
        lambda e, c, s: e.settle_provider(c, s),
        "write_provider",
    ),
    "template": Kind(
        TargetKind.TEMPLATE,
        "team",
        _seed_template,
        template_change,
        lambda e, c, s: e.settle_template(c, s),
        "update_template",
    ),
}


def world(tmp_path: Path, kind: Kind, live: str | None, options: ApplyOptions) -> Run:
    calls = Calls()
    run = Run(tmp_path, FakeEcr(calls=calls), FakeProvider(calls=calls), options)
    assert run.provider is not None
    kind.seed(run.ecr, run.provider, live)
    return run


def settle(run: Run, kind: Kind, change: Any) -> Outcome:
    with Journal(run.report) as journal:
        outcome = kind.settle(run.executor(journal), change, ApplySummary())
    assert outcome is not None
    return outcome


@pytest.mark.parametrize("name", KINDS)
def test_a_public_policy_is_refused_at_the_last_gate_with_no_re_derivation(tmp_path: Path, name: str) -> None:
    # A restore hands the executor the `before` of a report (a file anyone can edit) and re-derives nothing:
    # the gate on the exact text is the only check between that text and the API.
    kind = KINDS[name]
    run = world(tmp_path, kind, OLD, RESTORE)
    outcome = settle(run, kind, kind.change(OLD, PUBLIC))
    assert outcome.result == Result.FAILED
    assert "statement Everyone allows any principal" in (outcome.error or "")
    assert run.ecr.calls.writes() == []
    assert [(r.result, r.target, r.sent) for r in run.records()] == [(Result.FAILED, kind.kind, False)]


@pytest.mark.parametrize("name", KINDS)
def test_a_target_edited_since_the_plan_is_stale_and_left_as_it_is(tmp_path: Path, name: str) -> None:
    kind = KINDS[name]
    run = world(tmp_path, kind, HAND_EDIT, RESTORE)
    outcome = settle(run, kind, kind.change(OLD, DESIRED))
    assert outcome.result == Result.STALE
    assert "changed since" in (outcome.error or "")
    assert run.ecr.calls.writes() == []
    (line,) = run.records()
    # The line holds what the target holds now (a restore of this report must not put OLD back over it).
    assert (line.result, line.before, line.after) == (Result.STALE, HAND_EDIT, DESIRED)


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("options", [SAVED_PLAN, RESTORE, ApplyOptions(dry_run=True, verify_live=True)])
def test_a_target_that_changed_to_what_the_change_would_write_is_in_line(
    tmp_path: Path, name: str, options: ApplyOptions
) -> None:
    # Another run (a backfill, the drift self-heal) wrote the same meanwhile, serialized its own way.
    kind = KINDS[name]
    run = world(tmp_path, kind, reserialized(DESIRED), options)
    summary = ApplySummary()
    with Journal(run.report) as journal:
        outcome = kind.settle(run.executor(journal), kind.change(OLD, DESIRED), summary)
    assert outcome is not None
    assert (outcome.result, outcome.error) == (Result.IN_LINE, None)
    assert run.ecr.calls.writes() == []
    # Nothing sent. An apply journals one `in-line` line (restore skips it; a drift heal counts it healed);
    # a restore, and a dry run, none.
    lines = [] if not run.report.exists() else run.records()
    if options.journal_in_line and not options.dry_run:
        (line,) = lines
        assert (line.result, line.before, line.after) == (Result.IN_LINE, reserialized(DESIRED), DESIRED)
        assert restore_targets([line], []) == []
    else:
        assert lines == []
    assert summary.count(Result.STALE) == 0 and summary.ok
    assert ", 1 already in line," in summary.line()


def test_a_template_with_the_policy_but_other_applied_for_is_stale(tmp_path: Path) -> None:
    run = world(tmp_path, KINDS["template"], None, SAVED_PLAN)
    run.ecr.templates["team"] = template(DESIRED, ("PULL_THROUGH_CACHE",))
    outcome = settle(run, KINDS["template"], template_change(OLD, DESIRED))
    assert outcome.result == Result.STALE
    assert run.ecr.calls.writes() == []


DELETES = {
    "repository": RepositoryChange("app/a", Action.DELETE, OLD, None, live_fingerprint(OLD)),
    "template": TemplateChange("team", Action.DELETE, OLD, None, ("REPLICATION",), (), live_fingerprint(OLD)),
}


@pytest.mark.parametrize("name", DELETES)
def test_a_delete_whose_target_now_has_none_is_in_line(tmp_path: Path, name: str) -> None:
    # What the DELETE would leave: a repository with no policy, no template at all. (A restore's DELETE:
    # the apply it undoes created them; policies/ renders no deletes of these to re-derive.)
    run = Run(tmp_path, FakeEcr({"app/a": None}), None, RESTORE)
    assert settle(run, KINDS[name], DELETES[name]).result == Result.IN_LINE
    assert run.ecr.calls.writes() == []
    assert run.records() == []


@pytest.mark.parametrize("name", KINDS)
def test_the_write_ahead_line_is_in_the_report_before_the_call_goes_out(tmp_path: Path, name: str) -> None:
    kind = KINDS[name]
    run = world(tmp_path, kind, OLD, ApplyOptions())
    seen: list[list[tuple[str, str, str]]] = []

    def look(call: str, target: str) -> None:
        # What a run killed at this moment leaves behind: the report as it is on disk.
        seen.append([(r.target, r.name, r.result) for r in read_journal(run.report)])

    run.ecr.calls.before_write = look
    outcome = settle(run, kind, kind.change(OLD, DESIRED))
    assert outcome.result == Result.APPLIED
    assert seen == [[(kind.kind, kind.name, Result.PENDING)]]
    assert run.ecr.calls.writes() == [(kind.write_call, kind.name)]


@pytest.mark.parametrize("name", KINDS)
def test_an_applied_write_is_recorded_before_and_after(tmp_path: Path, name: str) -> None:
    kind = KINDS[name]
    run = world(tmp_path, kind, OLD, ApplyOptions())
    settle(run, kind, kind.change(OLD, DESIRED))
    lines = run.records()
    assert [(r.result, r.before, r.after, r.action) for r in lines] == [
        (Result.PENDING, OLD, DESIRED, Action.UPDATE),
        (Result.APPLIED, OLD, DESIRED, Action.UPDATE),
    ]
    last = lines[-1]
    assert (last.registry, last.account_id, last.role_arn) == (
        "main",
        REGISTRY.account_id,
        REGISTRY.write_role_arn,
    )
    expected = (["REPLICATION"], ["REPLICATION"]) if name == "template" else (None, None)
    assert (last.applied_for_before, last.applied_for_after) == expected


@pytest.mark.parametrize("name", KINDS)
def test_a_dry_run_sends_nothing_and_leaves_no_report(tmp_path: Path, name: str) -> None:
    kind = KINDS[name]
    run = world(tmp_path, kind, OLD, ApplyOptions(dry_run=True, verify_live=True))
    assert settle(run, kind, kind.change(OLD, DESIRED)).result == Result.DRY_RUN
    assert run.ecr.calls.writes() == []
    assert not run.report.exists()


@pytest.mark.parametrize("name", KINDS)
def test_a_saved_change_that_policies_would_not_render_is_refused(tmp_path: Path, name: str) -> None:
    # A safe text, but not what policies/ renders from OLD: a plan file edited on its way.
    kind = KINDS[name]
    run = world(tmp_path, kind, OLD, SAVED_PLAN)
    outcome = settle(run, kind, kind.change(OLD, HAND_EDIT))
    assert outcome.result == Result.FAILED
    assert PLAN_MISMATCH in (outcome.error or "")
    assert run.ecr.calls.writes() == []


@pytest.mark.parametrize("name", KINDS)
def test_a_stopped_run_starts_no_write_and_leaves_no_pending_line(tmp_path: Path, name: str) -> None:
    kind = KINDS[name]
    run = world(tmp_path, kind, OLD, ApplyOptions())
    stop.request(stop.Interrupted())
    with pytest.raises(stop.Interrupted):
        settle(run, kind, kind.change(OLD, DESIRED))
    assert run.ecr.calls.writes() == []
    assert run.records() == []


def test_a_repository_deleted_before_its_write_is_stale_and_not_sent(tmp_path: Path) -> None:
    run = world(tmp_path, KINDS["repository"], OLD, ApplyOptions())
    del run.ecr.policies["app/a"]
    outcome = settle(run, KINDS["repository"], repository_change(OLD, DESIRED))
    assert outcome.result == Result.STALE
    assert [(r.result, r.sent) for r in run.records()] == [(Result.PENDING, False), (Result.STALE, False)]


def test_a_write_that_timed_out_after_sending_is_failed_and_marked_sent(tmp_path: Path) -> None:
    run = world(tmp_path, KINDS["repository"], OLD, ApplyOptions())
    run.ecr.fail_set.add("app/a")
    outcome = settle(run, KINDS["repository"], repository_change(OLD, DESIRED))
    assert outcome.result == Result.FAILED
    assert [(r.result, r.sent) for r in run.records()] == [(Result.PENDING, False), (Result.FAILED, True)]


def test_one_failing_repository_does_not_stop_the_others(tmp_path: Path) -> None:
    run = Run(tmp_path, FakeEcr({"a": OLD, "b": OLD, "c": OLD}), None, ApplyOptions(concurrency=2))
    run.ecr.fail_set.add("b")
    changes = tuple(repository_change(OLD, DESIRED) for _ in range(3))
    changes = tuple(replace(c, repository=n) for c, n in zip(changes, "abc", strict=True))
    plan = RegistryPlan("main", REGISTRY.account_id, REGISTRY.region, "x", None, changes, unchanged=("d",))
    with Journal(run.report) as journal:
        summary = run.executor(journal, plan).run()
    assert run.ecr.policies == {"a": DESIRED, "b": OLD, "c": DESIRED}
    assert [o.name for o in summary.failed] == ["b"]
    assert summary.line() == "Apply: 2 applied, 1 unchanged, 0 stale, 1 failed"


def test_a_provider_edited_between_the_read_and_the_write_is_stale(tmp_path: Path) -> None:
    # Without a saved plan nothing is read again before the write; the client refuses at the write.
    run = world(tmp_path, KINDS["provider"], HAND_EDIT, ApplyOptions())
    outcome = settle(run, KINDS["provider"], provider_change(OLD, DESIRED))
    assert outcome.result == Result.STALE
    assert run.provider is not None and run.provider.policy == HAND_EDIT
    assert [(r.result, r.before) for r in run.records()] == [(Result.PENDING, OLD), (Result.STALE, HAND_EDIT)]


def test_without_nullplatform_the_provider_change_fails_and_nothing_is_written(tmp_path: Path) -> None:
    run = Run(tmp_path, FakeEcr(), None)
    with Journal(run.report) as journal:
        outcome = run.executor(journal).settle_provider(provider_change(OLD, DESIRED), ApplySummary())
    assert outcome is not None and outcome.result == Result.FAILED
    assert "NULLPLATFORM_API_KEY" in (outcome.error or "")


class DropsLifecycle(FakeEcr):
    """An update that loses a field it was sent: the read-back must catch it."""

    def update_template(self, request: dict[str, Any]) -> None:
        super().update_template({k: v for k, v in request.items() if k != "lifecyclePolicy"})


def test_a_template_read_back_that_lost_a_field_fails_and_is_marked_sent(tmp_path: Path) -> None:
    run = Run(tmp_path, DropsLifecycle(templates={"team": template(OLD) | {"lifecyclePolicy": "{}"}}), None)
    outcome = settle(run, KINDS["template"], template_change(OLD, DESIRED))
    assert outcome.error == "after UpdateRepositoryCreationTemplate: lifecyclePolicy changed"
    assert [(r.result, r.sent) for r in run.records()] == [(Result.PENDING, False), (Result.FAILED, True)]


def test_a_template_is_created_and_deleted_as_asked(tmp_path: Path) -> None:
    run = Run(tmp_path, FakeEcr(), None)
    create = TemplateChange(
        "team", Action.CREATE, None, DESIRED, None, ("REPLICATION",), live_fingerprint(None)
    )
    assert settle(run, KINDS["template"], create).result == Result.APPLIED
    assert json.loads(run.ecr.templates["team"]["repositoryPolicy"]) == json.loads(DESIRED)
    delete = TemplateChange(
        "team", Action.DELETE, DESIRED, None, ("REPLICATION",), (), live_fingerprint(DESIRED)
    )
    assert settle(run, KINDS["template"], delete).result == Result.APPLIED
    assert run.ecr.templates == {}
    assert [(r.action, r.result, r.after) for r in run.records()][-1] == (Action.DELETE, Result.APPLIED, None)


def test_errors_found_while_planning_are_reported_not_written(tmp_path: Path) -> None:
    run = Run(tmp_path, FakeEcr(), FakeProvider())
    summary = ApplySummary()
    with Journal(run.report) as journal:
        executor = run.executor(journal)
        executor.registry_error("listing failed", summary)
        executor.settle_repository(
            RepositoryChange("app/a", Action.ERROR, None, None, "", error="AccessDenied"), summary
        )
    assert [(r.target, r.name, r.action, r.result, r.error) for r in run.records()] == [
        (TargetKind.REGISTRY, "main", Action.ERROR, Result.FAILED, "listing failed"),
        (TargetKind.REPOSITORY, "app/a", Action.ERROR, Result.FAILED, "AccessDenied"),
    ]
    assert not summary.ok and run.ecr.calls.writes() == []


def _died_mid_write(run: Run, kind: Kind) -> None:
    """An earlier run sent OLD -> DESIRED and died before its settling line: only `pending` is left."""
    applied_for = ["REPLICATION"] if kind.kind == TargetKind.TEMPLATE else None
    line = WriteRecord(
        "main",
        REGISTRY.account_id,
        REGISTRY.region,
        REGISTRY.write_role_arn,
        kind.kind,
        kind.name,
        Action.UPDATE,
        OLD,
        DESIRED,
        Result.PENDING,
        applied_for_before=applied_for,
        applied_for_after=applied_for,
        settles=False,
    )
    with Journal(run.report) as journal:
        journal.record(line)


@pytest.mark.parametrize("name", KINDS)
def test_a_rerun_that_finds_the_target_changed_before_sending_leaves_the_earlier_write_to_restore(
    tmp_path: Path, name: str
) -> None:
    """The earlier run's write landed (the target holds DESIRED). A later run with an older plan (OLD ->
    HAND_EDIT) appends to the same report and finds the target changed: `stale`, nothing sent. Its line
    settles no `pending` line of its own, so restore still puts OLD back over the write that landed."""
    kind = KINDS[name]
    run = world(tmp_path, kind, DESIRED, ApplyOptions(verify_live=True))
    _died_mid_write(run, kind)
    assert settle(run, kind, kind.change(OLD, HAND_EDIT)).result == Result.STALE
    assert run.ecr.calls.writes() == []
    lines = run.records()
    assert [(r.result, r.settles) for r in lines] == [(Result.PENDING, False), (Result.STALE, False)]
    (found,) = restore_targets(lines)
    assert (found.target, found.expected_live, found.restore_to, found.uncertain) == (
        kind.kind,
        DESIRED,
        OLD,
        True,
    )


@pytest.mark.parametrize("name", KINDS)
def test_a_rerun_refused_at_the_last_gate_leaves_the_earlier_write_to_restore(
    tmp_path: Path, name: str
) -> None:
    kind = KINDS[name]
    run = world(tmp_path, kind, DESIRED, ApplyOptions())
    _died_mid_write(run, kind)
    assert settle(run, kind, kind.change(DESIRED, PUBLIC)).result == Result.FAILED
    lines = run.records()
    assert [(r.result, r.sent, r.settles) for r in lines] == [
        (Result.PENDING, False, False),
        (Result.FAILED, False, False),
    ]
    (found,) = restore_targets(lines)
    assert (found.expected_live, found.restore_to, found.uncertain) == (DESIRED, OLD, True)


def test_a_line_after_the_sequences_own_pending_line_settles_it(tmp_path: Path) -> None:
    """Stale at the write itself (deleted meanwhile), or applied: each closes its own `pending` line, so
    restore has nothing from the stale one and is sure of the applied one."""
    run = world(tmp_path, KINDS["repository"], OLD, ApplyOptions())
    del run.ecr.policies["app/a"]
    settle(run, KINDS["repository"], repository_change(OLD, DESIRED))
    assert [(r.result, r.settles) for r in run.records()] == [(Result.PENDING, False), (Result.STALE, True)]
    assert restore_targets(run.records()) == []
    run.ecr.policies["app/a"] = OLD
    settle(run, KINDS["repository"], repository_change(OLD, DESIRED))
    assert [(r.result, r.settles) for r in run.records()[2:]] == [
        (Result.PENDING, False),
        (Result.APPLIED, True),
    ]
    (found,) = restore_targets(run.records())
    assert not found.uncertain
