"""Secrets never leave the process: plan, apply, comment, drift-issue and restore run with recognisable
fake credentials (nullplatform API key, AWS secret key and session token, GitHub token, the provider's CI
access and secret keys, and the bearer tokens nullplatform issues), on the happy path and on failure paths
(a provider write that keeps failing, one refused for a null in `setup`, one whose PATCH loses a group,
AccessDenied on a repository, GitHub refusing the comment and the issue). The nullplatform double masks
the CI keys on read, as the real API does: they must also stay stored, never overwritten. None of them may
appear in stdout, stderr, the plan files, the apply and restore reports, the job summary, the comment and
issue bodies GitHub received, or any log record at DEBUG.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sample_registry import CI_ACCESS_KEY, CI_SECRET, provider_attributes, run_cli

from reconciler.report.github import GitHubClient
from reconciler.sandbox.github import GithubApi
from reconciler.sandbox.nullplatform import NullplatformApi

from .support import FIGURES, Site, no_backoff_sleep, tune_ecr

NULLPLATFORM_KEY = "np-api-key-must-not-leak-41b7e2"
AWS_SECRET = "aws-secret-key-must-not-leak-9d0c55"
AWS_SESSION_TOKEN = "aws-session-token-must-not-leak-6a2f10"
GITHUB_TOKEN = "ghs_githubtokenmustnotleak7c3e91"
FAST = ("--no-progress", "--max-rps", "1000")
BOTOCORE_REQUEST_DUMPS = {"botocore.auth", "botocore.endpoint"}


@pytest.fixture
def github_with_secret_token() -> Iterator[GithubApi]:
    with GithubApi(token=GITHUB_TOKEN) as api:
        yield api


@pytest.fixture
def issued_tokens(nullplatform: NullplatformApi, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every access and refresh token the nullplatform double hands out."""
    tokens: list[str] = []
    issue = nullplatform._new_tokens

    def recording(api_key: str) -> dict[str, Any]:
        answer = issue(api_key)
        tokens.extend([answer["access_token"], answer["refresh_token"]])
        return answer

    monkeypatch.setattr(nullplatform, "_new_tokens", recording)
    return tokens


def record_comment_bodies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every comment body the reconciler sends to GitHub (created or edited), as sent."""
    bodies: list[str] = []
    create, update = GitHubClient.create_comment, GitHubClient.update_comment

    def recording_create(self: GitHubClient, number: int, body: str, **options: str | None) -> int:
        bodies.append(body)
        return create(self, number, body, **options)

    def recording_update(self: GitHubClient, comment_id: int, body: str) -> None:
        bodies.append(body)
        update(self, comment_id, body)

    monkeypatch.setattr(GitHubClient, "create_comment", recording_create)
    monkeypatch.setattr(GitHubClient, "update_comment", recording_update)
    return bodies


def test_no_secret_appears_in_any_output_file_comment_or_log(
    site: Site,
    github_with_secret_token: GithubApi,
    issued_tokens: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    github = github_with_secret_token
    tune_ecr(monkeypatch, share=False)  # a fresh client (and credential lookup) for every run
    monkeypatch.setattr(site.nullplatform, "api_keys", {NULLPLATFORM_KEY})
    environment = {
        "NULLPLATFORM_API_KEY": NULLPLATFORM_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": AWS_SESSION_TOKEN,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": "acme/ecr-policies",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}), encoding="utf-8")
    environment["GITHUB_EVENT_PATH"] = str(event)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    no_backoff_sleep(monkeypatch)  # nullplatform's and GitHub's waits alike
    sent = record_comment_bodies(monkeypatch)
    caplog.set_level(logging.DEBUG)  # every logger, botocore and urllib3 included
    site.nullplatform.configure(mask_secrets=True)  # the CI keys read as null, as on the real API

    outputs: list[str] = []

    def cli(*args: str) -> int:
        code, out, err = run_cli(capsys, *args)
        outputs.extend([out, err])
        return code

    policies = str(site.policies)
    plan = str(tmp_path / "plan.json")
    report = str(tmp_path / "apply.jsonl")
    failed_report = str(tmp_path / "failed.jsonl")

    # The happy path: every command, every format.
    assert cli("plan", "--policies", policies, "--out", plan, *FAST) == 0
    for fmt in ("json", "markdown"):
        assert cli("plan", "--policies", policies, "--format", fmt, *FAST) == 0
    assert cli("comment", "--plan", plan) == 0
    assert cli("drift-issue", "--plan", plan, "--self-heal") == 2  # the drift tracking issue
    issues = [i["title"] + i["body"] for i in github.issues("acme", "ecr-policies")]
    assert cli("apply", "--policies", policies, "--plan", plan, "--report", report, *FAST) == 0
    assert cli("comment", "--report", report, "--key", "apply") == 0
    assert (
        cli(
            "restore",
            "--policies",
            policies,
            "--report",
            report,
            "--out",
            str(tmp_path / "restore.jsonl"),
            *FAST,
        )
        == 0
    )
    assert site.nullplatform.provider(site.provider_id)["attributes"]["ci"] == provider_attributes()["ci"]

    # Failure paths, where error messages are built from what went wrong.
    site.nullplatform.set_attributes(site.provider_id, provider_attributes())
    site.nullplatform.fail_next(500, None, routes=["PATCH /provider/{provider_id}"])
    site.ecr.configure(access_denied={"team-01/app"})
    assert cli("apply", "--policies", policies, "--report", failed_report, *FAST) == 1
    assert "(provider): nullplatform PATCH" in outputs[-1] and "AccessDenied" in outputs[-1]
    site.nullplatform.reset_knobs()
    nulled = provider_attributes()
    nulled["setup"]["role_arn"] = None
    site.nullplatform.set_attributes(site.provider_id, nulled)
    assert cli("apply", "--policies", policies, "--report", failed_report, *FAST) == 1
    assert "setup.role_arn read(s) as null" in outputs[-1]
    site.nullplatform.set_attributes(site.provider_id, provider_attributes())
    site.nullplatform.configure(merge_mode="replace")  # a PATCH that loses the groups not sent
    assert cli("apply", "--policies", policies, "--report", failed_report, *FAST) == 1
    assert "after PATCH, ci gone" in outputs[-1]
    site.nullplatform.reset_knobs()
    site.nullplatform.expire_tokens()
    monkeypatch.setattr(site.nullplatform, "api_keys", set())  # the key is revoked
    assert cli("plan", "--policies", policies, *FAST) == 1
    github.fail_next(500, None)
    assert cli("comment", "--plan", plan) == 1
    assert cli("drift-issue", "--plan", plan) == 1
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN + "-wrong")  # rejected: 401 Bad credentials
    github.reset()
    assert cli("comment", "--plan", plan) == 1

    secrets = [NULLPLATFORM_KEY, AWS_SECRET, AWS_SESSION_TOKEN, GITHUB_TOKEN, CI_SECRET, CI_ACCESS_KEY]
    secrets += issued_tokens
    assert len(issued_tokens) >= 8  # the double did hand out tokens, so their absence means something
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.name != "event.json")
    assert {p.name for p in files} >= {"plan.json", "apply.jsonl", "failed.jsonl", "summary.md"}
    comments = [c["body"] for c in github.comments("acme", "ecr-policies", 7)] + sent
    assert len(issues) == 1
    comments += issues
    places: dict[str, str] = {
        "stdout/stderr": "\n".join(outputs),
        **{f"file {p.relative_to(tmp_path)}": p.read_text(encoding="utf-8") for p in files},
        "comment bodies": "\n".join(comments),
    }
    assert outputs and comments and caplog.records
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:6]}...) appears in {place}"
    for record in caplog.records:
        text = record.getMessage() + (caplog.handler.format(record) if record.exc_info else "")
        # botocore's own DEBUG dumps of each request carry the X-Amz-Security-Token header (the session
        # token), as they do in any boto3 program; the reconciler never turns them on (it configures no
        # logging: see the subprocess test below). Nothing else may appear, there or anywhere.
        allowed = {AWS_SESSION_TOKEN} if record.name in BOTOCORE_REQUEST_DUMPS else set()
        for secret in set(secrets) - allowed:
            assert secret not in text, f"a secret ({secret[:6]}...) in a {record.name} log record"
    FIGURES["secrets checked"] += len(secrets)
    FIGURES["places searched for secrets"] += len(places)
    FIGURES["log records searched for secrets"] += len(caplog.records)


@pytest.mark.e2e
def test_a_real_process_prints_no_secret(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a CI log shows: the CLI as its own process, with the logging configuration it sets up itself
    (none), on a run with failures."""
    monkeypatch.setattr(site.nullplatform, "api_keys", {NULLPLATFORM_KEY})
    for name, value in {
        "NULLPLATFORM_API_KEY": NULLPLATFORM_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": AWS_SESSION_TOKEN,
        "GITHUB_TOKEN": GITHUB_TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    site.ecr.configure(access_denied={"team-01/app"})
    site.nullplatform.fail_next(403, None, routes=["PATCH /provider/{provider_id}"])
    report = tmp_path / "apply.jsonl"
    command = [sys.executable, "-m", "reconciler", "apply", "--policies", str(site.policies)]
    done = subprocess.run(
        [*command, "--report", str(report), *FAST],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "AccessDenied" in done.stderr and "(provider): nullplatform PATCH" in done.stderr
    text = done.stdout + done.stderr + report.read_text(encoding="utf-8")
    for secret in (NULLPLATFORM_KEY, AWS_SECRET, AWS_SESSION_TOKEN, GITHUB_TOKEN, CI_SECRET, CI_ACCESS_KEY):
        assert secret not in text
    assert "Traceback" not in text


@pytest.mark.parametrize("mask_secrets", [True, False], ids=["masked", "revealed"])
def test_an_api_error_echoing_what_it_was_sent_does_not_leak_the_ci_secret(
    mask_secrets: bool, site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []

    def echoing_validator(attributes: dict[str, Any], slug: str = "ecr") -> str:
        sent.append(attributes)
        return f"attributes {json.dumps(attributes)} do not match the specification"

    site.nullplatform.configure(mask_secrets=mask_secrets)
    monkeypatch.setattr(site.nullplatform, "_attribute_problem", echoing_validator)
    code, out, err = site.apply(capsys)
    assert code == 1
    assert f"failed: main/{site.provider_id} (provider): nullplatform PATCH" in err
    assert sent and all(set(attributes) == {"setup"} for attributes in sent)  # ci is never sent
    assert CI_SECRET not in out + err and CI_ACCESS_KEY not in out + err
    assert CI_SECRET not in site.report.read_text(encoding="utf-8")
    assert site.nullplatform.provider(site.provider_id)["attributes"]["ci"] == provider_attributes()["ci"]
