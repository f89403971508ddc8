"""docs/SETUP.md's IAM policies against what the code calls: the write role holds every permission the
document lists for the writing commands and every ECR/STS operation the code calls; no policy a reading
run holds allows a write; repository actions are scoped to repository ARNs of the registry's account."""

from __future__ import annotations

import ast
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import botocore.session
import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "docs" / "SETUP.md"
LIVE = REPO / "reconciler" / "live"
ACCOUNT = "123456789012"
WRITE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-policy-reconciler-write"
WRITING = ("apply", "backfill", "restore", "self-heal")
# The access levels AWS gives ECR's reads (List/Read): everything else changes something.
_READ_VERBS = ("Describe", "Get", "List", "BatchGet", "BatchCheck")


def policies() -> dict[str, dict[str, Any]]:
    """Every JSON block the document marks `<!-- iam: NAME -->`, by name."""
    text = SETUP.read_text(encoding="utf-8")
    found = re.findall(r"<!-- iam: ([a-z-]+) -->\n```json\n(.*?)\n```", text, re.S)
    return {name: json.loads(body) for name, body in found}


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    listed = policy["Statement"]
    return listed if isinstance(listed, list) else [listed]


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allows(policy: dict[str, Any], action: str, resource: str | None = None) -> bool:
    """An Allow statement whose Action covers `action` (and Resource `resource`, when given)."""
    for statement in statements(policy):
        assert "NotAction" not in statement and "NotResource" not in statement
        if statement["Effect"] != "Allow":
            continue
        if not any(fnmatchcase(action.lower(), p.lower()) for p in _list(statement["Action"])):
            continue
        if resource is None or any(fnmatchcase(resource, r) for r in _list(statement["Resource"])):
            return True
    return False


def table() -> dict[str, set[str]]:
    """The document's table of commands: each command named in a row, and the IAM actions listed there."""
    per_command: dict[str, set[str]] = {}
    for line in SETUP.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[2].startswith("`"):
            continue
        actions = set(re.findall(r"`([a-z]+:[A-Za-z]+)`", cells[2]))
        for command in re.findall(r"`([a-z-]+)(?: --dry-run)?`|(drift check|self-heal)", cells[0]):
            name = command[0] or command[1]
            if "--dry-run" in cells[0] and command[0]:
                name += " --dry-run"
            per_command.setdefault(name, set()).update(actions)
    return per_command


def code_operations() -> set[str]:
    """The AWS operations (IAM action names) the code calls: every boto3 client method called in
    reconciler/live, mapped to its API operation through botocore's ECR, STS and CloudTrail models."""
    called: set[str] = set()
    for path in LIVE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                called.add(node.func.attr)
    core = botocore.session.get_session()
    found: set[str] = set()
    for service, prefix in (("ecr", "ecr"), ("sts", "sts"), ("cloudtrail", "cloudtrail")):
        model = core.get_service_model(service)
        methods = {_snake(name): name for name in model.operation_names}
        found |= {f"{prefix}:{methods[m]}" for m in called if m in methods}
    return found


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def ecr_write_actions() -> list[str]:
    model = botocore.session.get_session().get_service_model("ecr")
    return [f"ecr:{op}" for op in model.operation_names if not op.startswith(_READ_VERBS)]


def test_the_document_marks_every_role_policy() -> None:
    assert set(policies()) >= {
        "plan-role-permissions",
        "apply-role-permissions",
        "read-role-permissions",
        "write-role-permissions",
        "organizations-role-permissions",
    }


def test_the_code_calls_what_the_document_lists() -> None:
    operations = code_operations()
    # The scan finds the calls (a scan that found nothing would prove nothing).
    assert {"ecr:SetRepositoryPolicy", "ecr:DescribeRepositories", "sts:AssumeRole"} <= operations
    listed = set().union(*table().values())
    assert {op for op in operations if op.startswith("ecr:")} <= listed


@pytest.mark.parametrize("command", WRITING)
def test_the_write_role_holds_every_permission_listed_for_the_writing_commands(command: str) -> None:
    write = policies()["write-role-permissions"]
    listed = table()[command]
    assert listed
    missing = sorted(a for a in listed if not allows(write, a))
    assert missing == []


def test_the_read_role_holds_every_cloudtrail_operation_the_code_calls() -> None:
    read = policies()["read-role-permissions"]
    called = {op for op in code_operations() if op.startswith("cloudtrail:")}
    assert called == {"cloudtrail:LookupEvents"}
    assert called <= table()["plan"]
    assert all(allows(read, op) for op in called)


def test_the_write_role_holds_every_ecr_operation_the_code_calls() -> None:
    write = policies()["write-role-permissions"]
    missing = sorted(op for op in code_operations() if op.startswith("ecr:") and not allows(write, op))
    assert missing == []


def test_creation_templates_get_what_the_ecr_user_guide_asks_for() -> None:
    write = policies()["write-role-permissions"]
    for action in ("ecr:CreateRepository", "ecr:PutLifecyclePolicy", "iam:PassRole"):
        assert allows(write, action), action


def test_the_reading_commands_are_served_by_the_read_role() -> None:
    read = policies()["read-role-permissions"]
    for command, actions in table().items():
        if command in WRITING:
            continue
        missing = sorted(a for a in actions if not allows(read, a))
        assert missing == [], command


@pytest.mark.parametrize(
    "name", ["read-role-permissions", "plan-role-permissions", "organizations-role-permissions"]
)
def test_no_policy_a_reading_run_holds_allows_a_write(name: str) -> None:
    policy = policies()[name]
    written = [a for a in ecr_write_actions() if allows(policy, a)]
    assert written == []
    for action in ("iam:PassRole", "iam:PutRolePolicy", "organizations:CreateAccount", "sts:AssumeRole"):
        if action == "sts:AssumeRole":
            # May assume roles, but never the write role.
            assert not allows(policy, action, WRITE_ROLE)
        else:
            assert not allows(policy, action), action


def test_repository_actions_are_scoped_to_the_registry_account() -> None:
    for name in ("read-role-permissions", "write-role-permissions"):
        for statement in statements(policies()[name]):
            actions = _list(statement["Action"])
            if not any(a.startswith("ecr:") for a in actions):
                continue
            resources = _list(statement["Resource"])
            if resources == ["*"]:
                # Only actions with no resource type, limited to the registry's regions instead.
                assert all("RepositoryCreationTemplate" in a for a in actions), statement
                assert "aws:RequestedRegion" in statement["Condition"]["StringEquals"]
            else:
                for resource in resources:
                    assert re.fullmatch(rf"arn:aws:ecr:[a-z0-9-]+:{ACCOUNT}:repository/\*", resource)
