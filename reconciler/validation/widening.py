"""A creation template must not give wider access than the override that governs the repositories created
under its prefix: ECR sets the template's policy when it creates the repository (replication, pull-through
cache, create on push), and until the next apply that repository grants what the template grants. A
`payments` template without `pull_access` gives the default access while an override restricts
`payments/*`: every repository ECR creates there would be open to the default's accounts.

Which overrides a template governs: those with a glob that can match a name under its prefix (ECR assumes a
`/` after a prefix), unless that glob sits under a longer template prefix (that template governs them); the
ROOT template governs every override glob that sits under no other template's prefix.

Offline (`validate`) only what the strings prove is refused: an account the override does not list while it
grants no OU path, an OU path that no override path contains (`policy/coverage.contains`) when its root is
written out (then all its OUs are known) or when the override grants no path of that organization. With the
organization (`plan`, `apply`), `organization_widenings` resolves both against it and also catches an account
or OU outside the override's OUs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.desired.build import pull_access
from reconciler.desired.document import Dirty, Document, Issue, issue
from reconciler.desired.model import ROOT_PREFIX, CreationTemplate, Override, PullAccess, Registry
from reconciler.desired.overlap import common_match
from reconciler.policy.coverage import Grants, OrganizationIndex, contains, org_id, reached_beyond
from reconciler.policy.organization import Organization


def _under(prefix: str) -> str:
    return prefix.rstrip("/") + "/"


def governs(prefix: str, globs: Sequence[str], prefixes: Sequence[str]) -> bool:
    """Can a repository ECR creates through the template `prefix` match one of `globs`? `prefixes`: every
    template prefix of the file (a glob under a longer one is that template's)."""
    if prefix == ROOT_PREFIX:
        others = [_under(p) for p in prefixes if p != ROOT_PREFIX]
        return any(not any(glob.startswith(other) for other in others) for glob in globs)
    mine = _under(prefix)
    longer = [
        _under(p) for p in prefixes if p != ROOT_PREFIX and _under(p).startswith(mine) and _under(p) != mine
    ]
    return any(
        common_match(glob, mine + "*") is not None and not any(glob.startswith(other) for other in longer)
        for glob in globs
    )


def proven_wider(template: PullAccess, override: PullAccess) -> list[str]:
    """What `template` grants that `override` provably does not, whatever the organization looks like."""
    found = [
        f"account {account}"
        for account in template.accounts
        if account not in override.accounts and not override.organization_paths
    ]
    for path in template.organization_paths:
        if any(contains(other, path) for other in override.organization_paths):
            continue
        explicit_root = path.split("/")[1] != "*"
        same_org = any(org_id(other) == org_id(path) for other in override.organization_paths)
        if explicit_root or not same_org:
            found.append(f"OU path {path}")
    return found


def where(prefix: str) -> str:
    if prefix == ROOT_PREFIX:
        return "repositories ECR creates through the ROOT template"
    return f"repositories ECR creates under {_under(prefix)}"


def message(
    prefix: str, own_access: bool, wider: Sequence[str], override_line: int, globs: Sequence[str]
) -> str:
    whose = "" if own_access else " (it has no pull_access: the default's)"
    return (
        f"creation template {prefix!r} grants {', '.join(wider)}{whose}, which the override at line "
        f"{override_line} ({', '.join(globs)}) does not: {where(prefix)} would be wider open than policies/ "
        "keeps them; give the template the override's pull_access (or a narrower one)"
    )


@dataclass(frozen=True)
class _Template:
    index: int
    prefix: str
    access: PullAccess | None  # its own
    line: int


def _templates(doc: Document, data: dict[str, Any], dirty: Dirty) -> Iterator[_Template]:
    templates = data.get("creation_templates")
    for index, template in enumerate(templates if isinstance(templates, list) else []):
        if not isinstance(template, dict) or not dirty.clean(("creation_templates", index)):
            continue
        own = pull_access(template["pull_access"]) if "pull_access" in template else None
        yield _Template(index, str(template["prefix"]), own, doc.line(("creation_templates", index)))


def widening_issues(doc: Document, dirty: Dirty) -> list[Issue]:
    """Every template wider than an override it governs, offline (`validate`)."""
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("overrides"), list):
        return []
    default = (
        pull_access(data["pull_access"]) if "pull_access" in data and dirty.clean(("pull_access",)) else None
    )
    overrides = [
        (index, [str(g) for g in item["repositories"]], pull_access(item["pull_access"]))
        for index, item in enumerate(data["overrides"])
        if isinstance(item, dict) and dirty.clean(("overrides", index))
    ]
    templates = list(_templates(doc, data, dirty))
    prefixes = [t.prefix for t in templates]
    issues: list[Issue] = []
    for template in templates:
        access = template.access or default
        if access is None:
            continue
        for index, globs, override in overrides:
            if not governs(template.prefix, globs, prefixes):
                continue
            wider = proven_wider(access, override)
            if wider:
                at = ("creation_templates", template.index, "pull_access" if template.access else "prefix")
                text = message(
                    template.prefix, template.access is not None, wider, doc.line(("overrides", index)), globs
                )
                issues.append(issue(at, doc.node(at), text))
    return issues


def organization_widenings(
    registry: Registry, organization: Organization
) -> list[tuple[CreationTemplate, Override, list[str]]]:
    """Every (template, override, what it grants beyond the override) once both are resolved against the
    organization: accounts and OUs the template reaches and the override does not."""
    index = OrganizationIndex(organization)
    prefixes = [t.prefix for t in registry.creation_templates]
    found: list[tuple[CreationTemplate, Override, list[str]]] = []
    for template in registry.creation_templates:
        wide = _grants(registry.template_access(template))
        for override in registry.overrides:
            if not governs(template.prefix, override.repositories, prefixes):
                continue
            narrow = _grants(override.pull_access)
            accounts, nodes = reached_beyond(index, wide, narrow)
            foreign = sorted(index.reach(wide).foreign_paths - index.reach(narrow).foreign_paths)
            wider = [f"OU {n}" for n in nodes]
            wider += [f"account {a}" for a in accounts if a != registry.account_id]
            wider += [f"OU path {p}" for p in foreign]
            if wider:
                found.append((template, override, wider))
    return found


def _grants(access: PullAccess) -> Grants:
    """The registry's own account is left out: every rendering that lists accounts names it, and its
    principals pull through their IAM policies anyway."""
    return Grants(frozenset(access.accounts), frozenset(access.organization_paths))
