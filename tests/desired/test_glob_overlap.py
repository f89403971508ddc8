"""common_match: do two fnmatch globs match a common repository name (and which)?"""

from __future__ import annotations

import itertools
from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired.loader import common_match


@pytest.mark.parametrize(
    ("first", "second", "witness"),
    [
        ("payments/*", "payments/*", "payments/"),
        ("payments/*", "payments/api", "payments/api"),
        ("payments/*", "*/api", "payments/api"),
        ("a?", "ab", "ab"),
        ("[ab]x", "bx", "bx"),
        ("[!a]", "[!b]", "c"),
        ("*", "anything", "anything"),
        ("[a-c]*", "b*", "b"),
    ],
)
def test_overlapping_globs_have_a_common_name(first: str, second: str, witness: str) -> None:
    found = common_match(first, second)
    assert found == witness
    assert fnmatchcase(found, first)
    assert fnmatchcase(found, second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("payments/*", "billing/*"),
        ("[ab]x", "cx"),
        ("[!a]", "a"),
        ("a?", "a"),
        ("api", "api2"),
        ("*/api", "*/web"),
        ("[z-a]", "z"),  # a reversed range matches nothing
    ],
)
def test_disjoint_globs_have_none(first: str, second: str) -> None:
    assert common_match(first, second) is None


GLOB = st.text(alphabet="ab/*?[]!-", max_size=6)
NAMES = ["".join(p) for n in range(5) for p in itertools.product("ab/!-", repeat=n)]


@settings(max_examples=300, deadline=None)
@given(GLOB, GLOB)
def test_agrees_with_fnmatch(first: str, second: str) -> None:
    found = common_match(first, second)
    if found is not None:
        assert fnmatchcase(found, first) and fnmatchcase(found, second)
    else:
        # No short name over the alphabet matches both either.
        assert not any(fnmatchcase(n, first) and fnmatchcase(n, second) for n in NAMES)
