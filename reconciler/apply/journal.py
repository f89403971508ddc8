"""The write report: one JSON line per write, flushed as it happens.

A run killed half-way still says exactly what it changed, and `restore` can put it back. Only policy texts
are recorded: never credentials, never any provider attribute other than `setup.policy`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from reconciler.errors import ReconcilerError
from reconciler.plan.model import Action

REPORT_FORMAT = "ecr-policy-reconciler/report-v1"


class Result(StrEnum):
    """How a write ended; the value is the word in the report (a str: compares equal to that word)."""

    PENDING = "pending"  # written just before the call; a later line for the same target settles it
    APPLIED = "applied"
    FAILED = "failed"
    STALE = "stale"
    # Changed since the plan, but it already means what the change would write (another run wrote the
    # same): nothing was sent. In an apply's report (restore skips it: no write to put back; a drift heal
    # counts it healed); a restore journals none.
    IN_LINE = "in-line"
    DRY_RUN = "dry-run"  # never in a report: a dry run writes none


class TargetKind(StrEnum):
    """What a write is to; the value is the word in the report."""

    REPOSITORY = "repository"
    PROVIDER = "provider"  # the nullplatform provider config's setup.policy
    TEMPLATE = "template"  # an ECR repository creation template
    REGISTRY = "registry"  # only on a failure found while planning (the registry could not be read)


@dataclass(frozen=True)
class WriteRecord:
    registry: str
    account_id: str
    region: str
    # The role the write went through (the registry's write_role_arn), for the record only: restore takes
    # the role from today's policies files. Reports written before the read/write split hold the single
    # role of that time here.
    role_arn: str | None
    target: TargetKind
    name: str  # repository name, provider id, or creation template prefix
    action: Action  # create / update / delete; error: failed while planning, nothing was written
    before: str | None
    after: str | None
    result: Result
    error: str | None = None
    time: str = ""
    format: str = REPORT_FORMAT
    # Creation templates only: appliedFor before and after (None: there was, or is, no template).
    applied_for_before: list[str] | None = None
    applied_for_after: list[str] | None = None
    # On a `failed` line: the request went out (or may have) before it failed, so the write may have
    # landed; restore checks the live policy for it as for a `pending` line.
    sent: bool = False
    # On an `applied`, `failed` or `stale` line: whether it settles a `pending` line this same write sequence
    # wrote just before it (True), or the sequence never got that far (False: refused by the last gate,
    # found changed on its re-read, failed while planning). Only a True one settles an earlier `pending`
    # line: a False one following it is a later run's, and that earlier write may have landed. None: a
    # report written before this field, read as described in `settles_pending`.
    settles: bool | None = None

    def __post_init__(self) -> None:
        # The words of a report line become the enums (a word that is none of theirs is not a report line).
        object.__setattr__(self, "target", TargetKind(self.target))
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "result", Result(self.result))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_report_path(kind: str = "apply") -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"reconciler-{kind}-report-{stamp}.jsonl")


class Journal:
    """Append-only JSONL writer, safe to call from worker threads.

    The file is opened at the first record: a run that writes nothing (a dry run, nothing to change)
    leaves no empty timestamped file behind."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a path that cannot be made fails up front

    def record(self, record: WriteRecord) -> None:
        fields = asdict(record) | {"time": record.time or now()}
        if record.settles is None:  # a line read from an older report is written back as it was
            del fields["settles"]
        line = json.dumps(fields, ensure_ascii=False)
        with self._lock:
            if self._file is None:
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line + "\n")
            # flush, not fsync: a killed process loses nothing the kernel already has.
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_journal(path: str | Path) -> list[WriteRecord]:
    records: list[WriteRecord] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReconcilerError(f"cannot read report {path}: {exc.strerror}") from exc
    fields = set(WriteRecord.__dataclass_fields__)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
            if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
                raise ValueError("not a report line")
            records.append(WriteRecord(**{k: v for k, v in data.items() if k in fields}))
        except (ValueError, TypeError) as exc:
            # A run killed mid-line leaves a torn last line; anything else is a wrong file.
            if number == len(lines):
                break
            raise ReconcilerError(f"{path}:{number}: not a reconciler report line ({exc})") from exc
    return records


def settles_pending(record: WriteRecord) -> bool:
    """Whether `record` settles the `pending` line before it for the same target: only a line the same
    write sequence wrote after its own `pending` line does. A line of a report written before `settles`
    was recorded says so by what it is: `applied`, and `failed` with `sent`, come only after their own
    `pending` line; a `stale` or unsent `failed` one may have come before any (a later run's re-read), so it
    settles none, and restore checks the live policy for that `pending` line (it is left alone if the
    write never landed)."""
    if record.result in (Result.PENDING, Result.IN_LINE):
        return False
    if record.settles is not None:
        return record.settles
    return record.result == Result.APPLIED or (record.result == Result.FAILED and record.sent)


def final_records(records: list[WriteRecord]) -> list[WriteRecord]:
    """The outcome of each write: a `pending` line is dropped once the line of the same write sequence that
    settles it follows (`settles_pending`); a `pending` line nobody settled (the run died during that call)
    is kept. A line written before any call settles none (an `in-line` one never follows a `pending` of its
    own, nor does a `stale` one from a re-read): a `pending` line before it is an earlier run's that died
    mid-write, and that write may have landed (a re-run with the same report must not lose it for
    restore)."""
    unsettled: dict[tuple[str, str, str], int] = {}
    kept: list[WriteRecord | None] = []
    for record in records:
        key = (record.registry, record.target, record.name)
        if record.result == Result.PENDING:
            unsettled[key] = len(kept)
            kept.append(record)
            continue
        if key in unsettled and settles_pending(record):
            kept[unsettled.pop(key)] = None
        kept.append(record)
    return [r for r in kept if r is not None]
