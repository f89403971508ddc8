"""The README's first command: the demo runs offline and ends converged."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_converges_and_keeps_what_is_not_ours() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NULLPLATFORM_"))}
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--repos", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "second plan: no changes" in result.stdout
    # Masked on read, as the real API does, and still stored intact after the apply.
    assert "provider credentials untouched: yes (every read shows them as null" in result.stdout
    assert "foreign Lambda statements kept: 6/6" in result.stdout
    assert "throttled: 0" in result.stdout
