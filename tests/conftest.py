"""Session-wide sandbox fixtures (reconciler.sandbox): each double starts once per test session, on
127.0.0.1 and a free port, only when a test first asks for it; per-test fixtures hand it back clean.

Per test (use these):
- `ecr`: the EcrEmulator with moto's state cleared (every account and region), knobs back to defaults,
  counters zeroed. `ecr.client()` gives a boto3 client; `ecr.create_repository(...)` seeds directly.
- `nullplatform`: the NullplatformApi with no providers, default knobs, no tokens, zeroed counters.
- `github`: the GithubApi with no comments, default knobs, zeroed counters.
- `aws_env`: environment pointing boto3 (and the reconciler) at the ECR emulator: AWS_ENDPOINT_URL,
  dummy AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION=us-east-1; AWS_PROFILE, session
  tokens, config files and AWS_ENDPOINT_URL_* overrides removed. Returns the ECR emulator.

Per session (rarely needed directly): `ecr_emulator`, `nullplatform_api`, `github_api`.

moto keeps its state per process, so a test (or a module fixture) starting another EcrEmulator shares
repositories with `ecr`; both are reset by `ecr` before every test that uses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from reconciler.sandbox.ecr import EcrEmulator
    from reconciler.sandbox.github import GithubApi
    from reconciler.sandbox.nullplatform import NullplatformApi


E2E_DIR = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e/ is end to end (`make test-fast` leaves them out): marked here, so a new
    file there cannot be forgotten."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def ecr_emulator() -> Iterator[EcrEmulator]:
    from reconciler.sandbox.ecr import EcrEmulator

    with EcrEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def nullplatform_api() -> Iterator[NullplatformApi]:
    from reconciler.sandbox.nullplatform import NullplatformApi

    with NullplatformApi() as api:
        yield api


@pytest.fixture(scope="session")
def github_api() -> Iterator[GithubApi]:
    from reconciler.sandbox.github import GithubApi

    with GithubApi() as api:
        yield api


@pytest.fixture
def ecr(ecr_emulator: EcrEmulator) -> EcrEmulator:
    ecr_emulator.reset_knobs()  # first: releases requests a previous test left hanging
    ecr_emulator.reset()
    return ecr_emulator


@pytest.fixture
def nullplatform(nullplatform_api: NullplatformApi) -> NullplatformApi:
    nullplatform_api.reset()
    return nullplatform_api


@pytest.fixture
def github(github_api: GithubApi) -> GithubApi:
    github_api.reset()
    return github_api


@pytest.fixture
def aws_env(ecr: EcrEmulator, monkeypatch: pytest.MonkeyPatch) -> EcrEmulator:
    # Anything that could send boto3 elsewhere than the emulator, or to a real profile, goes.
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name in {
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_REGION",
            "AWS_MAX_ATTEMPTS",
            "AWS_RETRY_MODE",
            "MOTO_ACCOUNT_ID",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name, value in ecr.environment().items():
        monkeypatch.setenv(name, value)
    return ecr
