"""The write report's format: lines written today read back as written, and byte for byte as before (restore
reads reports of earlier runs, and the drift issue and PR comment read them too)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from reconciler.apply.journal import Journal, WriteRecord, final_records, read_journal

# A line as the reconciler has written it since the report format has had `sent`; the field order and
# spelling are part of the format.
LINE = (
    '{"registry": "main", "account_id": "123456789012", "region": "us-east-1", '
    '"role_arn": "arn:aws:iam::123456789012:role/writer", "target": "template", "name": "team/", '
    '"action": "update", "before": "{\\"Statement\\": []}", "after": "{\\"Statement\\": [1]}", '
    '"result": "failed", "error": "ü timeout", "time": "2026-01-02T03:04:05.678+00:00", '
    '"format": "ecr-policy-reconciler/report-v1", "applied_for_before": ["LOCAL"], '
    '"applied_for_after": ["LOCAL", "PULL_THROUGH_CACHE"], "sent": true}'
)


def test_a_line_is_written_byte_for_byte_as_before(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    (record,) = read_journal_text(tmp_path, LINE)
    with Journal(path) as journal:
        journal.record(record)
    assert path.read_text(encoding="utf-8") == LINE + "\n"


def test_values_read_back_equal_to_the_words_in_the_file(tmp_path: Path) -> None:
    (record,) = read_journal_text(tmp_path, LINE)
    assert (record.target, record.action, record.result, record.sent) == (
        "template",
        "update",
        "failed",
        True,
    )
    assert record.applied_for_after == ["LOCAL", "PULL_THROUGH_CACHE"]


def test_a_report_of_before_sent_and_applied_for_still_reads(tmp_path: Path) -> None:
    old = {
        k: v
        for k, v in json.loads(LINE).items()
        if k not in ("sent", "applied_for_before", "applied_for_after")
    }
    old |= {"target": "repository", "name": "app/a", "result": "pending"}
    settled = old | {"result": "applied"}
    records = read_journal_text(tmp_path, json.dumps(old), json.dumps(settled))
    assert [(r.result, r.sent, r.applied_for_before) for r in records] == [
        ("pending", False, None),
        ("applied", False, None),
    ]
    assert [r.result for r in final_records(records)] == ["applied"]


def test_settles_is_written_when_known_and_read_back(tmp_path: Path) -> None:
    """A line written today says whether it settles a `pending` line; one read from an older report (no
    such field) is written back without it, as it was."""
    path = tmp_path / "report.jsonl"
    (old,) = read_journal_text(tmp_path, LINE)
    assert old.settles is None
    with Journal(path) as journal:
        journal.record(replace(old, settles=True))
        journal.record(replace(old, settles=False))
    assert [json.loads(line)["settles"] for line in path.read_text(encoding="utf-8").splitlines()] == [
        True,
        False,
    ]
    assert [r.settles for r in read_journal(path)] == [True, False]


def read_journal_text(tmp_path: Path, *lines: str) -> list[WriteRecord]:
    path = tmp_path / "given.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return read_journal(path)
