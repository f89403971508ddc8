"""Two registries whose nullplatform: sections resolve to one provider config only once looked up: validate
cannot see it (different nrns), so plan refuses the provider after the lookup, in every registry that syncs
it, also when a run covers one registry (as each CI job does). Nothing is written to that provider; each
registry's own repositories are still planned and applied, and the run exits 1."""

from __future__ import annotations

import json

import pytest
from sample_registry import ACCOUNT, run_cli

from reconciler.apply.journal import read_journal
from reconciler.plan.model import Action, Plan
from reconciler.plan.planfile import plan_from_json

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
EU_REGION = "eu-west-1"
EU_REPOSITORIES = ("eu-team/app", "eu-team/web")
PATCH = "PATCH /provider/{provider_id}"


def eu_yaml(nullplatform: str) -> str:
    return (
        f'registry:\n  name: eu\n  account_id: "{ACCOUNT}"\n  region: {EU_REGION}\n'
        f"{nullplatform}"
        'pull_access:\n  accounts: ["111122223333"]\n'
    )


@pytest.fixture
def shared(world: World) -> World:
    """main looks its provider up at organization=1:account=2; eu names another nrn but pins that same
    provider's id (say, copied from the provider's page)."""
    pinned = f'nullplatform:\n  nrn: "organization=1:account=3"\n  provider_id: "{world.provider_id}"\n'
    (world.policies / "eu.yaml").write_text(eu_yaml(pinned), encoding="utf-8")
    for name in EU_REPOSITORIES:
        world.ecr.create_repository(name, region=EU_REGION)
    return world


def plan(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Plan, str]:
    out = world.tmp / "plan.json"
    code, stdout, _ = run_cli(
        capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST, *extra
    )
    return code, plan_from_json(out.read_text()), stdout


def test_validate_cannot_see_it(shared: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "validate", "--policies", str(shared.policies))
    assert code == 0, out + err


@pytest.mark.parametrize(
    "scope", [(), ("--registry", "main"), ("--registry", "eu")], ids=["all", "main", "eu"]
)
def test_plan_refuses_the_provider_in_every_registry_that_resolves_to_it(
    shared: World, capsys: pytest.CaptureFixture[str], scope: tuple[str, ...]
) -> None:
    code, result, out = plan(shared, capsys, *scope)
    assert code == 1, out
    assert result.registries
    other = {"main": "registry eu in eu-west-1", "eu": "registry main in us-east-1"}
    for registry in result.registries:
        provider = registry.provider
        assert provider is not None and provider.action == Action.ERROR
        assert provider.provider_id == shared.provider_id
        assert provider.error is not None
        assert (
            f"provider config {shared.provider_id} is also the one {other[registry.registry]}"
            in provider.error
        )
        assert "Keep nullplatform: only in the registry whose region the provider's setup.region names" in (
            provider.error
        )
        # The repositories are the registry's own: still planned.
        assert registry.changes and all(c.action != Action.ERROR for c in registry.changes)
    assert shared.nullplatform.stats()["requests"].get(PATCH) is None


@pytest.mark.parametrize(
    "scope", [(), ("--registry", "main"), ("--registry", "eu")], ids=["all", "main", "eu"]
)
def test_apply_writes_nothing_to_the_shared_provider_and_still_applies_repositories(
    shared: World, capsys: pytest.CaptureFixture[str], scope: tuple[str, ...]
) -> None:
    before = shared.nullplatform.provider(shared.provider_id)
    code, out, err = run_cli(
        capsys, "apply", "--policies", str(shared.policies), "--report", str(shared.report), *FAST, *scope
    )
    assert code == 1, out + err
    assert shared.nullplatform.stats()["requests"].get(PATCH) is None
    assert shared.nullplatform.provider(shared.provider_id) == before
    entries = read_journal(shared.report)
    failed = [e for e in entries if e.target == "provider"]
    assert failed and all(e.result == "failed" and "is also the one" in (e.error or "") for e in failed)
    applied = {e.name for e in entries if e.target == "repository" and e.result == "applied"}
    if scope != ("--registry", "main"):
        assert set(EU_REPOSITORIES) <= applied
        for name in EU_REPOSITORIES:
            statements = json.loads(shared.ecr.stored_policy(name, region=EU_REGION) or "{}")["Statement"]
            assert [s["Sid"] for s in statements] == ["AllowPull"]
    if scope != ("--registry", "eu"):
        assert {n for n, t in shared.seeded.items() if t is None} <= applied


def test_with_the_section_kept_in_one_registry_the_provider_is_planned_again(
    shared: World, capsys: pytest.CaptureFixture[str]
) -> None:
    (shared.policies / "eu.yaml").write_text(eu_yaml(""), encoding="utf-8")
    code, result, out = plan(shared, capsys, "--registry", "main")
    assert code == 0, out
    (registry,) = result.registries
    assert registry.provider is not None and registry.provider.action == Action.UPDATE


def test_apply_of_a_saved_plan_looks_again_and_refuses_a_provider_shared_since(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Planned while main alone synced the provider: an update.
    code, saved, out = plan(world, capsys)
    assert code == 0, out
    (registry,) = saved.registries
    assert registry.provider is not None and registry.provider.action == Action.UPDATE
    # Then eu.yaml arrives pinning that same provider (main's own file, and so its plan, is unchanged).
    pinned = f'nullplatform:\n  nrn: "organization=1:account=3"\n  provider_id: "{world.provider_id}"\n'
    (world.policies / "eu.yaml").write_text(eu_yaml(pinned), encoding="utf-8")
    before = world.nullplatform.provider(world.provider_id)
    code, out, err = run_cli(
        capsys,
        "apply",
        "--plan",
        str(world.tmp / "plan.json"),
        "--policies",
        str(world.policies),
        "--report",
        str(world.report),
        *FAST,
    )
    assert code == 1, out + err
    assert world.nullplatform.stats()["requests"].get(PATCH) is None
    assert world.nullplatform.provider(world.provider_id) == before
    entries = read_journal(world.report)
    (provider,) = [e for e in entries if e.target == "provider"]
    assert provider.result == "failed"
    assert f"provider config {world.provider_id} is also the one registry eu in eu-west-1" in (
        provider.error or ""
    )
    applied = {e.name for e in entries if e.target == "repository" and e.result == "applied"}
    assert {n for n, t in world.seeded.items() if t is None} <= applied
