"""Step 5 of loading a policies file: checks on every part whose structure is valid (they would be noise, or
crash, on a broken part): rendered policy size, the guard's safety rules, managed_sids against the Sids we
write, overlapping overrides, creation templates with the same prefix or wider than an override they
govern."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from reconciler.desired.build import pull_access
from reconciler.desired.document import Dirty, Document, Issue, JsonPath, issue, label
from reconciler.desired.model import PullAccess
from reconciler.desired.overlap import overlap_issues
from reconciler.policy.guard import MAX_POLICY_CHARS, violations
from reconciler.policy.render import policy_text, render_policy, render_statements
from reconciler.validation.widening import widening_issues


def _rendering_issues(doc: Document, path: JsonPath, account: str, access: PullAccess) -> list[Issue]:
    """Render the policy as it will be written: it must pass the guard and fit ECR's size limit."""
    document = render_policy(account, access)
    issues = []
    size = len(policy_text(document))
    if size > MAX_POLICY_CHARS:
        culprit = "accounts" if access.accounts else "organization_paths"
        message = (
            f"the policy rendered for {label(path)} is {size:,} characters; ECR allows at most "
            f"{MAX_POLICY_CHARS:,} ({len(access.accounts)} accounts, {len(access.organization_paths)} "
            "organization paths): list fewer accounts, or grant access by organization_paths instead"
        )
        issues.append(issue((*path, culprit), doc.node((*path, culprit)), message))
    for violation in violations(document):
        message = f"{label(path)} would render an unsafe policy: {violation}"
        issues.append(issue(path, doc.key_or_value(path), message))
    return issues


def semantic_issues(doc: Document, found: Sequence[Issue]) -> list[Issue]:
    data = doc.data
    if not isinstance(data, dict):
        return []
    dirty = Dirty(found)
    issues: list[Issue] = []
    accesses: list[tuple[JsonPath, PullAccess]] = []
    if "pull_access" in data and dirty.clean(("pull_access",)):
        accesses.append((("pull_access",), pull_access(data["pull_access"])))
    overrides = data.get("overrides")
    if isinstance(overrides, list):
        for index, override in enumerate(overrides):
            if dirty.clean(("overrides", index)):
                accesses.append((("overrides", index, "pull_access"), pull_access(override["pull_access"])))
        # Overlap needs only the globs: check it even when an override's access is still broken.
        with_globs = [
            index
            for index, override in enumerate(overrides)
            if isinstance(override, dict)
            and isinstance(override.get("repositories"), list)
            and dirty.clean(("overrides", index, "repositories"))
        ]
        issues.extend(overlap_issues(doc, with_globs))
    templates = data.get("creation_templates")
    if isinstance(templates, list):
        for index, template in enumerate(templates):
            path: JsonPath = ("creation_templates", index, "pull_access")
            if isinstance(template, dict) and "pull_access" in template and dirty.clean(path):
                accesses.append((path, pull_access(template["pull_access"])))
        issues.extend(_duplicate_prefixes(doc, templates, dirty))
        issues.extend(widening_issues(doc, dirty))
    registry = data.get("registry")
    if isinstance(registry, dict) and "account_id" in registry and dirty.clean(("registry", "account_id")):
        account = registry["account_id"]
        for path, access in accesses:
            issues.extend(_rendering_issues(doc, path, account, access))
    if "managed_sids" in data and dirty.clean(("managed_sids",)):
        issues.extend(_managed_sids_issues(doc, data["managed_sids"], accesses))
    return issues


def _managed_sids_issues(
    doc: Document, managed: list[str], accesses: Sequence[tuple[JsonPath, PullAccess]]
) -> list[Issue]:
    # The account id does not change which Sids are rendered, only the condition values.
    written = {s["Sid"] for _, access in accesses for s in render_statements("000000000000", access)}
    issues = []
    for sid in sorted(written):
        if not any(fnmatchcase(sid, glob) for glob in managed):
            message = (
                f"managed_sids does not match the Sid {sid} that the reconciler writes, so it would not "
                f'recognise its own statements next time: add "{sid}" or use the default ["AllowPull*"]'
            )
            issues.append(issue(("managed_sids",), doc.key_or_value(("managed_sids",)), message))
    return issues


def _duplicate_prefixes(doc: Document, templates: list[object], dirty: Dirty) -> list[Issue]:
    """ECR holds one template per prefix (a second create answers TemplateAlreadyExistsException)."""
    seen: dict[str, int] = {}
    issues = []
    for index, template in enumerate(templates):
        path: JsonPath = ("creation_templates", index, "prefix")
        if not isinstance(template, dict) or "prefix" not in template or not dirty.clean(path):
            continue
        prefix = template["prefix"]
        # ECR assumes a `/` after a prefix: "team-a" and "team-a/" are the same template.
        key = prefix.rstrip("/")
        if key in seen:
            message = (
                f"creation template prefix {prefix!r} is also used by the template at line {seen[key]}: ECR "
                "holds one template per prefix; merge them"
            )
            issues.append(issue(path, doc.node(path), message))
        else:
            seen[key] = doc.line(("creation_templates", index))
    return issues
