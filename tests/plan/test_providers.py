"""refuse_shared_providers: a provider config that two registries resolve to is an error in each of them."""

from __future__ import annotations

from reconciler.desired.model import NullplatformTarget, PullAccess, Registry
from reconciler.live.state import LivePolicy, LiveProvider, LiveRegistry
from reconciler.plan.providers import refuse_shared_providers

POLICY = '{"Version": "2012-10-17", "Statement": []}'


def registry(name: str, region: str, nrn: str | None, provider_id: str | None = None) -> Registry:
    target = NullplatformTarget(nrn, provider_id) if nrn else None
    access = PullAccess(accounts=("111122223333",))
    return Registry(name, "123456789012", region, access, nullplatform=target, source=f"policies/{name}.yaml")


def live(name: str, nrn: str, provider_id: str | None, error: str | None = None) -> LiveRegistry:
    provider = LiveProvider(nrn, provider_id, POLICY, error)
    return LiveRegistry(name, (LivePolicy("app", None),), provider)


REGISTRIES = (
    registry("main", "us-east-1", "organization=1:account=2"),
    registry("eu", "eu-west-1", "organization=1:account=3", "p1"),
    registry("ap", "ap-south-1", "organization=1:account=4"),
    registry("plain", "sa-east-1", None),
)


def test_two_registries_observed_together_both_get_the_error() -> None:
    observed = [
        live("main", "organization=1:account=2", "p1"),
        live("eu", "organization=1:account=3", "p1"),
        live("ap", "organization=1:account=4", "p2"),
        LiveRegistry("plain", (LivePolicy("app", None),)),
    ]
    main, eu, ap, plain = refuse_shared_providers(REGISTRIES, observed, {})
    assert main.provider is not None and eu.provider is not None
    assert main.provider.error is not None and main.provider.error.startswith(
        "provider config p1 is also the one registry eu in eu-west-1 "
        "(policies/eu.yaml, nrn organization=1:account=3) syncs: "
    )
    assert eu.provider.error is not None and eu.provider.error.startswith(
        "provider config p1 is also the one registry main in us-east-1 "
        "(policies/main.yaml, nrn organization=1:account=2) syncs: "
    )
    # Only the provider: the repositories are the registry's own and go on.
    assert main.policies == observed[0].policies
    assert (ap, plain) == (observed[2], observed[3])


def test_a_registry_outside_the_run_counts_too() -> None:
    observed = [live("main", "organization=1:account=2", "p1")]
    [main] = refuse_shared_providers(REGISTRIES, observed, {"eu": "p1", "ap": "p2"})
    assert main.provider is not None and main.provider.error is not None
    assert "is also the one registry eu in eu-west-1" in main.provider.error
    [alone] = refuse_shared_providers(REGISTRIES, observed, {"ap": "p2"})
    assert alone == observed[0]


def test_an_unresolved_provider_is_left_as_it_is() -> None:
    observed = [live("main", "organization=1:account=2", None, "no nullplatform ECR provider config")]
    assert refuse_shared_providers(REGISTRIES, observed, {"eu": "p1"}) == observed


def test_three_registries_on_one_provider_name_the_two_others() -> None:
    observed = [
        live("main", "organization=1:account=2", "p1"),
        live("eu", "organization=1:account=3", "p1"),
        live("ap", "organization=1:account=4", "p1"),
    ]
    main = refuse_shared_providers(REGISTRIES, observed, {})[0]
    assert main.provider is not None and main.provider.error is not None
    assert "registry ap in ap-south-1" in main.provider.error
    assert "registry eu in eu-west-1" in main.provider.error
