"""One run-wide "stop at once": Ctrl-C and AWS credentials that expired (or could no longer be refreshed)
both trip it, and every AWS call checks it just before it is sent (the ECR client's `before-send` hook,
after the pacer gave the call its slot; the STS and Organizations clients' too).

Once tripped, no call is sent: the one in the calling thread raises the reason (`RunStopped`), worker
threads end at their next call, and the command exits with one message (`exit_code`: 130 for Ctrl-C, 1 for
credentials). Calls already on the wire are not waited for on Ctrl-C (reads are abandoned; a write in flight
has its `pending` line in the apply report). When credentials expire, those calls are refused by AWS anyway
(so at most they come back refused), and a write among them is settled in the report.

`RunStopped` is deliberately not a `ReconcilerError`: code that turns a `ReconcilerError` into a
per-repository or per-registry failure (and goes on) must let a stop pass.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any

# AWS's error codes for session credentials past their expiry: ECR (JSON protocol), STS (query protocol).
EXPIRED_CODES = frozenset({"ExpiredTokenException", "ExpiredToken"})


class RunStopped(Exception):
    """The run was stopped; `str()` is the one message for the user, `exit_code` the command's."""

    exit_code = 1


class Interrupted(RunStopped):
    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")


class CredentialsExpired(RunStopped):
    """AWS refused the run's credentials as expired, or they could not be refreshed in time."""

    def __init__(self, at: datetime, done: int, total: int, cause: str = "") -> None:
        self.at, self.done, self.total, self.cause = at, done, total, cause
        when = at.astimezone(UTC).strftime("%H:%M:%S UTC")
        progress = f" after {done:,} of {total:,} repositories" if total else ""
        because = f" ({cause})" if cause else ""
        super().__init__(
            f"AWS credentials expired at {when}{progress}{because}; run again to continue "
            "(repositories already in line are skipped)"
        )


class _Run:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reason: RunStopped | None = None
        self.done = 0
        self.total = 0


_run = _Run()


def reset() -> None:
    """A new run (each CLI invocation; tests that run several in one process)."""
    global _run
    _run = _Run()


def request(reason: RunStopped) -> RunStopped:
    """Stop the run; the first reason wins and is returned (raise it)."""
    run = _run
    with run.lock:
        if run.reason is None:
            run.reason = reason
        return run.reason


def reason() -> RunStopped | None:
    return _run.reason


def check() -> None:
    """Raise the stop's reason if the run is stopped: call just before sending anything."""
    found = _run.reason
    if found is not None:
        raise found


def before_send_hook(**_: Any) -> None:
    """botocore `before-send` handler: no request goes out once the run is stopped."""
    check()


def credentials_expired(cause: str = "", at: datetime | None = None) -> RunStopped:
    """Stop the run because AWS credentials expired; returns the stop's reason (raise it)."""
    run = _run
    with run.lock:
        done, total = run.done, run.total
    return request(CredentialsExpired(at or datetime.now(UTC), done, total, cause))


def count_repositories(*, listed: int = 0, done: int = 0) -> None:
    """The run's progress in repositories, for the message of a stop: in scope so far, and done."""
    run = _run
    with run.lock:
        run.total += listed
        run.done += done


@contextmanager
def ctrl_c_stops_the_run() -> Iterator[None]:
    """While inside: the first Ctrl-C stops the run (no call is sent after it) and raises
    KeyboardInterrupt in the main thread to end what it waits on; later ones are ignored (no traceback
    while the process exits). Outside the main thread, a no-op."""

    interrupted = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        request(Interrupted())
        if not interrupted:
            interrupted = True
            raise KeyboardInterrupt

    try:
        previous: Callable[[int, FrameType | None], Any] | int | None = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        # After a Ctrl-C the process is on its way out: a second Ctrl-C while it exits (the interpreter's
        # own teardown included, where a Python handler no longer runs) must not print a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN if interrupted else previous)
