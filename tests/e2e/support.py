"""Helpers for end-to-end tests: a policies/ dir, seeded repositories, the CLI's environment (the sample
registry itself is in tests/sample_registry.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_registry import DESIRED, LAMBDA, OLD, POLICIES_YAML, with_statements

from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.nullplatform import NullplatformApi


def with_foreign(text: str | None) -> str:
    return with_statements(text, LAMBDA)


def write_policies(directory: Path, text: str = POLICIES_YAML) -> Path:
    policies = directory / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "main.yaml").write_text(text, encoding="utf-8")
    return policies


def seed(ecr: EcrEmulator, count: int = 12) -> dict[str, str | None]:
    """`count` team repositories cycling through states, plus payments, sandbox and foreign ones."""
    states: list[str | None] = [DESIRED, OLD, None]
    seeded: dict[str, str | None] = {}
    for index in range(count):
        seeded[f"team-{index:02d}/app"] = states[index % 3]
    seeded["team-foreign/old"] = with_foreign(OLD)
    seeded["team-foreign/none"] = with_foreign(None)
    seeded["payments/api"] = DESIRED
    seeded["sandbox/x"] = OLD
    for name, text in seeded.items():
        ecr.create_repository(name, policy_text=text)
    return seeded


def env_for(monkeypatch: pytest.MonkeyPatch, ecr: EcrEmulator, nullplatform: NullplatformApi) -> None:
    for name, value in (ecr.environment() | nullplatform.environment()).items():
        monkeypatch.setenv(name, value)
