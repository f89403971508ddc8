"""The plan file: the versioned JSON `plan --out` writes and `apply --plan`, `comment` and `drift-issue` read.

Format (version 4), documented in docs/PLAN_FORMAT.md:
  {"format": "ecr-policy-reconciler/plan", "version": 4, "created_at": ISO-8601,
   "desired_fingerprint": "sha256:...", "repositories": [glob...], "repositories_only": bool,
   "registries": [RegistryPlan... + "access"]}
Version 3 carries each registry's access delta as planned (resolved against the organization when the
registry file has `organization:`): `comment` and `drift-issue` have no AWS access and show it as it is.
Versions 1 and 2 are still read; their delta is derived from the changes' differences, by string.

One writer (`write_plan`, a line per repository change) and one reader (`read_stream`): the writer's layout
is read a line at a time; any other layout of the same JSON (re-indented by hand, say) is parsed whole by the
same reader, with the same checks and messages.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, replace
from typing import Any, TextIO

from reconciler.errors import ReconcilerError
from reconciler.plan.access_changes import access_delta
from reconciler.plan.model import (
    AccessChange,
    AccessDelta,
    Action,
    Difference,
    Plan,
    ProviderChange,
    Reach,
    RegistryPlan,
    RepositoryChange,
    TemplateChange,
)

PLAN_FORMAT = "ecr-policy-reconciler/plan"
PLAN_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)


# --- writing -------------------------------------------------------------------------------------------


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def write_plan(plan: Plan, out: TextIO) -> None:
    """The versioned JSON form, written piece by piece (one line per repository change): at 100,000
    repositories the plan file is hundreds of MB, and building it as one string would double the memory
    the plan itself takes."""
    fields = asdict(replace(plan, registries=()))
    del fields["registries"]
    head = {"format": PLAN_FORMAT, "version": PLAN_VERSION, **fields, "registries": []}  # registries last
    out.write(_dumps(head)[:-2] + "\n")  # up to the registries list's "[", without its "]}"
    for index, registry in enumerate(plan.registries):
        rest = asdict(replace(registry, changes=()))
        del rest["changes"]
        rest["access"] = asdict(access_delta(registry))
        out.write(("," if index else "") + _dumps(rest)[:-1] + ', "changes": [\n')
        for number, change in enumerate(registry.changes):
            out.write(("," if number else "") + _dumps(asdict(change)) + "\n")
        out.write("]}\n")
    out.write("]}\n")


def plan_json(plan: Plan) -> str:
    """The whole file as one string (small plans, tests)."""
    out = io.StringIO()
    write_plan(plan, out)
    return out.getvalue()


# --- reading -------------------------------------------------------------------------------------------


def read_plan(path: str) -> Plan:
    """A plan file. Laid out as `write_plan` writes it, it is parsed a line at a time: at 100,000
    repositories the file is over 100 MB, and its text and its whole parsed tree next to the plan would
    triple the memory."""
    try:
        with open(path, encoding="utf-8") as stream:
            return read_stream(stream, path)
    except OSError as exc:
        raise ReconcilerError(f"cannot read plan {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ReconcilerError(f"{path}: not a plan file (not UTF-8 text at byte {exc.start})") from exc


def plan_from_json(text: str, source: str = "plan") -> Plan:
    """A plan file's text (`source` names it in messages)."""
    return read_stream(io.StringIO(text), source)


def read_stream(stream: TextIO, source: str) -> Plan:
    """The reader. `stream` must be seekable: a layout other than the writer's is read again, whole, from
    its start (which also gives the right message for a file that is broken)."""
    plan = _by_line(stream, source)
    if plan is not None:
        return plan
    stream.seek(0)
    text = stream.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReconcilerError(f"{source}: not a plan file (invalid JSON: {exc})") from exc
    _check_head(data, source)
    try:
        return _plan(data, [registry_plan_from_json(r) for r in data["registries"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReconcilerError(f"{source}: malformed plan file ({exc!r})") from exc


def _check_head(data: Any, source: str) -> None:
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise ReconcilerError(f"{source}: not a plan file (missing format {PLAN_FORMAT!r})")
    if data.get("version") not in READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        raise ReconcilerError(
            f"{source}: plan format version {data.get('version')} is not supported "
            f"(this reconciler reads versions {readable})"
        )


_OPEN_REGISTRIES = '"registries": ['
_OPEN_CHANGES = '"changes": ['
_CLOSE = "]}"


def _by_line(lines: TextIO, source: str) -> Plan | None:
    """`write_plan`'s layout, a line at a time; None when the file is laid out otherwise."""
    head_line = lines.readline().rstrip("\n")
    if not head_line.endswith(_OPEN_REGISTRIES):
        return None
    try:
        head = json.loads(head_line + _CLOSE)
        _check_head(head, source)
        registries: list[RegistryPlan] = []
        registry: dict[str, Any] | None = None
        changes: list[RepositoryChange] = []
        for raw in lines:
            text = raw.rstrip("\n")
            if text == _CLOSE and registry is not None:
                registries.append(replace(registry_plan_from_json(registry), changes=tuple(changes)))
                registry, changes = None, []
                continue
            if text == _CLOSE:
                break
            # Every item of a list but its first starts with the comma that separates it: no more, no less.
            comma = text.startswith(",")
            line = text[1:] if comma else text
            if registry is None:
                if comma != bool(registries) or not line.endswith(_OPEN_CHANGES):
                    return None
                registry = json.loads(line + _CLOSE)
            elif comma != bool(changes):
                return None
            else:
                changes.append(_repository_change(json.loads(line)))
        else:
            return None  # never closed: not this layout, or cut short
        if registry is not None or lines.read().strip():
            return None
        return _plan(head, registries)
    except json.JSONDecodeError:
        return None
    except UnicodeDecodeError:
        raise  # read_plan says so in one line (its repr would quote a whole block of the file)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReconcilerError(f"{source}: malformed plan file ({exc!r})") from exc


# --- from JSON values to the model ---------------------------------------------------------------------


def _plan(head: dict[str, Any], registries: list[RegistryPlan]) -> Plan:
    globs = head.get("repositories", [])
    if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
        raise TypeError("repositories: expected a list of globs")
    # Before version 4 a plan did not say; such files are read as covering everything. Anything but a
    # boolean is refused: read as false, it would let the run write the provider config.
    only = head.get("repositories_only", False)
    if not isinstance(only, bool):
        raise TypeError("repositories_only: expected true or false")
    return Plan(
        created_at=head["created_at"],
        desired_fingerprint=head["desired_fingerprint"],
        registries=tuple(registries),
        repositories=tuple(globs),
        repositories_only=only,
    )


def _difference(data: dict[str, Any]) -> Difference:
    return Difference(**{k: tuple(v) for k, v in data.items()})


def _repository_change(data: dict[str, Any]) -> RepositoryChange:
    return RepositoryChange(
        repository=data["repository"],
        action=Action(data["action"]),
        before=data.get("before"),
        after=data.get("after"),
        live_fingerprint=data["live_fingerprint"],
        difference=_difference(data.get("difference", {})),
        error=data.get("error"),
        notes=tuple(data.get("notes", ())),
    )


def _provider_change(data: dict[str, Any]) -> ProviderChange:
    return ProviderChange(
        nrn=data["nrn"],
        provider_id=data.get("provider_id"),
        action=Action(data["action"]),
        before=data.get("before"),
        after=data.get("after"),
        difference=_difference(data.get("difference", {})),
        error=data.get("error"),
        notes=tuple(data.get("notes", ())),
    )


def _template_change(data: dict[str, Any]) -> TemplateChange:
    before_for = data.get("applied_for_before")
    return TemplateChange(
        prefix=data["prefix"],
        action=Action(data["action"]),
        before=data.get("before"),
        after=data.get("after"),
        applied_for_before=None if before_for is None else tuple(before_for),
        applied_for_after=tuple(data.get("applied_for_after", ())),
        live_fingerprint=data["live_fingerprint"],
        difference=_difference(data.get("difference", {})),
        error=data.get("error"),
        notes=tuple(data.get("notes", ())),
    )


def _reach(data: dict[str, Any] | None) -> Reach:
    data = data or {}
    return Reach(
        int(data.get("repositories", 0)), bool(data.get("provider")), tuple(data.get("templates", ()))
    )


def _access_change(data: dict[str, Any]) -> AccessChange:
    return AccessChange(
        principal=data["principal"],
        kind=data["kind"],
        loses=_reach(data.get("loses")),
        may_lose=_reach(data.get("may_lose")),
        gains=_reach(data.get("gains")),
        detail=data.get("detail", ""),
    )


def _access_delta(data: dict[str, Any]) -> AccessDelta:
    return AccessDelta(
        organization=data.get("organization"),
        changes=tuple(_access_change(c) for c in data.get("changes", [])),
        own_account=_reach(data.get("own_account")),
    )


def registry_plan_from_json(data: dict[str, Any]) -> RegistryPlan:
    provider = data.get("provider")
    return RegistryPlan(
        registry=data["registry"],
        account_id=data["account_id"],
        region=data["region"],
        desired_fingerprint=data["desired_fingerprint"],
        provider=_provider_change(provider) if provider else None,
        changes=tuple(_repository_change(c) for c in data.get("changes", [])),
        unchanged=tuple(data.get("unchanged", [])),
        error=data.get("error"),
        gone=tuple(data.get("gone", [])),
        templates=tuple(_template_change(t) for t in data.get("templates", [])),
        access=_access_delta(data["access"]) if data.get("access") else None,
        source=str(data.get("source") or ""),
    )
