"""`reconciler demo`: the whole flow against the embedded sandbox, offline, in a few seconds.

Starts the ECR emulator and the nullplatform double in-process, seeds one registry with about 300
repositories in mixed states (in sync, drifted, no policy, some with Lambda's foreign statement), an AWS
Organization whose OUs and accounts the demo's policies name (checked before plan and apply), and a
provider config holding an old policy, writes a demo policies/ to a temp dir, then runs validate, plan,
apply and plan again, and checks what a careful operator would: nothing left to change, every foreign
statement still there, the provider's credentials untouched (stored, though every read shows them as null).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.apply.journal import Result, read_journal
from reconciler.desired.model import PullAccess
from reconciler.errors import ReconcilerError
from reconciler.policy.render import policy_text, render_policy
from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulator, EcrEmulatorConfig
from reconciler.sandbox.ecr.organizations import ORG_READ_ROLE
from reconciler.sandbox.nullplatform import NullplatformApi, NullplatformConfig
from reconciler.sandbox.seed import LAMBDA_SID, seed_registry

NRN = "organization=1:account=2"
DEMO_ACCESS = PullAccess(("o-a1b2c3d4e5/*/ou-ab12-cdef3456/*",), ("111122223333", "444455556666"))
DEMO_POLICIES = f"""\
# A demo registry: OU paths and accounts by default, payments only for its own account.
registry:
  name: demo
  account_id: "{DEFAULT_ACCOUNT_ID}"
  region: {DEFAULT_REGION}
  read_role_arn: arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ecr-policy-reconciler-read   # plan, dry runs
  write_role_arn: arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ecr-policy-reconciler-write # apply, restore
nullplatform:
  nrn: "{NRN}"
organization:                     # every account and OU path below is checked against AWS Organizations
  role_arn: {ORG_READ_ROLE}
pull_access:
  organization_paths: ["{DEMO_ACCESS.organization_paths[0]}"]
  accounts: ["111122223333", "444455556666"]
repositories:
  exclude: ["sandbox/*"]
overrides:
  - repositories: ["payments/*"]
    pull_access:
      accounts: ["777788889999"]
"""
# The emulator throttles at a (made-up) 100 calls/s per action and answers in 10 ms; the reconciler paces
# itself below that, so the demo shows zero throttled calls.
EMULATOR_TPS = 100.0
DEMO_MAX_RPS = 80.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repos", type=int, default=300, help="repositories to seed (default: 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (policies, plan, report)")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _step(title: str) -> None:
    print(
        f"\n\033[1m==> {title}\033[0m"
        if os.isatty(1) and not os.environ.get("NO_COLOR")
        else f"\n==> {title}",
        flush=True,
    )


def _provider_attributes(old_policy: str) -> dict[str, object]:
    return {
        "ci": {
            "region": DEFAULT_REGION,
            "access_key": "AKIADEMODEMODEMO",
            "secret_key": "demo-secret-not-real",
        },
        "setup": {
            "region": DEFAULT_REGION,
            "role_arn": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/nullplatform-ecr",
            "naming_rule": "<namespace>/<application>",
            "policy": old_policy,
        },
    }


def _foreign_survivors(ecr: EcrEmulator, names: list[str]) -> int:
    survivors = 0
    for name in names:
        text = ecr.stored_policy(name)
        statements = json.loads(text)["Statement"] if text else []
        survivors += any(s.get("Sid") == LAMBDA_SID for s in statements)
    return survivors


def run(args: argparse.Namespace) -> int:
    from reconciler.cli import main

    started = time.monotonic()
    config = EcrEmulatorConfig(latency_ms=10, default_tps=EMULATOR_TPS)
    # The provider's CI credentials read as null, as on the real API: the demo shows they survive anyway.
    masked = NullplatformConfig(mask_secrets=True)
    with (
        EcrEmulator(config) as ecr,
        NullplatformApi(masked) as nullplatform,
        tempfile.TemporaryDirectory() as tmp,
    ):
        workdir = Path(tmp)
        desired_text = policy_text(render_policy(DEFAULT_ACCOUNT_ID, DEMO_ACCESS))
        summary = seed_registry(ecr, repositories=args.repos - 3, desired_policy_text=desired_text)
        ecr.seed_organization()  # nested OUs and member accounts that the demo's policies name
        for name in ("payments/api", "payments/ledger", "payments/web"):
            ecr.create_repository(name, policy_text=desired_text)
        old_policy = policy_text(render_policy(DEFAULT_ACCOUNT_ID, PullAccess(accounts=("111122223333",))))
        provider_id = nullplatform.add_provider(NRN, _provider_attributes(old_policy))
        ci_before = nullplatform.provider(provider_id)["attributes"]["ci"]
        policies = workdir / "policies"
        policies.mkdir()
        (policies / "demo.yaml").write_text(DEMO_POLICIES, encoding="utf-8")
        print(f"Sandbox: ECR emulator at {ecr.url}, nullplatform API at {nullplatform.url}")
        print(f"Seeded {args.repos} repositories: {summary.counts} (+3 payments/*), provider {provider_id}")

        tuning = ["--no-progress", "--max-rps", str(DEMO_MAX_RPS)]
        with _environment(ecr.environment() | nullplatform.environment()):
            _step(f"reconciler validate --policies {policies} --show")
            if main(["validate", "--policies", str(policies), "--show"]) != 0:
                raise ReconcilerError("demo: validate failed")
            _step("reconciler plan")
            ecr.reset_stats()
            code = main(["plan", "--policies", str(policies), "--out", str(workdir / "plan.json"), *tuning])
            plan_stats = ecr.stats()
            if code != 0:
                raise ReconcilerError("demo: plan failed")
            _step("reconciler apply --plan plan.json")
            ecr.reset_stats()
            report = workdir / "report.jsonl"
            apply_args = ["apply", "--policies", str(policies), "--plan", str(workdir / "plan.json")]
            if main([*apply_args, "--report", str(report), *tuning]) != 0:
                raise ReconcilerError("demo: apply failed")
            apply_stats = ecr.stats()
            _step("reconciler plan --detailed-exitcode  (must show no changes)")
            ecr.reset_stats()
            again = main(["plan", "--policies", str(policies), "--detailed-exitcode", *tuning])
            replan_stats = ecr.stats()

        survivors = _foreign_survivors(ecr, summary.foreign)
        ci_after = nullplatform.provider(provider_id)["attributes"]["ci"]
        _step("Summary")
        for label, stats in (("plan", plan_stats), ("apply", apply_stats), ("plan again", replan_stats)):
            calls = ", ".join(f"{action} {count}" for action, count in sorted(stats["requests"].items()))
            print(f"  {label:<11} AWS calls: {calls}; throttled: {stats['total_throttled']}")
        applied = [r for r in read_journal(report) if r.result == Result.APPLIED]
        print(f"  writes applied, each recorded with its before and after: {len(applied)}")
        print(f"  foreign Lambda statements kept: {survivors}/{len(summary.foreign)}")
        print(
            f"  provider credentials untouched: {'yes' if ci_after == ci_before else 'NO'} "
            "(every read shows them as null; checked in the stored record)"
        )
        print(f"  second plan: {'no changes' if again == 0 else 'CHANGES LEFT'}")
        print(f"  took {time.monotonic() - started:.1f}s")
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="reconciler-demo-"))
            for item in workdir.iterdir():
                (kept / item.name).write_bytes(item.read_bytes()) if item.is_file() else None
            print(f"  kept plan and report in {kept}")
        ok = again == 0 and survivors == len(summary.foreign) and ci_after == ci_before
        return 0 if ok else 1
