"""The clients of a run, and which role they use: a run that writes assumes each registry's write role
for every ECR call (its reads included), any other run (plan, access, a dry run) the read role."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.desired.model import Registry
from reconciler.live.ecr import EcrClient
from reconciler.live.nullplatform import NullplatformClient
from reconciler.run.settings import Scope, Tuning


def nullplatform_client(registries: Sequence[Registry], scope: Scope) -> NullplatformClient | None:
    """A client only when some registry in scope syncs a provider config and the key is there."""
    wanted = scope.include_provider and any(r.nullplatform for r in registries)
    if not wanted or not os.environ.get("NULLPLATFORM_API_KEY"):
        return None
    return NullplatformClient.from_env()


def ecr_client(registry: Registry, tuning: Tuning, *, write: bool) -> EcrClient:
    """The registry's ECR client; `write`: for a run that writes (it assumes the write role, reads
    included), else the read role. Every caller says which."""
    return EcrClient(
        registry,
        write=write,
        concurrency=tuning.concurrency,
        max_rps=tuning.max_rps,
        connect_timeout=tuning.connect_timeout,
        read_timeout=tuning.read_timeout,
        max_attempts=tuning.max_attempts,
    )


@dataclass(frozen=True)
class Clients:
    """How a run reaches ECR and nullplatform. `write`: the run writes (the write role, reads included)."""

    tuning: Tuning
    write: bool

    def ecr(self, registry: Registry) -> EcrClient:
        return ecr_client(registry, self.tuning, write=self.write)

    def nullplatform(self, registries: Sequence[Registry], scope: Scope) -> NullplatformClient | None:
        return nullplatform_client(registries, scope)
