"""observe_registry against the ECR emulator: only repositories in scope are read."""

from __future__ import annotations

import json
from typing import Any

from reconciler.desired.model import NullplatformTarget, PullAccess, Registry
from reconciler.live.ecr import EcrClient
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.observe import MISSING_KEY, observe_registry, resolve_provider_ids
from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulator
from reconciler.sandbox.nullplatform import NullplatformApi

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Other", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}],
    }
)
NAMES = [
    "team-a/api",
    "team-a/web",
    "team-a/legacy-batch",
    "team-b/api",
    "team-b/worker",
    "tools/builder",
]


def registry(**changes: Any) -> Registry:
    values: dict[str, Any] = {
        "name": "main",
        "account_id": DEFAULT_ACCOUNT_ID,
        "region": DEFAULT_REGION,
        "pull_access": PullAccess(accounts=("111122223333",)),
        "include": ("team-*/*",),
        "exclude": ("*/legacy-*",),
    }
    values.update(changes)
    return Registry(**values)


def seed(emulator: EcrEmulator) -> None:
    for index, name in enumerate(NAMES):
        emulator.create_repository(name, policy_text=POLICY if index % 2 == 0 else None)


def test_only_selected_repositories_are_read(aws_env: EcrEmulator) -> None:
    seed(aws_env)
    progress: list[tuple[int, int]] = []
    ecr = EcrClient(registry(), max_rps=None)
    live = observe_registry(
        registry(), ecr=ecr, nullplatform=None, on_progress=lambda done, total: progress.append((done, total))
    )
    assert live.error is None and live.provider is None
    expected = ["team-a/api", "team-a/web", "team-b/api", "team-b/worker"]
    assert [p.repository for p in live.policies] == expected
    assert [p.text is not None for p in live.policies] == [True, False, False, True]
    # One listing call and one read per repository in scope: tools/* and the excluded legacy-* are not read.
    assert aws_env.stats()["requests"] == {"DescribeRepositories": 1, "GetRepositoryPolicy": 4}
    assert live.stats == {"DescribeRepositories": 1, "GetRepositoryPolicy": 4}
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)
    assert sorted(done for done, _ in progress) == [0, 1, 2, 3, 4]


def test_repository_globs_narrow_the_scope_further(aws_env: EcrEmulator) -> None:
    seed(aws_env)
    live = observe_registry(
        registry(),
        ecr=EcrClient(registry(), max_rps=None),
        nullplatform=None,
        repository_globs=("*/api", "tools/*"),  # tools/* is not managed: the registry's selection wins
    )
    assert [p.repository for p in live.policies] == ["team-a/api", "team-b/api"]
    assert aws_env.stats()["requests"] == {"DescribeRepositories": 1, "GetRepositoryPolicy": 2}


def test_a_listing_failure_is_recorded_not_raised(aws_env: EcrEmulator) -> None:
    ecr = EcrClient(registry(), endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout=0.5)
    live = observe_registry(registry(), ecr=ecr, nullplatform=None)
    assert live.policies == ()
    assert live.error is not None and "DescribeRepositories failed for registry main" in live.error


def test_a_provider_without_a_client_is_an_error_not_a_skip(aws_env: EcrEmulator) -> None:
    target = NullplatformTarget(nrn="organization=1:account=2")
    with_provider = registry(nullplatform=target)
    live = observe_registry(with_provider, ecr=EcrClient(with_provider), nullplatform=None)
    assert live.provider is not None
    assert live.provider.error == MISSING_KEY and live.provider.nrn == target.nrn
    skipped = observe_registry(
        with_provider, ecr=EcrClient(with_provider), nullplatform=None, include_provider=False
    )
    assert skipped.provider is None


def test_the_provider_policy_is_read_alongside(aws_env: EcrEmulator, nullplatform: NullplatformApi) -> None:
    seed(aws_env)
    nrn = "organization=1:account=2"
    provider_id = nullplatform.add_provider(nrn, {"setup": {"region": DEFAULT_REGION, "policy": POLICY}})
    with_provider = registry(nullplatform=NullplatformTarget(nrn=nrn))
    client = NullplatformClient(nullplatform.url, nullplatform.api_key)
    live = observe_registry(with_provider, ecr=EcrClient(with_provider, max_rps=None), nullplatform=client)
    assert live.provider is not None and live.provider.error is None
    assert (live.provider.provider_id, live.provider.policy) == (provider_id, POLICY)
    assert len(live.policies) == 4
    assert nullplatform.stats()["requests"] == {
        "POST /token": 1,
        "GET /provider": 1,
        "GET /provider/{provider_id}": 1,
    }
    # Ambiguity is recorded on the provider; the repositories are still read.
    nullplatform.add_provider(nrn, {})
    again = observe_registry(with_provider, ecr=EcrClient(with_provider, max_rps=None), nullplatform=client)
    assert again.provider is not None and again.provider.policy is None
    assert again.provider.error is not None and "2 nullplatform ECR provider configs" in again.provider.error
    assert len(again.policies) == 4 and again.error is None


def test_provider_ids_are_resolved_by_nrn_or_taken_as_pinned(nullplatform: NullplatformApi) -> None:
    """Two different nrns resolving to one provider: one is looked up there, the other pins its id."""
    provider_id = nullplatform.add_provider("organization=1:account=2", {"setup": {"region": DEFAULT_REGION}})
    registries = [
        registry(name="main", nullplatform=NullplatformTarget(nrn="organization=1:account=2")),
        registry(
            name="eu",
            region="eu-west-1",
            nullplatform=NullplatformTarget(nrn="organization=1:account=3", provider_id=provider_id),
        ),
        registry(name="missing", nullplatform=NullplatformTarget(nrn="organization=1:account=9")),
        registry(name="none"),
    ]
    client = NullplatformClient(nullplatform.url, nullplatform.api_key)
    resolved = resolve_provider_ids(registries, client)
    # Nothing at account=9: left out (its own run fails on that lookup); no section, nothing to resolve.
    assert resolved == {"main": provider_id, "eu": provider_id}
    # One lookup per nrn without an id; a pinned id costs no call; nothing is read or written.
    assert nullplatform.stats()["requests"] == {"POST /token": 1, "GET /provider": 2}
    assert resolve_provider_ids(registries, None) == {}
