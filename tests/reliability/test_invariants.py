"""Invariants, property-based: random live states x random valid desired states.

Live states: random foreign statements (Sids not matching the managed globs, or no Sid; service, account,
role and wildcard principals; pull-only actions in random case, one-item lists collapsed or not; random
conditions; Allow and Deny), random owned statements (AllowPull* Sids, random accounts, OU paths, even
unsafe ones: they are ours and get replaced), some foreign statements that grant more than pull (kept and
noted) or are public (refused), and random serializations (whitespace, key order, statement order, ECR's
read-back rewriting).
Desired states: random OU paths, accounts, overrides and managed_sids, each loaded through the strict
loader (so only states `reconciler validate` accepts).

On the pure planner (many examples):
  (a) every policy the plan would write holds every foreign statement unchanged, in order;
  (b) no policy the plan would write has a public statement or is over ECR's size limit, every statement
      we author in it is pull-only, a repository with a public foreign statement is never written, and a
      foreign grant beyond pull is noted;
  no false drift: the desired policy in any serialization plans as no change.
Against the sandbox (fewer examples, the whole CLI):
  (c) plan -> apply -> plan shows no changes; a second apply sends zero writes;
  (d) restore after apply gives back the original policies (by meaning).
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sample_registry import run_cli

from reconciler.apply.journal import final_records, read_journal
from reconciler.desired.model import PullAccess, Registry
from reconciler.live.state import LivePolicy, LiveProvider, LiveRegistry
from reconciler.plan.build import build_registry_plan
from reconciler.plan.model import Action
from reconciler.plan.planfile import plan_from_json
from reconciler.policy import guard
from reconciler.policy.grants import grant_words
from reconciler.policy.normalize import equivalent, statements_of
from reconciler.policy.ownership import merge
from reconciler.policy.render import PULL_ACTIONS, provider_policy, repository_statements
from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.ecr.readback import jackson_dumps, rewrite_policy_document
from reconciler.sandbox.nullplatform import NullplatformApi
from reconciler.validation.loader import check_bytes

from .support import FIGURES, tune_ecr

# Each runs the CLI against the sandbox doubles: end to end (`make test-fast` leaves them out).
pytestmark = pytest.mark.e2e

ACCOUNT = "123456789012"
NRN = "organization=1:account=2"
PREFIXES = ("team", "payments", "billing", "ml", "sandbox")
OVERRIDABLE = ("payments/*", "billing/*", "ml/*")

# -- desired states ----------------------------------------------------------------------------------------

accounts = st.one_of(
    st.sampled_from(["111122223333", "444455556666", "777788889999", "210987654321", ACCOUNT]),
    st.integers(10**11, 10**12 - 1).map(str),
)
_ID = "abcdefghijklmnopqrstuvwxyz0123456789"
ou_paths = st.builds(
    lambda org, root, ous, tail: f"o-{org}/{root}/" + "".join(f"ou-{a}-{b}/" for a, b in ous) + tail,
    st.text(_ID, min_size=10, max_size=12),
    st.sampled_from(["*", "r-ab12"]),
    st.lists(
        st.tuples(st.text(_ID, min_size=4, max_size=4), st.text(_ID, min_size=8, max_size=8)),
        min_size=1,
        max_size=2,
    ),
    st.sampled_from(["*", ""]),
)


@st.composite
def pull_accesses(draw: st.DrawFn) -> dict[str, list[str]]:
    paths = draw(st.lists(ou_paths, max_size=2, unique=True))
    listed = draw(st.lists(accounts, min_size=0 if paths else 1, max_size=4, unique=True))
    access: dict[str, list[str]] = {}
    if paths:
        access["organization_paths"] = paths
    if listed:
        access["accounts"] = listed
    return access


@st.composite
def desired_yaml(draw: st.DrawFn) -> str:
    document: dict[str, Any] = {
        "registry": {"name": "main", "account_id": ACCOUNT, "region": "us-east-1"},
        "nullplatform": {"nrn": NRN},
        "pull_access": draw(pull_accesses()),
        "repositories": {"include": ["*"], "exclude": ["sandbox/*"]},
    }
    overridden = draw(st.lists(st.sampled_from(OVERRIDABLE), unique=True, max_size=3))
    if overridden:
        document["overrides"] = [
            {"repositories": [glob], "pull_access": draw(pull_accesses())} for glob in overridden
        ]
    if draw(st.booleans()):
        # Adopt the statements nullplatform's later module versions write.
        document["managed_sids"] = ["AllowPull*", "CrossAccountPull"]
    # JSON is YAML: every string double-quoted, as account ids must be.
    return "\n".join(f"{key}: {json.dumps(value)}" for key, value in document.items()) + "\n"


def load_registry(text: str) -> Registry:
    result = check_bytes(text.encode(), "generated.yaml")
    assert result.registry is not None, [str(p) for p in result.problems]
    return result.registry


# -- live states -------------------------------------------------------------------------------------------

EXTRA_PULL = ("ecr:ListImages", "ecr:GetRepositoryPolicy")
NON_PULL = ("ecr:PutImage", "ecr:*", "*", "ecr:DeleteRepository", "ecr:SetRepositoryPolicy")
SERVICES = ("lambda.amazonaws.com", "codebuild.amazonaws.com", "ecs-tasks.amazonaws.com")
FOREIGN_SIDS = ("LambdaECRImageRetrievalPolicy", "CrossAccountPull", "ReadOnly", "AllowPul", "allowpull", "")
OWNED_SIDS = ("AllowPull", "AllowPullAccounts", "AllowPullOrganizationPaths", "AllowPullLegacy", "AllowPullX")

# Strategies are built once, here: building them inside a composite for every draw costs more than the
# test itself.
SID_TEXT = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", max_size=12),
)
FOREIGN_SID = st.one_of(st.none(), st.sampled_from(FOREIGN_SIDS), SID_TEXT)


def collapse(values: list[Any], one: bool) -> Any:
    """A one-item list, or its item alone (IAM reads them the same)."""
    return values[0] if one and len(values) == 1 else values


ACTION_SPELLINGS = [spelling for a in PULL_ACTIONS + EXTRA_PULL for spelling in (a, a.lower(), a.upper())]
ACTIONS = st.builds(
    collapse,
    st.lists(st.sampled_from(ACTION_SPELLINGS), min_size=1, max_size=4, unique_by=str.lower),
    st.booleans(),
)
ACCOUNT_FORMS = ("{}", "arn:aws:iam::{}:root", "arn:aws:iam::{}:role/deployer")
ACCOUNT_PRINCIPAL = st.builds(
    lambda pairs, one: {"AWS": collapse([form.format(i) for i, form in pairs], one)},
    st.lists(
        st.tuples(accounts, st.sampled_from(ACCOUNT_FORMS)), min_size=1, max_size=3, unique_by=lambda t: t[0]
    ),
    st.booleans(),
)
RESTRICTING_CONDITION = st.one_of(
    st.lists(accounts, min_size=1, max_size=3, unique=True).map(
        lambda a: {"StringEquals": {"aws:PrincipalAccount": a}}
    ),
    st.lists(ou_paths, min_size=1, max_size=2, unique=True).map(
        lambda p: {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": p}}
    ),
    st.builds(lambda: {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}),
)
OTHER_CONDITION = st.sampled_from(
    [
        {"StringLike": {"aws:sourceArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"}},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
    ]
).map(copy.deepcopy)
ALLOW = st.just("Allow")
SERVICE_STATEMENT = st.fixed_dictionaries(
    {
        "Effect": ALLOW,
        "Principal": st.sampled_from(SERVICES).map(lambda s: {"Service": s}),
        "Action": ACTIONS,
    },
    optional={"Condition": OTHER_CONDITION},
)
ACCOUNT_STATEMENT = st.fixed_dictionaries(
    {"Effect": ALLOW, "Principal": ACCOUNT_PRINCIPAL, "Action": ACTIONS},
    optional={"Condition": OTHER_CONDITION},
)
WILDCARD_STATEMENT = st.fixed_dictionaries(
    {
        "Effect": ALLOW,
        "Principal": st.sampled_from(["*", {"AWS": "*"}]).map(copy.deepcopy),
        "Action": ACTIONS,
        "Condition": RESTRICTING_CONDITION,
    }
)
DENY_STATEMENT = st.builds(
    lambda actions: {
        "Effect": "Deny",
        "Principal": "*",
        "Action": actions,
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}},
    },
    st.sampled_from(["ecr:PutImage", ["ecr:PutImage", "ecr:DeleteRepository"]]).map(copy.deepcopy),
)


def with_sid(sid: str | None, statement: dict[str, Any]) -> dict[str, Any]:
    return statement if sid is None else {"Sid": sid, **statement}


# Foreign statements that are pull only: Allow for a named principal (or for everyone under an
# organization/account condition), or a Deny.
SAFE_ALLOW = st.builds(
    with_sid, FOREIGN_SID, st.one_of(SERVICE_STATEMENT, ACCOUNT_STATEMENT, WILDCARD_STATEMENT)
)
SAFE_FOREIGN = SAFE_ALLOW | st.builds(with_sid, FOREIGN_SID, DENY_STATEMENT)


def make_unsafe(statement: dict[str, Any], how: str, extra: str) -> dict[str, Any]:
    statement = copy.deepcopy(statement)
    if how == "action":
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [*actions, extra]
    elif how == "not-action":
        statement["NotAction"] = statement.pop("Action")
    elif how == "public":
        statement["Principal"] = "*"
        statement.pop("Condition", None)
    else:  # a condition that matches every account restricts nothing
        statement["Principal"] = "*"
        statement["Condition"] = {"StringLike": {"aws:PrincipalAccount": "*"}}
    return statement


# Statements beyond pull only: non-pull actions or NotAction (kept when foreign, with a note; refused when
# ours), or public (always refused).
UNSAFE_FOREIGN = st.builds(
    make_unsafe,
    SAFE_ALLOW,
    st.sampled_from(["action", "not-action", "public", "match-all"]),
    st.sampled_from(NON_PULL),
)
# Statements we own (AllowPull* Sids); the unsafe ones are ours too, so they get replaced.
SAFE_OWNED = st.builds(lambda sid, s: {**s, "Sid": sid}, st.sampled_from(OWNED_SIDS), SAFE_ALLOW)
ANY_OWNED = st.builds(
    lambda sid, s: {**s, "Sid": sid}, st.sampled_from(OWNED_SIDS), SAFE_ALLOW | UNSAFE_FOREIGN
)


def reorder(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: reorder(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [reorder(v, rng) for v in value]
    return value


def render_as(document: dict[str, Any], seed: int, style: str) -> str:
    """`document` as someone (or ECR) might have written it: same meaning, other bytes."""
    rng = random.Random(seed)
    document = reorder(document, rng)
    statements = list(document["Statement"])
    rng.shuffle(statements)
    document["Statement"] = statements[0] if len(statements) == 1 and rng.random() < 0.3 else statements
    if style == "ecr":
        return jackson_dumps(rewrite_policy_document(document))
    if style == "compact":
        return json.dumps(document, separators=(",", ":"))
    if style == "tabs":
        return json.dumps(document, indent="\t")
    if style == "spaced":
        return "\n  " + json.dumps(document, indent=4, separators=(" ,", " : ")) + "\n\n"
    return json.dumps(document, indent=2)


STYLES = st.sampled_from(["compact", "indent", "tabs", "ecr", "spaced"])


def serialized(document: dict[str, Any]) -> st.SearchStrategy[str]:
    return st.builds(render_as, st.just(document), st.integers(0, 2**32 - 1), STYLES)


@dataclass
class LiveRepository:
    name: str
    owned: list[dict[str, Any]]
    foreign: list[dict[str, Any]]
    version: str
    text: str | None


@st.composite
def live_repositories(
    draw: st.DrawFn, names: list[str], *, unsafe: bool = True, unsafe_owned: bool = True
) -> list[LiveRepository]:
    repositories = []
    for name in names:
        if draw(st.integers(0, 5)) == 0:
            repositories.append(LiveRepository(name, [], [], "2012-10-17", None))
            continue
        owned = draw(st.lists(ANY_OWNED if unsafe_owned else SAFE_OWNED, max_size=2))
        foreign = draw(st.lists(SAFE_FOREIGN, max_size=3))
        if unsafe and draw(st.integers(0, 4)) == 0:
            foreign.insert(draw(st.integers(0, len(foreign))), draw(UNSAFE_FOREIGN))
        if not owned and not foreign:
            owned = [draw(SAFE_OWNED)]
        version = draw(st.sampled_from(["2012-10-17", "2012-10-17", "2008-10-17"]))
        statements = owned + foreign
        text = draw(serialized({"Version": version, "Statement": statements}))
        repositories.append(LiveRepository(name, owned, foreign, version, text))
    return repositories


names = st.lists(
    st.builds(lambda prefix, n: f"{prefix}/r{n}", st.sampled_from(PREFIXES), st.integers(0, 99)),
    min_size=1,
    max_size=6,
    unique=True,
)


def live_foreign(registry: Registry, text: str | None) -> list[Any]:
    if text is None:
        return []
    return [
        s
        for s in statements_of(json.loads(text))
        if not registry.owns_sid(s.get("Sid") if isinstance(s.get("Sid"), str) else None)
    ]


def public_foreign(registry: Registry, text: str | None) -> bool:
    return any(isinstance(s, dict) and guard.is_public(s) for s in live_foreign(registry, text))


def check_written(
    registry: Registry, name: str | None, before: str | None, after: str, notes: tuple[str, ...]
) -> None:
    """(a) and (b) for one policy the plan would write."""
    document = json.loads(after)
    foreign = live_foreign(registry, before)
    written = document["Statement"]
    assert [s for s in written if not registry.owns_sid(s.get("Sid"))] == foreign  # exactly, in order
    owned = repository_statements(registry, name) if name else provider_policy(registry)["Statement"]
    assert [s for s in written if registry.owns_sid(s.get("Sid"))] == owned
    assert not any(guard.is_public(s) for s in written)  # nothing public, whoever wrote it
    assert all(guard.violations({"Statement": [s]}) == [] for s in owned)  # ours: pull only
    assert guard.violations(document, registry.owns_sid) == []
    assert len(after) <= guard.MAX_POLICY_CHARS
    beyond = [s for s in foreign if grant_words(s) is not None]
    assert bool(notes) == bool(beyond), (notes, beyond)  # every foreign grant beyond pull is noted
    FIGURES["planned writes checked"] += 1
    FIGURES["foreign statements checked"] += len(foreign)
    FIGURES["foreign grants beyond pull kept and noted"] += len(beyond)


PLANNER = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PLANNER
@given(desired=desired_yaml(), data=st.data())
def test_planned_writes_keep_foreign_statements_and_are_never_unsafe(
    desired: str, data: st.DataObject
) -> None:
    registry = load_registry(desired)
    repositories = data.draw(names.flatmap(lambda n: live_repositories(n)))
    provider_doc = data.draw(
        st.one_of(
            st.none(),
            st.builds(
                lambda owned, foreign: {"Version": "2012-10-17", "Statement": owned + foreign},
                st.lists(ANY_OWNED, max_size=2),
                st.lists(SAFE_FOREIGN | UNSAFE_FOREIGN, max_size=2),
            ),
        )
    )
    provider_text = None if provider_doc is None else data.draw(serialized(provider_doc))
    live = LiveRegistry(
        "main",
        policies=tuple(LivePolicy(r.name, r.text) for r in repositories),
        provider=LiveProvider(NRN, "p1", provider_text),
    )
    plan = build_registry_plan(registry, live)
    by_name = {r.name: r for r in repositories}
    planned = {c.repository: c for c in plan.changes}

    assert set(planned) | set(plan.unchanged) == {n for n in by_name if registry.selects(n)}
    for name, change in planned.items():
        repository = by_name[name]
        unsafe = public_foreign(registry, repository.text)
        note(f"{name}: {change.action} {change.error or ''}")
        if change.action in (Action.CREATE, Action.UPDATE):
            assert change.after is not None and not unsafe
            check_written(registry, name, repository.text, change.after, change.notes)
        elif change.action == Action.DELETE:
            assert not live_foreign(registry, repository.text)  # nothing foreign to lose
        else:
            assert change.action == Action.ERROR and change.after is None and change.error
        if unsafe:
            assert change.action == Action.ERROR  # never written, and reported
            FIGURES["repositories with a public foreign statement, refused"] += 1
    provider = plan.provider
    assert provider is not None
    if provider.action in (Action.CREATE, Action.UPDATE):
        assert provider.after is not None
        check_written(registry, None, provider_text, provider.after, provider.notes)
    FIGURES["planner examples"] += 1


@PLANNER
@given(desired=desired_yaml(), data=st.data())
def test_the_desired_policy_in_any_serialization_is_no_change(desired: str, data: st.DataObject) -> None:
    """No false drift: reformatting, reordering and ECR's read-back rewriting never make a change."""
    registry = load_registry(desired)
    chosen = data.draw(names)
    policies = []
    for name in chosen:
        foreign = data.draw(st.lists(SAFE_FOREIGN, max_size=3))
        document = merge({"Statement": foreign}, registry.owns_sid, repository_statements(registry, name))
        text = None if document is None else data.draw(serialized(document))
        policies.append(LivePolicy(name, text))
    provider = data.draw(serialized(provider_policy(registry)))
    plan = build_registry_plan(
        registry, LiveRegistry("main", tuple(policies), LiveProvider(NRN, "p1", provider))
    )
    assert plan.changes == ()
    assert plan.provider is not None and plan.provider.action == Action.NOOP
    FIGURES["no-drift examples"] += 1


# -- against the sandbox -----------------------------------------------------------------------------------

SANDBOX = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FAST = ("--no-progress", "--max-rps", "1000")


@pytest.fixture
def sandbox_env(
    aws_env: EcrEmulator, nullplatform: NullplatformApi, monkeypatch: pytest.MonkeyPatch
) -> tuple[EcrEmulator, NullplatformApi]:

    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in nullplatform.environment().items():
        monkeypatch.setenv(name, value)
    tune_ecr(monkeypatch)
    return aws_env, nullplatform


def sandbox_requests(ecr: EcrEmulator) -> dict[str, int]:
    return dict(ecr.stats()["requests"])


@SANDBOX
@given(desired=desired_yaml(), data=st.data())
def test_apply_converges_is_idempotent_and_restore_gives_back_the_originals(
    desired: str,
    data: st.DataObject,
    sandbox_env: tuple[EcrEmulator, NullplatformApi],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:

    ecr, nullplatform = sandbox_env
    ecr.reset()
    nullplatform.reset()
    registry = load_registry(desired)
    chosen = data.draw(
        st.lists(
            st.sampled_from([f"{p}/r{i}" for p in PREFIXES for i in range(3)]),
            min_size=2,
            max_size=6,
            unique=True,
        )
    )
    repositories = data.draw(live_repositories(chosen, unsafe_owned=False))
    for repository in repositories:
        ecr.create_repository(repository.name, policy_text=repository.text)
    setup: dict[str, Any] = {"region": "us-east-1"}
    provider_owned = data.draw(st.none() | SAFE_OWNED)
    if provider_owned is not None:
        setup["policy"] = json.dumps({"Version": "2012-10-17", "Statement": [provider_owned]})
    provider_id = nullplatform.add_provider(NRN, {"setup": setup})
    work = Path(tempfile_dir(tmp_path))
    (work / "policies").mkdir()
    (work / "policies" / "main.yaml").write_text(desired, encoding="utf-8")
    policies = str(work / "policies")
    # Repositories with a public foreign statement: reported, never written (unless already in line,
    # which random owned statements practically never are). Foreign grants beyond pull do not block.
    suspects = {r.name for r in repositories if registry.selects(r.name) and public_foreign(registry, r.text)}

    # (c) plan -> apply -> plan: no changes left.
    code, out, err = run_cli(capsys, "plan", "--policies", policies, "--out", str(work / "p1.json"), *FAST)
    first = plan_from_json((work / "p1.json").read_text(encoding="utf-8")).registries[0]
    unsafe = {c.repository for c in first.changes if c.action == Action.ERROR}
    note(f"refused: {sorted(unsafe)}")
    assert unsafe <= suspects and suspects - unsafe <= set(first.unchanged)
    assert code == (1 if unsafe else 0), out + err
    report = work / "apply.jsonl"
    code, out, err = run_cli(capsys, "apply", "--policies", policies, "--report", str(report), *FAST)
    assert code == (1 if unsafe else 0), out + err
    records = final_records(read_journal(report))
    # Refused repositories are reported as failed and never written.
    assert {r.name for r in records if r.action == "error"} == unsafe
    assert all(r.result == "failed" and r.after is None for r in records if r.action == "error")
    for record in (r for r in records if r.action != "error"):
        assert record.result == "applied" and record.after is not None
        assert guard.violations(json.loads(record.after), registry.owns_sid) == []
        assert record.name not in unsafe
    code, out, err = run_cli(
        capsys, "plan", "--policies", policies, "--out", str(work / "p2.json"), "--detailed-exitcode", *FAST
    )
    again = plan_from_json((work / "p2.json").read_text(encoding="utf-8"))
    assert not again.has_changes, out
    assert code == (1 if unsafe else 0), out + err
    assert {c.repository for c in again.registries[0].changes} == unsafe
    for repository in repositories:  # (a) and (b) on what is stored now
        stored = ecr.stored_policy(repository.name)
        if repository.name in unsafe or not registry.selects(repository.name):
            assert stored == repository.text  # never written
            continue
        if stored is not None:
            assert guard.violations(json.loads(stored), registry.owns_sid) == []
            kept = live_foreign(registry, stored)
            assert equivalent({"Statement": kept}, {"Statement": live_foreign(registry, repository.text)})

    # Applying twice: the second apply sends no write at all.
    ecr.reset_stats()
    nullplatform.reset_stats()
    code, out, err = run_cli(
        capsys, "apply", "--policies", policies, "--report", str(work / "again.jsonl"), *FAST
    )
    assert code == (1 if unsafe else 0), out + err
    requests = sandbox_requests(ecr)
    assert requests.get("SetRepositoryPolicy", 0) == requests.get("DeleteRepositoryPolicy", 0) == 0
    assert "PATCH /provider/{provider_id}" not in nullplatform.stats()["requests"]
    again = final_records(read_journal(work / "again.jsonl")) if (work / "again.jsonl").exists() else []
    assert [r for r in again if r.action != "error"] == []  # nothing written the second time
    assert {r.name for r in again} == unsafe  # the refused ones are reported again

    # (d) restore puts every original back (by meaning), except an original the guard refuses (restore
    # reads the report, not policies/, so the default `AllowPull*` statements count as ours and must be
    # pull only): restore never writes that, and names it.
    applied = {r.name for r in read_journal(report) if r.result == "applied"}
    restore_owner = Registry("main", ACCOUNT, "us-east-1", PullAccess()).owns_sid
    refused = {
        r.name
        for r in repositories
        if r.name in applied and r.text is not None and guard.violations(json.loads(r.text), restore_owner)
    }
    code, out, err = run_cli(
        capsys,
        "restore",
        "--policies",
        policies,
        "--report",
        str(report),
        "--out",
        str(work / "restore.jsonl"),
        *FAST,
    )
    # A provider config that had no policy keeps the one the apply set (restore never removes it), and
    # says so.
    assert code == (1 if refused or provider_owned is None else 0), out + err
    for name in refused:
        assert f"failed: main/{name} (repository): refusing to write an unsafe policy" in err
    provider_policy = nullplatform.provider(provider_id)["attributes"]["setup"].get("policy")
    if provider_owned is None:
        assert f"main/{provider_id} (provider): it had no policy before the apply" in out
    else:
        assert equivalent(json.loads(provider_policy), json.loads(setup["policy"]))
    for repository in repositories:
        stored = ecr.stored_policy(repository.name)
        document = None if stored is None else json.loads(stored)
        if repository.name in refused:
            assert document is not None and guard.violations(document, registry.owns_sid) == []
            continue
        original = None if repository.text is None else json.loads(repository.text)
        assert equivalent(document, original), repository.name
    FIGURES["sandbox examples"] += 1
    FIGURES["sandbox repositories round-tripped"] += len(repositories)


_COUNTER = [0]


def tempfile_dir(base: Path) -> Path:
    _COUNTER[0] += 1
    path = base / f"example-{_COUNTER[0]}"
    path.mkdir()
    return path


def test_a_policy_id_is_kept_like_every_other_element_we_do_not_own() -> None:
    registry = load_registry(
        'registry: {"name": "main", "account_id": "123456789012", "region": "us-east-1"}\n'
        'pull_access: {"accounts": ["111122223333"]}\n'
    )
    owned = repository_statements(registry, "team/app")
    in_line = {"Version": "2012-10-17", "Id": "Policy1700000000000", "Statement": owned}
    stale = {
        "Version": "2012-10-17",
        "Id": "Policy1700000000000",
        "Statement": [{**owned[0], "Sid": "AllowPullOld"}],
    }
    live = LiveRegistry(
        "main", (LivePolicy("team/app", json.dumps(in_line)), LivePolicy("team/old", json.dumps(stale)))
    )
    plan = build_registry_plan(registry, live)
    assert plan.unchanged == ("team/app",)  # nothing to change: no write, no empty "update"
    (change,) = plan.changes
    assert change.after is not None and json.loads(change.after)["Id"] == "Policy1700000000000"
