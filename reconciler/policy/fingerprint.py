"""Fingerprints of live policies: by meaning, so AWS re-serializing a policy does not make a plan stale."""

from __future__ import annotations

import hashlib
import json

from reconciler.policy.normalize import canonical

NO_POLICY = "none"
UNREADABLE = "unreadable"


def live_fingerprint(text: str | None) -> str:
    if text is None:
        return NO_POLICY
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return "sha256-text:" + hashlib.sha256(text.encode()).hexdigest()
    return "sha256:" + hashlib.sha256(canonical(document).encode()).hexdigest()
