"""Which writes of a report restore puts back: what landed, or may have (pure: records in, targets out)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from reconciler.apply.journal import Journal, WriteRecord, read_journal
from reconciler.apply.restore import restore_targets

BEFORE = json.dumps({"Version": "2012-10-17", "Statement": []})
AFTER = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "AllowPull"}]})


def record(
    result: str, *, target: str = "repository", sent: bool = False, error: str | None = None
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
    )


@pytest.mark.parametrize("target", ["repository", "provider", "template"])
def test_a_failed_write_whose_request_went_out_is_restored_if_it_landed(target: str) -> None:
    records = [record("pending", target=target), record("failed", target=target, sent=True, error="timeout")]
    (found,) = restore_targets(records)
    assert (found.target, found.expected_live, found.restore_to) == (target, AFTER, BEFORE)
    assert found.uncertain  # restore reads the live policy first and skips it if it never landed


@pytest.mark.parametrize("target", ["repository", "provider"])
def test_a_failed_write_that_was_never_sent_is_not_restored(target: str) -> None:
    assert restore_targets([record("pending", target=target), record("failed", target=target)]) == []


def test_an_applied_write_is_certain_and_a_stale_one_is_left_alone() -> None:
    (found,) = restore_targets([record("pending"), record("applied")])
    assert not found.uncertain
    assert restore_targets([record("pending"), record("stale")]) == []


def test_sent_survives_the_report_file_and_old_reports_still_read(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    with Journal(path) as journal:
        journal.record(record("failed", sent=True))
    assert read_journal(path)[0].sent is True
    old_line = {k: v for k, v in asdict(record("failed")).items() if k != "sent"}
    path.write_text(json.dumps(old_line) + "\n")
    assert read_journal(path)[0].sent is False
