"""Fixtures of the reliability tests: a seeded sandbox site with a hermetic environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.nullplatform import NullplatformApi

from .support import FIGURES, Site, Writes, record_writes, tune_ecr

# Variables from a CI runner (or a developer's shell) that would change what the CLI does or where it
# writes: the job summary, annotations, the event, tokens.
AMBIENT = (
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_EVENT_PATH",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_WORKSPACE",
    "NULLPLATFORM_API_KEY",
    "NULLPLATFORM_HOST",
)


@pytest.fixture
def hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def site(
    hermetic: None,
    aws_env: EcrEmulator,
    nullplatform: NullplatformApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Site:
    for name, value in nullplatform.environment().items():
        monkeypatch.setenv(name, value)
    tune_ecr(monkeypatch)
    return Site(aws_env, nullplatform, tmp_path)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Writes:
    return record_writes(monkeypatch)


@pytest.fixture(autouse=True)
def count_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, add up the faults the doubles it used answered with (for docs/RELIABILITY.md)."""
    yield
    names = request.fixturenames
    if "ecr_emulator" in names:
        stats = request.getfixturevalue("ecr_emulator").stats()
        for kind, count in stats["injected"].items():
            FIGURES[f"ECR injected: {kind}"] += count
        if stats["total_throttled"]:
            FIGURES["ECR injected: throttled"] += stats["total_throttled"]
    for fixture, label in (("nullplatform_api", "nullplatform"), ("github_api", "GitHub")):
        if fixture in names:
            statuses = request.getfixturevalue(fixture).stats()["statuses"]
            for status, count in statuses.items():
                if status in {"401", "403", "429"} or status.startswith("5"):
                    FIGURES[f"{label} error answers: {status}"] += count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for key, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{key}: {value}")
