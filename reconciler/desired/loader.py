"""Load `policies/*.yaml` into a `DesiredState`, strictly, reporting every problem with its line and column.

Each file goes through these steps; every step collects problems instead of stopping at the first one:

1. bytes: size limit (refused before parsing), UTF-8, no tabs;
2. YAML node graph, composed by a SafeLoader that refuses anchors and aliases (no billion laughs), explicit
   tags and deep nesting, and records where each node is;
3. plain values plus an index from value paths to nodes; duplicate keys are found here (PyYAML would keep
   the last one silently);
4. JSON Schema (schema.json, the same file editors use) for the structure, and field checks that say how to
   fix an account id, an organization path, a region...;
5. checks on every part whose structure is valid: rendered policy size, the guard's safety rules,
   managed_sids against the Sids we write, overlapping overrides (given as `checks`: they render, so
   they live above desired/ and policy/, in reconciler/validation/);
6. the model. After all files: unique registry names, one file per account and region, no two files
   syncing the same nullplatform provider config.

Problems from step 5 show up only once the part they are about is structurally valid: they would be noise
(or crash) on a broken part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.desired.build import build_registry
from reconciler.desired.document import Dirty, Document, Issue
from reconciler.desired.fields import field_issues
from reconciler.desired.model import DesiredState, Registry
from reconciler.desired.schema import schema_issue, validator
from reconciler.desired.source import MAX_FILE_BYTES, read_document, too_big
from reconciler.errors import Problem, ReconcilerError, ValidationFailed

POLICY_SUFFIXES = (".yaml", ".yml")

# Step 5: checks that need rendering or the guard, which sit above desired/ and policy/
# (reconciler/validation/semantic.py); every command loads through reconciler/validation/loader.py.
Checks = Callable[[Document, Sequence[Issue]], list[Issue]]


# --- one file ----------------------------------------------------------------------------------------


def check_bytes(data: bytes, source: str, *, checks: Checks) -> FileResult:
    """Every problem of one file's content, and its Registry when there are none."""
    parsed = read_document(data)  # steps 1 to 3
    if isinstance(parsed, list):
        return _result(source, parsed)
    doc = parsed
    issues = doc.issues + _structure_issues(doc)  # step 4
    issues += checks(doc, issues)  # step 5
    registry = None if issues else build_registry(doc, source)  # step 6
    return _result(source, issues, registry, _identity(doc, issues))


# Schema checks of a single value that a field check words better (and says how to fix).
_EXPLAINED = ("type", "pattern", "minLength", "maxLength", "enum")


def _structure_issues(doc: Document) -> list[Issue]:
    """Schema and field problems; a field check replaces the schema's generic message for the same value."""
    fields = field_issues(doc)
    explained = {issue.path for issue in fields}
    issues = list(fields)
    for error in validator().iter_errors(doc.data):
        if tuple(error.absolute_path) in explained and error.validator in _EXPLAINED:
            continue
        issues.extend(schema_issue(doc, error))
    return issues


@dataclass(frozen=True)
class _ProviderRef:
    """A file's `nullplatform:` section: which provider config it syncs, and where its key is."""

    nrn: str
    provider_id: str | None
    line: int
    column: int
    region: str | None  # the registry's, to say which file should keep the section

    def same_provider(self, other: _ProviderRef) -> bool:
        """True when both can resolve to one provider config: the same provider_id, or the same nrn where
        either has no provider_id (it is looked up there, and finds the one provider at that NRN)."""
        if self.provider_id is not None and other.provider_id is not None:
            return self.provider_id == other.provider_id
        return self.nrn == other.nrn


@dataclass(frozen=True)
class _Identity:
    """Where a file says its registry's name, account and region are (for the checks across files)."""

    name: tuple[str, int, int] | None  # value, line, column
    account_region: tuple[str, str, int, int] | None
    provider: _ProviderRef | None = None


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file: a Registry when it is valid, else its problems."""

    source: str
    registry: Registry | None
    problems: tuple[Problem, ...]
    identity: _Identity = _Identity(None, None)


def _identity(doc: Document, issues: Sequence[Issue]) -> _Identity:
    registry = doc.data.get("registry") if isinstance(doc.data, dict) else None
    if not isinstance(registry, dict):
        return _Identity(None, None)
    dirty = Dirty(issues)
    name = account = None
    if "name" in registry and dirty.clean(("registry", "name")):
        mark = doc.nodes[("registry", "name")].start_mark
        name = (registry["name"], mark.line + 1, mark.column + 1)
    if all(k in registry and dirty.clean(("registry", k)) for k in ("account_id", "region")):
        mark = doc.nodes[("registry", "account_id")].start_mark
        account = (registry["account_id"], registry["region"], mark.line + 1, mark.column + 1)
    return _Identity(name, account, _provider_ref(doc, dirty))


def _provider_ref(doc: Document, dirty: Dirty) -> _ProviderRef | None:
    section = doc.data.get("nullplatform")
    if not isinstance(section, dict) or "nrn" not in section or not dirty.clean(("nullplatform",)):
        return None
    mark = doc.key_or_value(("nullplatform",)).start_mark
    region = doc.data["registry"].get("region") if dirty.clean(("registry", "region")) else None
    provider_id = section.get("provider_id")
    return _ProviderRef(section["nrn"], provider_id, mark.line + 1, mark.column + 1, region)


def _result(
    source: str, issues: Sequence[Issue], registry: Registry | None = None, identity: _Identity | None = None
) -> FileResult:
    # A set: jsonschema reports a missing key once per `required` error, and each lists them all.
    problems = tuple(sorted({Problem(source, i.line, i.column, i.message) for i in issues}))
    return FileResult(source, registry, problems, identity or _Identity(None, None))


def check_file(path: str | Path, *, checks: Checks) -> FileResult:
    """Like check_bytes, reading the file; refuses files over 1 MiB before reading them whole."""
    source = str(path)
    try:
        with open(path, "rb") as stream:
            size = Path(path).stat().st_size
            if size > MAX_FILE_BYTES:
                return _result(source, [Issue((), 1, 1, too_big(size))])
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return _result(source, [Issue((), 1, 1, f"cannot read the file: {exc.strerror or exc}")])
    return check_bytes(data, source, checks=checks)


def load_bytes(data: bytes, source: str = "<memory>", *, checks: Checks) -> Registry:
    """The Registry one file's content describes; raises ValidationFailed with all its problems."""
    result = check_bytes(data, source, checks=checks)
    if result.registry is None:
        raise ValidationFailed(list(result.problems))
    return result.registry


def load_file(path: str | Path, *, checks: Checks) -> Registry:
    """The Registry one file describes; raises ValidationFailed with all its problems."""
    result = check_file(path, checks=checks)
    if result.registry is None:
        raise ValidationFailed(list(result.problems))
    return result.registry


# --- the directory -----------------------------------------------------------------------------------


def policy_files(directory: str | Path) -> list[Path]:
    """The policies files: *.yaml and *.yml directly in the directory, sorted; hidden files skipped."""
    root = Path(directory)
    if not root.exists():
        raise ReconcilerError(
            f"policies directory {str(root)!r} does not exist: create it with one YAML file per registry "
            "(see policies/main.yaml), or point --policies at it"
        )
    if not root.is_dir():
        raise ReconcilerError(
            f"{str(root)!r} is not a directory: --policies takes the directory of YAML files"
        )
    files = sorted(
        p
        for p in root.iterdir()
        if p.suffix in POLICY_SUFFIXES and not p.name.startswith(".") and not p.is_dir()
    )
    if not files:
        raise ReconcilerError(
            f"no policies files in {str(root)!r}: add one *.yaml file per registry (see policies/main.yaml)"
        )
    return files


def _across_files(results: Sequence[FileResult]) -> list[Problem]:
    """Registry names are unique, and one account + region is described by one file only."""
    problems = []
    names: dict[str, tuple[str, int]] = {}
    places: dict[tuple[str, str], tuple[str, int]] = {}
    for result in results:
        if result.identity.name:
            name, line, column = result.identity.name
            if name in names:
                other, other_line = names[name]
                message = (
                    f"registry name {name!r} is also used in {other} (line {other_line}): make names unique"
                )
                problems.append(Problem(result.source, line, column, message))
            else:
                names[name] = (result.source, line)
        if result.identity.account_region:
            account, region, line, column = result.identity.account_region
            if (account, region) in places:
                other, other_line = places[(account, region)]
                message = (
                    f"registry {account} in {region} is also described by {other} (line {other_line}): "
                    "keep one file per account and region"
                )
                problems.append(Problem(result.source, line, column, message))
            else:
                places[(account, region)] = (result.source, line)
    return problems


def _shared_providers(results: Sequence[FileResult]) -> list[Problem]:
    """No two files sync the same nullplatform provider config.

    One provider config holds one policy (and one `setup.region`): two registries syncing it would each
    write their own policy over the other's on every apply, and every drift run would see it flip.
    Reported in the later file of each such pair.
    """
    problems = []
    seen: list[tuple[str, _ProviderRef]] = []
    for result in results:
        mine = result.identity.provider
        if mine is None:
            continue
        for other_source, other in seen:
            if not mine.same_provider(other):
                continue
            if mine.provider_id is not None and mine.provider_id == other.provider_id:
                reason = f"the same provider_id {mine.provider_id!r}"
            else:
                reason = f"the same nrn {mine.nrn!r}, where a section without provider_id looks it up"
            regions = sorted({r for r in (mine.region, other.region) if r})
            named = f" ({' or '.join(regions)})" if regions else ""
            message = (
                f"nullplatform: in {other_source} (line {other.line}, column {other.column}) and in "
                f"{result.source} (line {mine.line}, column {mine.column}) can resolve to one provider "
                f"config ({reason}); it holds one policy and one setup.region, so each registry's apply "
                "would overwrite the other's policy: keep nullplatform: only in the registry whose region "
                f"the provider's setup.region names{named} and remove it from the other file"
            )
            problems.append(Problem(result.source, mine.line, mine.column, message))
        seen.append((result.source, mine))
    return problems


def load_policies(directory: str | Path, *, checks: Checks) -> DesiredState:
    """The desired state in a policies directory.

    Raises ValidationFailed listing every problem of every file (and across files), or ReconcilerError
    when the directory is missing or holds no policies files.
    """
    results = [check_file(path, checks=checks) for path in policy_files(directory)]
    problems = [p for result in results for p in result.problems] + _across_files(results)
    problems += _shared_providers(results)
    if problems:
        raise ValidationFailed(problems)
    return DesiredState(tuple(r.registry for r in results if r.registry is not None))
