"""Ctrl-C stops any command at once (issue #28, item 4): no call is sent after it, reads in flight are
abandoned, exit 130, and a second Ctrl-C prints no traceback.

Without timing: every policy read takes 120 s in the sandbox, and with a fixed concurrency the command
can have only that many reads on the wire, so once the sandbox holds them all nothing more can be sent
until one returns. Ctrl-C then; the command must exit before any of them returns (they are still in flight
in the sandbox after it exited) and the sandbox must have received nothing more.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from .conftest import World

CONCURRENCY = 3
HANG_MS = 120_000


def wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("command", ["plan", "access", "apply"])
def test_ctrl_c_stops_at_once_with_nothing_sent_after_it(world: World, command: str) -> None:
    world.ecr.configure(action_latency_ms={"GetRepositoryPolicy": HANG_MS})
    arguments = [sys.executable, "-m", "reconciler", command, "--policies", str(world.policies)]
    arguments += ["--no-progress", "--concurrency", str(CONCURRENCY), "--max-rps", "1000"]
    # The client would give up on a read only after 300 s: exiting sooner is not a timeout's doing.
    arguments += ["--read-timeout", "300"]
    if command == "apply":
        arguments += ["--report", str(world.report)]
    process = subprocess.Popen(
        arguments, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(
            lambda: world.ecr.stats()["requests"].get("GetRepositoryPolicy", 0) >= CONCURRENCY,
            "the reads to be in flight",
        )
        sent = world.ecr.stats()["total_requests"]
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)  # a second Ctrl-C while it stops: still no traceback
        # Far less than the reads' 120 s (and the 300 s read timeout): it does not wait for them.
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stats = world.ecr.stats()
    assert process.returncode == 130, err
    assert "Traceback" not in err, err
    # It exited while every read it sent was still in flight (none had returned) ...
    assert stats["requests"]["GetRepositoryPolicy"] == CONCURRENCY
    assert stats["in_flight"] == CONCURRENCY
    # ... and sent nothing after Ctrl-C.
    assert stats["total_requests"] == sent
    world.ecr.reset_knobs()  # ends the hanging reads
