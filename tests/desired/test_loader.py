"""The loader: the model it builds, and every class of problem with its message and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from desired_support import VALID, minimal, problems

from reconciler.desired.model import DesiredState, NullplatformTarget, Override, PullAccess, Registry
from reconciler.desired.source import MAX_FILE_BYTES
from reconciler.errors import ReconcilerError, ValidationFailed
from reconciler.validation import loader, semantic
from reconciler.validation.loader import load_bytes, load_file, load_policies

REPO = Path(__file__).resolve().parents[2]
OU = "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"


def variant(old: str, new: str, base: str = VALID) -> str:
    """VALID with one exact, unique piece replaced (so the lines of the rest stay known)."""
    assert base.count(old) == 1, old
    return base.replace(old, new)


def only_problem(text: str | bytes) -> tuple[int, str]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0].line, found[0].message


# --- the model ----------------------------------------------------------------------------------------


def test_valid_file_builds_the_model(policies_dir: Callable[..., Path]) -> None:
    directory = policies_dir(**{"main.yaml": VALID})
    state = load_policies(directory)
    assert state.registries == (
        Registry(
            name="main",
            account_id="123456789012",
            region="us-east-1",
            write_role_arn="arn:aws:iam::123456789012:role/ecr-policy-reconciler",
            nullplatform=NullplatformTarget(nrn="organization=1:account=2", provider_id=None),
            pull_access=PullAccess(organization_paths=(OU,), accounts=("111122223333", "444455556666")),
            include=("*",),
            exclude=("sandbox/*",),
            overrides=(
                Override(
                    repositories=("payments/*",), pull_access=PullAccess(accounts=("777788889999",)), line=15
                ),
            ),
            managed_sids=("AllowPull*",),
        ),
    )
    registry = state.registries[0]
    assert registry.source == str(directory / "main.yaml")
    assert registry.overrides[0].line == 15
    assert isinstance(registry.pull_access.accounts, tuple)
    assert isinstance(registry.overrides, tuple)


def test_defaults_apply_when_optional_sections_are_absent() -> None:
    registry = load_bytes(minimal().encode())
    assert registry.include == ("*",)
    assert registry.exclude == ()
    assert registry.overrides == ()
    assert registry.managed_sids == ("AllowPull*",)
    assert registry.nullplatform is None
    assert registry.read_role_arn is None and registry.write_role_arn is None
    assert registry.pull_access == PullAccess(accounts=("111122223333",))


def test_provider_id_is_kept() -> None:
    text = minimal() + 'nullplatform:\n  nrn: "organization=1"\n  provider_id: "abc123"\n'
    assert load_bytes(text.encode()).nullplatform == NullplatformTarget("organization=1", "abc123")


def test_the_shipped_example_is_valid() -> None:
    registry = load_file(REPO / "policies" / "main.yaml")
    assert registry.name == "main"
    assert registry.account_id == "123456789012"
    assert registry.region == "us-east-1"
    assert registry.pull_access.organization_paths == (OU,)
    assert registry.exclude == ("sandbox/*",)
    assert [o.repositories for o in registry.overrides] == [("payments/*",)]
    assert registry.nullplatform == NullplatformTarget("organization=1:account=2", None)
    first_line = (REPO / "policies" / "main.yaml").read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../reconciler/desired/schema.json"


def test_files_are_yaml_and_yml_sorted_not_recursive_not_hidden(policies_dir: Callable[..., Path]) -> None:
    directory = policies_dir(
        **{
            "b.yml": minimal("b", "222222222222"),
            "a.yaml": minimal("a", "111111111111"),
            "notes.txt": "not a policies file",
            ".hidden.yaml": "not: valid",
        }
    )
    (directory / "nested").mkdir()
    (directory / "nested" / "c.yaml").write_text("broken: [")
    assert [r.name for r in load_policies(directory).registries] == ["a", "b"]


def test_equal_meaning_gives_equal_fingerprint_whatever_the_comments() -> None:
    commented = load_bytes(("# a comment\n" + VALID).encode(), "x.yaml")
    plain = load_bytes(VALID.encode(), "y.yaml")
    assert commented.overrides[0].line == plain.overrides[0].line + 1
    assert DesiredState((commented,)).fingerprint() == DesiredState((plain,)).fingerprint()


# --- the directory ------------------------------------------------------------------------------------


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError, match="does not exist"):
        load_policies(tmp_path / "nope")


def test_empty_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError, match=r"no policies files in .*add one \*\.yaml file"):
        load_policies(tmp_path)


def test_a_file_instead_of_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text(VALID)
    with pytest.raises(ReconcilerError, match="is not a directory"):
        load_policies(tmp_path / "main.yaml")


def test_every_problem_of_every_file_in_one_run(policies_dir: Callable[..., Path]) -> None:
    directory = policies_dir(
        **{
            "a.yaml": variant("  region: us-east-1\n", "  region: nowhere\n"),
            "b.yaml": variant('  account_id: "123456789012"', "  account_id: 210987654321").replace(
                "name: main", "name: other"
            ),
            "c.yaml": "registry: [",
        }
    )
    with pytest.raises(ValidationFailed) as failed:
        load_policies(directory)
    found = [(Path(p.path).name, p.line) for p in failed.value.problems]
    assert ("a.yaml", 4) in found
    assert ("b.yaml", 3) in found
    assert any(name == "c.yaml" for name, _ in found)
    assert failed.value.problems == sorted(failed.value.problems)


# --- across files -------------------------------------------------------------------------------------


def test_duplicate_registry_names_name_both_files(policies_dir: Callable[..., Path]) -> None:
    directory = policies_dir(
        **{"a.yaml": minimal("main", "111111111111"), "b.yaml": minimal("main", "222222222222")}
    )
    with pytest.raises(ValidationFailed) as failed:
        load_policies(directory)
    [problem] = failed.value.problems
    assert problem.path.endswith("b.yaml")
    assert problem.line == 2
    assert "registry name 'main' is also used in" in problem.message
    assert "a.yaml (line 2)" in problem.message


def test_same_account_and_region_twice_names_both_files(policies_dir: Callable[..., Path]) -> None:
    directory = policies_dir(**{"a.yaml": minimal("one"), "b.yaml": minimal("two")})
    with pytest.raises(ValidationFailed) as failed:
        load_policies(directory)
    [problem] = failed.value.problems
    assert problem.path.endswith("b.yaml")
    assert problem.line == 3
    assert "registry 123456789012 in us-east-1 is also described by" in problem.message
    assert "a.yaml (line 3)" in problem.message


def test_same_account_in_two_regions_is_fine(policies_dir: Callable[..., Path]) -> None:
    directory = policies_dir(**{"a.yaml": minimal("one"), "b.yaml": minimal("two", region="eu-west-1")})
    assert len(load_policies(directory).registries) == 2


def _syncing(name: str, region: str, nrn: str, provider_id: str | None = None) -> str:
    """A registry file whose nullplatform: key is on line 7, column 1."""
    section = f'nullplatform:\n  nrn: "{nrn}"\n' + (
        f'  provider_id: "{provider_id}"\n' if provider_id else ""
    )
    return minimal(name, region=region) + section


NRN = "organization=1:account=2"


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        ((NRN, None), (NRN, None), f"the same nrn '{NRN}'"),
        ((NRN, "abc123"), (NRN, None), f"the same nrn '{NRN}'"),
        ((NRN, None), (NRN, "abc123"), f"the same nrn '{NRN}'"),
        ((NRN, "abc123"), ("organization=1:account=3", "abc123"), "the same provider_id 'abc123'"),
    ],
    ids=["nrn-without-ids", "nrn-first-has-id", "nrn-second-has-id", "same-id-other-nrn"],
)
def test_two_files_syncing_one_provider_name_both_nullplatform_keys(
    policies_dir: Callable[..., Path],
    first: tuple[str, str | None],
    second: tuple[str, str | None],
    reason: str,
) -> None:
    directory = policies_dir(
        **{
            "a.yaml": _syncing("main", "us-east-1", *first),
            "b.yaml": _syncing("eu", "eu-west-1", *second),
        }
    )
    with pytest.raises(ValidationFailed) as failed:
        load_policies(directory)
    [problem] = failed.value.problems
    assert problem.path.endswith("b.yaml")
    assert (problem.line, problem.column) == (7, 1)
    message = problem.message
    assert (
        f"{directory / 'a.yaml'} (line 7, column 1) and in {directory / 'b.yaml'} (line 7, column 1)"
        in message
    )
    assert reason in message
    assert "keep nullplatform: only in the registry whose region the provider's setup.region names" in message
    assert "(eu-west-1 or us-east-1)" in message


def test_distinct_providers_are_fine_even_at_one_nrn(policies_dir: Callable[..., Path]) -> None:
    directory = policies_dir(
        **{
            "a.yaml": _syncing("main", "us-east-1", NRN, "abc123"),
            "b.yaml": _syncing("eu", "eu-west-1", NRN, "def456"),
            "c.yaml": _syncing("ap", "ap-south-1", "organization=1:account=3"),
            "d.yaml": minimal("sa", region="sa-east-1"),
        }
    )
    assert len(load_policies(directory).registries) == 4


def test_every_pair_syncing_one_provider_is_reported(policies_dir: Callable[..., Path]) -> None:
    directory = policies_dir(
        **{
            "a.yaml": _syncing("main", "us-east-1", NRN),
            "b.yaml": _syncing("eu", "eu-west-1", NRN),
            "c.yaml": _syncing("ap", "ap-south-1", NRN),
        }
    )
    with pytest.raises(ValidationFailed) as failed:
        load_policies(directory)
    pairs = sorted(
        (Path(p.path).name, "a.yaml" if "a.yaml (line 7" in p.message else "b.yaml")
        for p in failed.value.problems
    )
    assert pairs == [("b.yaml", "a.yaml"), ("c.yaml", "a.yaml"), ("c.yaml", "b.yaml")]


# --- every class of problem: message fragment and line ------------------------------------------------

CASES: list[tuple[str, str | bytes, int, str]] = [
    # (id, content, line, message fragment)
    (
        "yaml-syntax",
        variant(f'organization_paths: ["{OU}"]', f'organization_paths: ["{OU}"'),
        10,
        "invalid YAML: expected ',' or ']'",
    ),
    ("yaml-syntax-indent", "registry:\n  name: main\n    region: x: y\n", 3, "invalid YAML"),
    ("tab", variant("  region: us-east-1", "\tregion: us-east-1"), 4, "tab character"),
    (
        "lone-cr",
        VALID.replace("  region: us-east-1\n", "  region: us-east-1\r"),
        4,
        "unusual line break U+000D",
    ),
    ("lone-cr-at-the-end", VALID.rstrip("\n") + "\r", 18, "unusual line break U+000D"),
    ("line-separator", VALID.replace("name: main", "name: main\u2028"), 2, "unusual line break U+2028"),
    ("non-utf8", VALID.encode().replace(b"name: main", b"name: m\xe9in"), 2, "must be UTF-8"),
    ("empty", "", 1, "the file is empty"),
    ("only-comments", "# nothing here\n\n", 1, "the file is empty"),
    ("not-a-mapping", "- registry\n- pull_access\n", 1, "the file must be a mapping with registry"),
    ("scalar-document", "just text\n", 1, "the file must be a mapping"),
    ("two-documents", VALID + "---\nregistry: {}\n", 19, "holds one YAML document"),
    ("alias", 'a: &x ["1"]\nb: *x\n', 1, "YAML anchors and aliases are not supported"),
    ("deep-nesting", "registry:\n  name: " + "[" * 60 + "]" * 60 + "\n", 2, "nests deeper than 50 levels"),
    (
        "explicit-tag",
        variant("  region: us-east-1", "  region: !!binary aGVsbG8="),
        4,
        "YAML tags are not supported",
    ),
    (
        "duplicate-top-level-key",
        VALID + "registry:\n  name: again\n",
        19,
        "duplicate key 'registry' at the top level (lines 1 and 19)",
    ),
    (
        "duplicate-nested-key",
        variant("  region: us-east-1\n", "  region: us-east-1\n  region: eu-west-1\n"),
        5,
        "duplicate key 'region' in registry (lines 4 and 5)",
    ),
    (
        "unknown-top-level-key",
        VALID + "comment: hi\n",
        19,
        "unknown key 'comment' at the top level: allowed keys are registry, nullplatform, pull_access",
    ),
    (
        "unknown-key-typo",
        variant("  exclude:", "  exlude:"),
        13,
        "unknown key 'exlude' in repositories (did you mean 'exclude'?)",
    ),
    (
        "unknown-key-in-override",
        variant("  - repositories:", "  - repos: [x]\n    repositories:"),
        15,
        "unknown key 'repos' in overrides[0]",
    ),
    (
        "missing-region",
        variant("  region: us-east-1\n", ""),
        1,
        "registry is missing the required key 'region'",
    ),
    (
        "missing-pull-access",
        variant(
            f'pull_access:\n  organization_paths: ["{OU}"]\n  accounts: ["111122223333", "444455556666"]\n',
            "",
        ),
        1,
        "missing the required key 'pull_access'",
    ),
    (
        "account-unquoted",
        variant('account_id: "123456789012"', "account_id: 123456789012"),
        3,
        'account id 123456789012 must be a quoted string: write "123456789012"',
    ),
    (
        "account-leading-zero-lost",
        variant('accounts: ["111122223333", "444455556666"]', 'accounts: ["111122223333", 44455556666]'),
        10,
        'leading zero was probably lost; quote it with all 12 digits, like "044455556666"',
    ),
    (
        "account-octal",
        variant('account_id: "123456789012"', "account_id: 012345670123"),
        3,
        'must be a quoted string: write "012345670123"',
    ),
    (
        "account-short-string",
        variant('"777788889999"', '"77778888999"'),
        17,
        "account id '77778888999' must be exactly 12 digits",
    ),
    (
        "account-not-digits",
        variant('"777788889999"', '"7777-8888-9999"'),
        17,
        "must be exactly 12 digits",
    ),
    (
        "account-duplicate",
        variant('"444455556666"', '"111122223333"'),
        10,
        "'111122223333' is listed twice in pull_access.accounts",
    ),
    ("ou-star", variant(f'"{OU}"', '"*"'), 9, "would match every organization"),
    (
        "ou-org-wildcard",
        variant(f'"{OU}"', '"o-*/*/ou-ab12-cdef3456/*"'),
        9,
        "would match every organization",
    ),
    ("ou-leading-star", variant(f'"{OU}"', '"*/ou-ab12-cdef3456/*"'), 9, "would match every organization"),
    ("ou-no-ou", variant(f'"{OU}"', '"o-a1b2c3d4e5/*"'), 9, "names no OU"),
    ("ou-no-trailing", variant(f'"{OU}"', '"o-a1b2c3d4e5/*/ou-ab12-cdef3456"'), 9, "must end with /*"),
    ("ou-star-middle", variant(f'"{OU}"', '"o-a1b2c3d4e5/*/*/ou-ab12-cdef3456/*"'), 9, "* only as the root"),
    (
        "ou-bad-org",
        variant(f'"{OU}"', '"o-short/*/ou-ab12-cdef3456/*"'),
        9,
        "must start with an organization id",
    ),
    ("ou-bad-root", variant(f'"{OU}"', '"o-a1b2c3d4e5/root/ou-ab12-cdef3456/*"'), 9, "where the root id"),
    (
        "ou-bad-ou",
        variant(f'"{OU}"', '"o-a1b2c3d4e5/*/ou-x/*"'),
        9,
        "where an OU id (ou-xxxx-xxxxxxxx) belongs",
    ),
    ("bad-region", variant("region: us-east-1", "region: us-east"), 4, "region 'us-east' is not valid"),
    ("region-uppercase", variant("region: us-east-1", "region: US-EAST-1"), 4, "like us-east-1"),
    ("bad-role-arn", variant(":role/ecr-policy-reconciler", ":user/ecr"), 5, "write_role_arn 'arn:aws"),
    (
        "bad-name",
        variant("name: main", "name: Main Registry"),
        2,
        "registry name 'Main Registry' is not valid",
    ),
    (
        "bad-nrn",
        variant('nrn: "organization=1:account=2"', "nrn: account=2"),
        7,
        "nrn 'account=2' is not valid",
    ),
    ("empty-glob", variant('exclude: ["sandbox/*"]', 'exclude: [""]'), 13, "a glob must not be empty"),
    (
        "glob-number",
        variant('exclude: ["sandbox/*"]', "exclude: [42]"),
        13,
        "glob 42 must be a quoted string",
    ),
    (
        "empty-pull-access",
        variant('    pull_access:\n      accounts: ["777788889999"]\n', "    pull_access: {}\n"),
        16,
        "overrides[0].pull_access grants no access",
    ),
    ("empty-accounts", variant('accounts: ["777788889999"]', "accounts: []"), 17, "is an empty list"),
    ("empty-include", variant('include: ["*"]', "include: []"), 12, "remove the key to use the default"),
    (
        "list-for-mapping",
        variant('  nrn: "organization=1:account=2"', "  - nrn"),
        7,
        "nullplatform must be a mapping",
    ),
    (
        "null-section",
        variant('nullplatform:\n  nrn: "organization=1:account=2"\n', "nullplatform:\n"),
        6,
        "nullplatform is empty",
    ),
    (
        "mapping-for-list",
        variant('exclude: ["sandbox/*"]', "exclude: {a: b}"),
        13,
        "must be a list of quoted globs",
    ),
    ("non-scalar-key", VALID + "[a, b]: 1\n", 19, "keys must be plain names"),
    (
        "overlapping-overrides",
        VALID.replace(
            "managed_sids:",
            '  - repositories: ["payments/api"]\n'
            '    pull_access:\n      accounts: ["111122223333"]\nmanaged_sids:',
        ),
        18,
        "'payments/api' (override at line 18) and 'payments/*' (override at line 15) both match",
    ),
    (
        "managed-sids-mismatch",
        variant('managed_sids: ["AllowPull*"]', 'managed_sids: ["AllowPull"]'),
        18,
        "managed_sids does not match the Sid AllowPullAccounts that the reconciler writes",
    ),
]


@pytest.mark.parametrize(("content", "line", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_reported_with_its_line(content: str | bytes, line: int, fragment: str) -> None:
    found = problems(content)
    assert found, "expected a problem"
    assert all(p.line >= 1 and p.column >= 1 for p in found)
    matching = [p for p in found if fragment in p.message]
    assert matching, f"no message contains {fragment!r}: {[str(p) for p in found]}"
    assert line in [p.line for p in matching], [str(p) for p in matching]


def test_the_valid_file_has_no_problems() -> None:
    assert problems(VALID) == []


def test_crlf_line_endings_are_fine_and_lines_still_count() -> None:
    crlf = VALID.replace("\n", "\r\n")
    assert problems(crlf) == []
    [problem] = problems(crlf.replace("region: us-east-1", "region: moon"))
    assert problem.line == 4


def test_columns_point_at_the_offending_value() -> None:
    [problem] = problems(variant('account_id: "123456789012"', "account_id: 123456789012"))
    assert (problem.line, problem.column) == (3, 15)


def test_every_tab_is_reported() -> None:
    found = problems("registry:\n\tname: a\n\tregion: b\n")
    assert [(p.line, p.column) for p in found] == [(2, 1), (3, 1)]


def test_file_over_one_mebibyte_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: [" + b"1, " * (MAX_FILE_BYTES // 3) + b"]\n")
    result = loader.check_file(path)
    [problem] = result.problems
    assert problem.line == 1
    assert f"file is {path.stat().st_size:,} bytes; policies files are limited to 1 MiB" in problem.message


def test_billion_laughs_is_refused_at_the_first_anchor() -> None:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    bomb += "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    line, message = only_problem(bomb)
    assert line == 1
    assert "YAML anchors and aliases are not supported" in message


def test_a_null_byte_is_reported_where_it_is() -> None:
    line, message = only_problem(VALID.replace("name: main", "name: ma\x00in"))
    assert line == 2
    assert "U+0000 is not allowed" in message


def test_too_many_accounts_is_reported_at_the_accounts_with_the_size() -> None:
    many = ", ".join(f'"{n:012d}"' for n in range(100000000000, 100000000800))
    text = variant('accounts: ["111122223333", "444455556666"]', f"accounts: [{many}]")
    line, message = only_problem(text)
    assert line == 10
    assert "the policy rendered for pull_access is" in message
    assert "ECR allows at most 10,240" in message
    assert "800 accounts" in message


def test_an_unsafe_rendering_is_reported_at_the_pull_access(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rendering grants only pull today; the check guards against that changing.
    def public(account: str, access: PullAccess) -> dict[str, Any]:
        statement = {"Sid": "AllowPull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:*"]}
        return {"Version": "2012-10-17", "Statement": [statement]}

    monkeypatch.setattr(semantic, "render_policy", public)
    found = problems(VALID)
    messages = {(p.line, p.message) for p in found}
    assert any(
        line == 8 and "pull_access would render an unsafe policy" in m and "public" in m
        for line, m in messages
    )
    assert any(line == 16 and "grants non-pull actions: ecr:*" in m for line, m in messages)


def test_managed_sids_are_checked_against_what_each_policy_renders() -> None:
    accounts_only = minimal() + 'managed_sids: ["AllowPull"]\n'
    assert problems(accounts_only) == []
    both = variant('managed_sids: ["AllowPull*"]', 'managed_sids: ["AllowPullAccounts", "AllowPull"]')
    [problem] = problems(both)
    assert problem.line == 18
    assert "the Sid AllowPullOrganizationPaths" in problem.message


def test_structure_problems_do_not_hide_each_other() -> None:
    text = variant("region: us-east-1", "region: 1").replace("name: main", "name: 'MAIN'") + "extra: 1\n"
    lines = sorted(p.line for p in problems(text))
    assert lines == [2, 4, 19]


def test_overlap_is_checked_even_when_an_override_access_is_broken() -> None:
    text = VALID.replace(
        "managed_sids:", '  - repositories: ["payments/api"]\n    pull_access: {}\nmanaged_sids:'
    )
    messages = [p.message for p in problems(text)]
    assert any("both match 'payments/api'" in m for m in messages)
    assert any("grants no access" in m for m in messages)


def test_disjoint_overrides_are_fine() -> None:
    text = VALID.replace(
        "managed_sids:",
        '  - repositories: ["billing/*"]\n    pull_access:\n      accounts: ["111122223333"]\nmanaged_sids:',
    )
    assert problems(text) == []


@pytest.mark.parametrize(
    "path",
    [
        "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",
        "o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/",
        "o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/ou-ab12-11112222/*",
        "o-abcdefghij0123456789/*/ou-abcd-abcdefgh/",
    ],
)
def test_good_organization_paths_pass(path: str) -> None:
    assert problems(variant(f'"{OU}"', f'"{path}"')) == []


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4"])
def test_good_regions_pass(region: str) -> None:
    assert problems(minimal(region=region)) == []
