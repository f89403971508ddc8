"""What observing produces: plain data handed to the pure planner. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# ECR's answer for a repository that does not exist (any more): it needs no policy.
REPOSITORY_NOT_FOUND = "RepositoryNotFoundException"


@dataclass(frozen=True)
class LivePolicy:
    """One repository's policy as read: `text` None means the repository has no policy."""

    repository: str
    text: str | None
    error: str | None = None  # set when the policy could not be read (AccessDenied, gone, ...)
    error_code: str | None = None  # the AWS error code behind `error`, e.g. RepositoryNotFoundException

    @property
    def gone(self) -> bool:
        """Deleted between the listing and this read: not an error, there is nothing to manage."""
        return self.error_code == REPOSITORY_NOT_FOUND


@dataclass(frozen=True)
class LiveProvider:
    """The nullplatform provider config's policy. Only the policy string is ever kept."""

    nrn: str
    provider_id: str | None
    policy: str | None
    error: str | None = None
    blocked: str | None = None  # why a write of its policy would be refused (nothing else of it is kept)


@dataclass(frozen=True)
class LiveTemplate:
    """A repository creation template's policy and `appliedFor` as read (nothing else of it is planned on).

    `exists` False: there is no template with this prefix. `policy` None: the template sets no policy.
    """

    prefix: str
    exists: bool
    policy: str | None = None
    applied_for: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class LiveRegistry:
    name: str
    # A tuple, or a one-shot iterator read as the plan is built (reconciler.live.observe.stream_registry).
    policies: Iterable[LivePolicy] = ()
    provider: LiveProvider | None = None
    error: str | None = None  # listing failed: nothing is known about this registry
    stats: dict[str, int] = field(default_factory=dict)
    templates: tuple[LiveTemplate, ...] = ()  # one per creation template policies/ declares, in its order
    listed: tuple[str, ...] = ()  # the repositories in scope, in listing order
    source: str = ""  # where the policies came from when not all were read now (live/incremental.py)
