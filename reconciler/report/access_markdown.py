"""The access audit as markdown (job summary, artifact), always at most GitHub's 65,536 characters.

Repositories repeat the same grants, so they are grouped: "412 repositories: AllowPull: * if ...". Lines
that do not fit are cut with a note pointing to the full report (`--format json` or `csv`).
"""

from __future__ import annotations

from collections import defaultdict

from reconciler.policy.access import Verdict
from reconciler.policy.audit import AccessReport, RegistryAccess, RepositoryAccess
from reconciler.policy.findings import Kind
from reconciler.report.access_text import HALF, findings_summary, grant_line
from reconciler.report.markdown import GITHUB_COMMENT_LIMIT, name_list
from reconciler.report.markdown import escape as _escape

_CUT_NOTE = "\n\n> ⚠️ Cut to fit {limit:,} characters; see the full report (`--format json` or `csv`).\n"


def _fit(lines: list[str], limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """Whole lines while they fit, then the cut note (and closing markup for an open <details>)."""
    budget = limit - len(_CUT_NOTE.format(limit=limit)) - len("\n</details>")
    body: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            opened = sum(1 for b in body if b == "<details>") > sum(1 for b in body if b == "</details>")
            return "\n".join(body) + ("\n</details>" if opened else "") + _CUT_NOTE.format(limit=limit)
        body.append(line)
        used += len(line) + 1
    return "\n".join(body) + "\n"


def _grants_key(repo: RepositoryAccess) -> str:
    if repo.error:
        return f"❌ {repo.error}"
    if not repo.has_policy:
        return "no policy"
    if not repo.grants:
        return "no statement grants pull"
    return "; ".join(grant_line(g) for g in repo.grants)


def _table(report: AccessReport) -> list[str]:
    kinds = list(Kind)
    lines = [
        "| Registry | Repositories | " + " | ".join(k.value for k in kinds) + " | Errors |",
        "|---|---:|" + "---:|" * len(kinds) + "---:|",
    ]
    for r in report.registries:
        counts = {k: sum(1 for repo in r.repositories for f in repo.findings if f.kind == k) for k in kinds}
        errors = sum(1 for repo in r.repositories if repo.error) + (1 if r.error else 0)
        lines.append(
            f"| {_escape(r.registry)} | {len(r.repositories)} | "
            + " | ".join(str(counts[k]) for k in kinds)
            + f" | {errors} |"
        )
    return lines


def _findings(report: AccessReport) -> list[str]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for registry, repo, finding in report.findings():
        # Grouped by what was found; the statement goes with each name (Sids differ between repositories).
        name = f"`{registry.registry}/{repo.repository}`"
        statement = f" ({_escape(finding.statement)})" if finding.statement else ""
        groups[(finding.kind.value, finding.detail)].append(name + statement)
    lines = []
    for (kind, detail), names in sorted(groups.items()):
        lines.append(f"- **{kind}** ({len(names)}) {_escape(detail)}: {name_list(names)}")
    return lines


def _registry(registry: RegistryAccess) -> list[str]:
    title = f"{registry.registry} ({registry.account_id}, {registry.region}): who can pull"
    lines = ["<details>", f"<summary><b>{_escape(title)}</b></summary>", ""]
    if registry.error:
        lines.append(f"❌ {_escape(registry.error)}")
    groups: dict[str, list[str]] = defaultdict(list)
    for repo in registry.repositories:
        groups[_grants_key(repo)].append(repo.repository)
    for key, names in sorted(groups.items(), key=lambda g: -len(g[1])):
        lines.append(f"- {len(names)} {'repository' if len(names) == 1 else 'repositories'}: {_escape(key)}")
        lines.append(f"  - {name_list([f'`{n}`' for n in names])}")
    lines += [f"> {_escape(note)}" for note in registry.notes]
    return [*lines, "", "</details>", ""]


def _account(report: AccessReport) -> list[str]:
    may: list[str] = []
    unresolved: list[str] = []
    for registry in report.registries:
        if registry.error:
            unresolved.append(f"| `{registry.registry}` (all) | {_escape(registry.error)} |")
        for repo in registry.repositories:
            answer = repo.answer
            if repo.error or answer is None:
                unresolved.append(f"| `{repo.repository}` | {_escape(repo.error or 'not evaluated')} |")
            elif answer.verdict == Verdict.YES:
                who = "" if answer.principals == ("any",) else f" (only {', '.join(answer.principals)})"
                may.append(f"| `{repo.repository}` | {_escape(', '.join(answer.statements) + who)} |")
            elif answer.verdict == Verdict.UNRESOLVED:
                unresolved.append(f"| `{repo.repository}` | {_escape('; '.join(answer.reasons))} |")
    lines = [
        f"### Who in account {report.account} can pull",
        "",
        f"**{len(may)} repositories may be pulled, {len(unresolved)} unresolved.** {HALF}",
        "",
    ]
    if unresolved:
        lines += ["| Unresolved | Why |", "|---|---|", *unresolved, ""]
    lines += ["| Repository | Statements |", "|---|---|", *may] if may else ["No repository grants it pull."]
    return lines


def render_access_markdown(report: AccessReport, *, title: str = "ECR access audit") -> str:
    if report.account is not None:
        return _fit(_account(report))
    lines = [f"### {title}", "", f"**{findings_summary(report)}.** {HALF}", "", *_table(report), ""]
    found = _findings(report)
    if found:
        lines += ["#### Findings", "", *found, ""]
    for registry in report.registries:
        lines += _registry(registry)
    return _fit(lines)
