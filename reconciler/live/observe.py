"""Read the live state of one registry: its managed repositories' policies, its provider config and its
repository creation templates."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from pathlib import Path

from reconciler.desired.model import Registry
from reconciler.errors import ReconcilerError
from reconciler.live import stop
from reconciler.live.ecr import EcrClient
from reconciler.live.incremental import Baseline, baseline
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.snapshot import SnapshotWriter, now_iso
from reconciler.live.state import LivePolicy, LiveProvider, LiveRegistry
from reconciler.live.templates import observe_templates

log = logging.getLogger(__name__)

MISSING_KEY = "nullplatform is configured for this registry but NULLPLATFORM_API_KEY is not set"


def observe_provider(registry: Registry, nullplatform: NullplatformClient | None) -> LiveProvider | None:
    """The provider config's policy, or None when the registry syncs none. Failures become `error`."""
    target = registry.nullplatform
    if target is None:
        return None
    if nullplatform is None:
        return LiveProvider(nrn=target.nrn, provider_id=target.provider_id, policy=None, error=MISSING_KEY)
    provider_id = target.provider_id
    try:
        provider_id = nullplatform.find_provider_id(target)
        policy, blocked = nullplatform.read_provider(provider_id)
    except ReconcilerError as exc:
        return LiveProvider(nrn=target.nrn, provider_id=provider_id, policy=None, error=str(exc))
    return LiveProvider(nrn=target.nrn, provider_id=provider_id, policy=policy, blocked=blocked)


def resolve_provider_ids(
    registries: Sequence[Registry], nullplatform: NullplatformClient | None
) -> dict[str, str]:
    """Registry name -> the id of the provider config its `nullplatform:` section resolves to (a lookup by
    nrn, or none when provider_id is set). A lookup that fails is left out: that registry's own run fails
    on the same lookup and writes nothing to any provider."""
    resolved: dict[str, str] = {}
    if nullplatform is None:
        return resolved
    for registry in registries:
        if registry.nullplatform is None:
            continue
        try:
            resolved[registry.name] = nullplatform.find_provider_id(registry.nullplatform)
        except ReconcilerError as exc:
            log.info("%s: provider not resolved (%s)", registry.name, exc)
    return resolved


def observe_registry(
    registry: Registry,
    *,
    ecr: EcrClient,
    nullplatform: NullplatformClient | None,
    repository_globs: Sequence[str] = (),
    on_progress: Callable[[int, int], None] | None = None,
    include_provider: bool = True,
) -> LiveRegistry:
    """List the registry, then read the policies of the repositories in scope and only those (in listing
    order, all held: for callers that look at them more than once).

    In scope: selected by the registry (include/exclude) and, when `repository_globs` is given, matching
    one of them. Repositories out of scope are never read: their policies are not ours to look at, and
    every read costs a call against the account's shared ECR budget.
    """
    live = stream_registry(
        registry,
        ecr=ecr,
        nullplatform=nullplatform,
        repository_globs=repository_globs,
        on_progress=on_progress,
        include_provider=include_provider,
    )
    order = {name: index for index, name in enumerate(live.listed)}
    policies = sorted(live.policies, key=lambda p: order[p.repository])
    return replace(live, policies=tuple(policies), stats=ecr.calls())


def stream_registry(
    registry: Registry,
    *,
    ecr: EcrClient,
    nullplatform: NullplatformClient | None,
    repository_globs: Sequence[str] = (),
    on_progress: Callable[[int, int], None] | None = None,
    include_provider: bool = True,
    since: str | Path | None = None,
    snapshot: SnapshotWriter | None = None,
) -> LiveRegistry:
    """As observe_registry, but `policies` is a one-shot iterator: each policy is read as the consumer (the
    plan builder) takes it, in completion order, so only what the consumer keeps stays in memory (at
    100,000 repositories, the texts of those in line are dropped as soon as they are compared).

    `since`: a snapshot to take unchanged policies from (live/incremental.py). `snapshot`: save what this
    read sees, every repository of the registry included (a full read only).
    """
    started = now_iso()
    provider = observe_provider(registry, nullplatform) if include_provider else None
    # Creation templates, like the provider config, are for repositories created from now on: read (and
    # written) before the repositories, which then include everything created before the templates were set.
    templates = observe_templates(registry, ecr) if include_provider else ()
    try:
        names = ecr.list_repositories()
    except ReconcilerError as exc:
        return LiveRegistry(
            name=registry.name, provider=provider, error=str(exc), stats=ecr.calls(), templates=templates
        )
    in_scope = tuple(
        name
        for name in names
        if registry.selects(name)
        and (not repository_globs or any(fnmatchcase(name, glob) for glob in repository_globs))
    )
    log.info("%s: %d repositories in scope", registry.name, len(in_scope))
    known = baseline(registry, ecr, since) if since is not None else Baseline()
    wanted = frozenset(in_scope)
    if snapshot is not None:
        snapshot.begin(
            registry=registry.name,
            account_id=registry.account_id,
            region=registry.region,
            read_started_at=started,
            provider=provider,
            templates=templates,
        )
        to_read: tuple[str, ...] = tuple(names)  # every repository, managed or not
    else:
        to_read = tuple(name for name in in_scope if name not in known.known)
    del names

    def policies() -> Iterator[LivePolicy]:
        stop.count_repositories(listed=len(in_scope))
        for name in in_scope:
            if name in known.known:
                stop.count_repositories(done=1)
                yield LivePolicy(repository=name, text=known.known[name])
        total = len(to_read)
        if on_progress is not None:
            on_progress(0, total)
        for done, policy in enumerate(ecr.iter_policies(to_read), start=1):
            if policy.repository in wanted:
                stop.count_repositories(done=1)
            if on_progress is not None:
                on_progress(done, total)
            if snapshot is not None and not policy.gone:
                snapshot.repository(policy.repository, policy.text, unknown=policy.error is not None)
            if policy.repository in wanted:
                yield policy
        if snapshot is not None:
            snapshot.end()

    return LiveRegistry(
        name=registry.name,
        policies=policies(),
        provider=provider,
        stats=ecr.calls(),
        listed=in_scope,
        templates=templates,
        source=known.describe(len(to_read)) if since is not None else "",
    )
