"""The plan for a terminal: one line per change, a summary line at the end. Colour only on a TTY, and
never with NO_COLOR set (https://no-color.org)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from typing import TextIO

from reconciler.plan.access_changes import access_delta, gains, losses, own_account_text, possible_losses
from reconciler.plan.model import Action, Plan, ProviderChange, RegistryPlan, RepositoryChange, TemplateChange

_SYMBOLS = {
    Action.CREATE: ("+", "32"),
    Action.UPDATE: ("~", "33"),
    Action.DELETE: ("-", "31"),
    Action.ERROR: ("!", "31;1"),
    Action.NOOP: (" ", "0"),
}


# The names shown for a group of changes; `plan --verbose` shows every repository.
NAMES_SHOWN = 5
_ORDER = [Action.ERROR, Action.CREATE, Action.UPDATE, Action.DELETE, Action.NOOP]


def use_colour(stream: TextIO) -> bool:
    """ANSI colour on `stream`: a terminal, unless NO_COLOR is set to anything but the empty string."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _mark(action: Action, colour: bool) -> str:
    symbol, code = _SYMBOLS[action]
    return f"\033[{code}m{symbol}\033[0m" if colour else symbol


def _provider_lines(provider: ProviderChange, colour: bool) -> list[str]:
    where = f"nullplatform provider {provider.provider_id or '?'} ({provider.nrn})"
    if provider.action == Action.NOOP:
        return [f"  {where}: no changes"]
    if provider.action == Action.ERROR:
        return [f"  {_mark(Action.ERROR, colour)} {where}: {provider.error}"]
    return [
        f"  {_mark(provider.action, colour)} {where}: {provider.action} setup.policy",
        *(f"      {line}" for line in provider.difference.lines()),
        *_note_lines(provider.notes),
    ]


def _template_lines(template: TemplateChange, colour: bool) -> list[str]:
    where = f"creation template {template.prefix}"
    if template.action == Action.NOOP:
        return [f"  {where}: no changes"]
    if template.action == Action.ERROR:
        return [f"  {_mark(Action.ERROR, colour)} {where}: {template.error}"]
    return [
        f"  {_mark(template.action, colour)} {where}: {template.action}",
        *(f"      {line}" for line in template.applied_for_lines()),
        *(f"      {line}" for line in template.difference.lines()),
        *_note_lines(template.notes),
    ]


def _note_lines(notes: tuple[str, ...]) -> list[str]:
    return [f"      note: also grants {note} (not ours, kept)" for note in notes]


def access_lines(registry: RegistryPlan, colour: bool = False) -> list[str]:
    """Who loses pull, who may, then who gains it: what a reviewer approves, ahead of the statement edits.
    The registry's own account is a note of its own (its principals keep pull through IAM policies)."""
    lost, maybe, gained = losses(registry), possible_losses(registry), gains(registry)
    own = own_account_text(registry)
    if not lost and not maybe and not gained and not own:
        return []
    organization = access_delta(registry).organization
    resolved = f"; resolved in AWS Organizations {organization}" if organization else ""
    return [
        f"  Access changes (new repositories get the provider config's policy{resolved}):",
        *(f"    {_mark(Action.DELETE, colour)} {change.loss_text()}" for change in lost),
        *(f"    ? {change.may_lose_text()}" for change in maybe),
        *(f"    {_mark(Action.CREATE, colour)} {change.gain_text()}" for change in gained),
        *([f"    note: {own}"] if own else []),
    ]


def _change_lines(changes: Sequence[RepositoryChange], colour: bool) -> list[str]:
    """Every repository with its own lines (`plan --verbose`)."""
    lines: list[str] = []
    for change in changes:
        mark = _mark(change.action, colour)
        if change.action == Action.ERROR:
            lines.append(f"  {mark} {change.repository}: error: {change.error}")
            continue
        lines.append(f"  {mark} {change.repository}: {change.action}")
        lines += [f"      {line}" for line in change.difference.lines()]
        lines += _note_lines(change.notes)
    return lines


def _names(changes: Sequence[RepositoryChange]) -> str:
    """The first few names, then how many more: a group of thousands stays one line."""
    shown = ", ".join(c.repository for c in changes[:NAMES_SHOWN])
    extra = len(changes) - NAMES_SHOWN
    return shown + (f" and {extra} more (--verbose lists each)" if extra > 0 else "")


def _grouped_lines(changes: Sequence[RepositoryChange], colour: bool) -> list[str]:
    """Repository changes grouped by kind, as the markdown plan groups them: one summary per (action,
    difference) with its lines once and the first names; then the foreign grants kept, per grant."""
    groups: dict[tuple[Action, tuple[str, ...]], list[RepositoryChange]] = defaultdict(list)
    for change in changes:
        detail = (change.error or "",) if change.action == Action.ERROR else tuple(change.difference.lines())
        groups[(change.action, detail)].append(change)
    lines: list[str] = []
    for (action, detail), members in sorted(groups.items(), key=lambda g: (_ORDER.index(g[0][0]), g[0][1])):
        if len(members) == 1:
            lines += [line for line in _change_lines(members, colour) if "note: also grants" not in line]
            continue
        mark = _mark(action, colour)
        if action == Action.ERROR:
            lines += [f"  {mark} {len(members)} repositories: error: {detail[0]}", f"      {_names(members)}"]
            continue
        lines.append(f"  {mark} {len(members)} repositories: {action}")
        lines += [f"      {line}" for line in detail]
        lines.append(f"      {_names(members)}")
    carriers: dict[str, list[RepositoryChange]] = defaultdict(list)
    for change in changes:
        for note in change.notes:
            carriers[note].append(change)
    for note, members in sorted(carriers.items(), key=lambda item: (-len(item[1]), item[0])):
        count = f"{len(members)} repositories: " if len(members) > 1 else ""
        lines.append(f"  note: also grants {note} (not ours, kept): {count}{_names(members)}")
    return lines


def registry_lines(registry: RegistryPlan, colour: bool = False, verbose: bool = False) -> list[str]:
    header = f"Registry {registry.registry} ({registry.account_id}, {registry.region})"
    lines = [header]
    if registry.source:
        lines.append(f"  live state: {registry.source}")
    if registry.error:
        return [*lines, f"  {_mark(Action.ERROR, colour)} {registry.error}"]
    lines += access_lines(registry, colour)
    if registry.provider is not None:
        lines += _provider_lines(registry.provider, colour)
    for template in registry.templates:
        lines += _template_lines(template, colour)
    lines += _change_lines(registry.changes, colour) if verbose else _grouped_lines(registry.changes, colour)
    lines.append(f"  {len(registry.unchanged)} repositories already in line")
    if registry.gone:
        names = ", ".join(registry.gone)
        lines.append(f"  {len(registry.gone)} repositories deleted while planning, nothing to do: {names}")
    return lines


def render_text(plan: Plan, colour: bool = False, policies: str = "policies/", verbose: bool = False) -> str:
    """The plan; repository changes grouped by kind unless `verbose` (then one entry per repository)."""
    lines: list[str] = []
    for registry in plan.registries:
        lines += registry_lines(registry, colour, verbose)
        lines.append("")
    if not plan.has_changes and not plan.has_errors:
        shown = policies if policies.endswith("/") else f"{policies}/"
        lines.append(f"No changes. Live state matches {shown}.")
    lines.append(plan.summary_line())
    return "\n".join(lines) + "\n"


def _result_words(action: Action, result: str, error: str | None) -> str:
    if result == "dry-run":
        return f"{action}, would be applied"
    if result == "in-line":
        return f"{action}, already in line (it holds what the plan would write; nothing sent)"
    if error:
        return f"{action}, {result}: {error}"
    return f"{action}, {result}"


def repository_result_line(
    change: RepositoryChange, result: str, error: str | None = None, colour: bool = False
) -> str:
    """One line per repository as a streamed apply settles it, with what changed in the access we own."""
    if change.action == Action.ERROR:
        return f"  {_mark(Action.ERROR, colour)} {change.repository}: error: {change.error}"
    head = (
        f"  {_mark(change.action, colour)} {change.repository}: {_result_words(change.action, result, error)}"
    )
    lines = [head, *(f"      {line}" for line in change.difference.lines()), *_note_lines(change.notes)]
    return "\n".join(lines)


def provider_result_line(
    provider: ProviderChange, result: str, error: str | None = None, colour: bool = False
) -> str:
    """The provider config's line, as it is written (before any repository)."""
    if provider.action in (Action.NOOP, Action.ERROR):
        return "\n".join(_provider_lines(provider, colour))
    where = f"nullplatform provider {provider.provider_id or '?'} ({provider.nrn})"
    words = _result_words(provider.action, result, error)
    head = f"  {_mark(provider.action, colour)} {where}: setup.policy {words}"
    lines = [head, *(f"      {line}" for line in provider.difference.lines()), *_note_lines(provider.notes)]
    return "\n".join(lines)


def template_result_line(
    template: TemplateChange, result: str, error: str | None = None, colour: bool = False
) -> str:
    """A creation template's line, as it is written (before any repository)."""
    if template.action in (Action.NOOP, Action.ERROR):
        return "\n".join(_template_lines(template, colour))
    words = _result_words(template.action, result, error)
    head = f"  {_mark(template.action, colour)} creation template {template.prefix}: {words}"
    lines = [
        head,
        *(f"      {line}" for line in template.applied_for_lines()),
        *(f"      {line}" for line in template.difference.lines()),
        *_note_lines(template.notes),
    ]
    return "\n".join(lines)
