"""Error types shared by every layer. Each carries a message a person can act on."""

from __future__ import annotations

from dataclasses import dataclass


class ReconcilerError(Exception):
    """A failure to report as one clear line and exit 1 (no traceback)."""


@dataclass(frozen=True, order=True)
class Problem:
    """One validation problem, located in a desired-state file."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class ValidationFailed(ReconcilerError):
    """The desired state is invalid; `problems` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CredentialsError(ReconcilerError):
    """No AWS credentials could be found or loaded: the run stops here, said as such (not as a problem
    in a policies/ file, nor once per repository)."""


class GuardViolation(ReconcilerError):
    """A policy broke a safety rule (public, non-pull, too large). Nothing was written."""


class StaleTarget(ReconcilerError):
    """The target no longer holds what the plan saw: nothing was written. `live` is what it holds now."""

    def __init__(self, message: str, live: str | None = None) -> None:
        super().__init__(message)
        self.live = live


class SentWriteError(ReconcilerError):
    """A write failed after its request went out (or may have): it may have landed."""

    sent = True


def was_sent(error: BaseException) -> bool:
    """True when a failed write's request went out (or may have), so the write may have landed: restore
    must check the live policy for it as for a write in flight (`sent` on the error says so)."""
    return getattr(error, "sent", False) is True
