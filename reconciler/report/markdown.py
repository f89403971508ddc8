"""The plan as a pull-request comment: a summary table, then a collapsible section per registry.

GitHub rejects comments over 65,536 characters. With thousands of repositories the same change repeats, so
changes are grouped by (action, difference): "142 repositories: add account 444455556666". If it is still
too long, sections are cut with a note pointing to the full plan (job summary and artifact).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from reconciler.plan.access_changes import (
    access_delta,
    gains,
    losses,
    own_account_text,
    possible_losses,
)
from reconciler.plan.model import Action, Plan, RegistryPlan, RepositoryChange, TemplateChange

GITHUB_COMMENT_LIMIT = 65_536
# Room for the marker, header and truncation note, which are added outside the budgeted sections.
_RESERVED = 2_000
_NAMES_SHOWN = 10
_ACCESS_SHOWN = 40  # per list (losses, gains); the rest is in the registry sections and the plan file
_ICONS = {Action.CREATE: "➕", Action.UPDATE: "✏️", Action.DELETE: "🗑️", Action.ERROR: "❌", Action.NOOP: "✅"}


def escape(text: str) -> str:
    """Text safe inside a GitHub markdown table cell or list item (no pipes, no HTML)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def name_list(names: Sequence[str]) -> str:
    """The first few names, then how many more: a group of thousands stays one line."""
    shown = ", ".join(names[:_NAMES_SHOWN])
    extra = len(names) - _NAMES_SHOWN
    return shown + (f" and {extra} more" if extra > 0 else "")


def _names(changes: list[RepositoryChange]) -> str:
    return name_list([f"`{c.repository}`" for c in changes])


def _group_lines(registry: RegistryPlan) -> list[str]:
    groups: dict[tuple[Action, str], list[RepositoryChange]] = defaultdict(list)
    for change in registry.changes:
        detail = change.error or "" if change.action == Action.ERROR else change.difference.summary()
        groups[(change.action, detail)].append(change)
    order = [Action.ERROR, Action.CREATE, Action.UPDATE, Action.DELETE]
    lines: list[str] = []
    for (action, detail), changes in sorted(groups.items(), key=lambda g: (order.index(g[0][0]), g[0][1])):
        icon = _ICONS[action]
        if len(changes) == 1:
            lines.append(f"- {icon} **{action}** `{changes[0].repository}`: {escape(detail)}")
        else:
            lines.append(f"- {icon} **{action}** {len(changes)} repositories: {escape(detail)}")
            lines.append(f"  - {_names(changes)}")
    return lines


def _note_groups(registry: RegistryPlan) -> list[str]:
    """Foreign grants beyond pull, one line per grant with every repository that carries it."""
    carriers: dict[str, list[RepositoryChange]] = defaultdict(list)
    for change in registry.changes:
        for note in change.notes:
            carriers[note].append(change)
    lines: list[str] = []
    for note, changes in sorted(carriers.items(), key=lambda item: (-len(item[1]), item[0])):
        if len(changes) == 1:
            lines.append(f"- ℹ️ `{changes[0].repository}` also grants {escape(note)} (not ours, kept)")
        else:
            lines.append(f"- ℹ️ {len(changes)} repositories also grant {escape(note)} (not ours, kept)")
            lines.append(f"  - {_names(changes)}")
    return lines


def _template_line(template: TemplateChange) -> list[str]:
    where = f"creation template `{escape(template.prefix)}`"
    if template.action == Action.ERROR:
        return [f"- ❌ {where}: {escape(template.error or '')}"]
    if template.action == Action.NOOP:
        return [f"- ✅ {where}: no changes"]
    detail = (
        "; ".join([*template.applied_for_lines(), *template.difference.lines()]) or "no change in meaning"
    )
    lines = [f"- {_ICONS[template.action]} **{template.action}** {where}: {escape(detail)}"]
    return lines + [f"- ℹ️ {where} also grants {escape(n)} (not ours, kept)" for n in template.notes]


def _registry_section(registry: RegistryPlan) -> list[str]:
    title = f"{registry.registry} ({registry.account_id}, {registry.region})"
    lines = ["<details>", f"<summary><b>{escape(title)}</b></summary>", ""]
    if registry.error:
        return [*lines, f"❌ {escape(registry.error)}", "", "</details>", ""]
    provider = registry.provider
    if provider is not None:
        where = f"nullplatform provider `{provider.provider_id or '?'}`"
        if provider.action == Action.ERROR:
            lines.append(f"- ❌ {where}: {escape(provider.error or '')}")
        elif provider.action == Action.NOOP:
            lines.append(f"- ✅ {where}: no changes")
        else:
            detail = escape(provider.difference.summary())
            lines.append(
                f"- {_ICONS[provider.action]} **{provider.action}** {where} `setup.policy`: {detail}"
            )
            lines += [f"- ℹ️ {where} also grants {escape(n)} (not ours, kept)" for n in provider.notes]
    for template in registry.templates:
        lines += _template_line(template)
    lines += _group_lines(registry)
    lines += _note_groups(registry)
    lines.append(f"- ✅ {len(registry.unchanged)} repositories already in line")
    if registry.gone:
        shown = ", ".join(f"`{name}`" for name in registry.gone[:_NAMES_SHOWN])
        extra = len(registry.gone) - _NAMES_SHOWN
        more = f" and {extra} more" if extra > 0 else ""
        lines.append(
            f"- 🫥 {len(registry.gone)} repositories deleted while planning, nothing to do: {shown}{more}"
        )
    return [*lines, "", "</details>", ""]


def _access_items(plan: Plan, way: str) -> list[str]:
    """`way`: "loses", "may_lose" or "gains"."""
    several = len(plan.registries) > 1
    items: list[str] = []
    for registry in plan.registries:
        prefix = f"`{registry.registry}`: " if several else ""
        if way == "loses":
            items += [f"- {prefix}{escape(c.loss_text(code=True))}" for c in losses(registry)]
        elif way == "may_lose":
            items += [f"- {prefix}{escape(c.may_lose_text(code=True))}" for c in possible_losses(registry)]
        else:
            items += [f"- {prefix}{escape(c.gain_text(code=True))}" for c in gains(registry)]
    if len(items) > _ACCESS_SHOWN:
        items = [*items[:_ACCESS_SHOWN], f"- … and {len(items) - _ACCESS_SHOWN} more (see the plan file)"]
    return items


def access_block(plan: Plan) -> list[str]:
    """Who loses pull and who may (in a GitHub warning alert), then who gains it, then the registries' own
    accounts the policies stop naming (a note): the first thing a reviewer reads."""
    lines: list[str] = []
    lost = _access_items(plan, "loses")
    maybe = _access_items(plan, "may_lose")
    if lost or maybe:
        title = "Access removed." if lost else "Access may be removed."
        lines += ["> [!WARNING]", f"> **{title}** Check that nobody is locked out by mistake:"]
        lines += [f"> {item}" for item in [*lost, *maybe]]
        lines.append("")
    gained = _access_items(plan, "gains")
    if gained:
        lines += ["**Access granted:**", *gained, ""]
    several = len(plan.registries) > 1
    own = [
        f"> {f'`{r.registry}`: ' if several else ''}{escape(text[0].upper() + text[1:])}."
        for r in plan.registries
        if (text := own_account_text(r))
    ]
    if own:
        lines += ["> [!NOTE]", *own, ""]
    if lost or maybe or gained or own:
        resolved = sorted({d.organization for r in plan.registries if (d := access_delta(r)).organization})
        where = f" Grants resolved in AWS Organizations {', '.join(resolved)}." if resolved else ""
        lines += [f"<sub>New repositories get the provider config's policy.{where}</sub>", ""]
    return lines


def _table(plan: Plan) -> list[str]:
    lines = [
        "| Registry | Create | Update | Delete | Errors | In line | Provider config |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in plan.registries:
        provider = r.provider.action.value if r.provider else "not managed"
        errors = r.count(Action.ERROR) + (1 if r.error else 0)
        lines.append(
            f"| {escape(r.registry)} | {r.count(Action.CREATE)} | {r.count(Action.UPDATE)} | "
            f"{r.count(Action.DELETE)} | {errors} | {len(r.unchanged)} | {provider} |"
        )
    return lines


def plan_code_notice(paths: Sequence[str]) -> list[str]:
    """A pull request that changes how the plan is made also wrote this comment with that code: say so.

    Advisory only: the same pull request could drop this notice. The control is the code owners' review
    of those paths (docs/SETUP.md)."""
    if not paths:
        return []
    names = ", ".join(f"`{escape(path)}`" for path in dict.fromkeys(paths))
    return [
        "> [!CAUTION]",
        f"> **This pull request changes how the plan is made** ({names}). The plan below was made, and",
        "> this comment written, by the pull request's own code: trust it only once the code owners of",
        "> those paths have reviewed the change.",
        "",
    ]


def _source_lines(plan: Plan) -> list[str]:
    """Where the live policies came from, for plans that did not read them all now (`plan --since`)."""
    several = len(plan.registries) > 1
    lines = [
        f"> Live state{f' of `{r.registry}`' if several else ''}: {escape(r.source)}"
        for r in plan.registries
        if r.source
    ]
    return [*lines, ""] if lines else []


def render_markdown(
    plan: Plan,
    *,
    title: str = "ECR policy plan",
    marker: str = "",
    full_plan_hint: str = "",
    provenance: str = "",
    caution: Sequence[str] = (),
    limit: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """The comment body; always at most `limit` characters (GitHub's limit, or less when it is one part of
    a larger body, such as the drift issue).

    `provenance`: a line saying which commit was planned, by which run (the PR comment sets it).
    `caution`: lines shown first, above the plan (`plan_code_notice`).
    """
    head = [f"### {title}", "", *caution]
    if provenance:
        head += [provenance, ""]
    head += _source_lines(plan)
    head += [f"**{plan.summary_line()}**", "", *access_block(plan), *_table(plan), ""]
    if marker:
        head.insert(0, marker)
    body = "\n".join(head)
    budget = limit - _RESERVED - len(body)
    sections: list[str] = []
    truncated = 0
    for registry in plan.registries:
        section = "\n".join(_registry_section(registry))
        if len(section) > budget:
            truncated += 1
            # Keep what fits of this section, cut at a line boundary, and close the markup.
            cut = section[: max(0, budget - 200)].rsplit("\n", 1)[0]
            if cut.count("<details>") and budget > 400:
                sections.append(cut + "\n- … (cut)\n\n</details>\n")
            budget = 0
            continue
        sections.append(section)
        budget -= len(section)
    body += "\n" + "\n".join(sections)
    if truncated:
        hint = full_plan_hint or "the full plan (`plan.json`) and the job summary"
        body += f"\n> ⚠️ This plan is too long for one comment; {truncated} section(s) were cut. See {hint}.\n"
    return body[:limit]


class WrittenRecord(Protocol):
    """What this summary reads of an apply report line (apply/journal.py's WriteRecord): a Protocol, so
    report/ does not import apply/ (which prints through report/)."""

    @property
    def registry(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def result(self) -> str: ...

    @property
    def error(self) -> str | None: ...


def render_report_markdown(records: Sequence[WrittenRecord], *, title: str, marker: str = "") -> str:
    """An apply report as a comment: counts per registry and result, then the failures and stale items."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for record in records:
        counts[(record.registry, record.result)] += 1
    lines = [marker] if marker else []
    lines += [f"### {title}", "", "| Registry | Applied | Stale | Failed |", "|---|---:|---:|---:|"]
    for registry in sorted({r.registry for r in records}):
        lines.append(
            f"| {escape(registry)} | {counts[(registry, 'applied')]} | {counts[(registry, 'stale')]} | "
            f"{counts[(registry, 'failed')]} |"
        )
    if not records:
        lines.append("| (nothing written) | 0 | 0 | 0 |")
    in_line = sum(1 for r in records if r.result == "in-line")
    if in_line:
        lines += ["", f"{in_line} already in line: another run wrote the same since the plan; nothing sent."]
    problems = [r for r in records if r.result in ("failed", "stale")]
    if problems:
        lines += ["", "<details>", f"<summary>{len(problems)} not applied</summary>", ""]
        lines += [f"- **{r.result}** `{r.registry}/{r.name}`: {escape(r.error or '')}" for r in problems]
        lines += ["", "</details>"]
    body = "\n".join(lines) + "\n"
    if len(body) > GITHUB_COMMENT_LIMIT:
        note = "\n… (cut; see the report artifact)\n\n</details>\n"
        body = body[: GITHUB_COMMENT_LIMIT - len(note)].rsplit("\n", 1)[0] + note
    return body
