"""Timeouts and attempts are the user's to set: a hung ECR call is cut where they say."""

from __future__ import annotations

import time

import pytest
from sample_registry import run_cli

from .conftest import World


def test_a_hung_read_is_bounded_by_the_cli_timeout_options(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ecr.configure(
        hang_actions={"GetRepositoryPolicy"}, hang_repositories={"team-01/app"}, hang_seconds=30
    )
    started = time.monotonic()
    code, out, _ = run_cli(
        capsys,
        "plan",
        "--policies",
        str(world.policies),
        "--no-progress",
        "--max-rps",
        "500",
        "--read-timeout",
        "0.5",
        "--max-attempts",
        "2",
    )
    elapsed = time.monotonic() - started
    assert code == 1
    assert "team-01/app: error: GetRepositoryPolicy failed" in out and "Read timeout" in out
    assert elapsed < 10, elapsed  # 2 attempts x 0.5 s and a short backoff, not 10 x 20 s
