"""The streamed pass (reconciler.apply.stream) over in-memory clients: the targets before any listing, then
listing, reads and writes at once, the closing sweep, a saved plan's changes beside what is new since, and
the output in a stable order whatever order the work finishes in."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
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
    Run,
    template,
)
from sample_registry import NRN

from reconciler.apply.executor import ApplyOptions, ApplySummary
from reconciler.apply.journal import Journal, Result, TargetKind, final_records
from reconciler.apply.stream import StreamedApply, TargetStep, provider_step, template_step
from reconciler.errors import ReconcilerError
from reconciler.live import stop
from reconciler.plan.model import Action, ProviderChange, RegistryPlan, RepositoryChange, TemplateChange
from reconciler.policy.fingerprint import live_fingerprint
from reconciler.report.progress import StreamProgress


@pytest.fixture(autouse=True)
def fresh_run() -> Iterator[None]:
    stop.reset()
    yield
    stop.reset()


def managed(name: str) -> bool:
    return not name.startswith("sandbox/")


def stream(
    run: Run,
    *,
    steps: Sequence[TargetStep] = (),
    saved: RegistryPlan | None = None,
    workers: int = 2,
) -> tuple[ApplySummary, list[str]]:
    out = io.StringIO()
    with Journal(run.report) as journal:
        summary = StreamedApply(
            run.executor(journal, saved),
            REGISTRY,
            run.ecr,
            select=managed,
            steps=steps,
            saved=saved,
            workers=workers,
            progress=StreamProgress("test", out=out, enabled=False),
        ).run()
    return summary, out.getvalue().splitlines()


def heads(lines: list[str]) -> list[str]:
    """The repository (or target) each result line is about, in output order."""
    return [line.split(":")[0].split()[-1] for line in lines if line.startswith("  ") and line[2] != " "]


def test_a_pass_writes_what_differs_leaves_the_rest_and_reads_only_what_it_manages(tmp_path: Path) -> None:
    ecr = FakeEcr({"app/a": OLD, "app/b": DESIRED, "app/c": None, "sandbox/x": OLD, "web/d": OLD})
    summary, lines = stream(Run(tmp_path, ecr, None))
    assert ecr.policies == {
        "app/a": DESIRED,
        "app/b": DESIRED,
        "app/c": DESIRED,
        "sandbox/x": OLD,
        "web/d": DESIRED,
    }
    assert ("read", "sandbox/x") not in ecr.calls.log
    assert summary.line() == "Apply: 3 applied, 1 unchanged, 0 stale, 0 failed"
    assert summary.outcomes == []  # a streamed apply keeps only what a person must read
    assert heads(lines) == ["app/a", "app/c", "web/d"]  # in listing order
    applied = {(r.name, r.before) for r in final_records(Run(tmp_path, ecr, None).records())}
    assert applied == {("app/a", OLD), ("app/c", None), ("web/d", OLD)}


def test_the_provider_config_and_templates_are_written_before_any_repository_is_listed(
    tmp_path: Path,
) -> None:
    calls = Calls()
    ecr = FakeEcr({"app/a": OLD}, {"team": template(OLD)}, calls=calls)
    provider = FakeProvider(OLD, calls=calls)
    provider_plan = ProviderChange(NRN, PROVIDER_ID, Action.UPDATE, OLD, DESIRED)
    template_plan = TemplateChange(
        "team", Action.UPDATE, OLD, DESIRED, ("REPLICATION",), ("REPLICATION",), live_fingerprint(OLD)
    )
    steps = [provider_step(lambda: provider_plan), template_step(lambda: [template_plan])]
    summary, lines = stream(Run(tmp_path, ecr, provider), steps=steps)
    assert calls.writes() == [("write_provider", PROVIDER_ID), ("update_template", "team"), ("set", "app/a")]
    assert calls.log.index(("update_template", "team")) < calls.log.index(("list", ""))
    assert summary.count(Result.APPLIED) == 3
    assert "nullplatform provider" in lines[0] and "creation template team" in lines[1]


def test_a_repository_deleted_between_the_listing_and_the_read_is_gone_not_failed(tmp_path: Path) -> None:
    ecr = FakeEcr({"app/a": OLD})
    ecr.listed = ["app/a", "app/deleted"]
    summary, _ = stream(Run(tmp_path, ecr, None))
    assert (summary.gone, summary.ok, summary.count(Result.APPLIED)) == (1, True, 1)
    assert ("set", "app/deleted") not in ecr.calls.log


def test_repositories_that_appear_during_the_pass_are_swept_and_later_ones_left_for_the_next_run(
    tmp_path: Path,
) -> None:
    ecr = FakeEcr({"app/a": OLD, "app/b": OLD, "app/c": OLD})

    def appear(listing: int, page: int) -> None:
        if page == 0:
            ecr.policies[f"new/{listing}"] = OLD  # created while this listing goes on: the next one sees it

    ecr.on_page = appear
    summary, lines = stream(Run(tmp_path, ecr, None))
    assert summary.swept == 1 and ecr.policies["new/1"] == DESIRED  # brought in line by the sweep
    assert summary.left_for_next_run == ["new/2"] and ecr.policies["new/2"] == OLD  # not read, not written
    assert ecr.listings == 3  # the pass, the sweep, and the last listing that only names what is left
    assert "new/1: " in "\n".join(lines) and "(appeared during the pass)" in "\n".join(lines)
    assert summary.line().endswith("1 left for the next run")


def test_a_saved_plans_changes_are_checked_again_and_what_it_did_not_know_is_brought_in_line(
    tmp_path: Path,
) -> None:
    ecr = FakeEcr({"app/a": OLD, "app/b": HAND_EDIT, "app/same": DESIRED, "app/new": None})
    planned = tuple(
        RepositoryChange(name, Action.UPDATE, OLD, DESIRED, live_fingerprint(OLD))
        for name in ("app/a", "app/b")
    )
    saved = RegistryPlan(
        "main", REGISTRY.account_id, REGISTRY.region, "x", None, planned, unchanged=("app/same",)
    )
    run = Run(tmp_path, ecr, None, ApplyOptions(verify_live=True, match_rendering=True))
    summary, lines = stream(run, saved=saved)
    assert ecr.policies == {"app/a": DESIRED, "app/b": HAND_EDIT, "app/same": DESIRED, "app/new": DESIRED}
    assert (summary.new_since_plan, summary.unchanged, summary.count(Result.STALE)) == (1, 1, 1)
    assert [o.name for o in summary.outcomes] == ["app/b"]  # stale: kept for the person to read
    assert ecr.calls.log.count(("read", "app/a")) == 1  # read again by the executor, not by the listing
    assert ecr.calls.log.count(("read", "app/new")) == 1  # read by the pass moments ago: not read again
    assert ("read", "app/same") not in ecr.calls.log  # the plan knew it: not listed again
    assert heads(lines) == ["app/a", "app/b", "app/new"]  # the plan's changes first, in its order
    assert [line for line in lines if "(new since plan)" in line] == [
        line for line in lines if line.startswith("  ") and "app/new:" in line
    ]


def test_a_saved_plan_whose_registry_failed_writes_nothing(tmp_path: Path) -> None:
    ecr = FakeEcr({"app/a": OLD})
    saved = RegistryPlan("main", REGISTRY.account_id, REGISTRY.region, "x", None, (), error="AccessDenied")
    summary, _ = stream(Run(tmp_path, ecr, None), saved=saved)
    assert [(o.target, o.error) for o in summary.failed] == [(TargetKind.REGISTRY, "AccessDenied")]
    assert ecr.calls.log == []


def test_a_listing_that_fails_reports_the_registry_after_finishing_what_was_listed(tmp_path: Path) -> None:
    ecr = FakeEcr({"app/a": OLD, "app/b": OLD, "app/c": OLD})
    ecr.list_error = ReconcilerError("ListRepositories: AccessDenied")
    summary, _ = stream(Run(tmp_path, ecr, None))
    assert ecr.policies == {"app/a": DESIRED, "app/b": DESIRED, "app/c": OLD}
    assert [(o.target, o.error) for o in summary.failed] == [
        (TargetKind.REGISTRY, "ListRepositories: AccessDenied")
    ]


def test_lines_come_out_in_listing_order_whatever_order_the_work_finishes_in(tmp_path: Path) -> None:
    ecr = FakeEcr({"app/a": OLD, "app/b": OLD})
    b_written = threading.Event()
    read = ecr.read_policy

    def slow_first(repository: str):  # type: ignore[no-untyped-def]
        if repository == "app/a":
            # Held until app/b is written: app/b's line is ready first. The timeout only stops a hang.
            assert b_written.wait(timeout=30)
        return read(repository)

    ecr.read_policy = slow_first  # type: ignore[method-assign]
    ecr.calls.before_write = lambda call, name: b_written.set() if name == "app/b" else None
    summary, lines = stream(Run(tmp_path, ecr, None), workers=2)
    assert [c for c in ecr.calls.writes()] == [("set", "app/b"), ("set", "app/a")]
    assert heads(lines) == ["app/a", "app/b"]
    assert summary.count(Result.APPLIED) == 2


def test_a_bug_in_one_repositorys_work_fails_that_repository_not_the_pass(tmp_path: Path) -> None:
    ecr = FakeEcr({"app/a": OLD, "app/b": OLD, "app/c": OLD})
    read = ecr.read_policy

    def broken(repository: str):  # type: ignore[no-untyped-def]
        if repository == "app/b":
            raise KeyError("bug")
        return read(repository)

    ecr.read_policy = broken  # type: ignore[method-assign]
    summary, _ = stream(Run(tmp_path, ecr, None))
    assert [(o.name, o.error) for o in summary.failed] == [("app/b", "unexpected error: KeyError('bug')")]
    assert ecr.policies == {"app/a": DESIRED, "app/b": OLD, "app/c": DESIRED}


def test_a_public_policy_decided_in_the_pass_is_still_refused_at_the_gate(tmp_path: Path) -> None:
    # A registry whose repository already holds a public foreign statement: planning reports it; the
    # executor's gate (which runs for a change decided moments ago too) would refuse it as well.
    ecr = FakeEcr({"app/a": PUBLIC})
    summary, _ = stream(Run(tmp_path, ecr, None))
    assert not summary.ok and ecr.calls.writes() == []
    assert ecr.policies["app/a"] == PUBLIC
