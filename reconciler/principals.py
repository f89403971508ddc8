"""Check every account and OU path of registries with `organization:` against AWS Organizations.

Runs in plan, and in apply (and backfill) before anything is read or written: a typo in an OU id or an
account id passes validation (its format is right) and would otherwise be written to every repository,
locking the intended accounts out. Errors are reported like `validate` (`path:line:col` of the value,
GitHub annotations on Actions) and stop the run, so apply writes nothing, provider config included.
Warnings (a suspended member, an external account that is a member) are printed and the run goes on.

Wires the parts: `desired/locate.py` finds the values, `live/organizations.py` reads the organization
(once per role and run), `policy/organization.py` decides.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping, Sequence
from typing import TextIO

from reconciler.desired.locate import ACCOUNT, ORGANIZATION_PATH, key_position, principal_values
from reconciler.desired.model import Registry
from reconciler.errors import Problem, ValidationFailed
from reconciler.live.organizations import OrganizationsError, OrganizationsReader
from reconciler.policy.organization import Organization, check_principals
from reconciler.report.problems import report_warnings
from reconciler.validation.widening import message, organization_widenings


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def principal_problems(
    registries: Sequence[Registry],
    reader: OrganizationsReader,
    notes: list[str] | None = None,
    organizations: MutableMapping[str, Organization] | None = None,
) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of every registry that has `organization:`; the others are not looked at.
    `notes` receives one line per registry whose principals all resolve; `organizations` each registry's
    organization as read (the plan's access delta resolves grants against it)."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for registry in registries:
        check = registry.organization
        if check is None:
            continue
        try:
            organization = reader.organization(check.role_arn)
        except OrganizationsError as exc:
            if check.role_arn:
                line, column = key_position(registry, ("organization", "role_arn"))
            else:
                line, column = key_position(registry, ("organization",), key=True)
            errors.append(Problem(registry.source, line, column, f"registry {registry.name}: {exc}"))
            continue
        if organizations is not None:
            organizations[registry.name] = organization
        values = principal_values(registry)
        problems = check_principals(values, check, organization)
        if not any(p.error for p in problems):
            errors += _widenings(registry, organization)
        for problem in problems:
            at = problem.located
            found = Problem(at.source, at.line, at.column, problem.message)
            (errors if problem.error else warnings).append(found)
        if notes is not None and not any(p.error for p in problems):
            accounts = len({v.value for v in values if v.kind == ACCOUNT})
            paths = len({v.value for v in values if v.kind == ORGANIZATION_PATH})
            notes.append(
                f"registry {registry.name}: {_count(accounts, 'account')} and "
                f"{_count(paths, 'organization path')} resolve in AWS Organizations {organization.id}"
            )
    return errors, warnings


def _widenings(registry: Registry, organization: Organization) -> list[Problem]:
    """Templates that reach, in the organization, accounts or OUs an override they govern does not."""
    return [
        Problem(
            registry.source,
            template.line,
            1,
            message(
                template.prefix, template.pull_access is not None, wider, override.line, override.repositories
            )
            + f" (resolved in AWS Organizations {organization.id})",
        )
        for template, override, wider in organization_widenings(registry, organization)
    ]


def verify_principals(
    registries: Sequence[Registry], reader: OrganizationsReader | None = None, out: TextIO | None = None
) -> dict[str, Organization]:
    """Raise ValidationFailed (reported like validate, exit 1) when a principal does not resolve. Returns
    the organization of each registry that has `organization:`, by registry name."""
    organizations: dict[str, Organization] = {}
    if not any(r.organization is not None for r in registries):
        return organizations
    notes: list[str] = []
    errors, warnings = principal_problems(registries, reader or OrganizationsReader(), notes, organizations)
    report_warnings(warnings, out or sys.stderr)
    for note in notes:
        print(note, file=out or sys.stderr)
    if errors:
        raise ValidationFailed(errors)
    return organizations
