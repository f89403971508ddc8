"""Snapshots: what a full read saw, saved so a later plan can start from it (`plan --since`).

A snapshot holds, per registry, every repository of the registry (managed or not: a pull request may change
`include`/`exclude`) with its policy text as read, the provider config's policy and the creation templates'
policies (never any other attribute), the account, the region and when the read started. Format (version 1,
docs/INCREMENTAL.md), JSON lines:

    {"format": "ecr-policy-reconciler/snapshot", "version": 1, "created_at": ISO-8601}
    {"registry": NAME, "account_id": ..., "region": ..., "read_started_at": ISO-8601,
     "provider": ..., "templates": [...]}                  (one line)
    {"repository": NAME, "text": TEXT-or-null}            one per repository; "unknown": true when unread
    {"end": NAME, "repositories": COUNT}                  the section is complete
    ... the next registry's section ...

The file is written beside its final path and renamed when complete: a run that fails leaves no snapshot.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from reconciler.errors import ReconcilerError
from reconciler.live.state import LiveProvider, LiveTemplate

SNAPSHOT_FORMAT = "ecr-policy-reconciler/snapshot"
SNAPSHOT_VERSION = 1


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RegistrySnapshot:
    registry: str
    account_id: str
    region: str
    read_started_at: datetime
    policies: dict[str, str | None] = field(default_factory=dict)  # every repository read
    unknown: frozenset[str] = frozenset()  # listed but not read (an error): must be read again
    complete: bool = False


class SnapshotWriter:
    """Writes a snapshot section by section as the run reads; `close()` publishes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._out: TextIO | None = self._partial.open("w", encoding="utf-8")
        self._write({"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "created_at": now_iso()})
        self._section: str | None = None
        self._count = 0

    def _write(self, data: dict[str, Any]) -> None:
        assert self._out is not None
        self._out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")

    def begin(
        self,
        *,
        registry: str,
        account_id: str,
        region: str,
        read_started_at: str,
        provider: LiveProvider | None,
        templates: tuple[LiveTemplate, ...],
    ) -> None:
        self._section, self._count = registry, 0
        self._write(
            {
                "registry": registry,
                "account_id": account_id,
                "region": region,
                "read_started_at": read_started_at,
                "provider": None if provider is None else {"nrn": provider.nrn, "policy": provider.policy},
                "templates": [
                    {"prefix": t.prefix, "exists": t.exists, "policy": t.policy, "applied_for": t.applied_for}
                    for t in templates
                ],
            }
        )

    def repository(self, name: str, text: str | None, *, unknown: bool = False) -> None:
        self._count += 1
        self._write({"repository": name, "unknown": True} if unknown else {"repository": name, "text": text})

    def end(self) -> None:
        if self._section is not None:
            self._write({"end": self._section, "repositories": self._count})
            self._section = None

    def close(self) -> None:
        """Publish the snapshot (an open section is left incomplete: a later plan reads it in full)."""
        if self._out is None:
            return
        self._out.close()
        self._out = None
        os.replace(self._partial, self.path)

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
            self._partial.unlink(missing_ok=True)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise ReconcilerError(f"{path}:{number}: not a snapshot line ({exc})") from exc
            if not isinstance(data, dict):
                raise ReconcilerError(f"{path}:{number}: not a snapshot line")
            yield data


def read_snapshot(path: str | Path, registry: str) -> RegistrySnapshot | None:
    """The section of `registry` (None when the snapshot has none). Raises ReconcilerError when the file
    cannot be read or is not a snapshot."""
    path = Path(path)
    try:
        lines = _lines(path)
        head = next(lines, None)
        if not head or head.get("format") != SNAPSHOT_FORMAT:
            raise ReconcilerError(f"{path}: not a snapshot (missing format {SNAPSHOT_FORMAT!r})")
        if head.get("version") != SNAPSHOT_VERSION:
            raise ReconcilerError(f"{path}: snapshot version {head.get('version')} is not supported")
        section: dict[str, Any] | None = None
        policies: dict[str, str | None] = {}
        unknown: set[str] = set()
        for data in lines:
            if "registry" in data:
                if section is not None and section["registry"] == registry:
                    break  # that section never ended
                section = data
                policies, unknown = {}, set()
            elif section is None or section["registry"] != registry:
                continue
            elif "repository" in data:
                name = str(data["repository"])
                if data.get("unknown"):
                    unknown.add(name)
                else:
                    text = data.get("text")
                    policies[name] = None if text is None else str(text)
            elif data.get("end") == registry:
                return _section(section, policies, unknown, complete=True)
        if section is not None and section["registry"] == registry:
            return _section(section, policies, unknown, complete=False)
        return None
    except OSError as exc:
        raise ReconcilerError(f"cannot read snapshot {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ReconcilerError(f"{path}: not a snapshot (not UTF-8 text at byte {exc.start})") from exc


def _section(
    head: dict[str, Any], policies: dict[str, str | None], unknown: set[str], *, complete: bool
) -> RegistrySnapshot:
    try:
        started = datetime.fromisoformat(str(head["read_started_at"]))
        return RegistrySnapshot(
            registry=str(head["registry"]),
            account_id=str(head["account_id"]),
            region=str(head["region"]),
            read_started_at=started if started.tzinfo else started.replace(tzinfo=UTC),
            policies=policies,
            unknown=frozenset(unknown),
            complete=complete,
        )
    except (KeyError, ValueError) as exc:
        raise ReconcilerError(f"malformed snapshot section for {head.get('registry')!r} ({exc!r})") from exc
