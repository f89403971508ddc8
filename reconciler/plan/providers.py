"""No two registries write one nullplatform provider config. Pure: the provider ids are already resolved.

validate refuses two files that name the same provider_id, or the same nrn where one looks the provider up.
What it cannot see is two different `nullplatform:` sections that resolve to one provider only when looked
up (one file pins a provider_id that is also the provider found at another file's nrn). This check runs on
the resolved ids, before anything is planned or written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from reconciler.desired.model import Registry
from reconciler.live.state import LiveRegistry


def refuse_shared_providers(
    registries: Sequence[Registry], live: Sequence[LiveRegistry], elsewhere: Mapping[str, str]
) -> list[LiveRegistry]:
    """`live`, with the provider of every registry whose provider id another registry also resolves to
    turned into an error, so it is planned as an error and never written (the repositories still are:
    they are the registry's own, and one file per account and region keeps them apart).

    `registries` is the whole desired state; `elsewhere` maps the registries not observed in this run (a
    CI job plans one registry) to the provider ids their sections resolve to.
    """
    resolved = dict(elsewhere)
    for item in live:
        if item.provider is not None and item.provider.provider_id is not None:
            resolved[item.name] = item.provider.provider_id
    by_name = {r.name: r for r in registries}
    result: list[LiveRegistry] = []
    for item in live:
        provider = item.provider
        provider_id = provider.provider_id if provider is not None else None
        sharing = sorted(n for n, i in resolved.items() if i == provider_id and n != item.name)
        if provider is None or provider_id is None or not sharing:
            result.append(item)
            continue
        others = " and ".join(_described(by_name[name]) if name in by_name else name for name in sharing)
        verb = "syncs" if len(sharing) == 1 else "sync"
        error = (
            f"provider config {provider_id} is also the one {others} {verb}: one provider config holds one "
            "policy and one setup.region, so nothing is written to it while two registries sync it. Keep "
            "nullplatform: only in the registry whose region the provider's setup.region names and remove "
            "it from the other files (or give each registry the provider_id of its own provider config)"
        )
        result.append(dataclasses.replace(item, provider=dataclasses.replace(provider, error=error)))
    return result


def _described(registry: Registry) -> str:
    target = registry.nullplatform
    nrn = f", nrn {target.nrn}" if target is not None else ""
    return f"registry {registry.name} in {registry.region} ({registry.source}{nrn})"
