"""The ECR emulator's knobs, and the numbers of real ECR it keeps to."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
MAX_POLICY_LENGTH = 10_240

# The knobs whose JSON form (lists) must become sets.
_SET_KNOBS = frozenset(
    {"known_accounts", "access_denied", "hang_actions", "hang_repositories", "deleted_principals"}
)


@dataclass
class EcrEmulatorConfig:
    """The emulator's knobs. Action names are ECR's ("GetRepositoryPolicy"); "*" means every action."""

    # Added to every ECR request (ms); `action_latency_ms` overrides it per action.
    latency_ms: float = 0.0
    action_latency_ms: dict[str, float] = field(default_factory=dict)
    # Token buckets per (account, region, action): sustained calls per second; burst defaults to the rate.
    tps: dict[str, float] = field(default_factory=dict)
    default_tps: float | None = None
    burst: dict[str, float] = field(default_factory=dict)
    # Throttle this fraction of calls (of `throttle_storm_actions`, None: all) until `throttle_storm_until`
    # (a time.monotonic() value; `EcrEmulator.throttle_storm()` sets it from a duration).
    throttle_storm_fraction: float = 0.0
    throttle_storm_until: float = 0.0
    throttle_storm_actions: set[str] | None = None
    # Instead of a time: the storm covers this many calls (of those actions), counted from when it is set;
    # the same storm however fast or loaded the machine is.
    throttle_storm_calls: int | None = None
    # Principal validation of SetRepositoryPolicy. None: every account exists. Otherwise 12-digit ids and
    # IAM ARNs in Principal.AWS must name one of these accounts (include the registry's own).
    known_accounts: set[str] | None = None
    # Account -> how many more SetRepositoryPolicy calls naming it fail with 'Principal not found' before
    # it "exists" (IAM eventual consistency: new principals take seconds to be visible).
    eventual_consistency_failures: dict[str, int] = field(default_factory=dict)
    # ARNs of IAM roles and users that were deleted: policies naming one read back with its unique id
    # (AROA.../AIDA...) instead, and SetRepositoryPolicy refuses text naming either (deleted.py).
    deleted_principals: set[str] = field(default_factory=set)
    # Not real ECR behaviour: also treat aws:PrincipalAccount condition values as principals, so the
    # reconciler's own policies (Principal "*" plus a condition) can exercise the checks above.
    check_condition_accounts: bool = False
    max_policy_length: int = MAX_POLICY_LENGTH
    # Rewrite policies read back (GetRepositoryPolicy, and policyText in Set/DeleteRepositoryPolicy answers).
    rewrite_policies: bool = True
    # Serve GetRepositoryPolicy/SetRepositoryPolicy by calling moto's backend directly (see fastpath.py).
    direct_backend_calls: bool = True
    # Fraction (0..1) of calls per action answered with HTTP 500 ServerException; "*" for every action.
    error_rate: dict[str, float] = field(default_factory=dict)
    # Repository names (fnmatch globs) for which any action naming them gets AccessDeniedException.
    access_denied: set[str] = field(default_factory=set)
    # Calls of these actions (naming one of `hang_repositories`, None: any) wait `hang_seconds` before
    # being answered, far beyond a client's read timeout. reset()/stop() release them early.
    hang_actions: set[str] = field(default_factory=set)
    hang_repositories: set[str] | None = None
    hang_seconds: float = 60.0
    # Seed of the RNG behind error_rate and throttle storms.
    seed: int = 0
    # Answer every AWS Organizations call with this error ("AccessDeniedException",
    # "AWSOrganizationsNotInUseException"); None: as Organizations would (see organizations.py).
    organizations_fault: str | None = None
    # Session credentials from the emulator's STS expire this many seconds after issue (their Expiration
    # says so); None: an hour, as STS's default. `session_calls`: a session also ends after this many ECR
    # calls signed with it (an expiry by count, not by the clock). See sessions.py.
    session_lifetime_seconds: float | None = None
    session_calls: int | None = None
    # The emulated Actions OIDC endpoint hands out this many tokens, then fails (None: no limit).
    oidc_tokens: int | None = None
    # CloudTrail event history (cloudtrail.py): seconds before an event can be looked up, every
    # LookupEvents refused with AccessDeniedException, and LookupEvents' quota per account and region.
    cloudtrail_delivery_delay: float = 0.0
    cloudtrail_denied: bool = False
    cloudtrail_tps: float = 2.0

    def copy(self, **changes: Any) -> EcrEmulatorConfig:
        """A deep-enough copy (fresh containers) with `changes` applied; unknown knob names are errors."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown ECR emulator knob(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name in names:
            value = changes.get(name, getattr(self, name))
            if name in _SET_KNOBS and value is not None:
                value = set(value)
            elif isinstance(value, dict):
                value = dict(value)
            values[name] = value
        return EcrEmulatorConfig(**values)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, set) else value
        return out
