"""The plan for a terminal: one line per change, a summary line at the end. Colour only on a TTY."""

from __future__ import annotations

from reconciler.plan.access_changes import gains, losses
from reconciler.plan.model import Action, Plan, ProviderChange, RegistryPlan, RepositoryChange, TemplateChange

_SYMBOLS = {
    Action.CREATE: ("+", "32"),
    Action.UPDATE: ("~", "33"),
    Action.DELETE: ("-", "31"),
    Action.ERROR: ("!", "31;1"),
    Action.NOOP: (" ", "0"),
}


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
    """Who loses pull, then who gains it: what a reviewer approves, ahead of the statement edits."""
    lost, gained = losses(registry), gains(registry)
    if not lost and not gained:
        return []
    return [
        "  Access changes (new repositories get the provider config's policy):",
        *(f"    {_mark(Action.DELETE, colour)} {change.loss_text()}" for change in lost),
        *(f"    {_mark(Action.CREATE, colour)} {change.gain_text()}" for change in gained),
    ]


def registry_lines(registry: RegistryPlan, colour: bool = False) -> list[str]:
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
    for change in registry.changes:
        mark = _mark(change.action, colour)
        if change.action == Action.ERROR:
            lines.append(f"  {mark} {change.repository}: error: {change.error}")
            continue
        lines.append(f"  {mark} {change.repository}: {change.action}")
        lines += [f"      {line}" for line in change.difference.lines()]
        lines += _note_lines(change.notes)
    lines.append(f"  {len(registry.unchanged)} repositories already in line")
    if registry.gone:
        names = ", ".join(registry.gone)
        lines.append(f"  {len(registry.gone)} repositories deleted while planning, nothing to do: {names}")
    return lines


def render_text(plan: Plan, colour: bool = False) -> str:
    lines: list[str] = []
    for registry in plan.registries:
        lines += registry_lines(registry, colour)
        lines.append("")
    if not plan.has_changes and not plan.has_errors:
        lines.append("No changes. Live state matches policies/.")
    lines.append(plan.summary_line())
    return "\n".join(lines) + "\n"


def _result_words(action: Action, result: str, error: str | None) -> str:
    if result == "dry-run":
        return f"{action}, would be applied"
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
