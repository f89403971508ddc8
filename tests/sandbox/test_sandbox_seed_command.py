"""Seeding and the `reconciler sandbox` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.command import sample_desired_policy_text, sample_old_policy_text
from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, EcrEmulator
from reconciler.sandbox.seed import LAMBDA_SID, STATES, seed_registries, seed_registry

DESIRED = sample_desired_policy_text()

ROOT = Path(__file__).resolve().parents[2]


def sids(text: str | None) -> list[str]:
    return [] if text is None else [s["Sid"] for s in json.loads(text)["Statement"]]


def test_seed_counts_states_and_names(ecr: EcrEmulator) -> None:
    summary = seed_registry(ecr, repositories=100, desired_policy_text=DESIRED, seed=1)
    assert summary.counts == {"in_sync": 40, "drifted": 30, "no_policy": 30, "foreign": 10}
    assert summary.total == 100 == len(ecr.repository_names())
    names = ecr.repository_names()
    assert "team-0/app-0" in names and "sandbox/exp-49" in names and "sandbox/exp-99" in names
    for name in summary.names["in_sync"]:
        text = ecr.stored_policy(name)
        if name in summary.foreign:
            assert sids(text) == [*sids(DESIRED), LAMBDA_SID]
        else:
            assert text == DESIRED
    for name in summary.names["drifted"]:
        text = ecr.stored_policy(name)
        assert text is not None and text != DESIRED and sids(text)[0] == "AllowPull"
    for name in summary.names["no_policy"]:
        assert sids(ecr.stored_policy(name)) == ([LAMBDA_SID] if name in summary.foreign else [])


def test_seed_is_deterministic_and_foreign_statement_is_lambdas(ecr: EcrEmulator) -> None:
    first = seed_registry(ecr, repositories=60, desired_policy_text=DESIRED, seed=5)
    ecr.reset()
    second = seed_registry(ecr, repositories=60, desired_policy_text=DESIRED, seed=5)
    assert first.to_json() == second.to_json()
    statement = json.loads(ecr.stored_policy(second.foreign[0]) or "{}")["Statement"][-1]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Condition"] == {
        "StringLike": {"aws:sourceArn": f"arn:aws:lambda:us-east-1:{DEFAULT_ACCOUNT_ID}:function:*"}
    }


def test_seed_bypasses_knobs_and_counters(ecr: EcrEmulator) -> None:
    ecr.configure(latency_ms=1000, default_tps=0.001, error_rate={"*": 1.0})
    started = time.monotonic()
    seed_registry(ecr, repositories=2000, desired_policy_text=DESIRED)
    # 2,000 calls at 1 s each would take minutes even in parallel; a busy machine needs a few seconds.
    assert time.monotonic() - started < 60
    assert ecr.stats()["total_requests"] == 0


def test_seed_several_registries(ecr: EcrEmulator) -> None:
    registries = [(DEFAULT_ACCOUNT_ID, "us-east-1"), ("210987654321", "eu-west-1")]
    texts = {registry: sample_desired_policy_text(registry[0]) for registry in registries}
    summaries = seed_registries(
        ecr, registries, repositories=20, desired_policy_text=texts, mix={"in_sync": 1}, foreign_fraction=0
    )
    assert [s.counts["in_sync"] for s in summaries] == [20, 20]
    assert len(ecr.repository_names(account_id="210987654321", region="eu-west-1")) == 20
    other = summaries[1].names["in_sync"][0]
    assert ecr.stored_policy(other, account_id="210987654321", region="eu-west-1") == texts[registries[1]]
    assert '"210987654321"' in texts[registries[1]]
    assert set(STATES) == set(summaries[0].names)


def _read_env(process: subprocess.Popen[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            env[name] = value
        if line.startswith("# Ctrl-C"):
            return env
    raise AssertionError(
        f"sandbox did not become ready; stderr: {process.stderr.read() if process.stderr else ''}"
    )


def _get(url: str, headers: dict[str, str] | None = None, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.e2e  # a real `reconciler sandbox` process
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sandbox_command_starts_serves_and_stops_cleanly(signum: int) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--repos", "30", "--tps", "GetRepositoryPolicy=50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        env = _read_env(process)
        assert env["AWS_DEFAULT_REGION"] == "us-east-1" and env["AWS_ACCESS_KEY_ID"]
        stats = _get(env["AWS_ENDPOINT_URL"] + "/_sandbox/stats")
        assert stats["total_requests"] == 0
        tokens = _get(env["NULLPLATFORM_HOST"] + "/token", body={"apikey": env["NULLPLATFORM_API_KEY"]})
        providers = _get(
            env["NULLPLATFORM_HOST"] + "/provider?nrn=organization=1:account=2&specification_slug=ecr",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert providers["paging"]["total"] == 1
        assert providers["results"][0]["attributes"]["setup"]["policy"] == sample_old_policy_text()
        # As on the real API, the CI credentials are secret: they read as null.
        ci = providers["results"][0]["attributes"]["ci"]
        assert ci["access_key"] is None and ci["secret_key"] is None and ci["region"] == "us-east-1"
        # What the README says to do by hand: plan the shipped policies/ against it.
        plan = subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "plan",
                "--policies",
                str(ROOT / "policies"),
                "--no-progress",
            ],
            env={**environment, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert plan.returncode == 0, plan.stderr
        assert "to update" in plan.stdout and "provider config: update" in plan.stdout
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
