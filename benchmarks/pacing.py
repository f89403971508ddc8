"""Pacing against limits the reconciler is not told, repeated: `reconciler plan` with default flags (no
--max-rps, no --concurrency) against the emulator throttling every ECR action at each limit, N runs each;
the spread (minimum, median, maximum) of wall time next to the floor N / limit and of the share of calls
throttled (the emulator's counts), against issue 33's goals: every run within 1.3x of the floor, under 3% of
calls throttled. Then the latency-bound plan (1,000 calls/s, 40 ms a call: no limit in sight) against the
serial boto3 loop reading the same registry (`naive_loop.py --dry-run`): goal at least 10x faster in every
run. Prints the tables; `--write` also puts them in benchmarks/RESULTS.md between the markers of a
generated section (the rest of the page is report.py's); exits 1 when a run misses a goal.

    .venv/bin/python benchmarks/pacing.py                       # 8, 60, 200 calls/s and latency-bound, 1 run
    .venv/bin/python benchmarks/pacing.py --runs 20 --write     # `make bench-pacing`: the spread, ~20 min

The repository count per limit is max(--repos, --seconds at the limit), so the fixed cost of starting a
process (about a second) does not decide the ratio at high limits. Wall time is the plan process's, start-up
included. The pacing algorithm itself is checked in tests/live/test_ratelimit.py on a simulated clock; this
measures the whole tool on a real (and possibly shared) machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ACCOUNT_ID, ACCOUNTS, BENCH, EXCLUDE, ORG_PATH, POLICIES_YAML, ROOT, SEED, machine, measure

RATIO_GOAL = 1.3
THROTTLED_GOAL = 0.03
SPEEDUP_GOAL = 10.0
BEGIN = "<!-- pacing.py: generated section, begin -->"
END = "<!-- pacing.py: generated section, end -->"


def spread(values: list[float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limits", type=float, nargs="*", default=[8.0, 60.0, 200.0])
    parser.add_argument("--runs", type=int, default=1, help="runs per limit (1)")
    parser.add_argument("--repos", type=int, default=300, help="at least this many repositories (300)")
    parser.add_argument("--seconds", type=float, default=10.0, help="or this many seconds at the limit (10)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="latency of the limit runs (20)")
    parser.add_argument(
        "--latency-bound", type=int, default=600, metavar="N", help="repositories (600; 0: skip)"
    )
    parser.add_argument(
        "--serial-runs", type=int, default=3, choices=range(1, 100), metavar="N", help="serial loop runs (3)"
    )
    parser.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    parser.add_argument(
        "--note", default="", help="a sentence for RESULTS.md (e.g. what else the machine ran)"
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from reconciler.desired.model import PullAccess
    from reconciler.policy.render import policy_text, render_policy
    from reconciler.sandbox.ecr import EcrEmulator, EcrEmulatorConfig
    from reconciler.sandbox.seed import seed_registry

    started = time.time()
    load_before = os.getloadavg()
    desired = policy_text(
        render_policy(ACCOUNT_ID, PullAccess(organization_paths=(ORG_PATH,), accounts=ACCOUNTS))
    )
    rows: list[str] = []
    lines: list[str] = []
    missed = 0
    with tempfile.TemporaryDirectory() as work:
        out = Path(work)
        (out / "policies").mkdir()
        (out / "policies" / "bench.yaml").write_text(POLICIES_YAML, encoding="utf-8")
        (out / "desired-policy.json").write_text(desired, encoding="utf-8")

        def run(
            ecr: Any, env: dict[str, str], size: int, limit: float, command: list[str]
        ) -> tuple[Any, int]:
            ecr.reset()
            summary = seed_registry(ecr, repositories=size, desired_policy_text=desired, seed=SEED)
            names = [name for group in summary.names.values() for name in group]
            ecr.configure(default_tps=limit)  # fresh (full) buckets
            ecr.reset_stats()
            measured = measure(command, env, 3600.0, out / "log.txt")
            return measured, sum(1 for name in names if not fnmatchcase(name, EXCLUDE))

        plan = [sys.executable, "-m", "reconciler", "plan", "--policies", str(out / "policies")]
        plan += ["--no-progress", "--out", str(out / "plan.json")]
        for latency_ms, limits in ((args.latency_ms, args.limits), (40.0, None)):
            with EcrEmulator(EcrEmulatorConfig(latency_ms=latency_ms, seed=SEED)) as ecr:
                env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NULLPLATFORM_"))}
                env.update(ecr.environment())
                env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(out / "none")
                env["AWS_EC2_METADATA_DISABLED"] = "true"
                for limit in limits or []:
                    size = max(args.repos, int(args.seconds * limit))
                    ratios, shares, walls, failures = [], [], [], 0
                    for i in range(args.runs):
                        measured, managed = run(ecr, env, size, limit, plan)
                        stats = ecr.stats()
                        calls, throttled = int(stats["total_requests"]), int(stats["total_throttled"])
                        ratio, share = measured.wall_s / (managed / limit), throttled / max(calls, 1)
                        met = measured.exit_code == 0 and ratio <= RATIO_GOAL and share < THROTTLED_GOAL
                        failures += not met
                        ratios.append(ratio), shares.append(100 * share), walls.append(measured.wall_s)
                        print(
                            f"limit {limit:g}, run {i + 1}: {measured.wall_s:.2f} s, {ratio:.2f}x, "
                            f"{throttled}/{calls} throttled, exit {measured.exit_code}",
                            flush=True,
                        )
                    missed += failures
                    rows.append(
                        f"| {limit:g} | {managed:,} | {managed / limit:.1f} s | {spread(walls, '.1f')} s | "
                        f"{spread(ratios, '.2f')} | {spread(shares, '.1f')} | "
                        f"{'pass' if not failures else f'**FAIL** ({failures} of {args.runs})'} |"
                    )
                if limits is not None or not args.latency_bound:
                    continue
                size = args.latency_bound
                serial_cmd = [sys.executable, str(BENCH / "naive_loop.py"), "--dry-run"]
                serial_cmd += [
                    "--policy",
                    str(out / "desired-policy.json"),
                    "--skip-prefix",
                    EXCLUDE.rstrip("*"),
                ]
                serial = []
                for i in range(args.serial_runs):
                    measured, managed = run(ecr, env, size, 1000.0, serial_cmd)
                    serial.append(measured.wall_s)
                    print(f"serial loop, run {i + 1}: {measured.wall_s:.2f} s", flush=True)
                plans, throttles, failures = [], 0, 0
                for i in range(args.runs):
                    measured, managed = run(ecr, env, size, 1000.0, plan)
                    plans.append(measured.wall_s)
                    throttles += int(ecr.stats()["total_throttled"])
                    failures += measured.exit_code != 0 or min(serial) / measured.wall_s < SPEEDUP_GOAL
                    print(f"latency-bound plan, run {i + 1}: {measured.wall_s:.2f} s", flush=True)
                missed += failures
                speedups = [min(serial) / wall for wall in plans]
                verdict = "pass" if not failures else f"**FAIL** ({failures} of {len(plans)})"
                lines += [
                    f"Latency-bound (1,000 calls/s, 40 ms a call), {managed:,} repositories read: the "
                    f"serial loop (`naive_loop.py --dry-run`) {spread(serial, '.1f')} s over {len(serial)} "
                    f"runs; `reconciler plan` {spread(plans, '.2f')} s over {len(plans)} runs ({throttles} "
                    f"throttled in all), that is {spread(speedups, '.1f')}x the fastest serial run (goal >= "
                    f"{SPEEDUP_GOAL:g}x in every run): {verdict}.",
                ]
    load_after = os.getloadavg()
    table = [
        f"`reconciler plan`, default flags, {args.latency_ms:g} ms a call, the limit on every ECR action, "
        f"{args.runs} runs per limit; minimum / median / maximum:",
        "",
        "| limit (calls/s) | repositories read | floor N/limit | wall | ratio to the floor | % of calls "
        f"throttled | goal (every run <= {RATIO_GOAL}x, < {THROTTLED_GOAL:.0%}) |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    text = "\n".join([*table, "", *lines])
    print("\n" + text)
    if args.write:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
        took = (time.time() - started) / 60
        cpu = machine().get("cpu", "unknown")
        section = "\n".join(
            [
                BEGIN,
                "## Pacing: the spread over repeated runs",
                "",
                f"Measured {when} ({took:.0f} min) with `.venv/bin/python benchmarks/pacing.py "
                f"{' '.join(sys.argv[1:] if argv is None else argv)}` on {cpu}. Load average (1 min) "
                f"{load_before[0]:.1f} before and {load_after[0]:.1f} after (this benchmark's own processes "
                f"included). {args.note}".rstrip(),
                "",
                text,
                END,
            ]
        )
        results = BENCH / "RESULTS.md"
        page = results.read_text(encoding="utf-8")
        if BEGIN in page and END in page:
            page = page[: page.index(BEGIN)] + section + page[page.index(END) + len(END) :]
        else:
            page = page.rstrip("\n") + "\n\n" + section + "\n"
        results.write_text(page, encoding="utf-8")
        print(f"wrote {results}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
