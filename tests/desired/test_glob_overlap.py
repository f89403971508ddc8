"""common_match: do two fnmatch globs match a common repository name (and which)?"""

from __future__ import annotations

import itertools
import json
from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired import overlap
from reconciler.desired.overlap import common_match
from reconciler.validation.loader import check_bytes


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


OVERRIDE_GLOBS = st.lists(
    st.text(alphabet="ab/*?[]!-", min_size=1, max_size=5), min_size=1, max_size=3, unique=True
)
HEAD = (
    'registry: {name: main, account_id: "123456789012", region: us-east-1}\n'
    'pull_access: {accounts: ["111122223333"]}\n'
)


@settings(max_examples=150, deadline=None)
@given(st.lists(OVERRIDE_GLOBS, min_size=2, max_size=6))
def test_loader_reports_exactly_the_overlapping_override_pairs(overrides: list[list[str]]) -> None:
    # The loader avoids comparing every pair (prefix/suffix indexes); it must still find every overlap.
    expected = sum(
        1
        for i, j in itertools.combinations(range(len(overrides)), 2)
        if any(common_match(p, q) is not None for p in overrides[i] for q in overrides[j])
    )
    items = "".join(
        f'  - repositories: {json.dumps(globs)}\n    pull_access: {{accounts: ["111122223333"]}}\n'
        for globs in overrides
    )
    found = check_bytes((HEAD + "overrides:\n" + items).encode(), "x.yaml").problems
    assert all("overrides overlap" in p.message for p in found), found
    assert len(found) == expected


@pytest.mark.parametrize("glob", ["team{i}/*", "*-svc{i}", "repo{i}", "team{i}/*/api"])
def test_many_disjoint_overrides_are_not_compared_pairwise(
    glob: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def counting(first: str, second: str) -> str | None:
        calls.append((first, second))
        return common_match(first, second)

    monkeypatch.setattr(overlap, "common_match", counting)
    count = 1000
    items = "".join(
        f'  - repositories: ["{glob.format(i=i)}"]\n    pull_access: {{accounts: ["111122223333"]}}\n'
        for i in range(count)
    )
    assert check_bytes((HEAD + "overrides:\n" + items).encode(), "x.yaml").problems == ()
    assert len(calls) < 2 * count  # not count * (count - 1) / 2
