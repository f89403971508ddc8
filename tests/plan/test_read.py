"""Reading a saved plan file: a line at a time as `write_plan` lays it out (no whole-file text or parse
tree next to the plan), any other layout of the same JSON whole, with the same checks and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.desired.model import PullAccess, Registry
from reconciler.errors import ReconcilerError
from reconciler.live.state import LivePolicy, LiveRegistry
from reconciler.plan.build import build_registry_plan
from reconciler.plan.model import Plan, RegistryPlan
from reconciler.plan.planfile import plan_from_json, plan_json, read_plan, write_plan
from reconciler.policy.render import policy_text, render_policy

ACCOUNT = "123456789012"
DESIRED = PullAccess(accounts=("111122223333",))
OLD = policy_text(render_policy(ACCOUNT, PullAccess(accounts=("111122223333", "999900001111"))))


def registry_plan(name: str, repositories: int) -> RegistryPlan:
    registry = Registry(name=name, account_id=ACCOUNT, region="us-east-1", pull_access=DESIRED)
    live: list[LivePolicy] = []
    for number in range(repositories):
        policy = (None, OLD, policy_text(render_policy(ACCOUNT, DESIRED)))[number % 3]
        live.append(LivePolicy(f"team-{number}/app", policy))
    return build_registry_plan(registry, LiveRegistry(name, tuple(live), None))


@pytest.fixture
def plan() -> Plan:
    return Plan("2026-12-01T00:00:00+00:00", "sha256:x", (registry_plan("a", 30), registry_plan("b", 0)))


def written(plan: Plan, path: Path) -> str:
    with path.open("w", encoding="utf-8") as out:
        write_plan(plan, out)
    return str(path)


def test_a_written_plan_reads_back_equal_a_line_at_a_time(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = written(plan, tmp_path / "plan.json")
    assert plan.registries[0].changes and plan.registries[0].unchanged and not plan.registries[1].changes
    parsed: list[int] = []
    loads = json.loads

    def recording(text: str) -> object:
        parsed.append(len(text))
        return loads(text)

    monkeypatch.setattr(json, "loads", recording)  # the module the reader parses with
    assert read_plan(path) == plan
    # Never the whole file at once: each parse is the head, a registry's head or one change.
    assert parsed and max(parsed) < Path(path).stat().st_size / 5


def test_a_plan_with_no_registries_reads_back(tmp_path: Path) -> None:
    empty = Plan("t", "f", ())
    assert read_plan(written(empty, tmp_path / "plan.json")) == empty


def test_another_layout_of_the_same_json_is_read_whole(plan: Plan, tmp_path: Path) -> None:
    path = tmp_path / "indented.json"
    path.write_text(json.dumps(json.loads(plan_json(plan)), indent=2), encoding="utf-8")
    assert read_plan(str(path)) == plan


def test_a_file_cut_short_is_not_a_plan(plan: Plan, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    text = plan_json(plan)
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(ReconcilerError, match=r"plan.json: not a plan file \(invalid JSON"):
        read_plan(str(path))
    path.write_text(text.rstrip("\n")[:-2] + "\n", encoding="utf-8")  # the last "]}" missing
    with pytest.raises(ReconcilerError, match="not a plan file"):
        read_plan(str(path))


def test_a_change_line_that_is_not_json_is_not_a_plan(plan: Plan, tmp_path: Path) -> None:
    lines = plan_json(plan).splitlines()
    lines[2] = lines[2][:-5]
    path = tmp_path / "plan.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReconcilerError, match="not a plan file"):
        read_plan(str(path))


def test_the_head_is_checked_as_when_read_whole(plan: Plan, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(plan_json(plan).replace('"version": 4', '"version": 99', 1), encoding="utf-8")
    with pytest.raises(ReconcilerError, match="version 99 is not supported"):
        read_plan(str(path))
    path.write_text(plan_json(plan).replace('"format": "ecr-policy', '"format": "other', 1), encoding="utf-8")
    with pytest.raises(ReconcilerError, match="missing format"):
        read_plan(str(path))


def test_a_change_missing_a_field_is_a_malformed_plan(plan: Plan, tmp_path: Path) -> None:
    lines = plan_json(plan).splitlines()
    change = json.loads(lines[2].removeprefix(","))
    del change["live_fingerprint"]
    lines[2] = json.dumps(change)
    path = tmp_path / "plan.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReconcilerError, match="malformed plan file"):
        read_plan(str(path))


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError, match=r"cannot read plan .*nope\.json"):
        read_plan(str(tmp_path / "nope.json"))


def test_commas_must_be_where_json_puts_them(plan: Plan, tmp_path: Path) -> None:
    lines = plan_json(plan).splitlines()
    assert lines[3].startswith(",") and not lines[2].startswith(",")
    path = tmp_path / "plan.json"
    broken = {
        "a comma missing between changes": [*lines[:3], lines[3][1:], *lines[4:]],
        "a comma before the first change": [*lines[:2], "," + lines[2], *lines[3:]],
        "a comma before the list's end": [*lines[:-1], ",]}"],
    }
    for why, edited in broken.items():
        path.write_text("\n".join(edited) + "\n", encoding="utf-8")
        with pytest.raises(ReconcilerError, match="not a plan file"):
            read_plan(str(path))
        with pytest.raises(ReconcilerError, match="not a plan file"):  # as when read whole
            plan_from_json("\n".join(edited), source=why)


def test_a_file_that_is_not_utf8_says_so_in_one_short_line(plan: Plan, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    for at in (10, len(plan_json(plan)) // 2):  # in the head, and in a change
        data = plan_json(plan).encode("utf-8")
        path.write_bytes(data[:at] + b"\xff" + data[at:])
        with pytest.raises(
            ReconcilerError, match=r"not a plan file \(not UTF-8 text at byte \d+\)"
        ) as caught:
            read_plan(str(path))
        assert len(str(caught.value)) < 200


def test_a_plan_says_what_it_covers_and_older_files_cover_everything() -> None:
    """Version 4: the --repository globs and whether the provider config was left out, so a run that
    writes the plan never reaches beyond it. A version 3 file said neither: it covers everything."""
    narrowed = Plan("t", "f", (), repositories=("team-*",), repositories_only=True)
    assert plan_from_json(plan_json(narrowed)) == narrowed
    older = plan_json(Plan("t", "f", ())).replace('"version": 4', '"version": 3', 1)
    older = older.replace('"repositories": [], "repositories_only": false, ', "", 1)
    assert '"repositories"' not in older
    read = plan_from_json(older)
    assert (read.repositories, read.repositories_only) == ((), False)
    broken = plan_json(narrowed).replace('["team-*"]', '"team-*"', 1)
    with pytest.raises(ReconcilerError, match="malformed plan file"):
        plan_from_json(broken)


@pytest.mark.parametrize(
    ("field", "written", "problem"),
    [
        ("repositories_only", '"true"', "repositories_only: expected true or false"),
        ("repositories_only", "1", "repositories_only: expected true or false"),
        ("repositories_only", "null", "repositories_only: expected true or false"),
        ("repositories", '["team-*", 7]', "repositories: expected a list of globs"),
        ("repositories", '{"team-*": true}', "repositories: expected a list of globs"),
    ],
)
def test_what_a_plan_covers_is_refused_unless_well_formed(field: str, written: str, problem: str) -> None:
    """A `repositories_only` that is not a boolean was read as false: the provider config and templates
    would have been written from a plan that left them out."""
    text = plan_json(Plan("t", "f", (), repositories=("team-*",), repositories_only=True))
    value = '["team-*"]' if field == "repositories" else "true"
    assert f'"{field}": {value}' in text
    with pytest.raises(ReconcilerError, match="malformed plan file") as caught:
        plan_from_json(text.replace(f'"{field}": {value}', f'"{field}": {written}', 1))
    assert problem in str(caught.value)
