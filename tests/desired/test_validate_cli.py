"""`reconciler validate` and `reconciler registries` through the real CLI entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from desired_support import VALID, minimal

from reconciler.cli import main
from reconciler.errors import Problem
from reconciler.report.problems import annotation

REPO = Path(__file__).resolve().parents[2]


def test_valid_policies_exit_0_with_a_summary(
    policies_dir: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = policies_dir(
        **{"a.yaml": minimal("a", "111111111111"), "b.yaml": minimal("b", "222222222222")}
    )
    assert main(["validate", "--policies", str(directory)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"OK: 2 registries in 2 files under {directory}"


def test_the_repository_policies_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--policies", str(REPO / "policies")]) == 0
    assert "OK: 1 registry in 1 file" in capsys.readouterr().out


def test_problems_print_as_path_line_column_message_and_exit_1(
    policies_dir: Callable[..., Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    directory = policies_dir(**{"main.yaml": VALID.replace("region: us-east-1", "region: moon")})
    assert main(["validate", "--policies", str(directory)]) == 1
    lines = capsys.readouterr().out.splitlines()
    message = "region 'moon' is not valid: write it like us-east-1 (an AWS region name)"
    assert lines[0] == f"{directory / 'main.yaml'}:4:11: {message}"
    assert lines[-1] == "1 problem in 1 file"
    assert not any(line.startswith("::error") for line in lines)


def test_github_actions_gets_error_annotations(
    policies_dir: Callable[..., Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    directory = policies_dir(**{"main.yaml": VALID.replace("region: us-east-1", "region: moon")})
    assert main(["validate", "--policies", str(directory)]) == 1
    out = capsys.readouterr().out
    expected = (
        f"::error file={directory / 'main.yaml'},line=4,col=11::region 'moon' is not valid: write it like"
    )
    assert expected in out


def test_annotation_paths_are_relative_to_the_workspace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    inside = Problem(str(tmp_path / "policies" / "main.yaml"), 1, 2, "m")
    assert annotation(inside).startswith("::error file=policies/main.yaml,line=1,col=2::")
    outside = Problem("/elsewhere/main.yaml", 1, 2, "m")
    assert annotation(outside).startswith("::error file=/elsewhere/main.yaml,")


def test_annotation_escapes_workflow_command_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    problem = Problem("dir,x/a:b.yaml", 3, 7, "50% bad\nsecond line")
    assert annotation(problem) == "::error file=dir%2Cx/a%3Ab.yaml,line=3,col=7::50%25 bad%0Asecond line"


def test_show_prints_the_provider_policy_and_each_override(
    policies_dir: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = policies_dir(**{"main.yaml": VALID})
    assert main(["validate", "--policies", str(directory), "--show"]) == 0
    out = capsys.readouterr().out
    assert "# registry main: account 123456789012, us-east-1" in out
    assert "# manages repositories matching * except sandbox/*" in out
    assert "# override at line 15: payments/*" in out
    documents = _json_documents(out)
    assert [[s["Sid"] for s in d["Statement"]] for d in documents] == [
        ["AllowPullOrganizationPaths", "AllowPullAccounts"],
        ["AllowPull"],
    ]
    assert documents[1]["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalAccount"] == [
        "123456789012",
        "777788889999",
    ]
    assert out.rstrip().endswith("OK: 1 registry in 1 file under " + str(directory))


def _json_documents(out: str) -> list[dict[str, object]]:
    """The JSON documents in --show output (each starts with a line '{' and ends with a line '}')."""
    documents, current = [], []
    for line in out.splitlines():
        if line == "{" or current:
            current.append(line)
        if line == "}":
            documents.append(json.loads("\n".join(current)))
            current = []
    return documents


def test_missing_directory_exits_1_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["validate", "--policies", str(tmp_path / "nope")]) == 1
    captured = capsys.readouterr()
    assert "does not exist" in captured.err
    assert "::error::policies directory" in captured.out
    assert "Traceback" not in captured.err + captured.out


def test_empty_directory_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--policies", str(tmp_path)]) == 1
    assert "no policies files" in capsys.readouterr().err


def test_registries_lists_name_account_region(
    policies_dir: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = policies_dir(
        **{"a.yaml": minimal("alpha", "111111111111"), "b.yaml": minimal("b", "222222222222", "eu-west-1")}
    )
    assert main(["registries", "--policies", str(directory)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "NAME   ACCOUNT_ID    REGION",
        "alpha  111111111111  us-east-1",
        "b      222222222222  eu-west-1",
    ]


def test_registries_json_is_one_line_plain_array(
    policies_dir: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = policies_dir(**{"a.yaml": minimal("alpha", "111111111111")})
    assert main(["registries", "--policies", str(directory), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == [{"name": "alpha", "account_id": "111111111111", "region": "us-east-1"}]


def test_registries_problems_go_to_stderr_so_stdout_stays_json(
    policies_dir: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = policies_dir(**{"a.yaml": "registry: ["})
    assert main(["registries", "--policies", str(directory), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "a.yaml:1:" in captured.err


SUBPROCESS = textwrap.dedent(
    """
    import sys
    from reconciler.cli import main
    codes = [main(["validate", "--policies", sys.argv[1]])]
    codes.append(main(["validate", "--policies", sys.argv[2], "--show"]))
    codes.append(main(["registries", "--policies", sys.argv[1], "--json"]))
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore", "requests", "urllib3"))
    print("CODES", codes, "LEAKED", leaked)
    """
)


def test_validate_never_imports_boto3(policies_dir: Callable[..., Path]) -> None:
    bad = policies_dir(**{"bad.yaml": VALID.replace('"123456789012"', "123456789012")})
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", SUBPROCESS, str(REPO / "policies"), str(bad)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "CODES [0, 1, 0] LEAKED []" in result.stdout
    assert "Traceback" not in result.stderr
