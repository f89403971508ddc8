"""What a run covers (Scope) and how it paces and times its ECR calls (Tuning)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from reconciler.live.ecr import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RPS,
    DEFAULT_READ_TIMEOUT,
)
from reconciler.live.ratelimit import DEFAULT_MAX_CONCURRENCY


@dataclass(frozen=True)
class Scope:
    """Which part of the desired state a run covers."""

    registry: str | None = None
    repositories: tuple[str, ...] = ()  # fnmatch globs; empty means every managed repository
    # The targets for repositories created from now on: the provider config and the creation templates.
    include_provider: bool = True
    # A saved plan's own globs (empty: it covered every managed repository): a run that writes it selects
    # only repositories these match too, so one the plan left out is never "new since plan".
    plan_repositories: tuple[str, ...] = ()

    def selects_repository(self, name: str) -> bool:
        return self.in_plan(name) and (
            not self.repositories or any(fnmatchcase(name, g) for g in self.repositories)
        )

    def in_plan(self, name: str) -> bool:
        return not self.plan_repositories or any(fnmatchcase(name, g) for g in self.plan_repositories)

    def within_plan(self, repositories: tuple[str, ...], repositories_only: bool) -> Scope:
        """This scope, narrowed to what a saved plan covers."""
        return replace(
            self,
            include_provider=self.include_provider and not repositories_only,
            plan_repositories=repositories,
        )


@dataclass(frozen=True)
class Tuning:
    concurrency: int | None = DEFAULT_CONCURRENCY  # None: sized to the rate (rate x latency), up to a cap
    max_rps: float | None = DEFAULT_MAX_RPS
    progress: bool = True
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @property
    def workers(self) -> int:
        """Threads for a pool of ECR calls: the fixed concurrency, or the most the pacer may let run."""
        return self.concurrency or DEFAULT_MAX_CONCURRENCY
