"""A creation template wider than an override governing the repositories ECR creates under its prefix is
refused by `validate` (offline) where the strings prove it, at the template's line; with the organization the
plan's principal check also catches an account or OU outside the override's OUs."""

from __future__ import annotations

from pathlib import Path

from desired_support import VALID, problems

from reconciler.policy.organization import OrgAccount, Organization, OrgUnit
from reconciler.sandbox.ecr.organizations import DEFAULT_ORGANIZATION
from reconciler.validation.loader import load_bytes
from reconciler.validation.widening import governs, organization_widenings

# VALID: default = clusters OU + 111122223333, 444455556666; override payments/* = 777788889999 only.


def template(prefix: str, access: str = "") -> str:
    text = f"creation_templates:\n  - prefix: {prefix}\n    applied_for: [CREATE_ON_PUSH]\n"
    return text + (f"    pull_access:\n{access}" if access else "")


def messages(text: str) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in problems(text)]


def test_a_template_without_pull_access_under_a_restricted_prefix_is_refused_at_its_line() -> None:
    text = VALID + template("payments")
    found = messages(text)
    line = text.splitlines().index("  - prefix: payments") + 1
    assert found == [
        (
            line,
            "creation template 'payments' grants account 111122223333, account 444455556666, OU path "
            "o-a1b2c3d4e5/*/ou-ab12-cdef3456/* (it has no pull_access: the default's), which the override "
            "at line 15 (payments/*) does not: repositories ECR creates under payments/ would be wider open "
            "than policies/ keeps them; give the template the override's pull_access (or a narrower one)",
        )
    ]
    assert str(problems(text)[0]).startswith(f"main.yaml:{line}:")


def test_a_template_as_narrow_as_the_override_or_elsewhere_is_valid() -> None:
    narrow = '      accounts: ["777788889999"]\n'
    assert messages(VALID + template("payments", narrow)) == []
    assert messages(VALID + template("team-a")) == []  # no override governs team-a/


def test_the_root_template_governs_overrides_no_other_template_covers() -> None:
    assert any("creation template 'ROOT'" in m for _, m in messages(VALID + template("ROOT")))
    narrow = '      accounts: ["777788889999"]\n'
    both = VALID + template("ROOT") + template("payments", narrow).removeprefix("creation_templates:\n")
    assert messages(both) == []  # payments/* is the payments template's


def test_offline_what_only_the_organization_can_tell_passes_validate() -> None:
    # The override grants the OU; the template an account that may sit in it: not provable offline.
    text = VALID.replace(
        'accounts: ["777788889999"]', 'organization_paths: ["o-a1b2c3d4e5/*/ou-ab12-paym0001/*"]'
    )
    assert messages(text + template("payments", '      accounts: ["444455556666"]\n')) == []
    # A path written from the root names every OU above it: provably outside the override's OU.
    full = '      organization_paths: ["o-a1b2c3d4e5/r-ab12/ou-ab12-wrkl0001/*"]\n'
    (found,) = messages(text + template("payments", full))
    assert "grants OU path o-a1b2c3d4e5/r-ab12/ou-ab12-wrkl0001/*" in found[1]


def test_governs_reads_globs_against_the_prefix() -> None:
    assert governs("payments", ["payments/*"], ["payments"])
    assert governs("payments", ["pay*"], ["payments"])
    assert not governs("payments", ["payments-old/*"], ["payments"])
    assert not governs("payments", ["payments/legacy/*"], ["payments", "payments/legacy"])


def sandbox_organization() -> Organization:
    spec = DEFAULT_ORGANIZATION
    return Organization(
        id=spec.id,
        management_account=spec.management_account,
        roots=(spec.root,),
        units={u.id: OrgUnit(u.id, u.name, u.parent) for u in spec.units},
        accounts={a.id: OrgAccount(a.id, a.name, a.state, a.parent) for a in spec.accounts},
    )


def test_with_the_organization_an_account_outside_the_override_s_ou_is_caught(tmp_path: Path) -> None:
    text = VALID.replace(
        'accounts: ["777788889999"]', 'organization_paths: ["o-a1b2c3d4e5/*/ou-ab12-paym0001/*"]'
    )
    inside = load_bytes((text + template("payments", '      accounts: ["777788889999"]\n')).encode())
    assert organization_widenings(inside, sandbox_organization()) == []  # 777788889999 is in payments
    outside = load_bytes((text + template("payments", '      accounts: ["444455556666"]\n')).encode())
    ((found_template, override, wider),) = organization_widenings(outside, sandbox_organization())
    assert (found_template.prefix, override.repositories, wider) == (
        "payments",
        ("payments/*",),
        ["account 444455556666"],
    )
