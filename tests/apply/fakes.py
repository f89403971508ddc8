"""In-memory clients for the executor and the streamed pass, through the Protocols they are written against
(reconciler.apply.targets, reconciler.apply.stream): no emulator, no HTTP. Each records the calls it gets,
in one log shared by all of them, so a test can tell what was sent and in which order."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sample_registry import ACCESS, ACCOUNT, DESIRED, NRN, OLD

from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, WriteRecord, read_journal
from reconciler.desired.model import CreationTemplate, NullplatformTarget, Registry
from reconciler.errors import ReconcilerError, StaleTarget
from reconciler.live.state import REPOSITORY_NOT_FOUND, LivePolicy
from reconciler.plan.model import RegistryPlan
from reconciler.policy.fingerprint import live_fingerprint

PROVIDER_ID = "prov-1"
REGISTRY = Registry(
    "main",
    ACCOUNT,
    "us-east-1",
    ACCESS,
    write_role_arn=f"arn:aws:iam::{ACCOUNT}:role/writer",
    nullplatform=NullplatformTarget(NRN, PROVIDER_ID),
    creation_templates=(CreationTemplate("team", ("REPLICATION",)),),
)
# An Allow to anyone at all, with a Sid that is not ours: a foreign statement no written text may carry.
PUBLIC = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
        ],
    }
)
HAND_EDIT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "HandEdit",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::555566667777:root"},
                "Action": "ecr:BatchGetImage",
            }
        ],
    }
)


class WriteFailed(ReconcilerError):
    """A write the fake refuses, as the ECR client's errors say it: an AWS `code`, and `sent`."""

    def __init__(self, message: str, *, code: str, sent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.sent = sent


@dataclass
class Calls:
    log: list[tuple[str, str]] = field(default_factory=list)
    # Called with (call, name) just before a write call is carried out: a test looks at the world then.
    before_write: Callable[[str, str], None] | None = None

    def write(self, call: str, name: str) -> None:
        if self.before_write is not None:
            self.before_write(call, name)
        self.log.append((call, name))

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.log if not c[0].startswith(("read", "list", "find"))]


class FakeEcr:
    """Repositories (name -> policy text, None: no policy), creation templates (prefix -> fields) and the
    listing's pages. `fail_set` names repositories whose SetRepositoryPolicy fails after it was sent."""

    def __init__(
        self,
        policies: dict[str, str | None] | None = None,
        templates: dict[str, dict[str, Any]] | None = None,
        calls: Calls | None = None,
        page_size: int = 2,
    ) -> None:
        self.policies = dict(policies or {})
        self.templates = copy.deepcopy(templates or {})
        self.calls = calls or Calls()
        self.page_size = page_size
        self.fail_set: set[str] = set()
        # Called with (listing number, page number) after each page is handed out: a test changes the
        # registry then, as happens while a listing goes on.
        self.on_page: Callable[[int, int], None] | None = None
        self.listings = 0
        self.listed: list[str] | None = None  # names the listing gives (default: every repository)
        self.list_error: ReconcilerError | None = None  # raised by the listing after its first page

    # -- repositories --

    def iter_repository_pages(self) -> Iterator[list[str]]:
        self.calls.log.append(("list", ""))
        self.listings += 1
        listing = self.listings
        names = sorted(self.policies) if self.listed is None else list(self.listed)
        for index in range(0, len(names), self.page_size):
            yield names[index : index + self.page_size]
            if self.list_error is not None:
                raise self.list_error
            if self.on_page is not None:
                self.on_page(listing, index // self.page_size)

    def read_policy(self, repository: str) -> LivePolicy:
        self.calls.log.append(("read", repository))
        if repository not in self.policies:
            return LivePolicy(repository, None, "RepositoryNotFoundException", REPOSITORY_NOT_FOUND)
        return LivePolicy(repository, self.policies[repository])

    def set_policy(self, repository: str, text: str) -> str:
        self.calls.write("set", repository)
        if repository not in self.policies:
            raise WriteFailed(f"{repository}: RepositoryNotFoundException", code=REPOSITORY_NOT_FOUND)
        if repository in self.fail_set:
            raise WriteFailed(f"{repository}: read timed out", code="ReadTimeoutError", sent=True)
        self.policies[repository] = text
        return text

    def delete_policy(self, repository: str) -> None:
        self.calls.write("delete", repository)
        self.policies[repository] = None

    # -- creation templates --

    def read_template(self, prefix: str) -> dict[str, Any] | None:
        self.calls.log.append(("read_template", prefix))
        found = self.templates.get(prefix)
        return copy.deepcopy(found)

    def create_template(self, request: dict[str, Any]) -> None:
        self.calls.write("create_template", request["prefix"])
        self.templates[request["prefix"]] = copy.deepcopy(request)

    def update_template(self, request: dict[str, Any]) -> None:
        self.calls.write("update_template", request["prefix"])
        self.templates[request["prefix"]] = copy.deepcopy(request)

    def delete_template(self, prefix: str) -> None:
        self.calls.write("delete_template", prefix)
        self.templates.pop(prefix, None)


class FakeProvider:
    """The nullplatform provider config's setup.policy; the write refuses (StaleTarget) when the policy is
    no longer the one the change was planned against, as the real client does."""

    def __init__(self, policy: str | None = OLD, calls: Calls | None = None) -> None:
        self.policy = policy
        self.calls = calls or Calls()

    def find_provider_id(self, target: NullplatformTarget) -> str:
        self.calls.log.append(("find", target.nrn))
        return PROVIDER_ID

    def read_policy(self, provider_id: str) -> str | None:
        self.calls.log.append(("read_provider", provider_id))
        return self.policy

    def write_policy(self, provider_id: str, policy: str, expected_before: str | None) -> None:
        if live_fingerprint(self.policy) != live_fingerprint(expected_before):
            raise StaleTarget("setup.policy changed since it was read", live=self.policy)
        self.calls.write("write_provider", provider_id)
        self.policy = policy


def template(policy: str | None = OLD, applied_for: tuple[str, ...] = ("REPLICATION",)) -> dict[str, Any]:
    fields: dict[str, Any] = {"prefix": "team", "appliedFor": list(applied_for)}
    if policy is not None:
        fields["repositoryPolicy"] = policy
    return fields


@dataclass
class Run:
    """One executor over the fakes, journaling to `report`."""

    tmp: Path
    ecr: FakeEcr
    provider: FakeProvider | None
    options: ApplyOptions = field(default_factory=ApplyOptions)

    @property
    def report(self) -> Path:
        return self.tmp / "report.jsonl"

    def executor(self, journal: Journal, plan: RegistryPlan | None = None) -> Executor:
        return Executor(
            plan or RegistryPlan("main", ACCOUNT, "us-east-1", "x", None, ()),
            desired=REGISTRY,
            role_arn=REGISTRY.write_role_arn,
            ecr=self.ecr,
            provider=self.provider,
            journal=journal,
            options=self.options,
        )

    def records(self) -> list[WriteRecord]:
        return read_journal(self.report) if self.report.exists() else []


__all__ = ["DESIRED", "HAND_EDIT", "OLD", "PUBLIC", "REGISTRY"]
