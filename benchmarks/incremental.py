"""`plan --since`: a plan from the last full read plus what CloudTrail says changed, next to a full plan.

    .venv/bin/python benchmarks/incremental.py        # 10,000 repositories at 20 calls/s (~20 min)
    .venv/bin/python benchmarks/incremental.py --repos 500 --quick    # a smoke run; writes no page

The emulator throttles every ECR action at --limit calls/s (the reconciler is not told) with 40 ms per call,
and CloudTrail's LookupEvents at its quota of 2 calls/s. The registry is seeded, its CloudTrail events moved a
day into the past (seeded long before the snapshot), then:
  1. `plan --snapshot-out` (a full read of every repository, what the drift check and apply save);
  2. --changed managed repositories changed by hand (policies set to an old grant, or deleted);
  3. a full `plan`, and `plan --since` the snapshot; their changes must be identical.
It also times the listing (DescribeRepositories, 1,000 a page) of --listing-size repositories at the
limit: what `--since` still pays to find created and deleted repositories. Writes
benchmarks/INCREMENTAL.md (unless --quick) and exits 1 when the plans differ or `--since` misses its goal
(--goal-s).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ACCOUNT_ID, ACCOUNTS, EXCLUDE, LATENCY_MS, ORG_PATH, POLICIES_YAML, ROOT, SEED, measure

PAGE = ROOT / "benchmarks" / "INCREMENTAL.md"
DAY = 24 * 3600.0


def changes(path: Path) -> list[dict[str, Any]]:
    """The plan's registries without when it was made and where its live state came from."""
    sys.path.insert(0, str(ROOT))
    from dataclasses import asdict

    from reconciler.plan.planfile import read_plan

    out = []
    for registry in read_plan(str(path)).registries:
        data = asdict(registry)
        data.pop("source", None)
        out.append(data)
    return out


def source(path: Path) -> str:
    from reconciler.plan.planfile import read_plan

    return "; ".join(r.source for r in read_plan(str(path)).registries)


def time_listing(size: int, limit: float) -> tuple[float, int]:
    """Seconds and calls to list `size` repositories at `limit` calls/s, with the reconciler's ECR client."""
    from reconciler.desired.model import PullAccess, Registry
    from reconciler.live.ecr import EcrClient
    from reconciler.sandbox.ecr import EcrEmulator, EcrEmulatorConfig

    with EcrEmulator(EcrEmulatorConfig(latency_ms=LATENCY_MS, seed=SEED)) as ecr:
        ecr.reset()  # moto's state is per process: the plans' registry is still there
        for index in range(size):
            ecr.create_repository(f"team-{index // 100:04d}/app-{index % 100:02d}")
        ecr.configure(default_tps=limit)
        os.environ.update(ecr.environment())
        registry = Registry(name="bench", account_id=ACCOUNT_ID, region="us-east-1", pull_access=PullAccess())
        client = EcrClient(registry, endpoint_url=ecr.url)
        ecr.reset_stats()
        started = time.monotonic()
        names = client.list_repositories()
        seconds = time.monotonic() - started
        assert len(names) == size
        return seconds, int(ecr.stats()["total_requests"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=20.0, help="calls/s per ECR action (20)")
    parser.add_argument("--changed", type=int, default=20, help="repositories changed by hand (20)")
    parser.add_argument("--listing-size", type=int, default=100_000)
    parser.add_argument("--goal-s", type=float, default=15.0, help="the --since plan's goal (15 s)")
    parser.add_argument("--quick", action="store_true", help="no page written")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from reconciler.desired.model import PullAccess
    from reconciler.policy.render import policy_text, render_policy
    from reconciler.sandbox.ecr import EcrEmulator, EcrEmulatorConfig
    from reconciler.sandbox.seed import drifted_policy_text, seed_registry

    desired = policy_text(
        render_policy(ACCOUNT_ID, PullAccess(organization_paths=(ORG_PATH,), accounts=ACCOUNTS))
    )
    started_at = datetime.datetime.now(datetime.UTC)
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as work:
        out = Path(work)
        (out / "policies").mkdir()
        (out / "policies" / "bench.yaml").write_text(POLICIES_YAML, encoding="utf-8")
        with EcrEmulator(EcrEmulatorConfig(latency_ms=LATENCY_MS, seed=SEED)) as ecr:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NULLPLATFORM_"))}
            env.update(ecr.environment())
            env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(out / "none")
            env["AWS_EC2_METADATA_DISABLED"] = "true"
            summary = seed_registry(ecr, repositories=args.repos, desired_policy_text=desired, seed=SEED)
            names = sorted(name for group in summary.names.values() for name in group)
            managed = [name for name in names if not fnmatchcase(name, EXCLUDE)]
            ecr.age_events(DAY)
            ecr.configure(default_tps=args.limit)
            base = [
                sys.executable,
                "-m",
                "reconciler",
                "plan",
                "--policies",
                str(out / "policies"),
                "--no-progress",
            ]

            def run(label: str, *extra: str) -> None:
                ecr.reset_stats()
                measured = measure([*base, *extra], env, 7200.0, out / f"{label}.log")
                stats = ecr.stats()
                runs[label] = {
                    "wall_s": measured.wall_s,
                    "exit_code": measured.exit_code,
                    "max_rss_mb": measured.max_rss_mb,
                    "calls": dict(stats["requests"]),
                    "other_requests": int(stats.get("other_requests", 0)),
                }
                print(
                    f"{label}: {measured.wall_s:.1f} s, exit {measured.exit_code}, {stats['requests']}",
                    flush=True,
                )

            snapshot = out / "snapshot.jsonl"
            run("snapshot", "--snapshot-out", str(snapshot), "--out", str(out / "snapshot-plan.json"))
            client = ecr.client(bypass=True)
            step = max(1, len(managed) // args.changed)
            drifted = drifted_policy_text(ACCOUNT_ID)
            for number, name in enumerate(managed[::step][: args.changed]):
                if number % 2 == 0:
                    client.set_repository_policy(repositoryName=name, policyText=drifted)
                elif ecr.stored_policy(name) is not None:
                    client.delete_repository_policy(repositoryName=name)
                else:
                    client.set_repository_policy(repositoryName=name, policyText=desired)
            run("full", "--out", str(out / "full.json"))
            run("since", "--since", str(snapshot), "--out", str(out / "since.json"))
            identical = changes(out / "full.json") == changes(out / "since.json")
            provenance = source(out / "since.json")
    listing_s, listing_calls = time_listing(args.listing_size, args.limit)
    since_s = runs["since"]["wall_s"]
    met = identical and since_s <= args.goal_s and all(r["exit_code"] == 0 for r in runs.values())
    page = render(args, runs, identical, provenance, listing_s, listing_calls, started_at, met)
    print(page)
    if not args.quick:
        PAGE.write_text(page, encoding="utf-8")
    return 0 if met else 1


def render(
    args: argparse.Namespace,
    runs: dict[str, dict[str, Any]],
    identical: bool,
    provenance: str,
    listing_s: float,
    listing_calls: int,
    started_at: datetime.datetime,
    met: bool,
) -> str:
    def row(label: str, what: str) -> str:
        run = runs[label]
        calls = ", ".join(f"{k} {v:,}" for k, v in sorted(run["calls"].items()))
        return (
            f"| {what} | {run['wall_s']:.1f} s | {run['max_rss_mb']:.0f} MB | {calls} | "
            f"{run['other_requests']:,} | {run['exit_code']} |"
        )

    lines = [
        "# `plan --since`: measured",
        "",
        f"Generated by `benchmarks/incremental.py` on {started_at:%Y-%m-%d %H:%M} UTC "
        f"(`--repos {args.repos} --limit {args.limit:g} --changed {args.changed}`); machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        "The machine may have been shared with other work while it ran.",
        "",
        f"Emulator: every ECR action throttled at {args.limit:g} calls/s (the reconciler is not told), "
        f"{LATENCY_MS:g} ms a call; LookupEvents at 2 calls/s. Seeded with {args.repos:,} repositories whose "
        "CloudTrail events were moved a day before the snapshot; then "
        f"{args.changed} managed repositories changed by hand.",
        "",
        "| run | wall | peak memory | ECR calls | other requests (STS, CloudTrail) | exit |",
        "|---|---|---|---|---|---|",
        row("snapshot", "full read, `--snapshot-out` (every repository)"),
        row("full", "full plan"),
        row("since", "`plan --since` the snapshot"),
        "",
        f"- The two plans' changes are {'identical' if identical else '**different**'} (`created_at` and "
        "provenance aside).",
        f"- `--since` goal: within {args.goal_s:g} s: **{'met' if met else 'missed'}** "
        f"({runs['since']['wall_s']:.1f} s against {runs['full']['wall_s']:.1f} s for the full plan).",
        f'- The plan said: "{provenance}".',
        f"- Listing {args.listing_size:,} repositories at {args.limit:g} calls/s: {listing_calls} calls, "
        f"{listing_s:.1f} s. `--since` keeps the listing: it is one call per 1,000 repositories, and it "
        "finds created and deleted repositories whether or not CloudTrail has delivered their events yet.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
