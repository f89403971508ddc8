"""Which writes of a report restore puts back: what landed, or may have (pure: records in, targets out)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from reconciler.apply.journal import Journal, WriteRecord, final_records, read_journal
from reconciler.apply.restore import restore_targets

BEFORE = json.dumps({"Version": "2012-10-17", "Statement": []})
AFTER = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "AllowPull"}]})


def record(
    result: str,
    *,
    target: str = "repository",
    sent: bool = False,
    error: str | None = None,
    settles: bool | None = None,
) -> WriteRecord:
    name = "prov-1" if target == "provider" else "app/a"
    return WriteRecord(
        "main",
        "123456789012",
        "us-east-1",
        None,
        target,
        name,
        "update",
        BEFORE,
        AFTER,
        result,
        error,
        sent=sent,
        settles=settles,
    )


@pytest.mark.parametrize("target", ["repository", "provider", "template"])
def test_a_failed_write_whose_request_went_out_is_restored_if_it_landed(target: str) -> None:
    records = [record("pending", target=target), record("failed", target=target, sent=True, error="timeout")]
    (found,) = restore_targets(records)
    assert (found.target, found.expected_live, found.restore_to) == (target, AFTER, BEFORE)
    assert found.uncertain  # restore reads the live policy first and skips it if it never landed


@pytest.mark.parametrize("target", ["repository", "provider"])
def test_a_failed_write_that_was_never_sent_is_not_restored(target: str) -> None:
    closing = record("failed", target=target, settles=True)
    assert restore_targets([record("pending", target=target), closing]) == []


def test_an_applied_write_is_certain_and_a_stale_one_is_left_alone() -> None:
    (found,) = restore_targets([record("pending"), record("applied")])
    assert not found.uncertain
    assert restore_targets([record("pending"), record("stale", settles=True)]) == []


@pytest.mark.parametrize("result", ["stale", "failed"])
def test_a_later_runs_line_written_before_any_send_leaves_the_earlier_pending_write_to_restore(
    result: str,
) -> None:
    """Run 1 died after sending (only `pending`); run 2, appending to the same report, stopped before
    sending anything (found the target changed, or refused it): its line settles no `pending` line, so
    the write that may have landed is still checked and put back."""
    (found,) = restore_targets([record("pending"), record(result, settles=False)])
    assert (found.restore_to, found.expected_live, found.uncertain) == (BEFORE, AFTER, True)


@pytest.mark.parametrize(
    ("closing", "settled"),
    [
        (record("applied"), True),
        (record("failed", sent=True), True),
        (record("failed"), False),
        (record("stale"), False),
        (record("in-line"), False),
    ],
)
def test_a_report_without_settles_is_read_by_what_each_line_is(closing: WriteRecord, settled: bool) -> None:
    """A report written before lines said whether they settle: `applied`, and `failed` with `sent`, only
    ever follow their own `pending` line; a `stale` or unsent `failed` one may be a later run's, so the
    `pending` line stays and restore checks the live policy for it."""
    assert closing.settles is None
    kept = [r.result for r in final_records([record("pending"), closing])]
    assert kept == ([closing.result] if settled else ["pending", closing.result])


def test_sent_survives_the_report_file_and_old_reports_still_read(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    with Journal(path) as journal:
        journal.record(record("failed", sent=True))
    assert read_journal(path)[0].sent is True
    old_line = {k: v for k, v in asdict(record("failed")).items() if k != "sent"}
    path.write_text(json.dumps(old_line) + "\n")
    assert read_journal(path)[0].sent is False


def policy(*accounts: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "AllowPull", "Accounts": list(accounts)}]}
    )


A, B, C, X = policy("1"), policy("2"), policy("3"), policy("hand edit")


def write(target: str, before: str, after: str, result: str, **fields: object) -> WriteRecord:
    name = {"provider": "prov-1", "template": "team"}.get(target, "app/a")
    return WriteRecord(
        "main", "123456789012", "us-east-1", None, target, name, "update", before, after, result, **fields
    )


def two_writes(target: str, first_before: str = A) -> list[WriteRecord]:
    """A -> B, then B -> C (two applies appending to one report, or an apply and a drift self-heal)."""
    return [
        write(target, first_before, B, "pending"),
        write(target, first_before, B, "applied"),
        write(target, B, C, "pending"),
        write(target, B, C, "applied"),
    ]


@pytest.mark.parametrize("target", ["repository", "provider", "template"])
def test_two_writes_to_one_target_restore_to_the_first_before(target: str) -> None:
    (found,) = restore_targets(two_writes(target))
    assert (found.expected_live, found.restore_to) == (C, A)
    assert not found.uncertain


@pytest.mark.parametrize("target", ["repository", "provider", "template"])
def test_a_chain_broken_by_someone_else_restores_only_back_to_their_change(target: str) -> None:
    # The second write started from X, not from B: someone changed the target in between. Restore puts back
    # what the reconciler found before its own last run of writes, never a state someone else replaced.
    records = [*two_writes(target)[:2], write(target, X, C, "pending"), write(target, X, C, "applied")]
    (found,) = restore_targets(records)
    assert (found.expected_live, found.restore_to) == (C, X)


def test_a_templates_applied_for_goes_back_to_the_first_writes() -> None:
    records = [
        write("template", A, B, "applied", applied_for_before=["LOCAL"], applied_for_after=["REPLICATION"]),
        write(
            "template",
            B,
            C,
            "applied",
            applied_for_before=["REPLICATION"],
            applied_for_after=["PULL_THROUGH_CACHE"],
        ),
    ]
    (found,) = restore_targets(records)
    assert (found.restore_applied_for, found.expected_applied_for) == (("LOCAL",), ("PULL_THROUGH_CACHE",))


def test_the_last_write_in_flight_makes_the_whole_chain_uncertain() -> None:
    records = [*two_writes("repository")[:3]]  # the run died during B -> C
    (found,) = restore_targets(records)
    assert (found.expected_live, found.restore_to, found.uncertain) == (C, A, True)


def test_a_target_found_already_in_line_is_not_restored_and_the_comment_counts_it() -> None:
    """An apply journals `in-line` for a target another run had already written the same: nothing was
    sent, so restore has nothing to put back; the apply comment says how many there were."""
    from reconciler.report.markdown import render_report_markdown

    records = [record("in-line"), record("pending", target="provider"), record("applied", target="provider")]
    assert [(t.target, t.name) for t in restore_targets(records)] == [("provider", "prov-1")]
    body = render_report_markdown(records, title="ECR policy apply")
    assert "| main | 1 | 0 | 0 |" in body
    assert "1 already in line: another run wrote the same since the plan; nothing sent." in body


def test_a_write_in_flight_when_a_run_died_then_found_in_line_by_a_rerun_is_restored() -> None:
    """Run 1 died during the write (a `pending` line); run 2, with the same report, found the target
    already holding what it would write (`in-line`). The write landed: restore still puts it back."""
    records = [record("pending"), record("in-line")]
    (target,) = restore_targets(records)
    assert (target.name, target.restore_to, target.expected_live) == ("app/a", BEFORE, AFTER)
    assert target.uncertain
