"""Which role each command assumes, seen through the sandbox's record of every STS AssumeRole: the commands
that only read (plan, access, the dry runs) never ask for the write role; those that write (apply, backfill,
restore) ask for it and nothing else, reads included. Every session is named with the run's id."""

from __future__ import annotations

import json
import re

import pytest
from sample_registry import ACCOUNT, POLICIES_YAML, run_cli, stored

from reconciler.apply.journal import read_journal
from reconciler.policy.normalize import equivalent
from reconciler.sandbox.ecr.organizations import ORG_READ_ROLE

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
# Roles in the registry's own account: moto answers AssumeRole for any role, and its credentials then act
# in that account, where the sample repositories are.
READ_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-policy-reconciler-read"
WRITE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-policy-reconciler-write"
OLD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-policy-reconciler"
ROLES = f"  read_role_arn: {READ_ROLE}\n  write_role_arn: {WRITE_ROLE}\n"
WITH_ROLES = POLICIES_YAML.replace("  region: us-east-1\n", "  region: us-east-1\n" + ROLES, 1)
RUN_SESSION = "ecr-policy-reconciler-gh-8812345-3"
SESSION = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


@pytest.fixture
def roles(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    assert ROLES in WITH_ROLES
    (world.policies / "main.yaml").write_text(WITH_ROLES, encoding="utf-8")
    monkeypatch.setenv("GITHUB_RUN_ID", "8812345")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "3")
    return world


def assumed(world: World) -> set[str]:
    """The roles asked for since the last reset (a run may open a session more than once, as the
    two-phase apply does), each checked to carry the run's session name."""
    seen = world.ecr.assumed_roles()
    assert all(s.session_name == RUN_SESSION for s in seen), seen
    return {s.role_arn for s in seen}


def run(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    world.ecr.reset_stats()
    return run_cli(capsys, *args, "--policies", str(world.policies), *FAST)


def writes(world: World) -> int:
    requests = world.ecr.stats()["requests"]
    return sum(requests.get(action, 0) for action in ("SetRepositoryPolicy", "DeleteRepositoryPolicy"))


READING = {
    "plan": ("plan",),
    "access": ("access",),
    "apply --dry-run": ("apply", "--dry-run"),
    "backfill --dry-run": ("backfill", "--dry-run", "--repository", "team-0*"),
}


@pytest.mark.parametrize("command", list(READING))
def test_commands_that_only_read_assume_the_read_role_never_the_write_role(
    roles: World, capsys: pytest.CaptureFixture[str], tmp_path: object, command: str
) -> None:
    args = READING[command]
    if args[0] in ("apply", "backfill"):
        args = (*args, "--report", str(roles.tmp / "dry.jsonl"))
    code, out, err = run(roles, capsys, *args)
    assert code in (0, 2), out + err  # plan and access may find changes or findings
    assert assumed(roles) == {READ_ROLE}
    assert writes(roles) == 0
    assert roles.ecr.stats()["requests"].get("DescribeRepositories", 0) >= 1  # it did read, as that role


@pytest.mark.parametrize(
    "args",
    [("apply",), ("backfill", "--repository", "team-0*"), ("apply", "--max-changes", "1000")],
    ids=["apply", "backfill", "apply --max-changes"],
)
def test_commands_that_write_assume_the_write_role_for_every_call(
    roles: World, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    code, out, err = run(roles, capsys, *args, "--report", str(roles.report))
    assert code == 0, out + err
    assert writes(roles) > 0
    # Reads included: the listing and every GetRepositoryPolicy went through the write role's session.
    assert assumed(roles) == {WRITE_ROLE}
    assert {r.role_arn for r in read_journal(roles.report)} == {WRITE_ROLE}  # the report names it


def test_restore_assumes_todays_write_role_and_reads_a_report_from_before_the_split(
    roles: World, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {name: roles.ecr.stored_policy(name) for name in roles.seeded}
    assert run(roles, capsys, "apply", "--report", str(roles.report))[0] == 0
    # A report written before read and write roles were apart: the one role_arn of that time.
    lines = [json.loads(line) for line in roles.report.read_text().splitlines()]
    roles.report.write_text("".join(json.dumps(line | {"role_arn": OLD_ROLE}) + "\n" for line in lines))

    out_file = str(roles.tmp / "restore.jsonl")
    code, out, err = run(
        roles, capsys, "restore", "--report", str(roles.report), "--dry-run", "--out", out_file
    )
    assert code == 0, out + err
    assert assumed(roles) == {READ_ROLE} and writes(roles) == 0

    code, out, err = run(roles, capsys, "restore", "--report", str(roles.report), "--out", out_file)
    assert code == 0, out + err
    assert assumed(roles) == {WRITE_ROLE}  # today's, never the report's
    for name, text in before.items():
        assert equivalent(stored(roles.ecr, name), None if text is None else json.loads(text)), name


def test_restore_refuses_a_registry_todays_files_do_not_describe(
    roles: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(roles, capsys, "apply", "--report", str(roles.report))[0] == 0
    moved = WITH_ROLES.replace(f'account_id: "{ACCOUNT}"', 'account_id: "999988887777"')
    (roles.policies / "main.yaml").write_text(moved, encoding="utf-8")
    code, _, err = run(roles, capsys, "restore", "--report", str(roles.report))
    assert code == 1
    assert "registry main is account 999988887777 in us-east-1" in err and "Traceback" not in err
    assert assumed(roles) == set() and writes(roles) == 0

    (roles.policies / "main.yaml").write_text(
        WITH_ROLES.replace("name: main", "name: other"), encoding="utf-8"
    )
    code, _, err = run(roles, capsys, "restore", "--report", str(roles.report))
    assert code == 1
    assert f"registry main of the report is not in {roles.policies}" in err
    assert assumed(roles) == set() and writes(roles) == 0


def test_the_organizations_role_session_is_named_with_the_run_too(
    roles: World, capsys: pytest.CaptureFixture[str]
) -> None:
    roles.ecr.seed_organization()
    text = WITH_ROLES + f"organization:\n  role_arn: {ORG_READ_ROLE}\n"
    (roles.policies / "main.yaml").write_text(text, encoding="utf-8")
    code, out, err = run(roles, capsys, "plan")
    assert code in (0, 2), out + err
    assert assumed(roles) == {ORG_READ_ROLE, READ_ROLE}


def test_a_local_run_names_its_sessions_with_its_process(
    roles: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_RUN_ID")
    monkeypatch.delenv("GITHUB_RUN_ATTEMPT")
    code, out, err = run(roles, capsys, "plan")
    assert code in (0, 2), out + err
    (seen,) = roles.ecr.assumed_roles()
    assert seen.role_arn == READ_ROLE
    assert seen.session_name.startswith("ecr-policy-reconciler-local-") and SESSION.fullmatch(
        seen.session_name
    )


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_a_file_with_the_old_role_arn_is_refused_naming_the_new_keys(
    world: World, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = POLICIES_YAML.replace("  region: us-east-1\n", f"  region: us-east-1\n  role_arn: {OLD_ROLE}\n", 1)
    (world.policies / "main.yaml").write_text(text, encoding="utf-8")
    if command == "validate":
        code, out, err = run_cli(capsys, command, "--policies", str(world.policies))
    else:
        code, out, err = run(world, capsys, command)
    assert code == 1
    expected = f"{world.policies / 'main.yaml'}:5:3: registry.role_arn is no longer used"
    said = out + err
    assert expected in said and "read_role_arn" in said and "write_role_arn" in said
    assert world.ecr.assumed_roles() == [] and writes(world) == 0
