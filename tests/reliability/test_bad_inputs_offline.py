"""Bad policies/ never reach AWS or nullplatform: `plan`, `apply` and `backfill` refuse every input of the
bad-input corpus (tests/bad_inputs/, reused as is) exactly like `validate` does, exit 1, without a
traceback, and before any call. The ECR emulator and the nullplatform double are live and pointed at
(AWS_ENDPOINT_URL, NULLPLATFORM_HOST, a valid API key), so a call would be counted, not refused.

Then a hypothesis fuzz of the same promise: random edits of a valid file, through `reconciler plan`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sample_registry import POLICIES_YAML, run_cli

import reconciler.run.clients
from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.nullplatform import NullplatformApi
from reconciler.validation.loader import check_bytes

from .support import FIGURES

CORPUS_MODULE = Path(__file__).parents[1] / "bad_inputs" / "test_bad_inputs.py"
COMMANDS = (("plan",), ("apply", "--dry-run"), ("apply", "--report"), ("backfill", "--report"))


def _corpus() -> ModuleType:
    """tests/bad_inputs/test_bad_inputs.py, loaded by path (it is not in a package), for its CASES."""
    spec = importlib.util.spec_from_file_location("reliability_bad_inputs_corpus", CORPUS_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


CASES: list[Any] = _corpus().CASES


@pytest.fixture
def live_doubles(
    aws_env: EcrEmulator, nullplatform: NullplatformApi, monkeypatch: pytest.MonkeyPatch
) -> tuple[EcrEmulator, NullplatformApi]:
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in nullplatform.environment().items():
        monkeypatch.setenv(name, value)

    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("an ECR client was built for invalid policies/")

    monkeypatch.setattr(reconciler.run.clients, "EcrClient", no_client)
    return aws_env, nullplatform


def assert_no_call(ecr: EcrEmulator, nullplatform: NullplatformApi) -> None:
    stats = ecr.stats()
    assert stats["total_requests"] == 0 and stats["other_requests"] == 0, stats
    assert nullplatform.stats()["total_requests"] == 0


def test_the_corpus_is_all_here() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_apply_and_backfill_refuse_bad_input_before_any_call(
    case: Any,
    live_doubles: tuple[EcrEmulator, NullplatformApi],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ecr, nullplatform = live_doubles
    directory = tmp_path / "policies"
    directory.mkdir()
    case.write(directory)
    location = re.escape(f"{directory / case.problem_file}:{case.line}:") + r"\d+: "
    report = tmp_path / "r.jsonl"
    for command in COMMANDS:
        arguments = [*command, str(report)] if command[-1] == "--report" else list(command)
        code, out, err = run_cli(capsys, *arguments, "--policies", str(directory))
        assert code == 1, out + err
        assert "Traceback" not in out + err
        lines = [line for line in err.splitlines() if re.match(location, line)]
        fragment = case.expected(directory)
        assert any(fragment in line for line in lines), f"{command}: {fragment!r} not in:\n{err}"
        assert not report.exists()  # no report opened: nothing was even attempted
    assert_no_call(ecr, nullplatform)
    FIGURES["bad inputs refused by plan/apply/backfill"] += 1
    FIGURES["bad-input command runs without a call"] += len(COMMANDS)


LINES = POLICIES_YAML.splitlines(keepends=True)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(["delete", "duplicate", "insert"]),
            st.integers(0, len(LINES) - 1),
            st.text(alphabet=" \t\"'-:[]{}&*!#|>%@`,?\n0a\x00\xe9", max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_random_edits_of_a_valid_file_never_reach_the_network(
    edits: list[tuple[str, int, str]],
    live_doubles: tuple[EcrEmulator, NullplatformApi],
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = list(LINES)
    for kind, index, text in edits:
        index %= len(lines) or 1
        if not lines:
            lines = [text]
        elif kind == "delete":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, lines[index])
        else:
            position = len(text) % (len(lines[index]) or 1)
            lines[index] = lines[index][:position] + text + lines[index][position:]
    content = "".join(lines).encode("utf-8", errors="surrogatepass")
    assume(check_bytes(content, "edited.yaml").problems)  # a still-valid file would rightly plan
    ecr, nullplatform = live_doubles
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "edited.yaml").write_bytes(content)
        code, out, err = run_cli(capsys, "plan", "--policies", directory)
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert re.search(r"edited\.yaml:\d+:\d+: ", err), err
    assert_no_call(ecr, nullplatform)
    FIGURES["fuzzed invalid files refused by plan without a call"] += 1
