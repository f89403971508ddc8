"""The drift tracking issue: its body, the "resolved" comment, and the hidden data that finds it again.

One issue for as long as drift lasts: found by MARKER (and the label, which the command lists by), edited
in place every run, closed with a comment when a run is clean. Its body holds when drift was first and
last seen, the grouped plan led by who would lose and gain pull if `policies/` were applied again (the
pull-request comment's own rendering), how to fix it and what self-heal did, all within GitHub's 65,536
characters (the limit for comments applies to issue bodies too). Only what the plan file holds goes in:
never a policy text, a credential or a provider attribute.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.plan.drift import Assessment, Healing, Verdict
from reconciler.plan.model import Plan
from reconciler.report.markdown import GITHUB_COMMENT_LIMIT, render_markdown
from reconciler.report.markdown import escape as _escape

MARKER = "<!-- ecr-policy-reconciler:drift -->"
LABEL = "ecr-policy-drift"
TITLE = "ECR policy drift: live policies no longer match policies/"
_FIRST_SEEN = re.compile(r"<!-- ecr-policy-reconciler:drift-first-seen (\S+)(?: (\S+))? -->")
_LINES_SHOWN = 20
_TEXT_SHOWN = 300
# Room kept for what is written around the plan (the plan's own budget is what remains).
_MARGIN = 500


@dataclass(frozen=True)
class Seen:
    time: str  # ISO-8601, UTC
    run_url: str = ""  # the workflow run that saw it

    def markdown(self) -> str:
        return f"{self.time} ([run]({self.run_url}))" if self.run_url else self.time


@dataclass(frozen=True)
class SelfHeal:
    enabled: bool
    healing: Healing | None = None  # None: no apply ran in this run


def first_seen(body: str) -> Seen | None:
    """When the open issue says drift was first seen (kept in a hidden comment of its body)."""
    match = _FIRST_SEEN.search(body)
    return Seen(match.group(1), match.group(2) or "") if match else None


def _short(text: str) -> str:
    return _escape(text if len(text) <= _TEXT_SHOWN else text[: _TEXT_SHOWN - 1] + "…")


def _capped(lines: list[str], what: str) -> list[str]:
    extra = len(lines) - _LINES_SHOWN
    return lines[:_LINES_SHOWN] + ([f"- … and {extra} more {what} (see the plan below)"] if extra > 0 else [])


def _fix_section(plan: Plan, assessment: Assessment) -> list[str]:
    lines = [
        "### How to fix it",
        "",
        "- **The live change was intended** (someone granted access by hand): make it in `policies/` by "
        "pull request; once merged, apply writes it everywhere and this issue closes after the next clean "
        "drift run.",
        "- **It was not**: put the policies back with the **backfill** workflow (Actions → backfill, "
        "`dry_run: false`), or run `reconciler apply`. Repositories created without a policy get one the "
        "same way.",
    ]
    if plan.provider_changes or plan.template_changes:
        lines.append(
            "- **The nullplatform provider config or a creation template differs**: backfill writes "
            "repositories only; the apply workflow (a merge to `policies/`) or `reconciler apply` writes "
            "them."
        )
    if assessment.reasons and plan.has_errors:
        lines.append("- **Errors** below must be fixed first: their repositories were not planned.")
    return [*lines, ""]


def _heal_section(assessment: Assessment, heal: SelfHeal) -> list[str]:
    lines = ["### Self-heal", ""]
    if not heal.enabled:
        return [
            *lines,
            "Off. With the repository variable `DRIFT_SELF_HEAL=true`, the drift workflow re-applies in the "
            "protected `production` environment when only repositories are out of line.",
            "",
        ]
    if assessment.verdict != Verdict.HEALABLE:
        reasons = _capped([f"- {_short(r)}" for r in assessment.reasons], "reasons")
        return [*lines, "On, but it did not run: only repositories out of line are healed, and", *reasons, ""]
    if heal.healing is None:
        return [
            *lines,
            "On, and due, but nothing was applied: the `heal` job did not run to the end (its approval in "
            "`production` was refused or it failed). See the run.",
            "",
        ]
    healed = heal.healing
    lines.append(
        f"Applied in `production` in this run: {len(healed.applied)} of "
        f"{len(healed.applied) + len(healed.not_applied)} repositories brought back in line. The next drift "
        "run checks them and closes this issue."
    )
    if healed.applied:
        names = ", ".join(f"`{_escape(n)}`" for n in healed.applied[:_LINES_SHOWN])
        extra = len(healed.applied) - _LINES_SHOWN
        lines.append(f"- healed: {names}" + (f" and {extra} more" if extra > 0 else ""))
    lines += _capped([f"- ❌ not healed: `{_escape(n)}`: {_short(why)}" for n, why in healed.not_applied], "")
    return [*lines, ""]


def _errors_section(run_errors: Sequence[str]) -> list[str]:
    if not run_errors:
        return []
    return ["### Errors in this run", "", *_capped([f"- ❌ {_short(e)}" for e in run_errors], "errors"), ""]


def render_issue_body(
    plan: Plan,
    assessment: Assessment,
    *,
    last_seen: Seen,
    first: Seen | None,
    heal: SelfHeal,
    run_errors: Sequence[str] = (),
) -> str:
    """The issue body; at most GitHub's 65,536 characters however large the plan."""
    head = [MARKER]
    if first is not None:
        data = " ".join(part for part in (first.time, first.run_url) if part)
        head.append(f"<!-- ecr-policy-reconciler:drift-first-seen {data} -->")
    head += [
        "Live ECR policies (of repositories, the nullplatform provider config or creation templates) no "
        "longer match `policies/`, or the drift check could not finish. This issue is kept up to date by the "
        "drift workflow and closed by the first clean run.",
        "",
        "| | |",
        "|---|---|",
    ]
    if first is not None:
        head.append(f"| First seen | {first.markdown()} |")
    head += [f"| Last seen | {last_seen.markdown()} |", ""]
    head += _errors_section(run_errors)
    tail = ["", *_fix_section(plan, assessment), *_heal_section(assessment, heal)]
    text, after = "\n".join(head) + "\n", "\n".join(tail)
    plan_part = render_markdown(
        plan,
        title="What applying `policies/` again would change",
        full_plan_hint="the drift run's job summary and its `plan-*` artifacts",
        limit=GITHUB_COMMENT_LIMIT - len(text) - len(after) - _MARGIN,
    )
    return (text + plan_part + after)[:GITHUB_COMMENT_LIMIT]


def resolved_comment(last_seen: Seen, first: Seen | None) -> str:
    since = f" (drift first seen {first.markdown()})" if first else ""
    return (
        f"✅ Resolved: live policies match `policies/` again, checked {last_seen.markdown()}"
        f"{since}. Closing; a new issue opens if drift comes back."
    )
