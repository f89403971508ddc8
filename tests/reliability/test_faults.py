"""Faults against the sandbox, each through the CLI in-process: hung and unreachable endpoints, repositories
deleted or changed between plan and apply, nullplatform tokens expiring, nullplatform 5xx and 429, the
provider's secrets read as null in both PATCH modes, a null in `setup`, a PATCH that loses a group, GitHub
failing while posting the comment, IAM eventual consistency.

Every test ends with the same checks (tests/reliability/support.py): nothing unsafe was ever sent (every
attempted write goes through guard.violations), no foreign statement was lost in any write nor in any
stored policy, the provider's other attributes are untouched, the failure is named per item and the exit
code is non-zero when something failed, and with the fault gone one more run converges (plan exits 0 with
--detailed-exitcode).

Throttling storms, ECR 5xx bursts, AccessDenied on some repositories, a saved plan that went stale and
--max-changes are in tests/e2e/test_plan_apply.py; they are not repeated here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sample_registry import DESIRED, LAMBDA, OLD, run_cli, with_statements

import reconciler.live.clock
import reconciler.live.http
from reconciler.apply.journal import final_records, read_journal
from reconciler.live.ecr import EcrClient
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.state import LivePolicy
from reconciler.plan.model import Action
from reconciler.plan.planfile import plan_from_json
from reconciler.policy.normalize import equivalent
from reconciler.sandbox.github import GithubApi

from .support import (
    FAST,
    FIGURES,
    Site,
    Writes,
    closed_port,
    listening_but_never_accepting,
    no_backoff_sleep,
    tune_ecr,
)

# Each runs the CLI against the sandbox doubles: end to end (`make test-fast` leaves them out).
pytestmark = pytest.mark.e2e

PATCH_PROVIDER = "PATCH /provider/{provider_id}"
GET_PROVIDER = "GET /provider/{provider_id}"
# A hung call costs at most max_attempts x read_timeout plus botocore's backoff between the attempts.
SHORT: dict[str, Any] = {"read_timeout": 0.3, "connect_timeout": 0.3, "max_attempts": 2}
# Loose (a plan takes about a second here, and a busy machine several): what it proves is that no call
# waited out its hang (30 s).
BOUND = 20.0


def changes_by_name(site: Site) -> dict[str, Action]:
    return {c.repository: c.action for c in site.saved_plan().registries[0].changes}


def journal(site: Site) -> dict[str, str]:
    """name -> result of its last record in the apply report."""
    return {r.name: r.result for r in final_records(read_journal(site.report))}


def finish(site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]) -> None:
    site.assert_writes_safe(writes)
    site.assert_stored_safe()
    site.assert_converges(capsys)
    site.assert_writes_safe(writes)


# -- hung endpoints: bounded by the configured timeouts ----------------------------------------------------


def test_a_hung_policy_read_is_cut_by_the_read_timeout_and_only_that_repository_fails(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tune_ecr(monkeypatch, **SHORT)
    site.ecr.configure(
        hang_actions={"GetRepositoryPolicy"}, hang_repositories={"team-01/app"}, hang_seconds=30
    )
    started = time.monotonic()
    code, out, _ = site.plan(capsys)
    assert time.monotonic() - started < BOUND
    assert code == 1
    assert "team-01/app: error: GetRepositoryPolicy failed" in out and "Read timeout" in out
    planned = changes_by_name(site)
    assert planned["team-01/app"] == Action.ERROR
    assert planned["team-04/app"] == Action.UPDATE  # the others are planned as usual

    started = time.monotonic()
    code, out, err = site.apply(capsys)
    assert time.monotonic() - started < BOUND
    assert code == 1
    assert "failed: main/team-01/app (repository): GetRepositoryPolicy failed" in err
    assert "1 failed" in out
    results = journal(site)
    assert results["team-01/app"] == "failed"  # reported, and never written:
    assert site.ecr.stored_policy("team-01/app") == OLD
    assert results["team-04/app"] == "applied"
    assert site.ecr.stats()["injected"]["hang"] >= 2

    site.ecr.reset_knobs()
    finish(site, writes, capsys)


def test_a_hung_policy_write_is_cut_by_the_read_timeout_and_reported_as_failed(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tune_ecr(monkeypatch, **SHORT)
    site.ecr.configure(
        hang_actions={"SetRepositoryPolicy"}, hang_repositories={"foreign/mixed"}, hang_seconds=30
    )
    started = time.monotonic()
    code, _out, err = site.apply(capsys)
    assert time.monotonic() - started < BOUND
    assert code == 1
    assert "failed: main/foreign/mixed (repository): SetRepositoryPolicy failed" in err
    assert "Read timeout" in err
    records = [r for r in final_records(read_journal(site.report)) if r.name == "foreign/mixed"]
    assert [r.result for r in records] == ["failed"] and "Read timeout" in (records[0].error or "")
    assert records[0].sent  # a timeout after sending: it may have landed, and restore will look
    assert journal(site)["team-04/app"] == "applied"

    site.ecr.reset_knobs()  # the hung requests are answered with an error: the write never lands
    assert site.ecr.stored_policy("foreign/mixed") == site.seeded["foreign/mixed"]
    finish(site, writes, capsys)


def test_a_policy_write_that_lands_after_its_read_timeout_is_put_back_by_restore(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ECR processes the write after the client gave up on it: `failed` in the report, yet it landed.
    tune_ecr(monkeypatch, **(SHORT | {"max_attempts": 1}))
    site.ecr.configure(
        hang_actions={"SetRepositoryPolicy"}, hang_repositories={"team-01/app"}, hang_seconds=1
    )
    code, _out, err = site.apply(capsys)
    assert code == 1 and "failed: main/team-01/app (repository): SetRepositoryPolicy failed" in err
    (record,) = [r for r in final_records(read_journal(site.report)) if r.name == "team-01/app"]
    assert (record.result, record.sent) == ("failed", True)
    deadline = time.monotonic() + BOUND
    while equivalent(site.stored("team-01/app"), json.loads(OLD)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert equivalent(site.stored("team-01/app"), json.loads(DESIRED))  # it landed after all
    site.ecr.reset_knobs()

    code, out, err = site.cli(
        capsys,
        "restore",
        "--policies",
        str(site.policies),
        "--report",
        str(site.report),
        "--out",
        str(site.tmp / "r.jsonl"),
        *FAST,
    )
    assert code == 0, out + err
    assert equivalent(site.stored("team-01/app"), json.loads(OLD))  # put back, like every applied write
    assert equivalent(site.stored("team-04/app"), json.loads(OLD))
    finish(site, writes, capsys)


def test_a_provider_patch_that_landed_but_failed_its_read_back_is_put_back_by_restore(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_backoff_sleep(monkeypatch)
    request = NullplatformClient._request
    down_after_patch = [True]

    def then_down(self: NullplatformClient, method: str, path: str, body: Any = None) -> Any:
        answer = request(self, method, path, body)
        if method == "PATCH" and down_after_patch[0]:
            site.nullplatform.fail_next(503, None, routes=[GET_PROVIDER])  # the read-back fails
        return answer

    monkeypatch.setattr(NullplatformClient, "_request", then_down)
    code, _out, err = site.apply(capsys)
    assert code == 1
    assert f"failed: main/{site.provider_id} (provider)" in err and "reading back after the PATCH" in err
    (record,) = [r for r in final_records(read_journal(site.report)) if r.target == "provider"]
    assert (record.result, record.sent) == ("failed", True)
    assert site.provider_attributes()["setup"]["policy"] == DESIRED  # the PATCH landed
    down_after_patch[0] = False
    site.nullplatform.reset_knobs()

    code, out, err = site.cli(
        capsys,
        "restore",
        "--policies",
        str(site.policies),
        "--report",
        str(site.report),
        "--out",
        str(site.tmp / "r.jsonl"),
        *FAST,
    )
    assert code == 0, out + err
    assert site.provider_attributes()["setup"]["policy"] == OLD
    finish(site, writes, capsys)


def test_a_hung_listing_fails_the_registry_within_the_bound_and_writes_no_repository(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tune_ecr(monkeypatch, **SHORT)
    site.ecr.configure(hang_actions={"DescribeRepositories"}, hang_seconds=30)
    started = time.monotonic()
    code, _out, err = site.apply(capsys)
    assert time.monotonic() - started < BOUND
    assert code == 1
    assert "failed: main/main (registry): DescribeRepositories failed" in err and "Read timeout" in err
    assert not writes.repositories and not writes.deletes
    # The provider config is written before the listing starts (new repositories get the policy from
    # nullplatform from then on); it depends on no repository, so a listing that fails leaves it written.
    assert [p for p, _ in writes.providers] == [site.provider_id]
    assert journal(site)[site.provider_id] == "applied"

    site.ecr.reset_knobs()
    finish(site, writes, capsys)


@pytest.mark.parametrize("kind", ["refused", "connect-timeout"])
def test_an_unreachable_ecr_endpoint_is_a_clear_error_in_bounded_time(
    kind: str,
    site: Site,
    writes: Writes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tune_ecr(monkeypatch, share=False, **SHORT)
    expected = {"refused": "EndpointConnectionError", "connect-timeout": "ConnectTimeoutError"}[kind]
    with listening_but_never_accepting() as blackhole:
        port = closed_port() if kind == "refused" else blackhole
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        started = time.monotonic()
        code, out, err = site.plan(capsys)
        assert time.monotonic() - started < BOUND
        assert code == 1
        assert f"DescribeRepositories failed for registry main (123456789012, us-east-1): {expected}" in out
        assert "Traceback" not in out + err
        code, out, err = site.apply(capsys)
        assert code == 1
        assert "failed: main/main (registry): DescribeRepositories failed" in err and expected in err
    # Only the provider config, written before the listing (it needs no repository).
    assert not writes.repositories and not writes.deletes and len(writes.providers) == 1
    assert site.ecr.stats()["total_requests"] == 0
    FIGURES[f"ECR unreachable ({kind}): CLI runs"] += 2

    monkeypatch.setenv("AWS_ENDPOINT_URL", site.ecr.url)
    finish(site, writes, capsys)


# -- the live state moving under the plan ------------------------------------------------------------------


def test_repositories_deleted_between_plan_and_apply_are_skipped_as_stale(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.plan(capsys)[0] == 0
    planned = changes_by_name(site)
    assert planned["team-01/app"] == Action.UPDATE and planned["foreign/lambda-only"] == Action.UPDATE
    for name in ("team-01/app", "foreign/lambda-only"):
        site.ecr.client().delete_repository(repositoryName=name, force=True)

    code, _out, err = site.apply(capsys, "--plan", str(site.plan_file))
    assert code == 0, err  # nothing failed: a deleted repository needs no policy
    for name in ("team-01/app", "foreign/lambda-only"):
        assert f"stale, skipped: main/{name}: GetRepositoryPolicy failed" in err
        assert "RepositoryNotFoundException" in err
    results = journal(site)
    assert results["team-01/app"] == results["foreign/lambda-only"] == "stale"
    assert results["team-04/app"] == "applied"
    assert [name for name, _ in writes.repositories].count("team-01/app") == 0
    finish(site, writes, capsys)


def delete_during_apply(site: Site, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`apply` without --plan reads and writes in one pass: `name` disappears after its policy was read
    (and found to differ), before its write."""
    read_policy = EcrClient.read_policy

    def read_then_delete(self: EcrClient, repository: str) -> LivePolicy:
        live = read_policy(self, repository)
        if repository == name and name in site.ecr.repository_names():
            site.ecr.client().delete_repository(repositoryName=name, force=True)
        return live

    monkeypatch.setattr(EcrClient, "read_policy", read_then_delete)


def test_a_repository_deleted_while_apply_runs_is_stale_named_and_the_others_are_applied(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    delete_during_apply(site, monkeypatch, "team-01/app")
    code, out, err = site.apply(capsys)
    assert code == 0, err  # a deleted repository needs no policy: not a failure
    assert "stale, skipped: main/team-01/app" in err and "RepositoryNotFoundException" in err
    assert "0 failed" in out
    results = journal(site)
    assert results["team-01/app"] == "stale"
    assert results["team-04/app"] == "applied"
    finish(site, writes, capsys)


def delete_after_listing(site: Site, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`name` is listed by DescribeRepositories, then deleted before its GetRepositoryPolicy."""
    pages = EcrClient.iter_repository_pages

    def list_then_delete(self: EcrClient) -> Iterator[list[str]]:
        for page in pages(self):
            if name in page and name in site.ecr.repository_names():
                site.ecr.client().delete_repository(repositoryName=name, force=True)
            yield page

    monkeypatch.setattr(EcrClient, "iter_repository_pages", list_then_delete)


@pytest.mark.parametrize("command", ["plan", "apply", "backfill"])
def test_a_repository_deleted_between_listing_and_read_is_gone_not_failed(
    command: str,
    site: Site,
    writes: Writes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delete_after_listing(site, monkeypatch, "team-01/app")
    if command == "plan":
        code, out, err = site.plan(capsys)
        registry = plan_from_json(site.plan_file.read_text(encoding="utf-8")).registries[0]
        assert registry.gone == ("team-01/app",)
        assert "team-01/app" not in {c.repository for c in registry.changes} | set(registry.unchanged)
        assert "1 repositories deleted while planning, nothing to do: team-01/app" in out
        assert "1 gone" in out and "errors" not in out
    else:
        code, out, err = run_cli(
            capsys, command, "--policies", str(site.policies), "--report", str(site.report), *FAST
        )
        assert "1 gone" in out and "0 failed" in out, out
        results = journal(site)
        assert "team-01/app" not in results  # nothing to write, nothing to report
        assert results["team-04/app"] == "applied"
    assert code == 0, out + err
    assert "team-01/app" not in err
    assert "team-01/app" not in {name for name, _ in writes.repositories}
    finish(site, writes, capsys)  # the hook is spent: the repository is no longer listed


def test_policies_changed_by_someone_else_between_plan_and_apply_keep_their_change(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.plan(capsys)[0] == 0
    planned = changes_by_name(site)
    assert planned["team-01/app"] == Action.UPDATE and "team-00/app" not in planned
    # Someone adds a statement to a repository the plan updates, and to one the plan leaves alone.
    for name in ("team-01/app", "team-00/app"):
        text = with_statements(site.ecr.stored_policy(name), LAMBDA)
        site.ecr.put_policy(name, text)
        site.foreign[name] = [LAMBDA]

    code, _out, err = site.apply(capsys, "--plan", str(site.plan_file))
    assert code == 0, err
    assert "stale, skipped: main/team-01/app: the live policy changed since the plan; plan again" in err
    assert journal(site)["team-01/app"] == "stale"
    assert site.stored("team-01/app")["Statement"][0] == LAMBDA
    assert "team-00/app" not in journal(site)
    finish(site, writes, capsys)  # the next run merges over their statement and keeps it
    assert site.stored("team-01/app")["Statement"][0] == LAMBDA


def test_a_public_statement_added_between_plan_and_apply_is_never_written(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.plan(capsys)[0] == 0
    public = {"Sid": "Oops", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
    site.ecr.put_policy("team-04/app", with_statements(OLD, public))

    code, _, err = site.apply(capsys, "--plan", str(site.plan_file))
    assert code == 0, err
    assert "stale, skipped: main/team-04/app" in err
    # A fresh apply refuses the repository (the merged policy would be public) and says why.
    code, _out, err = site.apply(capsys)
    assert code == 1
    assert "failed: main/team-04/app (repository)" in err and "public" in err
    assert all(name != "team-04/app" for name, _ in writes.repositories)
    site.assert_writes_safe(writes)

    site.ecr.put_policy("team-04/app", OLD)  # they take it back
    finish(site, writes, capsys)


# -- nullplatform: tokens, 5xx, 429 ------------------------------------------------------------------------


def test_the_nullplatform_token_expiring_between_plan_and_apply_is_refreshed(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One client for the whole process (as a long-lived runner would hold it), so the token outlives
    # the plan and has expired when apply uses it.
    shared = NullplatformClient(site.nullplatform.url, site.nullplatform.api_key)
    monkeypatch.setattr(NullplatformClient, "from_env", classmethod(lambda cls: shared))
    assert site.plan(capsys)[0] == 0
    assert site.nullplatform.stats()["requests"]["POST /token"] == 1
    site.nullplatform.expire_tokens()

    code, _out, err = site.apply(capsys, "--plan", str(site.plan_file))
    assert code == 0, err
    stats = site.nullplatform.stats()
    assert stats["requests"]["POST /token"] == 2 and stats["statuses"]["401"] == 1
    assert equivalent(json.loads(site.provider_attributes()["setup"]["policy"]), json.loads(DESIRED))
    assert journal(site)[site.provider_id] == "applied"
    finish(site, writes, capsys)


def test_a_token_expiring_in_the_middle_of_the_provider_write_is_refreshed(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]
) -> None:
    # The 401 lands on the PATCH, between the read and the write-back of the read-modify-write.
    site.nullplatform.fail_next(401, 1, routes=[PATCH_PROVIDER])
    code, _, err = site.apply(capsys)
    assert code == 0, err
    stats = site.nullplatform.stats()
    assert stats["requests"][PATCH_PROVIDER] == 2 and stats["statuses"]["401"] == 1
    # One token for apply's client (it reads the provider, then writes it), and one more after the 401.
    assert stats["requests"]["POST /token"] == 2
    assert journal(site)[site.provider_id] == "applied"
    finish(site, writes, capsys)


def test_a_revoked_api_key_fails_the_provider_and_still_applies_the_repositories(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = NullplatformClient(site.nullplatform.url, site.nullplatform.api_key)
    monkeypatch.setattr(NullplatformClient, "from_env", classmethod(lambda cls: shared))
    assert site.plan(capsys)[0] == 0
    monkeypatch.setattr(site.nullplatform, "api_keys", set())  # revoked while the token was valid
    site.nullplatform.expire_tokens()

    code, _out, err = site.apply(capsys, "--plan", str(site.plan_file))
    assert code == 1
    assert f"failed: main/{site.provider_id} (provider)" in err and "API key was rejected" in err
    results = journal(site)
    assert results[site.provider_id] == "failed"
    assert results["team-04/app"] == "applied"
    assert site.provider_attributes()["setup"]["policy"] == OLD
    site.nullplatform.api_keys = {site.nullplatform.api_key}
    finish(site, writes, capsys)


@pytest.mark.parametrize(
    ("status", "count", "retry_after", "route"),
    [
        (503, 3, None, PATCH_PROVIDER),
        (500, 2, None, GET_PROVIDER),
        (429, 3, 0.2, PATCH_PROVIDER),
        (502, 4, None, None),  # every route, the token endpoint included
    ],
    ids=["503-patch", "500-read", "429-patch", "502-any"],
)
def test_nullplatform_5xx_and_429_during_apply_are_retried(
    status: int,
    count: int,
    retry_after: float | None,
    route: str | None,
    site: Site,
    writes: Writes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert site.plan(capsys)[0] == 0
    delays = no_backoff_sleep(monkeypatch)
    site.nullplatform.fail_next(
        status, count, retry_after=retry_after, routes=None if route is None else [route]
    )

    code, _, err = site.apply(capsys, "--plan", str(site.plan_file))
    assert code == 0, err
    assert site.nullplatform.stats()["statuses"][str(status)] == count
    assert len(delays) == count
    if retry_after is not None:
        assert delays == [retry_after] * count  # the server's Retry-After is honoured
    assert journal(site)[site.provider_id] == "applied"
    assert equivalent(json.loads(site.provider_attributes()["setup"]["policy"]), json.loads(DESIRED))
    finish(site, writes, capsys)


@pytest.mark.parametrize("status", [500, 429])
def test_a_provider_write_that_keeps_failing_fails_the_run_but_not_the_repositories(
    status: int,
    site: Site,
    writes: Writes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delays = no_backoff_sleep(monkeypatch)
    site.nullplatform.fail_next(status, None, routes=[PATCH_PROVIDER])
    code, out, err = site.apply(capsys)
    assert code == 1
    line = next(x for x in err.splitlines() if x.startswith(f"failed: main/{site.provider_id} (provider)"))
    assert f"PATCH /provider/{site.provider_id}: gave up after 5 attempts (HTTP {status})" in line
    assert len(delays) == 4
    results = journal(site)
    assert results[site.provider_id] == "failed"
    repositories = [r for r in final_records(read_journal(site.report)) if r.target == "repository"]
    assert repositories and all(r.result == "applied" for r in repositories)
    assert "1 failed" in out
    assert site.provider_attributes()["setup"]["policy"] == OLD

    site.nullplatform.reset_knobs()
    finish(site, writes, capsys)


def test_nullplatform_down_during_the_read_fails_the_provider_and_applies_the_repositories(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_backoff_sleep(monkeypatch)
    site.nullplatform.configure(error_rate=1.0, error_status=503)
    code, out, _ = site.plan(capsys)
    assert code == 1
    assert "nullplatform provider" in out and "gave up after 5 attempts (HTTP 503)" in out
    code, out, err = site.apply(capsys)
    assert code == 1
    assert "(provider): nullplatform" in err and "HTTP 503" in err
    assert not writes.providers
    assert journal(site)["team-04/app"] == "applied"

    site.nullplatform.reset_knobs()
    finish(site, writes, capsys)


# -- nullplatform: masked secrets, PATCH modes -------------------------------------------------------------


@pytest.mark.parametrize("merge_mode", ["deep", "group"])
def test_apply_keeps_the_masked_ci_credentials_byte_for_byte_in_both_patch_modes(
    merge_mode: str, site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]
) -> None:
    site.nullplatform.configure(merge_mode=merge_mode, mask_secrets=True)
    stored_ci = json.dumps(site.provider_attributes()["ci"])
    code, _, err = site.apply(capsys)
    assert code == 0, err
    assert journal(site)[site.provider_id] == "applied"
    attributes = site.provider_attributes()  # the stored record, not a (masked) read
    assert json.dumps(attributes["ci"]) == stored_ci
    assert equivalent(json.loads(attributes["setup"]["policy"]), json.loads(DESIRED))
    finish(site, writes, capsys)


@pytest.mark.parametrize("merge_mode", ["deep", "group"])
def test_a_null_in_setup_refuses_the_provider_write_and_the_repositories_go_on(
    merge_mode: str, site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]
) -> None:
    site.nullplatform.configure(merge_mode=merge_mode)
    seeded = site.provider_attributes()
    nulled = {**seeded, "setup": {**seeded["setup"], "naming_rule": None}}
    site.nullplatform.set_attributes(site.provider_id, nulled)
    # The plan shows it as the error apply would meet, before anyone approves it.
    code, out, _ = site.plan(capsys)
    provider = site.saved_plan().registries[0].provider
    assert provider is not None and provider.action == Action.ERROR
    assert "not written: setup.naming_rule read(s) as null" in (provider.error or "")
    assert "not written: setup.naming_rule read(s) as null" in out and code == 1
    code, out, err = site.apply(capsys)
    assert code == 1
    line = next(x for x in err.splitlines() if x.startswith(f"failed: main/{site.provider_id} (provider)"))
    assert "not written: setup.naming_rule read(s) as null" in line
    assert "<namespace>/<application>" not in out + err  # paths, never values
    assert site.nullplatform.stats()["requests"].get(PATCH_PROVIDER) is None
    assert site.provider_attributes() == nulled  # untouched
    results = journal(site)
    assert results[site.provider_id] == "failed"
    repositories = [r for r in final_records(read_journal(site.report)) if r.target == "repository"]
    assert repositories and all(r.result == "applied" for r in repositories)

    site.nullplatform.set_attributes(site.provider_id, seeded)  # someone gives it its value back
    finish(site, writes, capsys)


def test_a_patch_that_drops_a_group_is_reported_and_the_repositories_go_on(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = site.provider_attributes()
    site.nullplatform.configure(merge_mode="replace")  # PATCH replaces all attributes: ci is lost
    code, _, err = site.apply(capsys)
    assert code == 1
    line = next(x for x in err.splitlines() if x.startswith(f"failed: main/{site.provider_id} (provider)"))
    assert line.endswith("after PATCH, ci gone")
    assert journal(site)[site.provider_id] == "failed"
    assert journal(site)["team-04/app"] == "applied"
    assert "ci" not in site.provider_attributes()  # what such an API would do; the run says so loudly

    site.nullplatform.reset_knobs()
    site.nullplatform.set_attributes(site.provider_id, seeded)
    finish(site, writes, capsys)


# -- a principal ECR refuses --------------------------------------------------------------------------


def test_a_refused_principal_fails_only_the_repositories_naming_it_at_once(
    site: Site, writes: Writes, capsys: pytest.CaptureFixture[str]
) -> None:
    # Our statements name no principal ARN, so ECR refusing a principal is about a foreign statement: each
    # such repository fails on its one attempt, with ECR's message, and the others are applied.
    site.ecr.configure(check_condition_accounts=True, eventual_consistency_failures={"444455556666": 10_000})
    code, out, err = site.apply(capsys)
    assert code == 1
    results = journal(site)
    assert results["payments/api"] == "applied"  # its override names other accounts
    failed = sorted(name for name, result in results.items() if result == "failed")
    assert failed and "team-01/app" in failed
    for name in failed:
        assert f"failed: main/{name} (repository): SetRepositoryPolicy failed" in err
    assert "Principal not found" in err and "attempts" not in err
    assert f"{len(failed)} failed" in out
    assert site.ecr.stats()["errors"]["SetRepositoryPolicy"] == len(failed)  # no retries
    FIGURES["ECR injected: principal not found"] += site.ecr.stats()["errors"]["SetRepositoryPolicy"]

    site.ecr.configure(eventual_consistency_failures={})
    finish(site, writes, capsys)


# -- GitHub failing while posting the comment --------------------------------------------------------------


@pytest.fixture
def pull_request(
    github: GithubApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[GithubApi, Path, list[float]]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 7, "pull_request": {"number": 7}}), encoding="utf-8")
    for name, value in github.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/ecr-policies")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    clock = reconciler.live.clock.SimulatedClock()
    monkeypatch.setattr(reconciler.live.http, "DEFAULT_CLOCK", clock)  # backoff recorded, not waited
    return github, summary, clock.sleeps


@pytest.mark.parametrize(
    ("status", "routes"),
    [
        (502, ["POST /repos/{owner}/{repo}/issues/{number}/comments"]),
        (500, None),
        (403, None),  # what a fork's read-only token gets
    ],
    ids=["502-post", "500-everything", "403"],
)
def test_github_failing_while_posting_the_comment_fails_loudly_with_the_plan_in_the_summary(
    status: int,
    routes: list[str] | None,
    site: Site,
    pull_request: tuple[GithubApi, Path, list[float]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    github, summary, delays = pull_request
    assert site.plan(capsys)[0] == 0
    github.fail_next(status, None, routes=routes)

    code, out, err = run_cli(capsys, "comment", "--plan", str(site.plan_file))
    assert code == 1
    assert "could not post the comment on #7" in err and "the plan is in the job summary" in err
    assert f"HTTP {status}" in err and "Traceback" not in out + err
    text = summary.read_text(encoding="utf-8")
    assert "<!-- ecr-policy-reconciler:plan -->" in text and site.saved_plan().summary_line() in text
    assert "`team-01/app`" in text or "team-01/app" in text
    assert github.comments("acme", "ecr-policies", 7) == []
    # Four attempts (a POST with no answer is looked up before it is sent again), a 403 only one.
    assert github.stats()["statuses"][str(status)] == (1 if status == 403 else 4)
    assert (delays == []) == (status == 403)

    FIGURES[f"GitHub error answers: {status}"] += github.stats()["total_errors"]
    github.reset()  # GitHub is back: the next run posts exactly one comment
    code, _, err = run_cli(capsys, "comment", "--plan", str(site.plan_file))
    assert code == 0, err
    (comment,) = github.comments("acme", "ecr-policies", 7)
    assert site.saved_plan().summary_line() in comment["body"]


# -- the report names every failure ------------------------------------------------------------------------


def test_every_item_that_failed_is_in_the_apply_report(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:

    public = {"Sid": "Oops", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
    site.ecr.put_policy("team-04/app", with_statements(OLD, public))  # refused while planning
    site.ecr.configure(access_denied={"team-01/app"})  # cannot be read
    code, out, err = site.apply(capsys)
    assert code == 1 and "2 failed" in out
    assert "main/team-01/app" in err and "main/team-04/app" in err
    code, out, _ = run_cli(capsys, "comment", "--report", str(site.report), "--no-post")
    assert code == 0
    assert "| main | " in out and " | 2 |" in out  # the result comment counts both failures
    failed = {r.name for r in final_records(read_journal(site.report)) if r.result == "failed"}
    assert failed == {"team-01/app", "team-04/app"}
