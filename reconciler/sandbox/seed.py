"""Fill the ECR emulator with repositories in the states a real registry has, deterministically.

States (each repository is in exactly one):
- `in_sync`: the desired policy;
- `drifted`: an older policy: the owned `AllowPull` statement with a different account list;
- `no_policy`: no policy at all (most repositories created before anyone cared).
Independently, a fraction also carries a foreign statement (`foreign`): the one AWS Lambda needs to pull
images (Sid `LambdaECRImageRetrievalPolicy`), added next to the state's own statements (for `no_policy`
it is then the only statement). A reconciler must keep it and, for `in_sync`, still see nothing to do.

Names look like nullplatform's `<namespace>/<application>`: `team-N/app-M`, plus every 50th a
`sandbox/exp-N` (what an `exclude` glob typically removes).

Seeding writes straight into moto (`EcrEmulator.create_repository`): no latency, throttling, faults or
counters, so 10,000 repositories take well under a second.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reconciler.desired.model import PullAccess
from reconciler.policy.render import policy_text, render_policy
from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulator

STATES: tuple[str, ...] = ("in_sync", "drifted", "no_policy")
FOREIGN = "foreign"
LAMBDA_SID = "LambdaECRImageRetrievalPolicy"
DRIFTED_EXTRA_ACCOUNT = "999900001111"  # the account the "older" policy granted
DEFAULT_MIX: dict[str, float] = {"in_sync": 0.4, "drifted": 0.3, "no_policy": 0.3}


@dataclass
class SeedSummary:
    """What one registry got: repository names per state, and those also holding a foreign statement."""

    account_id: str
    region: str
    names: dict[str, list[str]] = field(default_factory=dict)
    foreign: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {state: len(names) for state, names in self.names.items()} | {FOREIGN: len(self.foreign)}

    @property
    def total(self) -> int:
        return sum(len(names) for names in self.names.values())

    def state_of(self, repository: str) -> str:
        return next(state for state, names in self.names.items() if repository in names)

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "region": self.region,
            "counts": self.counts,
            "names": self.names,
            "foreign": self.foreign,
        }


def lambda_statement(account_id: str, region: str) -> dict[str, Any]:
    """The statement AWS documents for Lambda container images (a foreign statement to us)."""
    return {
        "Sid": LAMBDA_SID,
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Condition": {"StringLike": {"aws:sourceArn": f"arn:aws:lambda:{region}:{account_id}:function:*"}},
    }


def drifted_policy_text(account_id: str) -> str:
    """An older version of the reconciler's policy: same Sid, a different account list."""
    return policy_text(render_policy(account_id, PullAccess(accounts=(DRIFTED_EXTRA_ACCOUNT,))))


def repository_names(count: int, *, sandbox_every: int = 50) -> list[str]:
    names = []
    for index in range(count):
        if sandbox_every and index % sandbox_every == sandbox_every - 1:
            names.append(f"sandbox/exp-{index}")
        else:
            names.append(f"team-{index // 25}/app-{index % 25}")
    return names


def _with_foreign(text: str | None, statement: dict[str, Any]) -> str:
    document: dict[str, Any] = (
        {"Version": "2012-10-17", "Statement": []} if text is None else json.loads(text)
    )
    statements = document.get("Statement", [])
    document["Statement"] = [*(statements if isinstance(statements, list) else [statements]), statement]
    return json.dumps(document, indent=2)


def _split(total: int, mix: dict[str, float]) -> dict[str, int]:
    weight = sum(mix.get(state, 0.0) for state in STATES)
    if weight <= 0:
        raise ValueError("the mix needs a positive weight for at least one state")
    counts = {state: int(total * mix.get(state, 0.0) / weight) for state in STATES}
    # Hand the rounding remainder to the heaviest states, so counts always add up to the total.
    for state in sorted(STATES, key=lambda s: -mix.get(s, 0.0))[: total - sum(counts.values())]:
        counts[state] += 1
    return counts


def seed_registry(
    emulator: EcrEmulator,
    *,
    repositories: int,
    desired_policy_text: str,
    account_id: str = DEFAULT_ACCOUNT_ID,
    region: str = DEFAULT_REGION,
    drifted_policy: str | None = None,
    mix: dict[str, float] | None = None,
    foreign_fraction: float = 0.1,
    sandbox_every: int = 50,
    seed: int = 0,
) -> SeedSummary:
    """Create `repositories` repositories in (account_id, region), states shuffled by a seeded RNG.

    `mix` weighs the states (default 40% in sync, 30% drifted, 30% no policy); `foreign_fraction` of all
    repositories also get the Lambda statement. Same arguments, same result."""
    rng = random.Random(seed)
    names = repository_names(repositories, sandbox_every=sandbox_every)
    counts = _split(repositories, mix or DEFAULT_MIX)
    states = [state for state in STATES for _ in range(counts[state])]
    rng.shuffle(states)
    foreign = set(rng.sample(range(repositories), round(repositories * foreign_fraction)))
    texts: dict[str, str | None] = {
        "in_sync": desired_policy_text,
        "drifted": drifted_policy or drifted_policy_text(account_id),
        "no_policy": None,
    }
    statement = lambda_statement(account_id, region)
    summary = SeedSummary(account_id, region, {state: [] for state in STATES})
    for index, (name, state) in enumerate(zip(names, states, strict=True)):
        text = texts[state]
        if index in foreign:
            text = _with_foreign(text, statement)
            summary.foreign.append(name)
        emulator.create_repository(name, policy_text=text, account_id=account_id, region=region)
        summary.names[state].append(name)
    return summary


def seed_registries(
    emulator: EcrEmulator,
    registries: Iterable[tuple[str, str]],
    *,
    repositories: int,
    desired_policy_text: str | dict[tuple[str, str], str],
    **options: Any,
) -> list[SeedSummary]:
    """seed_registry for each (account_id, region); the desired text may differ per registry (it names
    the registry's own account), and each registry gets its own RNG stream (seed + its position)."""
    seed = int(options.pop("seed", 0))
    summaries = []
    for position, (account_id, region) in enumerate(registries):
        text = (
            desired_policy_text[(account_id, region)]
            if isinstance(desired_policy_text, dict)
            else desired_policy_text
        )
        summaries.append(
            seed_registry(
                emulator,
                repositories=repositories,
                desired_policy_text=text,
                account_id=account_id,
                region=region,
                seed=seed + position,
                **options,
            )
        )
    return summaries
