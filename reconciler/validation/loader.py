"""policies/ loaded with every check (reconciler.desired.loader, its step 5 given: semantic.py). What every
command loads through."""

from __future__ import annotations

from pathlib import Path

from reconciler.desired import loader
from reconciler.desired.loader import FileResult
from reconciler.desired.model import DesiredState, Registry
from reconciler.validation.semantic import semantic_issues


def check_bytes(data: bytes, source: str) -> FileResult:
    """Every problem of one file's content, and its Registry when there are none."""
    return loader.check_bytes(data, source, checks=semantic_issues)


def check_file(path: str | Path) -> FileResult:
    return loader.check_file(path, checks=semantic_issues)


def load_bytes(data: bytes, source: str = "<memory>") -> Registry:
    """The Registry one file's content describes; raises ValidationFailed with all its problems."""
    return loader.load_bytes(data, source, checks=semantic_issues)


def load_file(path: str | Path) -> Registry:
    """The Registry one file describes; raises ValidationFailed with all its problems."""
    return loader.load_file(path, checks=semantic_issues)


def load_policies(directory: str | Path) -> DesiredState:
    """The desired state in a policies directory. Raises ValidationFailed listing every problem of every
    file (and across files), or ReconcilerError when the directory is missing or holds no policies files."""
    return loader.load_policies(directory, checks=semantic_issues)
