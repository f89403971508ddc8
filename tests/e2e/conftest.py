from __future__ import annotations

from pathlib import Path

import pytest
from sample_registry import NRN, provider_attributes

from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.nullplatform import NullplatformApi

from .support import env_for, seed, write_policies


class World:
    """One seeded registry, a provider config with an old policy, and a policies/ dir."""

    def __init__(self, ecr: EcrEmulator, nullplatform: NullplatformApi, tmp: Path) -> None:
        self.ecr = ecr
        self.nullplatform = nullplatform
        self.tmp = tmp
        self.seeded = seed(ecr)
        self.provider_id = nullplatform.add_provider(NRN, provider_attributes())
        self.policies = write_policies(tmp)
        self.report = tmp / "report.jsonl"

    @property
    def managed(self) -> list[str]:
        return [n for n in self.seeded if not n.startswith("sandbox/")]


@pytest.fixture
def world(
    aws_env: EcrEmulator, nullplatform: NullplatformApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> World:
    env_for(monkeypatch, aws_env, nullplatform)
    return World(aws_env, nullplatform, tmp_path)


@pytest.fixture(scope="session")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh venv holding what the workflows install (requirements.txt and the
    reconciler), installed once per session by the install action's own commands."""
    from .workflow_runner import install_runtime

    return install_runtime(Path(__file__).resolve().parents[2], tmp_path_factory.mktemp("runtime"))
