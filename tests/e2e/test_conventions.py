"""Repository conventions the set-up relies on: reports never committed by accident, actions pinned and
kept fresh by Dependabot, access changes reviewed by their owners and explained."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from reconciler.apply.journal import default_report_path

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def test_default_report_names_are_ignored_by_git() -> None:
    inside = subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True, check=False)
    if inside.returncode != 0:
        pytest.skip("not a git work tree")
    for kind in ("apply", "restore"):
        name = default_report_path(kind).name
        ignored = subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "-q", name], check=False, timeout=60
        )
        assert ignored.returncode == 0, f"{name} is not in .gitignore"


def uses_lines() -> list[tuple[Path, str]]:
    files = [*GITHUB.glob("workflows/*.yml"), *GITHUB.glob("actions/*/action.yml")]
    found = []
    for file in files:
        for match in re.finditer(r"^\s*-?\s*uses:\s*(.+?)\s*$", file.read_text(), re.M):
            found.append((file, match.group(1)))
    return found


def test_every_action_from_elsewhere_is_pinned_to_a_commit() -> None:
    lines = uses_lines()
    assert any(value.startswith("./.github/actions/install") for _, value in lines)
    unpinned = [(f.name, v) for f, v in lines if not v.startswith("./") and not PINNED.match(v)]
    assert unpinned == []


def test_dependabot_updates_actions_everywhere_they_are_used_and_python_grouped() -> None:
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(updates) == {"github-actions", "pip"}
    actions = updates["github-actions"]
    action_dirs = {"/" + str(p.parent.relative_to(ROOT)) for p in GITHUB.glob("actions/*/action.yml")}
    assert set(actions["directories"]) == {"/"} | action_dirs
    assert updates["pip"]["directory"] == "/"
    for update in updates.values():
        (group,) = update["groups"].values()  # one pull request per ecosystem
        assert group["patterns"] == ["*"]


def test_policy_changes_have_owners_and_a_reason() -> None:
    owners = [line.split() for line in (GITHUB / "CODEOWNERS").read_text().splitlines()]
    policies = [entry for entry in owners if entry and entry[0] == "/policies/"]
    assert policies and len(policies[0]) > 1
    template = (GITHUB / "pull_request_template.md").read_text()
    assert "## Why does this access change?" in template


def test_every_workflow_runs_its_steps_with_pipefail() -> None:
    """Without `shell: bash` GitHub runs steps with `bash -e`: `reconciler ... | tee` would then pass
    whatever the reconciler exits (a stale target, a refused batch, a failed write)."""
    for workflow in sorted((GITHUB / "workflows").glob("*.yml")):
        spec = yaml.safe_load(workflow.read_text())
        assert spec.get("defaults", {}).get("run", {}).get("shell") == "bash", workflow.name
