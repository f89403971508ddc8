"""A streamed apply of one registry: the targets that come before repositories, then one pass in which
listing pages feed reads and a read that differs in meaning feeds a write at once, then a closing sweep.

Why this order:
- Targets before repositories (the nullplatform provider config, then ECR's creation templates): nullplatform
  gives each repository it creates the policy its provider config holds at that moment
  (docs/NULLPLATFORM.md, "The policies we render"), and ECR a repository it creates the policy of the
  matching template (docs/AWS.md, "Repository creation templates"). Written first, every repository created
  after the write gets the new policy from them, and every one created before it is in the listing that
  follows. Each such target is a `TargetStep`.
- One pass: ECR throttles GetRepositoryPolicy and SetRepositoryPolicy separately (one pacer per action,
  reconciler.live.ratelimit), so reading and writing at the same time takes max(reads, writes) / limit
  where reading everything first takes their sum.
- Bounded queues between the stages: a slower stage holds the faster one back instead of letting work
  pile up, so memory does not grow with the registry. What does grow is the set of names seen (tens of
  bytes a repository): the sweep needs it to tell what is new.
- The closing sweep: one more listing (pages only) brings in line the repositories that appeared during
  the pass; a last listing names those that appeared after it, left for the next run. One sweep, not a
  loop: in a registry where repositories keep appearing, a loop would never end.

With a saved plan the order is the same: its provider change first, then its repository changes (each
re-read and checked as the executor does for a saved plan) while the listing finds the repositories the
plan does not know (created since): those are read and brought in line with the same desired state (its
fingerprint matched the plan's) and counted as new since plan.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from reconciler.apply.executor import Executor
from reconciler.apply.journal import Result
from reconciler.apply.summary import WRITE_ACTIONS, ApplySummary, Outcome
from reconciler.apply.targets import RepositoryWriter
from reconciler.desired.model import Registry
from reconciler.errors import ReconcilerError
from reconciler.live import stop
from reconciler.live.state import LivePolicy
from reconciler.plan.build import repository_change
from reconciler.plan.model import Action, ProviderChange, RegistryPlan, RepositoryChange, TemplateChange
from reconciler.report.progress import StreamProgress
from reconciler.report.text import provider_result_line, repository_result_line, template_result_line

log = logging.getLogger(__name__)

Echo = Callable[[str], None]
# A target written before any repository is listed: it reads what it needs, writes through the executor
# (last gate, report line) and adds its outcome to the summary.
TargetStep = Callable[[Executor, ApplySummary, Echo], None]

_PROGRESS = {
    Result.APPLIED: "written",
    Result.DRY_RUN: "to write",
    Result.IN_LINE: "in line",
    Result.STALE: "stale",
    Result.FAILED: "failed",
}


class StreamingClient(RepositoryWriter, Protocol):
    """What the stream needs from an ECR client (reconciler.live.ecr.EcrClient)."""

    def iter_repository_pages(self) -> Iterator[list[str]]: ...


def provider_step(change: Callable[[], ProviderChange | None], colour: bool = False) -> TargetStep:
    """The nullplatform provider config: `change` reads it and decides (or hands the saved plan's change)."""

    def step(executor: Executor, summary: ApplySummary, echo: Echo) -> None:
        planned = change()
        if planned is None:
            return
        outcome = executor.settle_provider(planned, summary)
        result = outcome.result if outcome is not None else Action.NOOP.value
        echo(provider_result_line(planned, result, outcome.error if outcome else None, colour))

    return step


def template_step(changes: Callable[[], Sequence[TemplateChange]], colour: bool = False) -> TargetStep:
    """The registry's creation templates: `changes` reads and decides them (or hands the saved plan's)."""

    def step(executor: Executor, summary: ApplySummary, echo: Echo) -> None:
        for planned in changes():
            outcome = executor.settle_template(planned, summary)
            result = outcome.result if outcome is not None else Action.NOOP.value
            echo(template_result_line(planned, result, outcome.error if outcome else None, colour))

    return step


class StreamedApply:
    def __init__(
        self,
        executor: Executor,
        desired: Registry,
        ecr: StreamingClient,
        *,
        select: Callable[[str], bool],
        steps: Sequence[TargetStep] = (),
        saved: RegistryPlan | None = None,
        workers: int = 8,
        progress: StreamProgress | None = None,
        colour: bool = False,
    ) -> None:
        self.executor = executor
        self.desired = desired
        self.ecr = ecr
        self.select = select
        self.steps = steps
        self.saved = saved
        self.workers = max(1, workers)
        # Enough queued to keep every worker busy, few enough that memory stays flat.
        self.queue_size = 2 * self.workers
        self.progress = progress or StreamProgress(desired.name, enabled=False)
        self.colour = colour
        self.summary = ApplySummary(keep_applied=False)
        self._order = _InOrder(self.progress.echo)  # the current pass's, set by _pass

    def run(self) -> ApplySummary:
        summary = self.summary
        saved = self.saved
        if saved is not None and saved.error:
            self.executor.registry_error(saved.error, summary)
            return summary
        for step in self.steps:
            step(self.executor, summary, self.progress.echo)
        seen: set[str] = set()
        planned: Sequence[RepositoryChange] = ()
        if saved is not None:
            # gone: deleted before the plan read them; one listed now was created since, so it is new.
            seen.update(c.repository for c in saved.changes)
            seen.update(saved.unchanged)
            summary.tally(unchanged=len(saved.unchanged), gone=len(saved.gone))
            planned = saved.changes
        try:
            self._pass(seen, planned, tag="new since plan" if saved is not None else "")
            swept = self._pass(seen, (), tag="appeared during the pass")
            summary.tally(swept=swept)
            summary.left_for_next_run.extend(
                name for page in self.ecr.iter_repository_pages() for name in page if self._new(name, seen)
            )
        except ReconcilerError as exc:
            # The listing failed: what was listed before it is done; the rest of the registry is unknown.
            self.executor.registry_error(str(exc), summary)
        finally:
            self.progress.close()
        return summary

    def _new(self, name: str, seen: set[str]) -> bool:
        return name not in seen and self.select(name)

    def _pass(self, seen: set[str], planned: Iterable[RepositoryChange], tag: str) -> int:
        """List, read what is new, write what differs, all at once; the number of repositories read.
        Raises the listing's error after the work already listed is done."""
        reads: queue.Queue[tuple[str, int] | None] = queue.Queue(maxsize=self.queue_size)
        writes: queue.Queue[_Write | None] = queue.Queue(maxsize=self.queue_size)
        failure: list[ReconcilerError] = []
        read_count = [0]
        lock = threading.Lock()
        # Lines in a stable order, not in the order the calls finish: the plan's changes first (in its
        # order), then the listing's. The plan's tickets are handed out before the listing starts.
        planned = list(planned)
        order = _InOrder(self.progress.echo)
        self._order = order
        first_listed = order.tickets(len(planned))

        def listing() -> None:
            try:
                for page in self.ecr.iter_repository_pages():
                    fresh = [name for name in page if self._new(name, seen)]
                    seen.update(fresh)  # only this thread touches `seen` during a pass
                    self.progress.advance("listed", len(fresh))
                    stop.count_repositories(listed=len(fresh))
                    for name in fresh:
                        reads.put((name, order.ticket()))
            except ReconcilerError as exc:
                failure.append(exc)
            except stop.RunStopped:
                pass  # raised by the pass once every stage has ended

        def feed_planned() -> None:
            for ticket, change in enumerate(planned, start=first_listed - len(planned)):
                writes.put(_Write(change, just_read=False, tag="", ticket=ticket))

        def reader() -> None:
            while (item := reads.get()) is not None:
                name, ticket = item
                with lock:
                    read_count[0] += 1
                self._guarded(name, partial(self._read, name, writes, tag, ticket), ticket)

        def writer() -> None:
            while (item := writes.get()) is not None:
                self._guarded(
                    item.change.repository,
                    lambda: self._settle(item.change, item.just_read, item.tag, item.ticket),
                    item.ticket,
                )

        feeders = [_start(listing), _start(feed_planned)]
        readers = [_start(reader) for _ in range(self.workers)]
        writers = [_start(writer) for _ in range(self.workers)]
        _join(feeders)
        for _ in readers:
            reads.put(None)
        _join(readers)
        for _ in writers:
            writes.put(None)
        _join(writers)
        order.flush()
        stop.check()  # the run stopped (credentials expired): the stages ended, nothing more is sent
        if failure:
            raise failure[0]
        return read_count[0]

    def _read(self, name: str, writes: queue.Queue[_Write | None], tag: str, ticket: int) -> None:
        live: LivePolicy = self.ecr.read_policy(name)
        self.progress.advance("read")
        stop.count_repositories(done=1)
        if self.saved is not None:
            self.summary.tally(new_since_plan=1)
        if live.gone:
            # Deleted between the listing and the read: it needs no policy. Not an error.
            self.summary.tally(gone=1)
            self.progress.advance("gone")
            self._order.settle(ticket, None)
            return
        change = repository_change(self.desired, live)
        if change.action in WRITE_ACTIONS:
            writes.put(_Write(change, just_read=True, tag=tag, ticket=ticket))
        else:
            self._settle(change, True, tag, ticket)

    def _settle(self, change: RepositoryChange, just_read: bool, tag: str, ticket: int) -> None:
        outcome = self.executor.settle_repository(change, self.summary, just_read=just_read)
        if outcome is None:
            self.progress.advance("unchanged")
            self._order.settle(ticket, None)
            return
        self._echo(change, outcome, tag, ticket)

    def _echo(self, change: RepositoryChange, outcome: Outcome, tag: str, ticket: int) -> None:
        self.progress.advance(_PROGRESS.get(outcome.result, "failed"))
        line = repository_result_line(change, outcome.result, outcome.error, self.colour)
        if tag:
            head, _, rest = line.partition("\n")
            line = f"{head} ({tag})" + (f"\n{rest}" if rest else "")
        self._order.settle(ticket, line)

    def _guarded(self, name: str, work: Callable[[], None], ticket: int) -> None:
        """One repository's work; a bug in it fails that repository, never the stage (which would leave
        the other stages waiting on a queue nobody drains). Once the run is stopped the stages only
        drain their queues: the work is left for the next run."""
        if stop.reason() is not None:
            return
        try:
            work()
        except stop.RunStopped:
            return
        except Exception as exc:  # isolation: reported for this repository, the stages go on
            log.exception("unexpected error for repository %s", name)
            error = RepositoryChange(name, Action.ERROR, None, None, "", error=f"unexpected error: {exc!r}")
            self.executor.settle_repository(error, self.summary)
            self.progress.advance("failed")
            self._order.settle(ticket, None)  # unless it already was: its line, if any, stands


@dataclass(frozen=True)
class _Write:
    change: RepositoryChange
    just_read: bool  # decided in this run from a fresh read (else a saved plan's change, re-read first)
    tag: str  # said after the repository's line: "new since plan", "appeared during the pass"
    ticket: int  # its place in the output (_InOrder)


class _InOrder:
    """Prints lines in ticket order whatever the order they are settled in: a line waits until every
    ticket before it is settled (with a line, or None for nothing to say). Holds only the lines settled
    ahead of the first unsettled ticket."""

    def __init__(self, echo: Echo) -> None:
        self._echo = echo
        self._lock = threading.Lock()
        self._issued = 0
        self._next = 0
        self._waiting: dict[int, str | None] = {}

    def tickets(self, count: int) -> int:
        """Hands out `count` tickets at once; returns the next one."""
        with self._lock:
            self._issued += count
            return self._issued

    def ticket(self) -> int:
        with self._lock:
            self._issued += 1
            return self._issued - 1

    def settle(self, ticket: int, line: str | None) -> None:
        with self._lock:
            if ticket < self._next or ticket in self._waiting:
                return  # settled already
            self._waiting[ticket] = line
            while self._next in self._waiting:
                ready = self._waiting.pop(self._next)
                self._next += 1
                if ready is not None:
                    self._echo(ready)

    def flush(self) -> None:
        """Whatever is left (a ticket never settled would hold back the rest), in order."""
        with self._lock:
            for ticket in sorted(self._waiting):
                ready = self._waiting.pop(ticket)
                if ready is not None:
                    self._echo(ready)
            self._next = self._issued


def _start(target: Callable[[], None]) -> threading.Thread:
    # Daemon: Ctrl-C ends the run; the report already has a `pending` line for any write in flight.
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _join(threads: Sequence[threading.Thread]) -> None:
    for thread in threads:
        thread.join()
