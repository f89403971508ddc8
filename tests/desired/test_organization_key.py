"""The optional `organization:` key: schema, field checks with their lines, the model, the fingerprint, and
finding every principal value's position for checks made after loading."""

from __future__ import annotations

from pathlib import Path

from desired_support import VALID, minimal, problems

from reconciler.desired.locate import ACCOUNT, EXTERNAL_ACCOUNT, ORGANIZATION_PATH, principal_values
from reconciler.desired.model import OrganizationCheck, registry_fingerprint
from reconciler.validation.loader import load_bytes, load_file

ROLE = "arn:aws:iam::210987654321:role/ecr-policy-reconciler-org-read"


def test_absent_means_no_check_and_the_fingerprint_is_unchanged() -> None:
    registry = load_bytes(VALID.encode(), "main.yaml")
    assert registry.organization is None
    # The fingerprint of a registry without the key is what it was before the key existed.
    assert registry_fingerprint(registry) == registry_fingerprint(load_bytes(VALID.encode(), "other.yaml"))


def test_empty_mapping_turns_the_check_on() -> None:
    registry = load_bytes((VALID + "organization: {}\n").encode(), "main.yaml")
    assert registry.organization == OrganizationCheck()
    without = load_bytes(VALID.encode(), "main.yaml")
    assert registry_fingerprint(registry) != registry_fingerprint(without)


def test_role_and_external_accounts() -> None:
    text = VALID + f'organization:\n  role_arn: {ROLE}\n  external_accounts: ["999999999999"]\n'
    registry = load_bytes(text.encode(), "main.yaml")
    assert registry.organization == OrganizationCheck(ROLE, ("999999999999",))


def test_bad_values_are_reported_at_their_line() -> None:
    text = (
        minimal() + "organization:\n  role_arn: arn:aws:iam::1:role/x\n  external_accounts: [999999999999]\n"
    )
    found = [(p.line, p.message) for p in problems(text)]
    assert found == [
        (
            8,
            "role_arn 'arn:aws:iam::1:role/x' is not valid: write it like "
            "arn:aws:iam::123456789012:role/ecr-policy-reconciler (an IAM role ARN)",
        ),
        (9, 'account id 999999999999 must be a quoted string: write "999999999999"'),
    ]


def test_unknown_keys_and_a_null_section_are_refused() -> None:
    unknown = problems(minimal() + "organization:\n  rolearn: x\n")
    assert len(unknown) == 1 and unknown[0].line == 8 and "rolearn" in unknown[0].message
    empty = problems(minimal() + "organization:\n")
    assert len(empty) == 1 and empty[0].line == 7 and "organization" in empty[0].message


def test_principal_values_are_located_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "main.yaml"
    path.write_text(VALID + 'organization:\n  external_accounts: ["999999999999"]\n', encoding="utf-8")
    registry = load_file(path)
    found = [(v.kind, v.value, v.line, v.column) for v in principal_values(registry)]
    assert found == [
        (ORGANIZATION_PATH, "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*", 9, 24),
        (ACCOUNT, "111122223333", 10, 14),
        (ACCOUNT, "444455556666", 10, 30),
        (ACCOUNT, "777788889999", 17, 18),
        (EXTERNAL_ACCOUNT, "999999999999", 20, 23),
    ]
