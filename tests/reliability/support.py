"""Shared by the reliability tests: a seeded sandbox "site", a recorder of every write, and the checks every
fault test ends with (nothing foreign lost, nothing unsafe ever sent, a second run converges).

A plain module (not conftest) so test files can import it. The sample registry itself (policies file, policy
texts, provider attributes, running the CLI) is shared with the end-to-end tests: tests/sample_registry.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sample_registry import (
    ACCESS,
    ACCOUNT,
    DESIRED,
    LAMBDA,
    NRN,
    OLD,
    POLICIES_YAML,
    provider_attributes,
    run_cli,
    stored,
    with_statements,
)

from reconciler.desired.model import Registry
from reconciler.plan.model import Plan
from reconciler.plan.planfile import plan_from_json
from reconciler.policy import guard
from reconciler.policy.normalize import canonical_statement, statements_of
from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.nullplatform import NullplatformApi

# Our statements (the default managed_sids): pull only. Everything else: never public (the guard's rules).
OWNS_SID = Registry("main", ACCOUNT, "us-east-1", ACCESS).owns_sid
FAST = ("--no-progress", "--max-rps", "1000")

# Figures for docs/RELIABILITY.md, printed at the end of a pytest run that includes these tests (see
# conftest.py): what was checked and how many faults the doubles answered with.
FIGURES: Counter[str] = Counter()

# Foreign statements of other kinds than LAMBDA's service principal: no Sid at all, another account's role
# (the Sid nullplatform's later module versions use, not ours by default), and a Deny of pushes to everyone.
NO_SID: dict[str, Any] = {
    "Effect": "Allow",
    "Principal": {"Service": "codebuild.amazonaws.com"},
    "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}
CROSS_ACCOUNT: dict[str, Any] = {
    "Sid": "CrossAccountPull",
    "Effect": "Allow",
    "Principal": {"AWS": ["arn:aws:iam::210987654321:role/deployer", "222233334444"]},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}
DENY_PUSH: dict[str, Any] = {
    "Sid": "DenyPushFromOutside",
    "Effect": "Deny",
    "Principal": "*",
    "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart"],
    "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}},
}


# The safety rules written out again, apart from the production guard (reconciler.policy.guard): checks that
# judged "safe" with the guard alone would pass whatever a broken guard let through. Plain on purpose, and
# pinned, together with the guard, by the literal cases of test_safety_rules.py.
OUR_SID_PREFIX = "AllowPull"  # the sample registry's default managed_sids
PULL_ONLY = frozenset(
    {
        "ecr:batchchecklayeravailability",
        "ecr:batchgetimage",
        "ecr:getdownloadurlforlayer",
        "ecr:describeimages",
        "ecr:describerepositories",
        "ecr:listimages",
        "ecr:getrepositorypolicy",
    }
)
WHO_KEYS = frozenset({"aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount"})
MAX_TEXT = 10_240  # ECR's limit on a repository policy's text


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def unsafe_document(document: Any) -> list[str]:
    """Why a parsed policy is unsafe to have written (empty when safe): an Allow to anyone (a `*` anywhere in
    the principal, or no principal object, with no organization or account condition key), NotPrincipal in
    an Allow, or a statement of ours granting anything but pull."""
    reasons: list[str] = []
    statements = document.get("Statement", []) if isinstance(document, dict) else None
    if statements is None:
        return ["not a policy object"]
    for statement in _listed(statements):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        sid = str(statement.get("Sid") or "")
        principal = statement.get("Principal")
        who = [v for vs in principal.values() for v in _listed(vs)] if isinstance(principal, dict) else ["*"]
        conditions = statement.get("Condition") or {}
        keys = {str(k).lower() for clauses in conditions.values() for k in (clauses or {})}
        if "NotPrincipal" in statement:
            reasons.append(f"{sid}: NotPrincipal in an Allow")
        elif any("*" in str(v) for v in who) and not keys & WHO_KEYS:
            reasons.append(f"{sid}: anyone at all")
        if sid.startswith(OUR_SID_PREFIX):
            actions = [str(a).lower() for a in _listed(statement.get("Action", []))]
            if "NotAction" in statement or any(a not in PULL_ONLY for a in actions):
                reasons.append(f"{sid}: ours, beyond pull")
    return reasons


def unsafe_text(text: str) -> list[str]:
    too_long = [f"{len(text)} characters"] if len(text) > MAX_TEXT else []
    return too_long + unsafe_document(json.loads(text))


def seed_texts() -> dict[str, str | None]:
    seeded: dict[str, str | None] = {}
    states: list[str | None] = [DESIRED, OLD, None]
    for index in range(9):
        seeded[f"team-{index:02d}/app"] = states[index % 3]
    seeded["foreign/lambda-old"] = with_statements(OLD, LAMBDA)
    seeded["foreign/lambda-only"] = with_statements(None, LAMBDA)
    seeded["foreign/mixed"] = with_statements(OLD, NO_SID, CROSS_ACCOUNT, DENY_PUSH)
    seeded["foreign/mixed-in-line"] = with_statements(DESIRED, DENY_PUSH, NO_SID)
    seeded["payments/api"] = with_statements(DESIRED, LAMBDA)
    seeded["sandbox/x"] = OLD  # excluded: never read, never written
    return seeded


def foreign_statements(text: str | None, owned_prefix: str = "AllowPull") -> list[Any]:
    if text is None:
        return []
    return [
        s
        for s in statements_of(json.loads(text))
        if not (isinstance(s, dict) and str(s.get("Sid") or "").startswith(owned_prefix))
    ]


def canon(statement: Any) -> str:
    return json.dumps(canonical_statement(statement), sort_keys=True)


@dataclass
class Writes:
    """Every policy text the reconciler tried to send (ECR and nullplatform), whatever came of it."""

    repositories: list[tuple[str, str]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    providers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.repositories) + len(self.deletes) + len(self.providers)


def record_writes(monkeypatch: pytest.MonkeyPatch) -> Writes:
    """Wrap the ECR and nullplatform clients' write methods so every attempted write is recorded."""
    from reconciler.live.ecr import EcrClient
    from reconciler.live.nullplatform import NullplatformClient

    writes = Writes()
    set_policy, delete_policy = EcrClient.set_policy, EcrClient.delete_policy
    write_policy = NullplatformClient.write_policy

    def recording_set(self: EcrClient, repository: str, text: str) -> str:
        writes.repositories.append((repository, text))
        return set_policy(self, repository, text)

    def recording_delete(self: EcrClient, repository: str) -> None:
        writes.deletes.append(repository)
        delete_policy(self, repository)

    def recording_provider(
        self: NullplatformClient, provider_id: str, policy: str, expected_before: str | None
    ) -> None:
        writes.providers.append((provider_id, policy))
        write_policy(self, provider_id, policy, expected_before)

    monkeypatch.setattr(EcrClient, "set_policy", recording_set)
    monkeypatch.setattr(EcrClient, "delete_policy", recording_delete)
    monkeypatch.setattr(NullplatformClient, "write_policy", recording_provider)
    return writes


_LOADER: Any = None


def _shared_loader_session(region_name: str | None = None) -> Any:
    """A fresh boto3 session (credentials, endpoint and config read from the environment as usual) that
    shares botocore's data loader, so a CLI run doesn't parse the ECR service model again (~0.15 s a client,
    two clients an apply): only a test-speed change."""
    import boto3
    import botocore.session

    global _LOADER
    core = botocore.session.Session()
    if _LOADER is None:
        _LOADER = core.get_component("data_loader")
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, region_name=region_name)


def tune_ecr(monkeypatch: pytest.MonkeyPatch, *, share: bool = True, **settings: Any) -> None:
    """Give every EcrClient the CLI builds these constructor settings (timeouts, attempts, backoff).

    The CLI has no option for them; reconciler.run.clients builds every client (plan, apply, restore). With
    `share`, one client per registry serves every CLI run of the test (clients are thread-safe and hold
    no state but counters and botocore's retry bookkeeping; building one costs ~0.1 s, and these tests
    run the CLI hundreds of times): use share=False when the test changes the endpoint between runs."""
    import reconciler.run.clients
    from reconciler.live.ecr import EcrClient

    settings.setdefault("session_factory", _shared_loader_session)
    clients: dict[tuple[str, str, str, str | None], EcrClient] = {}

    def build(registry: Registry, **options: Any) -> EcrClient:
        if not share:
            return EcrClient(registry, **(options | settings))
        key = (
            registry.name,
            registry.account_id,
            registry.region,
            registry.role_for(write=options.get("write", False)),
        )
        if key not in clients:
            clients[key] = EcrClient(registry, **(options | settings))
        return clients[key]

    monkeypatch.setattr(reconciler.run.clients, "EcrClient", build)


def no_backoff_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The HTTP clients' (nullplatform, GitHub) waits are recorded instead of slept: a simulated clock."""
    import reconciler.live.clock
    import reconciler.live.http

    clock = reconciler.live.clock.SimulatedClock()
    monkeypatch.setattr(reconciler.live.http, "DEFAULT_CLOCK", clock)
    return clock.sleeps


class Site:
    """One seeded registry (team, foreign, payments and sandbox repositories), a nullplatform provider with
    an old policy and CI credentials, and a policies/ directory."""

    def __init__(self, ecr: EcrEmulator, nullplatform: NullplatformApi, tmp: Path) -> None:
        self.ecr = ecr
        self.nullplatform = nullplatform
        self.tmp = tmp
        self.seeded = seed_texts()
        for name, text in self.seeded.items():
            ecr.create_repository(name, policy_text=text)
        # What must survive in each repository: its foreign statements. Tests that play "someone else"
        # changing a policy update this.
        self.foreign = {name: foreign_statements(text) for name, text in self.seeded.items()}
        self.provider_id = nullplatform.add_provider(NRN, provider_attributes())
        self.policies = tmp / "policies"
        self.policies.mkdir()
        (self.policies / "main.yaml").write_text(POLICIES_YAML, encoding="utf-8")
        self.report = tmp / "report.jsonl"
        self.plan_file = tmp / "plan.json"

    @property
    def managed(self) -> list[str]:
        return [n for n in self.seeded if not n.startswith("sandbox/")]

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        return run_cli(capsys, *args)

    def plan(self, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
        return run_cli(
            capsys, "plan", "--policies", str(self.policies), "--out", str(self.plan_file), *FAST, *extra
        )

    def saved_plan(self) -> Plan:
        return plan_from_json(self.plan_file.read_text(encoding="utf-8"))

    def apply(self, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
        return run_cli(
            capsys, "apply", "--policies", str(self.policies), "--report", str(self.report), *FAST, *extra
        )

    def stored(self, name: str) -> Any:
        return stored(self.ecr, name)

    def provider_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = self.nullplatform.provider(self.provider_id)["attributes"]
        return attributes

    # -- the checks every fault test ends with --

    def assert_writes_safe(self, writes: Writes) -> None:
        """Nothing unsafe was ever sent, and every repository write kept that repository's foreign
        statements (by meaning: ECR hands policies back reformatted)."""
        FIGURES["attempted writes checked"] += writes.count
        for name, text in writes.repositories:
            assert len(text) <= guard.MAX_POLICY_CHARS, name
            document = json.loads(text)
            assert guard.violations(document, OWNS_SID) == [], (name, text)
            assert unsafe_text(text) == [], (name, text)
            sent = {canon(s) for s in statements_of(document)}
            for statement in self.foreign.get(name, []):
                assert canon(statement) in sent, f"{name}: foreign statement lost: {statement}"
        for name in writes.deletes:
            assert not self.foreign.get(name), f"{name}: deleting a policy with foreign statements"
        for _, text in writes.providers:
            assert guard.violations(json.loads(text), OWNS_SID) == [], text
            assert unsafe_text(text) == [], text

    def assert_stored_safe(self) -> None:
        """Every policy stored now is safe and holds its foreign statements; the provider's other
        attributes (CI credentials included) are as seeded."""
        existing = set(self.ecr.repository_names())
        for name in self.seeded:
            if name not in existing:
                continue
            document = self.stored(name)
            if document is None:
                assert not self.foreign.get(name), f"{name}: policy with foreign statements is gone"
                continue
            assert guard.violations(document, OWNS_SID) == [], (name, document)
            assert unsafe_document(document) == [], (name, document)
            FIGURES["stored policies checked"] += 1
            stored = {canon(s) for s in statements_of(document)}
            for statement in self.foreign.get(name, []):
                assert canon(statement) in stored, f"{name}: foreign statement lost: {statement}"
        assert self.ecr.stored_policy("sandbox/x") == OLD
        attributes = self.provider_attributes()
        assert attributes["ci"] == provider_attributes()["ci"]
        assert guard.violations(json.loads(attributes["setup"]["policy"]), OWNS_SID) == []
        assert unsafe_text(attributes["setup"]["policy"]) == []
        expected_setup = {k: v for k, v in provider_attributes()["setup"].items() if k != "policy"}
        assert {k: v for k, v in attributes["setup"].items() if k != "policy"} == expected_setup

    def assert_converges(self, capsys: pytest.CaptureFixture[str]) -> None:
        """With the fault gone, one more apply succeeds and then the plan shows no changes (exit 0)."""
        code, out, err = self.apply(capsys)
        assert code == 0, out + err
        code, out, err = self.plan(capsys, "--detailed-exitcode")
        assert code == 0, out + err
        self.assert_stored_safe()


@contextmanager
def listening_but_never_accepting() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: new connections hang in SYN_SENT until the
    client's connect timeout (a black-holed endpoint, without leaving the machine)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        yield port
    finally:
        filler.close()
        server.close()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
