"""The access audit for a terminal: who may pull each repository, then the findings; or one account."""

from __future__ import annotations

from collections import Counter

from reconciler.policy.access import Verdict
from reconciler.policy.audit import AccessReport, RegistryAccess
from reconciler.policy.findings import Grant

HALF = (
    "A repository policy is only half of cross-account access: the principal's own identity policy must "
    "allow the action too."
)


def grant_line(grant: Grant) -> str:
    line = f"{grant.statement}: {grant.audience}"
    if grant.denied_by:
        line += f" [{grant.status} by {', '.join(grant.denied_by)}"
        if grant.denied_accounts:
            line += f"; denied to {', '.join(grant.denied_accounts)}"
        line += "]"
    if grant.not_evaluated:
        line += f" [not evaluated: {'; '.join(grant.not_evaluated)}]"
    return line


def findings_summary(report: AccessReport) -> str:
    counts = Counter(f.kind.value for _, _, f in report.findings())
    total = sum(len(r.repositories) for r in report.registries)
    registries = len(report.registries)
    head = f"{total} repositories in {registries} registr{'y' if registries == 1 else 'ies'}"
    if not counts:
        return f"{head}; no findings"
    return f"{head}; findings: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _registry_lines(registry: RegistryAccess) -> list[str]:
    lines = [f"Registry {registry.registry} ({registry.account_id}, {registry.region})"]
    if registry.error:
        return [*lines, f"  ! {registry.error}"]
    for repo in registry.repositories:
        if repo.error:
            lines.append(f"  {repo.repository}: ! {repo.error}")
        elif not repo.has_policy:
            lines.append(f"  {repo.repository}: no policy")
        elif not repo.grants:
            lines.append(f"  {repo.repository}: no statement grants pull")
        else:
            lines.append(f"  {repo.repository}")
            lines += [f"    {grant_line(g)}" for g in repo.grants]
    return lines + [f"  note: {note}" for note in registry.notes]


def _account_lines(report: AccessReport) -> list[str]:
    lines = [f"Account {report.account}: the repositories its principals may pull (repository policies only)"]
    unresolved: list[str] = []
    count = 0
    for registry in report.registries:
        if registry.error:
            unresolved.append(f"  {registry.registry}: ! {registry.error}")
        for repo in registry.repositories:
            answer = repo.answer
            name = f"{registry.registry}/{repo.repository}"
            if repo.error or answer is None:
                unresolved.append(f"  {name}: {repo.error or 'not evaluated'}")
            elif answer.verdict == Verdict.YES:
                count += 1
                who = "" if answer.principals == ("any",) else f" (only {', '.join(answer.principals)})"
                lines.append(f"  {name}: by {', '.join(answer.statements)}{who}")
            elif answer.verdict == Verdict.UNRESOLVED:
                unresolved.append(f"  {name}: {'; '.join(answer.reasons)}")
    if count == 0:
        lines.append("  (none)")
    if unresolved:
        lines += ["Unresolved (neither counted in nor out):", *unresolved]
    lines.append(f"{count} may pull, {len(unresolved)} unresolved. {HALF}")
    return lines


def render_access_text(report: AccessReport) -> str:
    if report.account is not None:
        return "\n".join(_account_lines(report)) + "\n"
    lines: list[str] = []
    for registry in report.registries:
        lines += [*_registry_lines(registry), ""]
    found = report.findings()
    if found:
        lines.append("Findings:")
        for registry, repo, finding in found:
            where = f"{registry.registry}/{repo.repository}"
            statement = f" ({finding.statement})" if finding.statement else ""
            lines.append(f"  {finding.kind.value:<20} {where}{statement}: {finding.detail}")
        lines.append("")
    lines += [findings_summary(report), HALF]
    return "\n".join(lines) + "\n"
