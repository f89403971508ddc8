"""The command line's conventions on the sandbox: one exit-code table for every command (usage errors are
errors, 1, never the 2 of "changes" or "findings"), a `--repository` glob that matches nothing is an
error naming it, restore says what it put back and is done when run twice, dry runs leave no file, and
an apply that ends early says where its report is."""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sample_registry import OLD, run_cli, stored

from reconciler.cli import COMMANDS, EXIT_CODES, main
from reconciler.policy.normalize import equivalent
from reconciler.sandbox.ecr import EcrEmulator

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_usage_error_exits_1_for_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main([command, "--no-such-flag"])
    assert raised.value.code == 1
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--detailed-exitcode", "--formt", "json"],  # a typo next to the flag that means "2"
        ["access", "--fail-on", "nopolicy"],  # a kind that does not exist
        ["plan", "--max-rps", "0"],  # a value its type refuses
        [],  # no command at all
    ],
)
def test_typos_next_to_the_flags_that_exit_2_are_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 1


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_help_shows_the_one_exit_code_table(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main([command, "--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert EXIT_CODES.strip() in out


def test_the_exit_codes_are_documented_as_the_cli_says() -> None:
    """docs/CLI.md, linked from the README, has a row for each code of the table in `--help`."""
    assert "docs/CLI.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    doc = (ROOT / "docs" / "CLI.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\d+)` \|", doc, re.M))
    in_help = set(re.findall(r"^  (\d+) ", EXIT_CODES, re.M))
    assert documented == in_help == {"0", "1", "2", "130"}


def cli(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, *args, "--policies", str(world.policies), *FAST)


@pytest.mark.parametrize("command", ["plan", "apply", "backfill", "access"])
def test_a_repository_glob_that_matches_nothing_is_an_error_naming_it(
    world: World, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    before = {name: stored(world.ecr, name) for name in world.seeded}
    world.ecr.reset_stats()
    extra = ("--report", str(world.report)) if command in ("apply", "backfill") else ()
    code, out, err = cli(world, capsys, command, "--repository", "team-0*", "--repository", "tema-*", *extra)
    assert code == 1
    assert "'tema-*' matches no" in err and "registry main" in err
    assert "team-0*" not in err  # the glob that matched is not named
    assert "No changes" not in out
    requests = world.ecr.stats()["requests"]
    if command != "apply" and command != "backfill":
        assert "SetRepositoryPolicy" not in requests
    assert {name: stored(world.ecr, name) for name in world.seeded if not name.startswith("team-0")} == {
        name: text for name, text in before.items() if not name.startswith("team-0")
    }


def test_a_glob_matching_only_repositories_the_policies_leave_out_is_an_error(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # sandbox/x exists but policies/ does not manage it: nothing to plan, so the glob is a mistake.
    code, _, err = cli(world, capsys, "plan", "--repository", "sandbox/*")
    assert code == 1 and "'sandbox/*' matches no repository its policies manage" in err


def test_a_glob_that_matches_is_not_an_error(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(world, capsys, "plan", "--repository", "team-0[12]/*")
    assert code == 0, err
    assert "team-01/app" in out


def apply(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return cli(world, capsys, "apply", "--report", str(world.report), *extra)


def restore(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_cli(
        capsys, "restore", "--report", str(world.report), "--policies", str(world.policies), *FAST, *extra
    )


def test_restore_names_what_it_put_back_and_a_second_run_says_already_restored(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {name: stored(world.ecr, name) for name in world.seeded}
    assert apply(world, capsys)[0] == 0
    code, out, err = restore(world, capsys, "--out", str(world.tmp / "r1.jsonl"))
    assert code == 0, err
    assert f"restored main/{world.provider_id} (provider): policy put back" in out
    assert "restored main/team-01/app (repository): policy put back as it was before the apply" in out
    assert "restored main/team-02/app (repository): policy deleted (it had none before the apply)" in out
    restored = re.findall(r"^  restored main/(\S+) \(repository\)", out, re.M)
    assert restored == sorted(restored)  # in a stable order, not the order the writes finished
    for name, text in before.items():
        assert equivalent(stored(world.ecr, name), text), name

    code, out, err = restore(world, capsys, "--out", str(world.tmp / "r2.jsonl"))
    assert code == 0, out + err
    assert "stale" not in err and "plan again" not in out + err
    assert "  already restored main/team-01/app (repository)" in out
    assert "  already restored main/team-02/app (repository)" in out  # its DELETE: it has no policy
    assert f"  already restored main/{world.provider_id} (provider)" in out
    assert re.search(r"Already restored: all \d+ targets hold what the apply found", out)
    # Nothing was sent, so nothing is journaled: a restore of this restore's report has nothing to undo.
    assert not (world.tmp / "r2.jsonl").exists() and "Report: none (nothing was written)" in out


def test_a_second_restore_still_names_a_target_someone_changed_since(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply(world, capsys)[0] == 0
    assert restore(world, capsys, "--out", str(world.tmp / "r1.jsonl"))[0] == 0
    world.ecr.client().delete_repository_policy(repositoryName="team-01/app")
    code, out, err = restore(world, capsys, "--out", str(world.tmp / "r2.jsonl"))
    assert code == 1
    assert "stale, skipped: main/team-01/app" in err
    assert "already restored main/team-01/app" not in out


def test_dry_runs_leave_no_report_file(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out, err = cli(world, capsys, "apply", "--dry-run")
    assert code == 0, err
    assert "Report: none (nothing was written)" in out
    code, out, err = cli(world, capsys, "apply", "--dry-run", "--max-changes", "100")
    assert code == 0, err
    assert list(here.iterdir()) == []
    assert apply(world, capsys)[0] == 0
    code, out, err = restore(world, capsys, "--dry-run")
    assert code == 0, err
    assert "would restore main/team-01/app (repository)" in out
    assert list(here.iterdir()) == []


def test_an_apply_that_ends_early_prints_its_report_and_the_restore_command(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.run.write as write

    def interrupted(_: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C lands on the main thread once the writes are done

    monkeypatch.setattr(write, "merge_summaries", interrupted)
    code, _, err = apply(world, capsys)
    assert code == 130
    assert str(world.report) in err
    assert f"reconciler restore --report {world.report}" in err
    assert world.report.exists()


def test_an_apply_interrupted_before_any_write_says_so(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.run.write as write

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "live_providers", interrupted)
    code, _, err = apply(world, capsys)
    assert code == 130
    assert "before any write" in err and "restore" not in err
    assert not world.report.exists()


@pytest.mark.parametrize("command", ["plan", "access"])
def test_missing_credentials_are_a_credentials_error_not_a_problem_in_a_file(
    aws_env: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # The shipped policies/ checks its principals against the organization, read through a role.
    code, _, err = run_cli(capsys, *command.split(), "--policies", str(ROOT / "policies"), *FAST[:1])
    assert code == 1
    assert "error: no AWS credentials: Unable to locate credentials" in err
    assert "main.yaml:" not in err


def test_the_text_plan_groups_changes_by_kind_and_verbose_shows_each(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(10):
        world.ecr.create_repository(f"team-old-{index:02d}/app", policy_text=OLD)
    code, out, err = cli(world, capsys, "plan")
    assert code == 0, err
    # The 15 repositories holding the old policy are one group: its difference once, the first names.
    (group,) = re.findall(r"^  ~ 15 repositories: update\n((?:      .*\n)+)", out, re.M)
    assert group.count("add account 444455556666") == 1
    assert "team-01/app, team-04/app, team-07/app, team-10/app, team-foreign/old and 10 more" in group
    assert "team-old-09/app" not in out
    assert len(out.splitlines()) < 50
    code, verbose, _ = cli(world, capsys, "plan", "--verbose")
    assert code == 0
    assert all(f"  ~ team-old-{i:02d}/app: update" in verbose for i in range(10))
    assert len(verbose.splitlines()) > len(out.splitlines())


def test_no_changes_names_the_policies_directory_given(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply(world, capsys)[0] == 0
    code, out, _ = cli(world, capsys, "plan")
    assert code == 0
    assert f"No changes. Live state matches {world.policies}/." in out


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("", True), ("1", False)])
def test_no_color_turns_colour_off_on_a_terminal(
    world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_color: str | None,
    coloured: bool,
) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, _ = cli(world, capsys, "plan")
    assert code == 0
    assert ("\033[" in out) is coloured
    code, out, _ = apply(world, capsys)
    assert code == 0
    assert ("\033[" in out) is coloured


def test_sandbox_org_prints_the_organization_the_emulator_serves(
    aws_env: EcrEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.live.organizations import OrganizationsReader
    from reconciler.sandbox.ecr.organizations import ORG_READ_ROLE

    code = main(["sandbox", "org"])
    out = capsys.readouterr().out
    assert code == 0
    aws_env.seed_organization()
    organization = OrganizationsReader().organization(ORG_READ_ROLE)
    assert f"organization {organization.id}, managed from account {organization.management_account}" in out
    for unit in organization.units:  # each OU with the path a grant names it by
        chain = "/".join((organization.id, *organization.chain(unit))) + "/"
        assert re.search(rf"^ +{unit} \S+  path {re.escape(chain)}$", out, re.M), unit
    for account in organization.accounts:
        assert re.search(rf"^ +account {account} \(", out, re.M), account
    # Each account sits under its OU: indented one level deeper, after it.
    lines = out.splitlines()
    for account, member in organization.accounts.items():
        at = next(i for i, line in enumerate(lines) if line.lstrip().startswith(f"account {account} ("))
        heads = (f"{member.parent_id} ", f"root {member.parent_id} ")
        parent = next(i for i, line in enumerate(lines) if line.lstrip().startswith(heads))
        assert parent < at
        depth = len(lines[at]) - len(lines[at].lstrip())
        assert depth == len(lines[parent]) - len(lines[parent].lstrip()) + 2


def test_the_sandbox_prints_its_organization_on_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--repos", "0", "--exit-after", "0"]) == 0
    out = capsys.readouterr().out
    # As comments, so that `eval "$(reconciler sandbox)"` still only exports.
    assert re.search(
        r"^# +ou-ab12-cdef3456 clusters  path o-a1b2c3d4e5/r-ab12/ou-ab12-wrkl0001/ou-ab12-cdef3456/$",
        out,
        re.M,
    )
    assert re.search(r"^# +account 444455556666 \(clusters-prod\)$", out, re.M)


def test_apply_prints_repositories_in_listing_order_not_completion_order(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.live.ecr import EcrClient

    # team-01/app's read is held until team-10/app (listed after it) is written: it finishes last.
    written = threading.Event()
    read_policy, set_policy = EcrClient.read_policy, EcrClient.set_policy

    def slow_read(self: EcrClient, repository: str) -> Any:
        if repository == "team-01/app":
            assert written.wait(timeout=120), "team-10/app was never written"
        return read_policy(self, repository)

    def noted_write(self: EcrClient, repository: str, text: str) -> str:
        result = set_policy(self, repository, text)
        if repository == "team-10/app":
            written.set()
        return result

    monkeypatch.setattr(EcrClient, "read_policy", slow_read)
    monkeypatch.setattr(EcrClient, "set_policy", noted_write)
    code, out, err = apply(world, capsys, "--concurrency", "4")
    assert code == 0, err
    printed = re.findall(r"^  [~+-] (\S+): (?:create|update|delete), applied", out, re.M)
    listing = [
        r["repositoryName"]
        for page in world.ecr.client().get_paginator("describe_repositories").paginate()
        for r in page["repositories"]
    ]
    assert "team-01/app" in printed and "team-10/app" in printed
    assert printed == [name for name in listing if name in printed]
