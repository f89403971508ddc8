"""Access changes on the sandbox: after an apply, edits to policies/ that add, remove and rename accounts
and OU paths are planned as who gains and who loses pull, on how many repositories; a Sid-only edit as
none."""

from __future__ import annotations

import json

import pytest
from sample_registry import POLICIES_YAML, run_cli

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
OU = "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"
RENAMED_OU = "o-a1b2c3d4e5/*/ou-ab12-99998888/*"


def converge(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST
    )
    assert code == 0, err


def planned(world: World, capsys: pytest.CaptureFixture[str], yaml: str) -> tuple[dict[str, object], str]:
    (world.policies / "main.yaml").write_text(yaml, encoding="utf-8")
    code, out, err = run_cli(capsys, "plan", "--policies", str(world.policies), "--format", "json", *FAST)
    assert code == 0, err
    data = json.loads(out)
    (registry,) = data["registries"]
    _, text, _ = run_cli(capsys, "plan", "--policies", str(world.policies), *FAST)
    return {
        c["principal"]: (c["gains"], c["loses"], c["new_repositories"]) for c in registry["access_changes"]
    }, text


def test_accounts_and_paths_added_removed_and_renamed(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    converge(world, capsys)
    team = len([n for n in world.managed if not n.startswith("payments/")])  # the default pull_access
    yaml = POLICIES_YAML.replace('"444455556666"]', '"999900001111"]').replace(OU, RENAMED_OU)
    changes, text = planned(world, capsys, yaml)
    assert changes == {
        "444455556666": (0, team, "loses"),
        OU: (0, team, "loses"),
        "999900001111": (team, 0, "gains"),
        RENAMED_OU: (team, 0, "gains"),
    }
    # Losses lead, ahead of the statement edits.
    lines = text.splitlines()
    losses = [i for i, line in enumerate(lines) if " loses pull on " in line]
    gains = [i for i, line in enumerate(lines) if " gains pull on " in line]
    edits = [i for i, line in enumerate(lines) if "remove account" in line]
    assert losses and gains and edits and max(losses) < min(gains) < min(edits)
    assert (
        f"    - account 444455556666 loses pull on {team} repositories and on new repositories "
        "(provider config)" in lines
    )


def test_an_override_removed_is_a_loss_only_where_it_applied(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    converge(world, capsys)
    yaml = POLICIES_YAML.split("overrides:")[0]  # payments/* falls back to the default access
    changes, _ = planned(world, capsys, yaml)
    assert changes == {
        "777788889999": (0, 1, None),
        "111122223333": (1, 0, None),
        "444455556666": (1, 0, None),
        OU: (1, 0, None),
    }


def test_a_sid_only_change_shows_no_access_change(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Accounts only: one statement, Sid AllowPull. Then the same grant under another owned Sid.
    yaml = POLICIES_YAML.replace(f'  organization_paths: ["{OU}"]\n', "")
    (world.policies / "main.yaml").write_text(yaml, encoding="utf-8")
    converge(world, capsys)
    for name in world.managed:
        text = world.ecr.stored_policy(name)
        assert text is not None
        document = json.loads(text)
        for statement in document["Statement"]:
            if statement.get("Sid") == "AllowPull":
                statement["Sid"] = "AllowPullLegacy"
        world.ecr.client().set_repository_policy(repositoryName=name, policyText=json.dumps(document))
    changes, text = planned(world, capsys, yaml)
    assert changes == {}
    assert "to update" in text and "Access changes" not in text and "remove statement AllowPullLegacy" in text
