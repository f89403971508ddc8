"""Pacing against limits the reconciler is not told: `reconciler plan` with default flags (no --max-rps,
no --concurrency) against the emulator throttling every ECR action at each limit; wall time next to the
floor N / limit, and the emulator's counts of calls and throttles, against issue 13's goals (within 1.3x of
the floor, under 3% of calls throttled). Prints a table; exits 1 when a row misses a goal; writes no
results file.

    .venv/bin/python benchmarks/pacing.py                                  # 5, 20, 60, 200 calls/s
    .venv/bin/python benchmarks/pacing.py --limits 8 60 200 --repos 1000 --latency-ms 40

The repository count defaults to max(--repos, 10 s worth at the limit), so the fixed cost of starting a
process (about a second) does not decide the ratio at high limits. Wall time is the plan process's, start-up
included.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from fnmatch import fnmatchcase
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ACCOUNT_ID, ACCOUNTS, EXCLUDE, ORG_PATH, POLICIES_YAML, ROOT, SEED, measure

RATIO_GOAL = 1.3
THROTTLED_GOAL = 0.03


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limits", type=float, nargs="+", default=[5.0, 20.0, 60.0, 200.0])
    parser.add_argument("--repos", type=int, default=300, help="at least this many repositories (300)")
    parser.add_argument("--seconds", type=float, default=10.0, help="or this many seconds at the limit (10)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from reconciler.desired.model import PullAccess
    from reconciler.policy.render import policy_text, render_policy
    from reconciler.sandbox.ecr import EcrEmulator, EcrEmulatorConfig
    from reconciler.sandbox.seed import seed_registry

    desired = policy_text(
        render_policy(ACCOUNT_ID, PullAccess(organization_paths=(ORG_PATH,), accounts=ACCOUNTS))
    )
    rows: list[str] = []
    missed = 0
    with tempfile.TemporaryDirectory() as work:
        out = Path(work)
        (out / "policies").mkdir()
        (out / "policies" / "bench.yaml").write_text(POLICIES_YAML, encoding="utf-8")
        with EcrEmulator(EcrEmulatorConfig(latency_ms=args.latency_ms, seed=SEED)) as ecr:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NULLPLATFORM_"))}
            env.update(ecr.environment())
            env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(out / "none")
            env["AWS_EC2_METADATA_DISABLED"] = "true"
            for limit in args.limits:
                size = max(args.repos, int(args.seconds * limit))
                ecr.reset()
                summary = seed_registry(ecr, repositories=size, desired_policy_text=desired, seed=SEED)
                names = [name for group in summary.names.values() for name in group]
                managed = sum(1 for name in names if not fnmatchcase(name, EXCLUDE))
                ecr.configure(default_tps=limit)  # fresh (full) buckets
                ecr.reset_stats()
                command = [sys.executable, "-m", "reconciler", "plan", "--policies", str(out / "policies")]
                command += ["--no-progress", "--out", str(out / "plan.json")]
                measured = measure(command, env, 3600.0, out / "log.txt")
                stats = ecr.stats()
                floor = managed / limit
                calls, throttled = int(stats["total_requests"]), int(stats["total_throttled"])
                ratio, share = measured.wall_s / floor, throttled / max(calls, 1)
                met = measured.exit_code == 0 and ratio <= RATIO_GOAL and share < THROTTLED_GOAL
                missed += not met
                rows.append(
                    f"| {limit:g} | {managed:,} | {measured.wall_s:.2f} s | {floor:.2f} s | "
                    f"{ratio:.2f}x | {calls:,} | {throttled} ({100 * share:.2f}%) | "
                    f"{'ok' if measured.exit_code == 0 else f'exit {measured.exit_code}'} | "
                    f"{'pass' if met else '**FAIL**'} |"
                )
                print(rows[-1], flush=True)
    print(f"\nreconciler plan, default flags, {args.latency_ms:g} ms latency, limit on every ECR action:\n")
    print(
        "| limit (calls/s) | repositories read | wall | floor N/limit | ratio | calls | throttled | exit "
        f"| goal (<= {RATIO_GOAL}x, < {THROTTLED_GOAL:.0%} throttled) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
