"""Normalization: policies equal in meaning compare equal; any change in access compares unequal."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired.model import PullAccess
from reconciler.policy.normalize import canonical, equivalent
from reconciler.policy.render import PULL_ACTIONS, render_policy

ACCOUNTS = st.text(alphabet="0123456789", min_size=12, max_size=12)
OU_PATHS = st.from_regex(r"o-[a-z0-9]{10}/(\*|r-[a-z0-9]{4})/ou-[a-z0-9]{4}-[a-z0-9]{8}/\*", fullmatch=True)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    paths = tuple(draw(st.lists(OU_PATHS, max_size=3, unique=True)))
    accounts = tuple(draw(st.lists(ACCOUNTS, max_size=4, unique=True)))
    if not paths and not accounts:
        accounts = ("111122223333",)
    document = render_policy("123456789012", PullAccess(paths, accounts))
    document["Statement"].append(
        {
            "Sid": "Foreign" + str(draw(st.integers(0, 99))),
            "Effect": draw(st.sampled_from(["Allow", "Deny"])),
            "Principal": {"AWS": draw(st.lists(ACCOUNTS, min_size=1, max_size=3, unique=True))},
            "Action": draw(st.lists(st.sampled_from(PULL_ACTIONS), min_size=1, unique=True)),
        }
    )
    return document


def _collapse(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def aws_rewrite(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """What real ECR (and careless humans) do to a policy without changing its meaning."""
    statements = []
    for original in document["Statement"]:
        keys = list(original)
        rng.shuffle(keys)
        statements.append({key: _rewritten_value(original, key, rng) for key in keys})
    rng.shuffle(statements)
    rewritten = {"Statement": statements, "Version": document["Version"]}
    text = json.dumps(rewritten, indent=rng.choice([None, 1, 2, 4]), sort_keys=rng.random() < 0.5)
    return json.loads(text)


def _rewritten_value(original: dict[str, Any], key: str, rng: random.Random) -> Any:
    value = copy.deepcopy(original[key])
    if key == "Action":
        value = [a.upper() if rng.random() < 0.3 else a for a in value]
        rng.shuffle(value)
        return _collapse(value) if rng.random() < 0.5 else value
    if key == "Principal" and isinstance(value, dict):
        accounts = [f"arn:aws:iam::{v}:root" if rng.random() < 0.5 else v for v in value["AWS"]]
        rng.shuffle(accounts)
        return {"AWS": _collapse(accounts) if rng.random() < 0.5 else accounts}
    if key == "Principal":
        return {"AWS": "*"} if rng.random() < 0.5 else value
    if key == "Condition":
        result = {}
        for operator, clauses in value.items():
            new = {}
            for k, v in clauses.items():
                items = list(v) if isinstance(v, list) else [v]
                rng.shuffle(items)
                new[k.lower() if rng.random() < 0.5 else k] = (
                    _collapse(items) if rng.random() < 0.5 else items
                )
            result[operator] = new
        return result
    return value


@settings(max_examples=100, deadline=None)
@given(policies(), st.integers(0, 2**32))
def test_rewriting_compares_equal(document: dict[str, Any], seed: int) -> None:
    assert equivalent(document, aws_rewrite(document, random.Random(seed)))


@settings(max_examples=100, deadline=None)
@given(policies(), st.integers(0, 2**32))
def test_normalizing_is_idempotent(document: dict[str, Any], seed: int) -> None:
    once = canonical(aws_rewrite(document, random.Random(seed)))
    assert canonical(json.loads(once)) == once


@settings(max_examples=100, deadline=None)
@given(policies(), st.sampled_from(["account", "path", "action", "effect"]), st.data())
def test_any_change_of_access_compares_unequal(
    document: dict[str, Any], change: str, data: st.DataObject
) -> None:
    changed = copy.deepcopy(document)
    owned = changed["Statement"][0]
    foreign = changed["Statement"][-1]
    if change == "account":
        foreign["Principal"]["AWS"][0] = foreign["Principal"]["AWS"][0][:-1] + (
            "0" if not foreign["Principal"]["AWS"][0].endswith("0") else "1"
        )
    elif change == "path":
        condition = owned["Condition"]
        operator = next(iter(condition))
        key = next(iter(condition[operator]))
        values = condition[operator][key]
        values = values if isinstance(values, list) else [values]
        condition[operator][key] = [*values[:-1], values[-1] + "x"]
    elif change == "action":
        owned["Action"] = owned["Action"][:-1] if len(owned["Action"]) > 1 else ["ecr:PutImage"]
    else:
        owned["Effect"] = "Deny"
    assert not equivalent(document, changed)


def test_account_id_equals_root_arn_and_single_item_list_equals_string() -> None:
    a = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["111122223333"]}, "Action": ["ecr:BatchGetImage"]}
        ],
    }
    b = {
        "Statement": [
            {
                "Action": "ECR:BatchGetImage",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Effect": "Allow",
            }
        ],
        "Version": "2012-10-17",
    }
    assert equivalent(a, b)


def test_sid_and_version_are_compared_exactly() -> None:
    base = render_policy("123456789012", PullAccess(accounts=("111122223333",)))
    renamed = copy.deepcopy(base)
    renamed["Statement"][0]["Sid"] = "allowpull"
    assert not equivalent(base, renamed)
    older = copy.deepcopy(base)
    older["Version"] = "2008-10-17"
    assert not equivalent(base, older)


def test_no_policy_differs_from_empty_statement_list() -> None:
    assert not equivalent(None, {"Version": "2012-10-17", "Statement": []})
    assert equivalent(None, None)


def _vpce(condition: dict[str, Any]) -> dict[str, Any]:
    statement = {"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
    return {"Version": "2012-10-17", "Statement": [{**statement, "Condition": {"StringEquals": condition}}]}


def test_condition_keys_differing_only_in_case_are_two_conditions_not_one_list() -> None:
    # IAM ANDs the two keys (both must hold); one key's list is an OR: not the same access.
    both = _vpce({"aws:SourceVpce": "vpce-a", "AWS:SourceVpce": "vpce-b"})
    either = _vpce({"aws:SourceVpce": ["vpce-a", "vpce-b"]})
    assert not equivalent(both, either)
    # The collision is compared by meaning like everything else: AND does not care about order.
    assert equivalent(both, _vpce({"AWS:SourceVpce": "vpce-b", "aws:SourceVpce": ["vpce-a"]}))
    assert not equivalent(both, _vpce({"AWS:SourceVpce": "vpce-a", "aws:SourceVpce": "vpce-c"}))


def test_without_a_collision_key_case_still_does_not_matter_and_the_form_is_unchanged() -> None:
    upper = _vpce({"AWS:SOURCEVPCE": ["vpce-b", "vpce-a"]})
    assert equivalent(upper, _vpce({"aws:sourcevpce": ["vpce-a", "vpce-b"]}))
    assert not equivalent(upper, _vpce({"aws:SourceVpce": "vpce-a"}))
    # The canonical form of a policy without a collision is what it always was (saved fingerprints hold).
    text = canonical(_vpce({"aws:SourceVpce": ["vpce-b", "vpce-a"]}))
    assert '"Condition":{"StringEquals":{"aws:sourcevpce":["vpce-a","vpce-b"]}}' in text
