"""Creation templates through EcrClient and the executor, against the ECR emulator: paging, errors, the
read-modify-write, the read-back check, staleness. Call counts come from the emulator's counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, Result, read_journal
from reconciler.desired.model import CreationTemplate, PullAccess, Registry
from reconciler.live.ecr import EcrClient
from reconciler.live.ecr_errors import EcrError, EcrWriteError
from reconciler.live.state import LiveRegistry
from reconciler.live.templates import observe_templates
from reconciler.plan.build import template_changes
from reconciler.plan.model import RegistryPlan
from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulator

LIFECYCLE = '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan",'
LIFECYCLE += '"countNumber":100},"action":{"type":"expire"}}]}'
REGISTRY = Registry(
    name="main",
    account_id=DEFAULT_ACCOUNT_ID,
    region=DEFAULT_REGION,
    pull_access=PullAccess(accounts=("111122223333",)),
    creation_templates=(CreationTemplate("ROOT", ("REPLICATION",)),),
)


def client() -> EcrClient:
    return EcrClient(REGISTRY, max_rps=None)


def test_listing_follows_next_token_with_pages_of_1000(aws_env: EcrEmulator) -> None:
    prefixes = [f"team-{index:04d}" for index in range(1001)]
    for prefix in prefixes:
        aws_env.put_template({"prefix": prefix, "appliedFor": ["REPLICATION"]})
    ecr = client()
    assert [t["prefix"] for t in ecr.list_templates()] == prefixes
    assert aws_env.stats()["requests"] == {"DescribeRepositoryCreationTemplates": 2}
    assert ecr.read_template("team-0500") is not None and ecr.read_template("absent") is None


def test_errors_name_the_call_the_template_and_the_code(aws_env: EcrEmulator) -> None:
    ecr = client()
    ecr.create_template({"prefix": "ROOT", "appliedFor": ["REPLICATION"]})
    with pytest.raises(EcrWriteError) as exists:
        ecr.create_template({"prefix": "ROOT", "appliedFor": ["REPLICATION"]})
    assert exists.value.code == "TemplateAlreadyExistsException"
    assert str(exists.value).startswith(
        "CreateRepositoryCreationTemplate failed for creation template ROOT in"
    )
    with pytest.raises(EcrWriteError) as missing:
        ecr.update_template({"prefix": "other", "appliedFor": ["REPLICATION"]})
    assert missing.value.code == "TemplateNotFoundException"
    aws_env.configure(error_rate={"DescribeRepositoryCreationTemplates": 1.0})
    with pytest.raises(EcrError) as unreadable:
        EcrClient(REGISTRY, max_rps=None, max_attempts=1).list_templates()
    assert unreadable.value.code == "ServerException"


def test_a_failed_listing_is_an_error_on_each_template_not_on_the_registry(aws_env: EcrEmulator) -> None:
    aws_env.configure(error_rate={"DescribeRepositoryCreationTemplates": 1.0})
    (live,) = observe_templates(REGISTRY, EcrClient(REGISTRY, max_rps=None, max_attempts=1))
    assert live.error is not None and "DescribeRepositoryCreationTemplates failed" in live.error


class DropsLifecycle:
    """An ECR client that loses the lifecycle policy on update (as an Update that clears what it is not
    given would, were it not sent): the read-back must catch it."""

    def __init__(self, inner: EcrClient) -> None:
        self.inner = inner

    def read_template(self, prefix: str) -> dict[str, Any] | None:
        return self.inner.read_template(prefix)

    def create_template(self, request: dict[str, Any]) -> None:
        self.inner.create_template(request)

    def update_template(self, request: dict[str, Any]) -> None:
        self.inner.update_template({k: v for k, v in request.items() if k != "lifecyclePolicy"})

    def delete_template(self, prefix: str) -> None:
        self.inner.delete_template(prefix)


def run(tmp_path: Path, writer: Any, **options: Any) -> list[Any]:
    live = LiveRegistry("main", templates=observe_templates(REGISTRY, client()))
    return run_plan(tmp_path, writer, template_changes(REGISTRY, live), **options)


def run_plan(tmp_path: Path, writer: Any, changes: Any, **options: Any) -> list[Any]:
    plan = RegistryPlan("main", DEFAULT_ACCOUNT_ID, DEFAULT_REGION, "x", None, (), templates=changes)
    report = tmp_path / "report.jsonl"
    with Journal(report) as journal:
        Executor(
            plan,
            desired=REGISTRY,
            role_arn=None,
            ecr=writer,
            provider=None,
            journal=journal,
            options=ApplyOptions(**options),
        ).run()
    return read_journal(report) if report.exists() else []  # the file is made at the first record


def test_the_read_back_names_a_field_the_write_lost(aws_env: EcrEmulator, tmp_path: Path) -> None:
    aws_env.put_template({"prefix": "ROOT", "appliedFor": ["REPLICATION"], "lifecyclePolicy": LIFECYCLE})

    records = run(tmp_path, DropsLifecycle(client()))

    assert [r.result for r in records] == [Result.PENDING, Result.FAILED]
    assert records[-1].error == "after UpdateRepositoryCreationTemplate: lifecyclePolicy changed"
    assert LIFECYCLE not in (records[-1].error or "")  # names, never values
    # With every field sent back, the same write keeps it.
    aws_env.put_template({"prefix": "ROOT", "appliedFor": ["REPLICATION"], "lifecyclePolicy": LIFECYCLE})
    records = run(tmp_path / "again", client())
    assert records[-1].result == Result.APPLIED
    assert aws_env.stored_templates()["ROOT"]["lifecyclePolicy"] == LIFECYCLE


def test_a_template_changed_since_the_plan_is_stale_and_not_written(
    aws_env: EcrEmulator, tmp_path: Path
) -> None:
    live = LiveRegistry("main", templates=observe_templates(REGISTRY, client()))
    changes = template_changes(REGISTRY, live)  # a create: there is no template yet
    aws_env.put_template({"prefix": "ROOT", "appliedFor": ["PULL_THROUGH_CACHE"]})  # someone else's
    aws_env.reset_stats()

    records = run_plan(tmp_path, client(), changes)

    assert [(r.result, r.error) for r in records] == [
        (Result.STALE, "a template with this prefix was created since the plan")
    ]
    assert "CreateRepositoryCreationTemplate" not in aws_env.stats()["requests"]
    assert aws_env.stored_templates()["ROOT"]["appliedFor"] == ["PULL_THROUGH_CACHE"]


def test_a_dry_run_reads_but_never_writes(aws_env: EcrEmulator, tmp_path: Path) -> None:
    records = run(tmp_path, client(), dry_run=True)
    assert records == []
    assert aws_env.stored_templates() == {}
    assert set(aws_env.stats()["requests"]) == {"DescribeRepositoryCreationTemplates"}
