"""Provider attributes as the nullplatform API reads them, compared without revealing them: what a write
changed (paths, never values), why `setup.policy` cannot be written (a `null` the API may answer for a
hidden secret), and which values an error message must never quote."""

from __future__ import annotations

from typing import Any


def differences(
    before: Any, after: Any, prefix: str = "", skip: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """What differs, as "path gone", "path added" or "path changed". Values are never returned."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if path in skip:
                continue
            if key not in after:
                found.append(f"{path} gone")
            elif key not in before:
                found.append(f"{path} added")
            else:
                found.extend(differences(before[key], after[key], path, skip))
        return found
    # Lists and scalars compare whole: a list is one attribute value.
    if type(before) is not type(after) or before != after:
        return [f"{prefix or 'attributes'} changed"]
    return []


def null_paths(value: Any, path: str) -> list[str]:
    """Dotted paths of the `null` values in `value`."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in null_paths(item, f"{path}.{key}")]
    return []


def write_blocker(provider_id: str, setup: dict[str, Any]) -> str | None:
    """Why `setup.policy` cannot be written, or None: a `null` elsewhere in `setup` may be a secret the API
    hides, and the whole group must be sent back. Paths only, never values."""
    nulls = [p for p in null_paths(setup, "setup") if p != "setup.policy"]
    if not nulls:
        return None
    return (
        f"nullplatform provider {provider_id}: not written: {', '.join(nulls)} read(s) as null "
        "(the API answers null for a secret it hides), and the whole setup group must be sent "
        "back, which would store null over it; give it a value in nullplatform, then apply again"
    )


def secret_candidates(value: Any, path: str = "") -> list[str]:
    """Leaf strings of provider attributes, except the policy (ours, and long JSON that errors may quote)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in secret_candidates(v, f"{path}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [s for v in value for s in secret_candidates(v, path)]
    if isinstance(value, str) and path != "setup.policy" and len(value) >= 4:
        return [value]
    return []
