"""Fuzz the loader: any input gives a DesiredState or ValidationFailed with located problems.

Inputs: random YAML documents built from the format's key names plus junk (dumped with yaml.safe_dump),
near-valid documents with the right shape and random values, random edits of a valid file, random text and
random bytes. Anything accepted must also render policies that pass the guard and fit ECR's size limit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from desired_support import VALID
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.desired.model import DesiredState
from reconciler.errors import ValidationFailed
from reconciler.policy.guard import MAX_POLICY_CHARS, violations
from reconciler.policy.render import policy_text, provider_policy, render_policy
from reconciler.validation.loader import load_policies

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "registry",
    "name",
    "account_id",
    "region",
    "read_role_arn",
    "write_role_arn",
    "role_arn",
    "nullplatform",
    "nrn",
    "provider_id",
    "pull_access",
    "organization_paths",
    "accounts",
    "repositories",
    "include",
    "exclude",
    "overrides",
    "managed_sids",
    "junk",
    "<<",
    "",
    "yes",
    "1",
]
GOOD_VALUES = [
    "main",
    "123456789012",
    "111122223333",
    "us-east-1",
    "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",
    "o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/",
    "*",
    "payments/*",
    "payments/api",
    "AllowPull*",
    "AllowPull",
    "organization=1:account=2",
    "arn:aws:iam::123456789012:role/x",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(GOOD_VALUES),
    st.integers(min_value=10**10, max_value=10**12 - 1),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS), children, max_size=5)
    ),
    max_leaves=25,
)
RANDOM_DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=7) | VALUES


def _maybe(good: list[str]) -> st.SearchStrategy[Any]:
    """Mostly good values of the right kind, sometimes anything."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), SCALARS)


ACCOUNT = _maybe(["123456789012", "111122223333", "444455556666"])
OU = _maybe(["o-a1b2c3d4e5/*/ou-ab12-cdef3456/*", "o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/", "o-*/*"])
GLOB = _maybe(["*", "payments/*", "payments/api", "billing/*", "*/api"])
PULL_ACCESS = st.fixed_dictionaries(
    {},
    optional={
        "organization_paths": st.lists(OU, max_size=3),
        "accounts": st.lists(ACCOUNT, max_size=3),
    },
)
SHAPED_DOCUMENTS = st.fixed_dictionaries(
    {
        "registry": st.fixed_dictionaries(
            {"name": _maybe(["main", "x"]), "account_id": ACCOUNT, "region": _maybe(["us-east-1"])},
            optional={
                "read_role_arn": _maybe(["arn:aws:iam::123456789012:role/x"]),
                "write_role_arn": _maybe(["arn:aws:iam::123456789012:role/y"]),
            },
        ),
        "pull_access": PULL_ACCESS,
    },
    optional={
        "nullplatform": st.fixed_dictionaries(
            {"nrn": _maybe(["organization=1:account=2"])}, optional={"provider_id": _maybe(["abc"])}
        ),
        "repositories": st.fixed_dictionaries(
            {}, optional={"include": st.lists(GLOB, max_size=2), "exclude": st.lists(GLOB, max_size=2)}
        ),
        "overrides": st.lists(
            st.fixed_dictionaries({"repositories": st.lists(GLOB, max_size=2), "pull_access": PULL_ACCESS}),
            max_size=3,
        ),
        "managed_sids": st.lists(_maybe(["AllowPull*", "AllowPull", "AllowPullAccounts"]), max_size=2),
        "junk": VALUES,
    },
)


def _load(content: bytes) -> DesiredState | ValidationFailed:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "fuzz.yaml").write_bytes(content)
        try:
            return load_policies(directory)
        except ValidationFailed as failed:
            return failed


def _check(content: bytes) -> None:
    outcome = _load(content)
    if isinstance(outcome, ValidationFailed):
        assert outcome.problems, "ValidationFailed without problems"
        last_line = content.count(b"\n") + 1
        for problem in outcome.problems:
            assert 1 <= problem.line <= last_line, problem
            assert problem.column >= 1, problem
            assert problem.message, problem
        return
    assert isinstance(outcome, DesiredState)
    for registry in outcome.registries:
        documents = [provider_policy(registry)]
        documents += [render_policy(registry.account_id, o.pull_access) for o in registry.overrides]
        for document in documents:
            assert violations(document) == []
            assert len(policy_text(document)) <= MAX_POLICY_CHARS


def _dump(document: Any, flow: bool) -> bytes:
    return yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True).encode()


@FUZZ
@given(RANDOM_DOCUMENTS, st.booleans())
def test_random_documents(document: Any, flow: bool) -> None:
    _check(_dump(document, flow))


@FUZZ
@given(SHAPED_DOCUMENTS, st.booleans())
def test_near_valid_documents(document: Any, flow: bool) -> None:
    _check(_dump(document, flow))


LINES = VALID.splitlines(keepends=True)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["delete", "duplicate", "insert"]),
            st.integers(0, len(LINES) - 1),
            st.text(alphabet=" \t\"'-:[]{}&*!#|>%@`,?\n0a", max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_edits_of_a_valid_file(edits: list[tuple[str, int, str]]) -> None:
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
    _check("".join(lines).encode())


@FUZZ
@given(st.text(max_size=200))
# A lone CR at the very end (no \n after it): YAML breaks the line there, so the loader must refuse it on
# line 1 rather than report the unclosed quote on a line 2 no editor shows.
@example("'\r")
def test_random_text(text: str) -> None:
    _check(text.encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _check(data)
