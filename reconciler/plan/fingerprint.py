"""Kept for the callers in apply/ not yet moved: the fingerprint lives in policy/fingerprint.py (live/ uses
it too, and live/ imports nothing from plan/)."""

from reconciler.policy.fingerprint import NO_POLICY, UNREADABLE, live_fingerprint

__all__ = ["NO_POLICY", "UNREADABLE", "live_fingerprint"]
