"""schema.json: a valid draft 2020-12 schema that agrees with the loader's own checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from desired_support import VALID

from reconciler.desired import fields
from reconciler.desired.fields import PATTERNS
from reconciler.desired.schema import schema

REPO = Path(__file__).resolve().parents[2]


def _objects(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{path}/{index}")


def test_schema_is_valid_draft_2020_12() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def test_schema_ships_in_the_package(tmp_path: Path) -> None:
    """Build the wheel (from a copy, offline, without build isolation) and look inside it."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "reconciler", source / "reconciler", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    built = subprocess.run(
        [*command, "-w", str(wheels), str(source)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("reconciler/desired/schema.json")
        names = set(archive.namelist())
    assert shipped == (REPO / "reconciler" / "desired" / "schema.json").read_bytes()
    assert "reconciler/py.typed" in names


def test_every_object_forbids_unknown_keys() -> None:
    for path, node in _objects(schema()):
        if node.get("type") == "object":
            assert node.get("additionalProperties") is False, path


def test_every_property_has_a_description() -> None:
    for path, node in _objects(schema()):
        for name, prop in node.get("properties", {}).items() if node.get("type") == "object" else ():
            assert prop.get("description"), f"{path}/properties/{name}"


def test_patterns_equal_the_loaders() -> None:
    definitions = schema()["$defs"]
    registry = schema()["properties"]["registry"]["properties"]
    assert registry["name"]["pattern"] == PATTERNS["name"]
    assert registry["region"]["pattern"] == PATTERNS["region"]
    assert registry["read_role_arn"]["pattern"] == PATTERNS["role_arn"]
    assert registry["write_role_arn"]["pattern"] == PATTERNS["role_arn"]
    organization = schema()["properties"]["organization"]["properties"]
    assert organization["role_arn"]["pattern"] == PATTERNS["role_arn"]
    assert definitions["account_id"]["pattern"] == PATTERNS["account_id"]
    assert definitions["organization_path"]["pattern"] == PATTERNS["organization_path"]
    assert schema()["properties"]["nullplatform"]["properties"]["nrn"]["pattern"] == PATTERNS["nrn"]


def test_the_example_and_the_test_file_validate_against_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(schema())
    for text in (VALID, (REPO / "policies" / "main.yaml").read_text()):
        assert list(validator.iter_errors(yaml.safe_load(text))) == []


# The loader's field checks give the friendly messages; the schema gives editors the same verdict.
FIELD_VALUES: dict[str, tuple[str, list[str]]] = {
    "name": ("name", ["main", "a", "x" * 63, "x" * 64, "Main", "-x", "a b", "", "a.b_c-d"]),
    "account_id": ("account_id", ["123456789012", "12345678901", "1234567890123", "12345678901a", ""]),
    "region": ("region", ["us-east-1", "us-gov-west-1", "useast1", "us-east", "US-EAST-1", "us-east-12"]),
    "role_arn": (
        "role_arn",
        [
            "arn:aws:iam::123456789012:role/x",
            "arn:aws:iam::123456789012:role/path/to/x",
            "arn:aws-cn:iam::123456789012:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:role/",
        ],
    ),
    "nrn": ("nrn", ["organization=1", "organization=1:account=2", "account=2", "organization=x", ""]),
    "organization_path": (
        "organization_path",
        [
            "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",
            "o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/",
            "o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/ou-cd34-12345678/*",
            "o-a1b2c3d4e5/*",
            "*",
            "o-*/*/ou-ab12-cdef3456/*",
            "o-a1b2c3d4e5/*/ou-ab12-cdef3456",
            "o-a1b2c3d4e5/*/*/ou-ab12-cdef3456/*",
            "o-a1b2c3d4e5/*/ou-ab12-cdef3456/**",
            "O-A1B2C3D4E5/*/ou-ab12-cdef3456/*",
        ],
    ),
}
CHECKERS = {
    "name": fields.check_name,
    "account_id": fields.check_account_id,
    "region": fields.check_region,
    "role_arn": fields.check_write_role_arn,
    "nrn": fields.check_nrn,
    "organization_path": fields.check_organization_path,
}


@pytest.mark.parametrize(
    ("field", "value"), [(field, value) for field, (_, values) in FIELD_VALUES.items() for value in values]
)
def test_schema_and_field_checks_agree(field: str, value: str) -> None:
    node = yaml.ScalarNode("tag:yaml.org,2002:str", value, style='"')
    loader_accepts = CHECKERS[field](value, node) is None
    schema_accepts = jsonschema.Draft202012Validator({"pattern": PATTERNS[field], "type": "string"}).is_valid(
        value
    )
    assert loader_accepts == schema_accepts
