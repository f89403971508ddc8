"""The bad-input corpus: every broken input is refused by `reconciler validate` with exit 1, a message that
says what is wrong at the right line, and never a traceback.

Runs in-process through `reconciler.cli.main`, with AWS pointed at a closed port: validate must not need
(or try) the network. That it never imports boto3 at all is checked in a subprocess in
tests/desired/test_validate_cli.py.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from reconciler.cli import main

HERE = Path(__file__).parent
HEAD = 'registry:\n  name: main\n  account_id: "123456789012"\n  region: us-east-1\n'


@dataclass(frozen=True)
class Case:
    name: str
    line: int
    fragment: str
    write: Callable[[Path], None]  # puts the input into an empty directory
    problem_file: str  # the file the problem is reported in

    def expected(self, directory: Path) -> str:
        """The fragment for inputs written to `directory` (`{dir}` in it: messages that name other files)."""
        return self.fragment.replace("{dir}", str(directory))


def _copy(source: Path) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        for path in sorted(source.glob("*.yaml")) if source.is_dir() else [source]:
            shutil.copy(path, directory / path.name)

    return write


def _bytes(name: str, content: bytes) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        (directory / name).write_bytes(content)

    return write


def _corpus() -> list[Case]:
    entries = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
    return [
        Case(e["file"], e["line"], e["fragment"], _copy(HERE / e["file"]), e.get("in", e["file"]))
        for e in entries
    ]


def _ten_megabytes(directory: Path) -> None:
    with open(directory / "huge.yaml", "wb") as stream:
        stream.write(HEAD.encode())
        stream.write(b"# padding\n" * (10 * 1024 * 1024 // 10))


MANY_ACCOUNTS = ", ".join(f'"{n:012d}"' for n in range(100000000000, 100000000800))

GENERATED = [
    Case("ten_megabytes", 1, "policies files are limited to 1 MiB", _ten_megabytes, "huge.yaml"),
    Case(
        "non_utf8_latin1",
        2,
        "byte 0xe9 is not valid UTF-8: the file must be UTF-8",
        _bytes("latin1.yaml", HEAD.replace("main", "m\xe9in").encode("latin-1")),
        "latin1.yaml",
    ),
    Case(
        "utf16",
        1,
        "the file must be UTF-8",
        _bytes("utf16.yaml", HEAD.encode("utf-16")),
        "utf16.yaml",
    ),
    Case(
        "nul_byte",
        3,
        "character U+0000 is not allowed in YAML",
        _bytes("nul.yaml", HEAD.replace('"123', '"\x00123').encode()),
        "nul.yaml",
    ),
    Case(
        "too_many_accounts",
        6,
        "ECR allows at most 10,240 (800 accounts",
        _bytes("many.yaml", (HEAD + f"pull_access:\n  accounts: [{MANY_ACCOUNTS}]\n").encode()),
        "many.yaml",
    ),
    Case(
        "template_too_many_accounts",
        11,
        "the policy rendered for creation_templates[0].pull_access is",
        _bytes(
            "template.yaml",
            (
                HEAD
                + 'pull_access:\n  accounts: ["111122223333"]\ncreation_templates:\n  - prefix: ROOT\n'
                + f"    applied_for: [REPLICATION]\n    pull_access:\n      accounts: [{MANY_ACCOUNTS}]\n"
            ).encode(),
        ),
        "template.yaml",
    ),
    Case(
        "very_deep_nesting",
        1,
        "nests deeper than 50 levels",
        _bytes("deep.yaml", b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n"),
        "deep.yaml",
    ),
    Case(
        "deep_block_nesting",
        50,
        "nests deeper than 50 levels",
        _bytes("block.yaml", "".join(f"{'  ' * i}k{i}:\n" for i in range(200)).encode()),
        "block.yaml",
    ),
]

CASES = _corpus() + GENERATED


def test_the_corpus_is_big_and_every_file_is_in_the_manifest() -> None:
    listed = {case.name for case in _corpus()}
    on_disk = {p.name for p in HERE.iterdir() if p.suffix == ".yaml" or p.is_dir()} - {"cases.yaml"}
    on_disk -= {"__pycache__"}
    assert listed == on_disk
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_with_message_and_line(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anything that tried AWS would hit a closed port (and fail) instead of a real endpoint.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    directory = tmp_path / "policies"
    directory.mkdir()
    case.write(directory)

    code = main(["validate", "--policies", str(directory)])

    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == 1, output
    assert "Traceback" not in output
    location = re.escape(f"{directory / case.problem_file}:{case.line}:") + r"\d+: "
    lines = [line for line in captured.out.splitlines() if re.match(location, line)]
    assert lines, f"no problem at {case.problem_file}:{case.line}:\n{output}"
    fragment = case.expected(directory)
    assert any(fragment in line for line in lines), f"{fragment!r} not in:\n{output}"
