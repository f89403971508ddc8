"""The "Several registries" example of docs/POLICIES.md, taken from the page itself so the two can't drift:
it validates as two registries of one account, and copying its nullplatform: section into the second file is
refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.errors import ValidationFailed
from reconciler.validation.loader import load_policies

PAGE = Path(__file__).resolve().parents[2] / "docs" / "POLICIES.md"
FILE_NAME = re.compile(r"^# policies/([a-z0-9_-]+\.yaml)[: ]")


def example() -> dict[str, str]:
    """File name -> content of each ```yaml block in the section (each says its name on its first line)."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("## Several registries\n")
    end = text.index("\n## ", start)
    files: dict[str, str] = {}
    for block in re.findall(r"```yaml\n(.*?)```", text[start:end], re.DOTALL):
        name = FILE_NAME.match(block)
        assert name, f"a block without its file name on the first line:\n{block}"
        files[name.group(1)] = block
    return files


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        (directory / name).write_text(content, encoding="utf-8")
    return directory


def test_the_example_is_two_regions_of_one_account_and_validates(tmp_path: Path) -> None:
    files = example()
    assert sorted(files) == ["eu.yaml", "main.yaml"]
    state = load_policies(write(tmp_path, files))
    by_name = {r.name: r for r in state.registries}
    assert {r.account_id for r in state.registries} == {"123456789012"}
    assert sorted(r.region for r in state.registries) == ["eu-west-1", "us-east-1"]
    # One provider config, synced by one registry only.
    assert by_name["main"].nullplatform is not None and by_name["eu"].nullplatform is None


def test_copying_the_nullplatform_section_into_the_second_file_is_refused(tmp_path: Path) -> None:
    files = example()
    section = re.search(r"^nullplatform:\n(?:  .*\n)+", files["main.yaml"], re.MULTILINE)
    assert section
    files["eu.yaml"] += section.group()
    with pytest.raises(ValidationFailed) as failed:
        load_policies(write(tmp_path, files))
    [problem] = failed.value.problems
    assert problem.path.endswith("main.yaml")  # the later of the two files, sorted
    assert "can resolve to one provider config (the same nrn 'organization=1:account=2'" in problem.message
