"""Fixtures for the desired-state tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def policies_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write files into a fresh directory: policies_dir(**{"main.yaml": text}) -> the directory."""

    def write(**files: str | bytes) -> Path:
        directory = tmp_path / "policies"
        directory.mkdir(exist_ok=True)
        for name, content in files.items():
            path = directory / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return directory

    return write
