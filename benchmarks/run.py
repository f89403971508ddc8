"""Benchmarks: the reconciler next to a serial boto3 loop and Cloud Custodian, on the sandbox ECR emulator.

    .venv/bin/python benchmarks/run.py --sizes 1000            # what `make bench` runs
    .venv/bin/python benchmarks/run.py --sizes 50 --quick      # a smoke run (seconds, no files committed)
    .venv/bin/python benchmarks/run.py --huge                  # `make bench-huge`: 100,000 repositories

For each regime (limit-bound: the emulator throttles every ECR action at a low rate the reconciler is
told with --max-rps; unknown limit: the same at 8, 60 and 200 calls/s, nothing told, default flags;
latency-bound: the limit is far away and 40 ms per call is what costs, default flags; huge: ECR's quota of
100,000 repositories at a high limit) and each size, one worker process starts the emulator,
seeds it, and runs every tool as a subprocess of its own (so wall time, calls and peak memory are that
tool's), resetting and reseeding the emulator between tools so each starts from the same state. After each
run it checks the registry: managed repositories on the desired policy (by meaning), foreign statements
kept, policies lost, unmanaged repositories untouched. The parent gathers the workers' JSON, writes
RESULTS.md and asks the bench venv's matplotlib for the chart.

Cloud Custodian pins an older boto3 than the project, so it lives in its own venv (benchmarks/.venv, from
benchmarks/requirements.txt; `make bench` builds it) and runs as `custodian run`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
DEFAULT_OUT = BENCH / "out"
DEFAULT_BENCH_PYTHON = BENCH / ".venv" / "bin" / "python"

ACCOUNT_ID = "123456789012"  # the emulator's default account
REGION = "us-east-1"
ORG_PATH = "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"
ORG_ID = "o-a1b2c3d4e5"
ACCOUNTS = ("111122223333", "444455556666")
EXCLUDE = "sandbox/*"
MANAGED_SIDS = ("AllowPull*",)
OLD_SID = "AllowPull"  # what the seeded "drifted" repositories carry (an older policy of ours)
LATENCY_MS = 40.0
SEED = 7

POLICIES_YAML = f"""\
# The benchmark's desired state: one registry, OU paths and accounts, sandbox/* left alone.
registry:
  name: bench
  account_id: "{ACCOUNT_ID}"
  region: {REGION}
pull_access:
  organization_paths: ["{ORG_PATH}"]
  accounts: [{", ".join(f'"{a}"' for a in ACCOUNTS)}]
repositories:
  include: ["*"]
  exclude: ["{EXCLUDE}"]
managed_sids: [{", ".join(f'"{s}"' for s in MANAGED_SIDS)}]
"""


def _prose(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Regime:
    name: str
    title: str
    tps: float  # the emulator's per-action limit (calls/s, burst = rate)
    max_rps: float | None  # the reconciler's --max-rps (None: not given, the default ceiling)
    concurrencies: tuple[int | None, ...]  # the reconciler's --concurrency values (None: not given)
    why: str
    tools: tuple[str, ...] = ("reconciler", "naive", "c7n")  # which tools this regime runs at all
    floor_bound: bool = True  # the limit decides the least time (shown against the floor)
    max_size: int | None = None  # larger sizes are skipped (at 8 calls/s, 10,000 repositories take hours)


def _unknown(tps: float) -> Regime:
    return Regime(
        f"unknown-{tps:g}",
        f"unknown limit, {tps:g} calls/s",
        tps=tps,
        max_rps=None,
        concurrencies=(None,),
        why=_prose(
            f"""The emulator throttles every ECR action at {tps:g} calls/s and the reconciler is told
            nothing: no --max-rps, no --concurrency. It has to find the limit (start at a safe rate, raise
            it while calls succeed, cut it on ThrottlingException) and size its calls in flight to it.
            Asked: plan within 1.3x of the floor N/{tps:g}, under 3% of calls throttled. The
            emulator's bucket holds a second of calls (burst = rate), which hides the limit until it is
            drained: finding it costs a few throttles. Reconciler only (the alternatives have no pacing
            to find anything with)."""
        ),
        tools=("reconciler",),
        max_size=1000,
    )


REGIMES: dict[str, Regime] = {
    "limit": Regime(
        "limit",
        "limit-bound",
        tps=20.0,
        max_rps=20.0,
        concurrencies=(None,),
        why=_prose(
            """ECR publishes no rate quota for DescribeRepositories, GetRepositoryPolicy or
            SetRepositoryPolicy, and the account's budget is shared with nullplatform, CI and consoles.
            Here the account allows 20 calls/s per action and the reconciler is told so (--max-rps 20, a
            ceiling under which it still adapts): does it run at the floor N/20 without being throttled?
            Its pacer spaces calls 1/R apart (burst 1) and the emulator's bucket (burst = rate) absorbs
            jitter, so a ceiling equal to the limit is safe."""
        ),
    ),
    **{regime.name: regime for regime in (_unknown(8.0), _unknown(60.0), _unknown(200.0))},
    "latency": Regime(
        "latency",
        "latency-bound",
        tps=1000.0,
        max_rps=None,
        concurrencies=(None,),
        why=_prose(
            """A generous 1000 calls/s per action (an account nobody else uses much): the limit is never
            reached, so each call's 40 ms round trip is what costs, and only calls in flight help. The
            reconciler runs with default flags: its pacer raises the rate while calls succeed and opens
            the calls in flight to rate x latency, up to its cap."""
        ),
        floor_bound=False,
    ),
    "huge": Regime(
        "huge",
        "huge",
        tps=1000.0,
        max_rps=None,
        concurrencies=(None,),
        why=_prose(
            """ECR's quota of 100,000 repositories in one registry (`make bench-huge`), at a high limit
            (1000 calls/s per action), default flags, reconciler only: wall time, peak memory (target
            under 400 MB), the plan file's size and the pull-request comment's (under GitHub's 65,536
            characters)."""
        ),
        tools=("reconciler",),
        floor_bound=False,
    ),
}
UNKNOWN = tuple(name for name in REGIMES if name.startswith("unknown-"))
DEFAULT_REGIMES = ["limit", *UNKNOWN, "latency"]
HUGE_SIZE = 100_000


@dataclass
class Check:
    """The registry after a run, against the desired state applied to the seeded state."""

    managed: int = 0
    on_desired: int = 0
    version_only: int = 0  # not equivalent only because "Version" is missing (c7n on empty repositories)
    foreign_total: int = 0
    foreign_kept: int = 0
    lost_policy: int = 0  # had a policy before the run, none after
    unmanaged_changed: int = 0
    differing_before: int = 0  # managed repositories that differed in meaning before the run


@dataclass
class RunResult:
    regime: str
    size: int
    tool: str  # reconciler | naive | c7n
    label: str
    kind: str  # read | write | write-again
    command: str
    concurrency: int | None = None
    finished: bool = True
    exit_code: int | None = None
    wall_s: float = 0.0
    max_rss_mb: float = 0.0
    cpu_s: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    total_calls: int = 0
    throttled: int = 0
    throttled_by_action: dict[str, int] = field(default_factory=dict)
    other_requests: int = 0
    writes: int = 0
    deletes: int = 0
    cap_s: float = 0.0  # the time cap this run had
    floor_s: float = 0.0  # reads / limit, and for a write max(that, writes needed / limit)
    floor_sequential_s: float = 0.0  # reads / limit + writes needed / limit: read everything, then write
    emulator_cpu_s: float = 0.0  # CPU the emulator (this worker process) spent during the run
    seeded: dict[str, int] = field(default_factory=dict)  # managed repositories per seeded state
    check: Check = field(default_factory=Check)
    flagged: int | None = None  # c7n read: repositories the cross-account filter reported
    plan_bytes: int | None = None  # reconciler plan: size of the --out file
    comment_chars: int | None = None  # reconciler plan: `reconciler comment --no-post` body length
    output_tail: str = ""


# --- measuring one subprocess ---------------------------------------------------------------------------


@dataclass
class Measured:
    finished: bool
    exit_code: int | None
    wall_s: float
    max_rss_mb: float
    cpu_s: float  # user + system time of the process


# Starts the measured tool and reports its own peak RSS. Linux keeps a process's RSS high-water mark across
# exec, so a tool forked straight from this process (which holds the emulator and a snapshot of every
# repository: hundreds of MB at 100,000) would report this process's peak as its own. This small process
# forks the tool from itself instead and writes the tool's ru_maxrss (KB) to the file named first.
_TRAMPOLINE = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def measure(command: list[str], env: dict[str, str], cap_s: float, log: Path) -> Measured:
    """Run `command` to completion or until `cap_s` seconds: wall time, exit code, max RSS, CPU time.

    os.wait4 gives the resource usage of exactly this child (and what it waited for), so the CPU time is
    the tool's own, not the benchmark's or the emulator's; the peak memory comes from the trampoline above
    (for a run stopped at the cap, from os.wait4: an upper bound)."""
    rss_file = log.with_suffix(".maxrss")
    rss_file.unlink(missing_ok=True)
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", _TRAMPOLINE, str(rss_file), *command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = started + cap_s
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                wall = time.monotonic() - started
                process.returncode = os.waitstatus_to_exitcode(status)
                return Measured(True, process.returncode, wall, *_usage(usage, rss_file))
            if time.monotonic() >= deadline:
                wall = time.monotonic() - started
                return Measured(False, None, wall, *_usage(_stop(process.pid), rss_file))
            time.sleep(0.02)


def _usage(usage: Any, rss_file: Path) -> tuple[float, float]:
    try:
        max_rss_kb = int(rss_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        max_rss_kb = usage.ru_maxrss
    return max_rss_kb / 1024, usage.ru_utime + usage.ru_stime


def _stop(pid: int) -> Any:
    """Stop a run that hit the cap: SIGTERM to its process group, SIGKILL after 5 s; its resource usage."""
    os.killpg(pid, signal.SIGTERM)
    for _ in range(250):
        reaped, _status, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            return usage
        time.sleep(0.02)
    os.killpg(pid, signal.SIGKILL)
    return os.wait4(pid, 0)[2]


# --- the worker: one regime, every size ------------------------------------------------------------------


class Worker:
    def __init__(self, regime: Regime, args: argparse.Namespace, out: Path) -> None:
        from reconciler.desired.model import PullAccess
        from reconciler.policy.render import policy_text, render_policy, render_statements

        self.regime = regime
        self.args = args
        self.out = out
        access = PullAccess(organization_paths=(ORG_PATH,), accounts=ACCOUNTS)
        self.desired_document = render_policy(ACCOUNT_ID, access)
        self.desired_text = policy_text(self.desired_document)
        self.desired_statements = render_statements(ACCOUNT_ID, access)
        out.mkdir(parents=True, exist_ok=True)
        self.policies = out / "policies"
        self.policies.mkdir(exist_ok=True)
        (self.policies / "bench.yaml").write_text(POLICIES_YAML, encoding="utf-8")
        (out / "desired-policy.json").write_text(self.desired_text, encoding="utf-8")

    # -- state --

    def _config(self) -> Any:
        from reconciler.sandbox.ecr import EcrEmulatorConfig

        return EcrEmulatorConfig(latency_ms=LATENCY_MS, default_tps=self.regime.tps, seed=SEED)

    def _snapshot(self, ecr: Any) -> dict[str, str | None]:
        return {name: ecr.stored_policy(name) for name in ecr.repository_names()}

    def _owns(self, sid: str | None) -> bool:
        return sid is not None and any(fnmatchcase(sid, glob) for glob in MANAGED_SIDS)

    def _expected(self, seeded: dict[str, str | None]) -> dict[str, Any]:
        from reconciler.policy.ownership import merge

        return {
            name: merge(json.loads(text) if text else None, self._owns, self.desired_statements)
            for name, text in seeded.items()
            if not fnmatchcase(name, EXCLUDE)
        }

    def _check(
        self,
        seeded: dict[str, str | None],
        expected: dict[str, Any],
        foreign: list[str],
        before: dict[str, str | None],
        after: dict[str, str | None],
    ) -> Check:
        from reconciler.policy.normalize import equivalent
        from reconciler.sandbox.seed import LAMBDA_SID

        def parse(text: str | None) -> Any:
            return json.loads(text) if text else None

        check = Check(managed=len(expected), foreign_total=len(foreign))
        for name, want in expected.items():
            if not equivalent(parse(before.get(name)), want):
                check.differing_before += 1
            got = parse(after.get(name))
            if equivalent(got, want):
                check.on_desired += 1
            elif (
                isinstance(got, dict)
                and "Version" not in got
                and equivalent({**got, "Version": want and want.get("Version")}, want)
            ):
                check.version_only += 1
        for name in foreign:
            original = [s for s in parse(seeded[name])["Statement"] if s.get("Sid") == LAMBDA_SID]
            now = parse(after.get(name)) or {}
            statements = now.get("Statement", []) if isinstance(now, dict) else []
            kept = [s for s in statements if isinstance(s, dict) and s.get("Sid") == LAMBDA_SID]
            check.foreign_kept += bool(kept) and equivalent({"Statement": kept}, {"Statement": original})
        check.lost_policy = sum(1 for name, text in before.items() if text and not after.get(name))
        check.unmanaged_changed = sum(
            1 for name in seeded if fnmatchcase(name, EXCLUDE) and before.get(name) != after.get(name)
        )
        return check

    # -- tools --

    def _env(self, ecr: Any) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NULLPLATFORM_"))}
        env.update(ecr.environment(REGION))
        env["AWS_CONFIG_FILE"] = str(self.out / "no-aws-config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.out / "no-aws-credentials")
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _plan_file(self, size: int, tag: str) -> Path:
        return self.out / f"plan-{size}-{tag}.json"

    def _reconciler(self, verb: str, size: int, concurrency: int | None, tag: str) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "reconciler",
            verb,
            "--policies",
            str(self.policies),
            "--no-progress",
        ]
        if self.regime.max_rps is not None:
            command += ["--max-rps", f"{self.regime.max_rps:g}"]
        if concurrency is not None:
            command += ["--concurrency", str(concurrency)]
        if verb == "plan":
            command += ["--out", str(self._plan_file(size, tag))]
        else:
            command += ["--report", str(self.out / f"report-{size}-{tag}.jsonl")]
        return command

    def _naive(self) -> list[str]:
        return [
            sys.executable,
            str(BENCH / "naive_loop.py"),
            "--policy",
            str(self.out / "desired-policy.json"),
            "--skip-prefix",
            EXCLUDE.rstrip("*"),
        ]

    def _c7n_policy(self, kind: str) -> Path:
        import yaml

        not_sandbox = {"not": [{"type": "value", "key": "repositoryName", "op": "glob", "value": EXCLUDE}]}
        if kind == "read":
            policy = {
                "name": "ecr-pull-access-read",
                "resource": "aws.ecr",
                "filters": [
                    not_sandbox,
                    {"type": "cross-account", "whitelist": list(ACCOUNTS), "whitelist_orgids": [ORG_ID]},
                ],
            }
        else:
            policy = {
                "name": "ecr-pull-access-write",
                "resource": "aws.ecr",
                "filters": [not_sandbox],
                "actions": [
                    {
                        "type": "modify-ecr-policy",
                        "remove-statements": [OLD_SID],
                        "add-statements": self.desired_statements,
                    }
                ],
            }
        path = self.out / f"c7n-{kind}.yml"
        path.write_text(yaml.safe_dump({"policies": [policy]}, sort_keys=False), encoding="utf-8")
        return path

    def _c7n(self, kind: str, outdir: Path) -> list[str]:
        custodian = Path(self.args.bench_python).parent / "custodian"
        return [
            str(custodian),
            "run",
            "--cache-period",
            "0",
            "--region",
            REGION,
            "-s",
            str(outdir),
            str(self._c7n_policy(kind)),
        ]

    def _plan_runs(self, size: int) -> list[tuple[str, str, str, int | None, list[str]]]:
        """(tool, label, kind, concurrency, command) in order; "write-again" keeps the previous state."""
        runs: list[tuple[str, str, str, int | None, list[str]]] = []
        for concurrency in self.regime.concurrencies:
            suffix = f" (--concurrency {concurrency})" if len(self.regime.concurrencies) > 1 else ""
            tag = f"c{concurrency or 'auto'}"
            runs += [
                ("reconciler", f"reconciler plan{suffix}", "read", concurrency,
                 self._reconciler("plan", size, concurrency, tag)),
                ("reconciler", f"reconciler apply{suffix}", "write", concurrency,
                 self._reconciler("apply", size, concurrency, tag)),
                ("reconciler", f"reconciler apply, again{suffix}", "write-again", concurrency,
                 self._reconciler("apply", size, concurrency, tag + "-again")),
            ]  # fmt: skip
        again = size <= self.args.again_max
        if "naive" in self.args.tools and "naive" in self.regime.tools:
            runs.append(("naive", "serial boto3 loop", "write", None, self._naive()))
            if again:
                runs.append(("naive", "serial boto3 loop, again", "write-again", None, self._naive()))
        if "c7n" in self.args.tools and "c7n" in self.regime.tools:
            runs.append(
                (
                    "c7n",
                    "c7n cross-account (read)",
                    "read",
                    None,
                    self._c7n("read", self.out / f"c7n-{size}-read"),
                )
            )
            runs.append(
                (
                    "c7n",
                    "c7n modify-ecr-policy (write)",
                    "write",
                    None,
                    self._c7n("write", self.out / f"c7n-{size}-write"),
                )
            )
            if again and self.args.c7n_again:
                command = self._c7n("write", self.out / f"c7n-{size}-write-again")
                runs.append(("c7n", "c7n modify-ecr-policy, again", "write-again", None, command))
        if "reconciler" not in self.args.tools:
            runs = [r for r in runs if r[0] != "reconciler"]
        return runs

    def run_size(self, size: int) -> list[RunResult]:
        from reconciler.sandbox.ecr import EcrEmulator
        from reconciler.sandbox.seed import seed_registry

        results: list[RunResult] = []
        with EcrEmulator(self._config()) as ecr:
            env = self._env(ecr)

            def reseed() -> Any:
                ecr.reset()
                return seed_registry(ecr, repositories=size, desired_policy_text=self.desired_text, seed=SEED)

            summary = reseed()
            seeded = self._snapshot(ecr)
            expected = self._expected(seeded)
            managed = len(expected)
            seeded_managed = {
                state: sum(1 for n in names if not fnmatchcase(n, EXCLUDE))
                for state, names in summary.names.items()
            } | {"foreign": sum(1 for n in summary.foreign if not fnmatchcase(n, EXCLUDE))}
            print(f"[{self.regime.name} {size}] seeded {summary.counts}, {managed} managed", flush=True)
            for tool, label, kind, concurrency, command in self._plan_runs(size):
                if kind != "write-again":
                    reseed()
                before = self._snapshot(ecr)
                ecr.configure(default_tps=self.regime.tps)  # fresh (full) token buckets for every tool
                ecr.reset_stats()
                log = self.out / f"log-{size}-{len(results):02d}.txt"
                cpu_before = _own_cpu()
                cap = self.args.reconciler_time_cap if tool == "reconciler" else self.args.time_cap
                measured = measure(command, env, cap, log)
                emulator_cpu = _own_cpu() - cpu_before
                finished, code, wall, rss = (
                    measured.finished,
                    measured.exit_code,
                    measured.wall_s,
                    measured.max_rss_mb,
                )
                stats = ecr.stats()
                after = self._snapshot(ecr)
                check = self._check(seeded, expected, summary.foreign, before, after)
                requests, throttled = stats["requests"], stats["throttled"]
                deletes = _succeeded(stats, "DeleteRepositoryPolicy")
                writes = _succeeded(stats, "SetRepositoryPolicy") + deletes
                reads_floor = managed / self.regime.tps
                writes_floor = check.differing_before / self.regime.tps if kind != "read" else 0.0
                result = RunResult(
                    regime=self.regime.name,
                    size=size,
                    tool=tool,
                    label=label,
                    kind=kind,
                    command=shlex.join(_display(command)),
                    concurrency=concurrency,
                    finished=finished,
                    exit_code=code,
                    wall_s=round(wall, 3),
                    max_rss_mb=round(rss, 1),
                    cpu_s=round(measured.cpu_s, 2),
                    calls=dict(sorted(requests.items())),
                    total_calls=int(stats["total_requests"]),
                    throttled=int(stats["total_throttled"]),
                    throttled_by_action=dict(sorted(throttled.items())),
                    other_requests=int(stats["other_requests"]),
                    writes=writes,
                    deletes=deletes,
                    cap_s=cap,
                    floor_s=round(max(reads_floor, writes_floor), 3),
                    floor_sequential_s=round(reads_floor + writes_floor, 3),
                    emulator_cpu_s=round(emulator_cpu, 2),
                    seeded=seeded_managed,
                    check=check,
                    output_tail=_tail(log),
                )
                if tool == "c7n" and kind == "read":
                    result.flagged = _c7n_count(self.out / f"c7n-{size}-read")
                if tool == "reconciler" and kind == "read" and "--out" in command:
                    plan_file = Path(command[command.index("--out") + 1])
                    result.plan_bytes, result.comment_chars = _plan_sizes(plan_file, env)
                results.append(result)
                status = "ok" if finished and code == 0 else ("CAPPED" if not finished else f"exit {code}")
                print(
                    f"[{self.regime.name} {size}] {label}: {wall:.1f}s {status}, calls {result.total_calls}, "
                    f"throttled {result.throttled}, writes {writes}/{check.differing_before} needed, "
                    f"rss {rss:.0f} MB, on desired {check.on_desired}/{managed}, "
                    f"foreign {check.foreign_kept}/{check.foreign_total}",
                    flush=True,
                )
        return results


def _plan_sizes(plan_file: Path, env: dict[str, str]) -> tuple[int | None, int | None]:
    """The plan file's size and the length of the pull-request comment `reconciler comment` makes of it."""
    if not plan_file.exists():
        return None, None
    answer = subprocess.run(
        [sys.executable, "-m", "reconciler", "comment", "--plan", str(plan_file), "--no-post"],
        env={k: v for k, v in env.items() if not k.startswith("GITHUB_")},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return plan_file.stat().st_size, len(answer.stdout) if answer.returncode == 0 else None


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _succeeded(stats: dict[str, Any], action: str) -> int:
    """Calls of `action` that got a success answer (neither throttled nor an error)."""
    sent = stats["requests"].get(action, 0)
    return int(sent - stats["throttled"].get(action, 0) - stats["errors"].get(action, 0))


def _display(command: list[str]) -> list[str]:
    """A command as a person would type it from the repository root."""
    shown = []
    for part in command:
        if part == sys.executable:
            part = ".venv/bin/python"
        elif part.startswith(str(ROOT) + "/"):
            part = part[len(str(ROOT)) + 1 :]
        shown.append(part)
    return shown


def _tail(log: Path, lines: int = 6) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _c7n_count(outdir: Path) -> int | None:
    try:
        return len(json.loads((outdir / "ecr-pull-access-read" / "resources.json").read_text()))
    except (OSError, ValueError):
        return None


# --- validate timing and the machine ---------------------------------------------------------------------


def time_validate(runs: int) -> dict[str, Any]:
    """`reconciler validate` on the repository's policies/ as a subprocess (start-up included)."""
    command = [sys.executable, "-m", "reconciler", "validate", "--policies", str(ROOT / "policies")]
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.monotonic() - started)
    probe = (
        "import sys; from reconciler.cli import main; "
        f"main(['validate', '--policies', {str(ROOT / 'policies')!r}]); "
        "print('boto3' in sys.modules, 'botocore' in sys.modules, file=sys.stderr)"
    )
    imported = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    ).stderr.split()
    return {
        "command": ".venv/bin/python -m reconciler validate --policies policies",
        "runs": [round(t, 3) for t in times],
        "median_s": round(statistics.median(times), 3),
        "imports_boto3": imported[-2:] != ["False", "False"],
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions(bench_python: str) -> dict[str, str]:
    import boto3
    import moto

    found = {"boto3 (reconciler)": boto3.__version__, "moto (emulator)": moto.__version__}
    probe = "import boto3, c7n.version; print(boto3.__version__, c7n.version.version)"
    try:
        answer = subprocess.run([bench_python, "-c", probe], capture_output=True, text=True, check=True)
        boto3_c7n, c7n = answer.stdout.split()
        found |= {"c7n": c7n, "boto3 (c7n)": boto3_c7n}
    except (OSError, subprocess.CalledProcessError, ValueError):
        found["c7n"] = "not installed"
    return found


# --- the parent ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the reconciler against the alternatives.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000], help="repository counts")
    parser.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=DEFAULT_REGIMES)
    parser.add_argument(
        "--huge",
        action="store_true",
        help=f"ECR's quota: {HUGE_SIZE:,} repositories, regime huge, reconciler only (make bench-huge)",
    )
    parser.add_argument(
        "--tools", nargs="+", choices=("reconciler", "naive", "c7n"), default=["reconciler", "naive", "c7n"]
    )
    parser.add_argument(
        "--time-cap",
        type=float,
        default=900.0,
        metavar="S",
        help="stop a run of the serial loop or c7n after S seconds (900)",
    )
    parser.add_argument(
        "--reconciler-time-cap",
        type=float,
        default=3600.0,
        metavar="S",
        help="stop a reconciler run after S seconds (3600: it is what is measured, so it gets room)",
    )
    parser.add_argument(
        "--again-max",
        type=int,
        default=1000,
        metavar="N",
        help="run the alternatives a second time (on their own result) only up to N repositories (1000)",
    )
    parser.add_argument("--c7n-again", action="store_true", help="also run c7n's write a second time")
    parser.add_argument(
        "--parallel-regimes",
        action="store_true",
        help="run the regimes at the same time, each in its own worker with its own emulator",
    )
    parser.add_argument("--validate-runs", type=int, default=9, help="timed runs of reconciler validate (9)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: write to OUT only, no RESULTS.md/chart"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="work directory (benchmarks/out)")
    parser.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--chart", type=Path, default=BENCH / "chart.png")
    parser.add_argument("--bench-python", default=str(DEFAULT_BENCH_PYTHON), help="the venv with c7n")
    parser.add_argument("--worker", choices=sorted(REGIMES), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_worker(args: argparse.Namespace) -> int:
    regime = REGIMES[args.worker]
    worker = Worker(regime, args, args.out / regime.name)
    results: list[RunResult] = []
    for size in args.sizes:
        if regime.max_size is not None and size > regime.max_size:
            print(
                f"[{regime.name}] skipping {size:,} repositories (more than {regime.max_size:,})", flush=True
            )
            continue
        results += worker.run_size(size)
        # Written after every size, so a long run that is stopped still leaves what it measured.
        (args.out / f"results-{regime.name}.json").write_text(
            json.dumps([asdict(r) for r in results], indent=1), encoding="utf-8"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    if args.huge:
        args.sizes, args.regimes, args.tools = [HUGE_SIZE], ["huge"], ["reconciler"]
    if "c7n" in args.tools and not Path(args.bench_python).exists():
        print(f"no {args.bench_python}: build the bench venv with `make bench-venv`", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    forwarded = [
        "--sizes", *map(str, args.sizes), "--tools", *args.tools, "--time-cap", str(args.time_cap),
        "--reconciler-time-cap", str(args.reconciler_time_cap),
        "--again-max", str(args.again_max), "--out", str(args.out), "--bench-python", args.bench_python,
    ]  # fmt: skip
    if args.c7n_again:
        forwarded.append("--c7n-again")
    workers = []
    for name in args.regimes:
        (args.out / f"results-{name}.json").unlink(missing_ok=True)
        command = [sys.executable, __file__, "--worker", name, *forwarded]
        if args.parallel_regimes:
            workers.append(subprocess.Popen(command, cwd=ROOT))
        else:
            workers.append(subprocess.Popen(command, cwd=ROOT))
            workers[-1].wait()
    failed = [w.args for w in workers if w.wait() != 0]
    results: list[dict[str, Any]] = []
    for name in args.regimes:
        path = args.out / f"results-{name}.json"
        if path.exists():
            results += json.loads(path.read_text(encoding="utf-8"))
    validate = time_validate(args.validate_runs)
    data = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "argv": ["benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)],
        "machine": machine(),
        "versions": versions(args.bench_python),
        "latency_ms": LATENCY_MS,
        "regimes": {name: asdict(REGIMES[name]) for name in args.regimes},
        "parallel_regimes": args.parallel_regimes,
        "time_cap_s": args.time_cap,
        "reconciler_time_cap_s": args.reconciler_time_cap,
        "policies": POLICIES_YAML,
        "results": results,
        "validate": validate,
    }
    (args.out / "results.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    print(f"validate: median {validate['median_s']}s over {len(validate['runs'])} runs")
    if failed:
        print(f"worker(s) failed: {failed}", file=sys.stderr)
    if args.quick:
        print(f"quick mode: results in {args.out / 'results.json'} (RESULTS.md and chart untouched)")
        return 1 if failed else 0
    from report import write_results

    write_results(data, args.results, args.chart)
    chart = subprocess.run(
        [args.bench_python, str(BENCH / "chart.py"), str(args.out / "results.json"), str(args.chart)],
        cwd=ROOT,
    )
    print(f"wrote {args.results} and {args.chart}")
    return 1 if failed or chart.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
