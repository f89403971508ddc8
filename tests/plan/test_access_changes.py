"""Who gains and who loses pull: counted per principal across repositories, losses first, Sid-only edits
counting as nothing, the provider config apart; carried in the JSON plan (version 3, 1 and 2 still read).
Without the organization, what the strings cannot prove is a "may lose" (test_access_by_meaning.py has the
organization's side)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.desired.model import NullplatformTarget, PullAccess, Registry
from reconciler.errors import ReconcilerError
from reconciler.live.state import LivePolicy, LiveProvider, LiveRegistry
from reconciler.plan.access_changes import (
    ACCOUNT,
    ORGANIZATION_PATH,
    AccessChange,
    access_changes,
    own_account_text,
)
from reconciler.plan.build import build_registry_plan
from reconciler.plan.model import Plan, Reach, RegistryPlan
from reconciler.plan.planfile import plan_from_json, plan_json, read_plan
from reconciler.policy.render import policy_text, render_policy
from reconciler.report.markdown import render_markdown
from reconciler.report.text import render_text

REGISTRY_ACCOUNT = "123456789012"
PATH_A = "o-a1b2c3d4e5/*/ou-ab12-aaaaaaaa/*"
PATH_B = "o-a1b2c3d4e5/*/ou-ab12-bbbbbbbb/*"


def registry(access: PullAccess, *, provider: bool = False) -> Registry:
    return Registry(
        name="main",
        account_id=REGISTRY_ACCOUNT,
        region="us-east-1",
        pull_access=access,
        nullplatform=NullplatformTarget(nrn="organization=1:account=2") if provider else None,
    )


def text(access: PullAccess) -> str:
    return policy_text(render_policy(REGISTRY_ACCOUNT, access))


def plan(
    desired: PullAccess, live: dict[str, str | None], provider: LiveProvider | None = None
) -> RegistryPlan:
    policies = tuple(LivePolicy(name, policy) for name, policy in live.items())
    return build_registry_plan(
        registry(desired, provider=provider is not None), LiveRegistry("main", policies, provider)
    )


def as_dict(changes: tuple[AccessChange, ...]) -> dict[str, tuple[int, int, str | None]]:
    """principal -> (repositories gaining, losing, how the provider config changes it)."""

    def provider(change: AccessChange) -> str | None:
        return "gains" if change.gains.provider else "loses" if change.loses.provider else None

    return {c.principal: (c.gains.repositories, c.loses.repositories, provider(c)) for c in changes}


def test_accounts_added_and_removed_are_counted_per_repository() -> None:
    old = text(PullAccess(accounts=("111122223333", "999900001111")))
    live: dict[str, str | None] = {f"team-{i}/app": old for i in range(3)}
    live["team-new/app"] = None  # no policy yet: everyone it names gains
    result = plan(PullAccess(accounts=("111122223333", "444455556666")), live)
    assert as_dict(access_changes(result)) == {
        "999900001111": (0, 3, None),
        "444455556666": (4, 0, None),
        "111122223333": (1, 0, None),
    }  # the registry's own account is never a line of its own here: it keeps pull through IAM policies
    first = access_changes(result)[0]
    assert (first.kind, first.loss_text()) == (ACCOUNT, "account 999900001111 loses pull on 3 repositories")


def test_an_organization_path_renamed_without_the_organization_may_lose_and_gains() -> None:
    old = text(PullAccess(organization_paths=(PATH_A,)))
    result = plan(PullAccess(organization_paths=(PATH_B,)), {"a/app": old, "b/app": old})
    changes = access_changes(result)
    # PATH_B's OU may hold PATH_A's: only the organization can tell.
    assert [
        (c.kind, c.principal, c.gains.repositories, c.loses.repositories, c.may_lose.repositories)
        for c in changes
    ] == [(ORGANIZATION_PATH, PATH_A, 0, 0, 2), (ORGANIZATION_PATH, PATH_B, 2, 0, 0)]


def test_without_the_organization_a_path_no_other_path_can_cover_is_a_loss() -> None:
    old = text(PullAccess(organization_paths=(PATH_A,), accounts=("111122223333",)))
    result = plan(PullAccess(accounts=("111122223333",)), {"a/app": old})
    (change,) = access_changes(result)
    assert (change.principal, change.loses.repositories, change.may_lose) == (PATH_A, 1, Reach())


def test_without_the_organization_a_path_the_new_one_contains_is_no_loss() -> None:
    # `o/*/ou-a/*` matches every value `o/r/ou-w/ou-a/*` does, whatever the organization.
    full = "o-a1b2c3d4e5/r-ab12/ou-ab12-wrkl0001/ou-ab12-aaaaaaaa/*"
    old = text(PullAccess(organization_paths=(full,)))
    result = plan(PullAccess(organization_paths=(PATH_A,)), {"a/app": old})
    # The wider spelling may reach more (an ou-a elsewhere, were there one): shown as a gain, no loss.
    assert [(c.principal, c.loses, c.may_lose, c.gains.repositories) for c in access_changes(result)] == [
        (PATH_A, Reach(), Reach(), 1)
    ]


def test_moving_from_accounts_to_a_path_without_the_organization_may_lose_and_the_own_account_is_a_note() -> (
    None
):
    old = text(PullAccess(accounts=("111122223333",)))
    result = plan(PullAccess(organization_paths=(PATH_A,)), {"a/app": old})
    (account, path) = access_changes(result)
    # The account may sit in PATH_A's OU: without the organization nobody can say, and it is said so.
    assert (account.principal, account.may_lose.repositories, account.loses) == ("111122223333", 1, Reach())
    assert account.may_lose_text() == (
        "account 111122223333 may lose pull (can't tell without organization:) on 1 repository"
    )
    assert (path.principal, path.gains.repositories) == (PATH_A, 1)
    assert own_account_text(result) == (
        f"the policy no longer names the registry's own account {REGISTRY_ACCOUNT} on 1 repository: its "
        "principals keep pull only through their IAM policies"
    )
    body = render_markdown(Plan("t", "f", (result,)))
    warning, note = body.index("> [!WARNING]"), body.index("> [!NOTE]")
    assert "**Access may be removed.**" in body
    assert warning < body.index("may lose pull (can't tell without `organization:`)") < note
    assert body.index(REGISTRY_ACCOUNT, note) > note  # the own account is in the note, not the warning
    assert REGISTRY_ACCOUNT not in body[warning:note]
    lines = render_text(Plan("t", "f", (result,))).splitlines()
    assert (
        "    ? account 111122223333 may lose pull (can't tell without organization:) on 1 repository" in lines
    )


def test_a_sid_rename_or_a_statement_split_changes_nobody_s_access() -> None:
    desired = PullAccess(accounts=("111122223333", "444455556666"))
    renamed = json.loads(text(desired))
    renamed["Statement"][0]["Sid"] = "AllowPullLegacy"  # still ours (AllowPull*)
    split = json.loads(text(desired))
    first = split["Statement"][0]
    second = json.loads(json.dumps(first))
    first["Condition"]["StringEquals"]["aws:PrincipalAccount"] = [REGISTRY_ACCOUNT, "111122223333"]
    second["Sid"] = "AllowPullMore"
    second["Condition"]["StringEquals"]["aws:PrincipalAccount"] = ["444455556666"]
    split["Statement"].append(second)
    result = plan(desired, {"a/app": json.dumps(renamed), "b/app": json.dumps(split)})
    assert len(result.changes) == 2  # both are rewritten...
    assert access_changes(result) == ()  # ...and nobody gains or loses anything
    assert "Access changes" not in render_text(Plan("t", "f", (result,)))
    assert "[!WARNING]" not in render_markdown(Plan("t", "f", (result,)))


def test_an_owned_deny_statement_grants_nothing_to_lose() -> None:
    desired = PullAccess(accounts=("111122223333",))
    document = json.loads(text(desired))
    deny = json.loads(json.dumps(document["Statement"][0]))
    deny.update(Sid="AllowPullDeny", Effect="Deny")
    deny["Condition"]["StringEquals"]["aws:PrincipalAccount"] = ["999900001111"]
    document["Statement"].append(deny)
    result = plan(desired, {"a/app": json.dumps(document)})
    assert result.changes and access_changes(result) == ()


def test_errors_write_nothing_and_count_for_nobody() -> None:
    result = plan(PullAccess(accounts=("111122223333",)), {"a/app": "{not json"})
    assert result.changes[0].error and access_changes(result) == ()


def test_the_provider_config_counts_apart_as_new_repositories() -> None:
    old = text(PullAccess(accounts=("111122223333", "999900001111")))
    live = LiveProvider("organization=1:account=2", "p1", old)
    result = plan(PullAccess(accounts=("111122223333", "444455556666")), {"a/app": old}, provider=live)
    assert as_dict(access_changes(result)) == {
        "999900001111": (0, 1, "loses"),
        "444455556666": (1, 0, "gains"),
    }
    loss = access_changes(result)[0]
    assert loss.loss_text() == (
        "account 999900001111 loses pull on 1 repository and on new repositories (provider config)"
    )


def test_text_and_markdown_lead_with_losses() -> None:
    old = text(PullAccess(accounts=("111122223333", "999900001111")))
    live: dict[str, str | None] = {f"team-{i:02d}/app": old for i in range(58)}
    result = plan(PullAccess(accounts=("111122223333", "444455556666")), live)
    whole = Plan("t", "f", (result,))
    lines = render_text(whole).splitlines()
    loss = lines.index("    - account 999900001111 loses pull on 58 repositories")
    gain = lines.index("    + account 444455556666 gains pull on 58 repositories")
    first_change = next(i for i, line in enumerate(lines) if "team-00/app" in line)
    assert lines[1].startswith("  Access changes") and loss < gain < first_change
    body = render_markdown(whole)
    alert = body.index("> [!WARNING]")
    assert body.index("> - account `999900001111` loses pull on 58 repositories") > alert
    assert (
        alert
        < body.index("- account `444455556666` gains pull on 58 repositories")
        < body.index("| Registry |")
    )


def test_json_plan_carries_the_access_delta_from_version_3_on_and_reads_versions_1_and_2() -> None:
    old = text(PullAccess(accounts=("111122223333", "999900001111")))
    result = plan(PullAccess(accounts=("111122223333",)), {"a/app": old})
    whole = Plan("t", "f", (result,))
    data = json.loads(plan_json(whole))
    assert data["version"] == 4  # the access delta is carried from version 3 on
    nothing = {"repositories": 0, "provider": False, "templates": []}
    assert data["registries"][0]["access"] == {
        "organization": None,
        "changes": [
            {
                "principal": "999900001111",
                "kind": "account",
                "loses": {"repositories": 1, "provider": False, "templates": []},
                "may_lose": nothing,
                "gains": nothing,
                "detail": "",
            }
        ],
        "own_account": nothing,
    }
    again = plan_from_json(plan_json(whole))
    assert again == whole and again.registries[0].access == result.access
    # Version 2 (access_changes, recomputed by readers) and 1 (none): derived from the differences.
    data["version"] = 2
    del data["registries"][0]["access"]
    data["registries"][0]["access_changes"] = [
        {"principal": "999900001111", "kind": "account", "gains": 0, "loses": 1, "new_repositories": None}
    ]
    for version in (2, 1):
        data["version"] = version
        older = plan_from_json(json.dumps(data))
        assert older == whole and older.registries[0].access is None
        assert (
            access_changes(older.registries[0])[0].loss_text()
            == "account 999900001111 loses pull on 1 repository"
        )
        del data["registries"][0]["access_changes"]
        data["registries"][0]["access_changes"] = []
    data["version"] = 5
    with pytest.raises(ReconcilerError, match="version 5 is not supported"):
        plan_from_json(json.dumps(data))


def test_a_version_2_file_is_read_line_by_line_and_commented_with_its_derived_delta(tmp_path: Path) -> None:
    old = text(PullAccess(accounts=("111122223333", "999900001111")))
    result = plan(PullAccess(accounts=("111122223333",)), {"a/app": old, "b/app": old})
    head, registry_line, *rest = plan_json(Plan("t", "f", (result,))).splitlines(keepends=True)
    registry_data = json.loads(registry_line.removesuffix("\n") + "]}")
    del registry_data["access"], registry_data["changes"]
    registry_data["access_changes"] = [
        {"principal": "999900001111", "kind": "account", "gains": 0, "loses": 2, "new_repositories": None}
    ]
    v2_line = json.dumps(registry_data, ensure_ascii=False)[:-1] + ', "changes": [\n'
    path = tmp_path / "v2.json"
    path.write_text(head.replace('"version": 4', '"version": 2') + v2_line + "".join(rest), encoding="utf-8")
    read = read_plan(str(path))
    assert read.registries[0].access is None and len(read.registries[0].changes) == 2
    body = render_markdown(read)
    assert "> - account `999900001111` loses pull on 2 repositories" in body
