"""The role session name: the run's, and valid for STS whatever the environment holds."""

from __future__ import annotations

import re

import pytest

from reconciler.live.roles import session_name

# STS AssumeRole, RoleSessionName: 2-64 characters of [\w+=,.@-].
VALID = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


def test_a_github_run_is_named_by_its_run_id_and_attempt() -> None:
    name = session_name({"GITHUB_RUN_ID": "9876543210", "GITHUB_RUN_ATTEMPT": "2"})
    assert name == "ecr-policy-reconciler-gh-9876543210-2"


def test_a_local_run_is_named_by_its_process_and_the_same_for_the_whole_run() -> None:
    name = session_name({})
    assert re.fullmatch(r"ecr-policy-reconciler-local-[0-9]+-[0-9]+", name)
    assert session_name({}) == name  # refreshes and later sessions of the run carry the same name


@pytest.mark.parametrize(
    "environ",
    [
        {"GITHUB_RUN_ID": "1 2/3:4é", "GITHUB_RUN_ATTEMPT": "1"},
        {"GITHUB_RUN_ID": "9" * 200, "GITHUB_RUN_ATTEMPT": "7" * 50},
        {"GITHUB_RUN_ID": "/// ", "GITHUB_RUN_ATTEMPT": ""},
        {"GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "x y"},
    ],
)
def test_whatever_the_environment_holds_the_name_is_one_sts_accepts(environ: dict[str, str]) -> None:
    assert VALID.fullmatch(session_name(environ))


def test_characters_sts_refuses_are_dropped_not_the_run_id() -> None:
    assert session_name({"GITHUB_RUN_ID": "12 34", "GITHUB_RUN_ATTEMPT": "1"}).endswith("-gh-1234-1")
