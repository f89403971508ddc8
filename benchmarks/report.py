"""Write benchmarks/RESULTS.md from the measurements benchmarks/run.py gathered (results.json).

Every number in RESULTS.md comes from that data; the only hand-written text is the preamble and the
descriptions below, which say how the numbers were made, not what they are.

    .venv/bin/python benchmarks/report.py benchmarks/out/results.json   # rewrite RESULTS.md from a run
    .venv/bin/python benchmarks/report.py a/results.json b/results.json --results benchmarks/RESULTS.md
        # from several runs (say `make bench-large` and `make bench-huge`): one page, each run's command
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

PREAMBLE = """\
How to read this: every number below was measured by `benchmarks/run.py` in the run described under
"Run", on the machine described there, against the sandbox ECR emulator (moto behind a middleware that
adds per-call latency, per-action token-bucket throttling with real `ThrottlingException` answers, and
ECR's policy read-back rewriting). Each tool run is a separate process started from the same freshly
seeded registry (except the "again" rows, which start from the previous row's result, as a second run in
real life would); its calls are the emulator's counts (so retries of throttled calls are included), its
peak memory is the process's own maximum RSS (from `wait4` in a small process that starts it: Linux keeps
a process's RSS high-water mark across exec, so a tool started straight from the benchmark, which holds the
emulator, would report the benchmark's) and *CPU* its user + system time (from `wait4`), and after it the
registry is checked:

- *on desired*: managed repositories whose policy now means (`reconciler.policy.normalize.equivalent`) the
  desired statements merged over the repository's own foreign statements, out of all managed ones;
- *foreign kept*: repositories seeded with Lambda's `LambdaECRImageRetrievalPolicy` statement that still
  carry it unchanged;
- *lost policy*: repositories that had a policy before the run and have none after it;
- *unmanaged changed*: `sandbox/*` repositories (excluded by the desired state) whose policy changed;
- *writes (needed)*: successful `SetRepositoryPolicy`/`DeleteRepositoryPolicy` calls, and in brackets the
  managed repositories whose policy differed in meaning before the run (the fewest writes that converge);
- *floor*: the least time the limit allows any tool: `GetRepositoryPolicy` calls needed / limit for a
  read; for a write, the larger of that and writes needed / limit (reads and writes are throttled
  separately, so they can overlap). It is the yardstick in the limit-bound regime; in the latency-bound
  regime it is shown, but latency, not the limit, decides there.
- *CPU*: user + system seconds of the tool's process, and of the emulator (the worker process serving it).

A run that reached the time cap was stopped and is shown as "did not finish within" the cap; its counts
are what it had done by then. The chart (`chart.png`) plots the wall times.
"""

TOOLS_TEXT = """\
- **reconciler**: `reconciler plan`, then `reconciler apply` (reads every managed repository, writes what
  differs in meaning, keeps foreign statements), then `reconciler apply` again on its own result.
- **serial boto3 loop** (`benchmarks/naive_loop.py`): what a user writes first: page through
  `DescribeRepositories`, `GetRepositoryPolicy` each (skipping `sandbox/`), compare with the desired policy by
  JSON equality after parsing, `SetRepositoryPolicy` the whole desired policy where they differ; boto3's
  default retries, one thread. It runs twice: the second run starts from its own result.
- **Cloud Custodian** (`custodian run --cache-period 0`, c7n from PyPI in `benchmarks/.venv`, pointed at the
  emulator with `AWS_ENDPOINT_URL`): the read is resource `aws.ecr` with the `cross-account` filter
  (whitelisting the desired accounts and organization); the write is `modify-ecr-policy` with
  `remove-statements: [AllowPull]` (the older Sid) and `add-statements:` the desired statements, on every
  repository not matching `sandbox/*`. The policy files are in `benchmarks/out/<regime>/c7n-*.yml`.
"""


def _fmt_s(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:,.0f} s"
    if seconds >= 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.2f} s"


def _wall(run: dict[str, Any], cap: float) -> str:
    cap = run.get("cap_s") or cap
    if not run["finished"]:
        return f"did not finish within {_fmt_s(cap)}"
    text = _fmt_s(run["wall_s"])
    return text if run["exit_code"] == 0 else f"{text} (exit {run['exit_code']})"


def _calls(run: dict[str, Any]) -> str:
    short = {
        "DescribeRepositories": "Describe",
        "GetRepositoryPolicy": "Get",
        "SetRepositoryPolicy": "Set",
        "DeleteRepositoryPolicy": "Delete",
        "ListTagsForResource": "ListTags",
    }
    parts = [f"{short.get(a, a)} {n:,}" for a, n in run["calls"].items()]
    return f"{run['total_calls']:,}: " + ", ".join(parts) if parts else "0"


def _throttled(run: dict[str, Any]) -> str:
    if not run["total_calls"]:
        return "0"
    share = 100 * run["throttled"] / run["total_calls"]
    return f"{run['throttled']:,} ({share:.1f}%)" if run["throttled"] else "0"


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor > 0 else "-"


def _table(runs: list[dict[str, Any]], cap: float, show_floor: bool) -> list[str]:
    head = [
        "tool",
        "wall",
        "vs floor" if show_floor else "floor",
        "calls (by action)",
        "throttled",
        "writes (needed)",
        "peak RSS",
        "CPU tool / emulator",
        "on desired",
        "foreign kept",
        "lost policy",
        "unmanaged changed",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        check = run["check"]
        desired = f"{check['on_desired']:,}/{check['managed']:,}"
        if check["version_only"]:
            desired += f" (+{check['version_only']:,} without Version)"
        floor = (
            (_ratio(run["wall_s"], run["floor_s"]) if run["finished"] else "-")
            if show_floor
            else _fmt_s(run["floor_s"])
        )
        row = [
            run["label"],
            _wall(run, cap),
            f"{floor} of {_fmt_s(run['floor_s'])}" if show_floor and run["finished"] else floor,
            _calls(run),
            _throttled(run),
            f"{run['writes']:,} ({check['differing_before']:,})",
            f"{run['max_rss_mb']:.0f} MB",
            f"{run.get('cpu_s', 0.0):.1f} s / {run.get('emulator_cpu_s', 0.0):.1f} s",
            desired,
            f"{check['foreign_kept']:,}/{check['foreign_total']:,}",
            f"{check['lost_policy']:,}",
            f"{check['unmanaged_changed']:,}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _find(runs: Iterable[dict[str, Any]], **wanted: Any) -> list[dict[str, Any]]:
    return [r for r in runs if all(r.get(k) == v for k, v in wanted.items())]


def _or_unknown(value: Any) -> str:
    return "?" if value is None else f"{value:,}"


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**pass**" if ok else "**FAIL**")


def goals(data: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(goal, measured, target, passed) rows, all computed from the runs."""
    runs = data["results"]
    cap = data["time_cap_s"]
    rows: list[tuple[str, str, str, bool | None]] = []
    sizes = sorted({r["size"] for r in runs})
    for size in sizes:
        for name, regime in data["regimes"].items():
            if not name.startswith("unknown-"):
                continue
            for plan in _find(runs, regime=name, size=size, tool="reconciler", kind="read"):
                ratio = plan["wall_s"] / plan["floor_s"] if plan["floor_s"] else float("inf")
                share = plan["throttled"] / plan["total_calls"] if plan["total_calls"] else 0.0
                rows.append(
                    (
                        f"{regime['title']} (not told), {size:,}: plan near the floor, few calls throttled",
                        f"{_fmt_s(plan['wall_s'])} = {ratio:.2f}x the floor of {_fmt_s(plan['floor_s'])}; "
                        f"{plan['throttled']} of {plan['total_calls']:,} calls throttled "
                        f"({100 * share:.2f}%)",
                        "≤ 1.3x, < 3%",
                        plan["finished"] and plan["exit_code"] == 0 and ratio <= 1.3 and share < 0.03,
                    )
                )
    for size in sizes:
        for plan in _find(runs, regime="limit", size=size, tool="reconciler", kind="read"):
            ratio = plan["wall_s"] / plan["floor_s"] if plan["floor_s"] else float("inf")
            share = plan["throttled"] / plan["total_calls"] if plan["total_calls"] else 0.0
            rows.append(
                (
                    f"limit-bound, {size:,}: plan at the floor, throttled calls under 1%",
                    f"{_fmt_s(plan['wall_s'])} = {ratio:.3f}x the floor of {_fmt_s(plan['floor_s'])}; "
                    f"{plan['throttled']} of {plan['total_calls']:,} calls throttled ({100 * share:.2f}%)",
                    "≤ 1.1x, < 1%",
                    plan["finished"] and plan["exit_code"] == 0 and ratio <= 1.1 and share < 0.01,
                )
            )
    for size in sizes:
        for apply in _find(runs, regime="limit", size=size, tool="reconciler", kind="write"):
            ratio = apply["wall_s"] / apply["floor_s"] if apply["floor_s"] else float("inf")
            rows.append(
                (
                    f"limit-bound, {size:,}: apply at the floor max(reads, writes) / limit",
                    f"{_fmt_s(apply['wall_s'])} = {ratio:.2f}x the floor of {_fmt_s(apply['floor_s'])}",
                    "≤ 1.15x",
                    apply["finished"] and apply["exit_code"] == 0 and ratio <= 1.15,
                )
            )
    for size in sizes:
        naive = _find(runs, regime="latency", size=size, tool="naive", kind="write")
        for apply in _find(runs, regime="latency", size=size, tool="reconciler", kind="write"):
            if not naive:
                continue
            loop = naive[0]
            speedup = loop["wall_s"] / apply["wall_s"] if apply["wall_s"] else float("inf")
            bound = "" if loop["finished"] else "≥ "
            loop_text = _wall(loop, cap)
            flags = f"--concurrency {apply['concurrency']}" if apply["concurrency"] else "default flags"
            rows.append(
                (
                    f"latency-bound, {size:,}: apply ({flags}) vs the serial loop",
                    f"{bound}{speedup:.1f}x ({_fmt_s(apply['wall_s'])} vs {loop_text})",
                    "≥ 10x",
                    apply["finished"] and apply["exit_code"] == 0 and speedup >= 10,
                )
            )
    writes_ok = True
    again_ok = True
    detail: list[str] = []
    again_detail: list[str] = []
    for apply in _find(runs, tool="reconciler", kind="write"):
        needed = apply["check"]["differing_before"]
        writes_ok &= apply["writes"] == needed and apply["finished"]
        detail.append(f"{apply['writes']:,}/{needed:,}")
    for again in _find(runs, tool="reconciler", kind="write-again"):
        again_ok &= again["writes"] == 0 and again["finished"]
        again_detail.append(f"{again['writes']}")
    if detail:
        rows.append(
            (
                "apply: writes == repositories differing in meaning (every regime, size, concurrency)",
                "writes/needed: " + ", ".join(detail),
                "equal",
                writes_ok,
            )
        )
    if again_detail:
        rows.append(("second apply: zero writes", "writes: " + ", ".join(again_detail), "0", again_ok))
    big = [r for r in _find(runs, tool="reconciler") if r["size"] >= 10_000 and r["regime"] != "huge"]
    if big:
        peak = max(big, key=lambda r: r["max_rss_mb"])
        rows.append(
            (
                "peak memory at 10,000 repositories (every reconciler run)",
                f"{peak['max_rss_mb']:.0f} MB ({peak['label']}, {peak['regime']}-bound)",
                "< 200 MB",
                peak["max_rss_mb"] < 200,
            )
        )
    else:
        rows.append(
            ("peak memory at 10,000 repositories", "no 10,000 run (make bench-large)", "< 200 MB", None)
        )
    small = [r for r in _find(runs, tool="reconciler") if r["size"] == 1_000 and r["regime"] != "huge"]
    if big and small:
        peak_big = max(r["max_rss_mb"] for r in big if r["size"] == 10_000)
        peak_small = max(r["max_rss_mb"] for r in small)
        growth = peak_big / peak_small if peak_small else float("inf")
        rows.append(
            (
                "peak memory flat: 10,000 repositories against 1,000 (every reconciler run)",
                f"{peak_big:.0f} MB / {peak_small:.0f} MB = {growth:.2f}x",
                "≤ 1.3x",
                growth <= 1.3,
            )
        )
    for run in _find(runs, regime="huge", tool="reconciler"):
        ok = run["finished"] and run["exit_code"] == 0
        rows.append(
            (
                f"{run['size']:,} repositories: {run['label']} completes, peak memory",
                f"{_wall(run, cap)}, {run['max_rss_mb']:.0f} MB",
                "< 400 MB",
                ok and run["max_rss_mb"] < 400,
            )
        )
        if run["kind"] == "read":
            comment = run.get("comment_chars")
            rows.append(
                (
                    f"{run['size']:,} repositories: pull-request comment (plan file "
                    f"{_or_unknown(run.get('plan_bytes'))} bytes)",
                    f"{_or_unknown(comment)} characters",
                    "< 65,536",
                    None if comment is None else comment < 65_536,
                )
            )
    validate = data["validate"]
    rows.append(
        (
            "`reconciler validate` (no network), median",
            f"{validate['median_s']:.3f} s over {len(validate['runs'])} runs "
            f"(process start included; boto3 imported: {'yes' if validate['imports_boto3'] else 'no'})",
            "< 0.5 s",
            validate["median_s"] < 0.5,
        )
    )
    return rows


def observations(data: dict[str, Any]) -> list[str]:
    """Statements about the tools' behaviour, each derived from the runs."""
    runs = data["results"]
    cap = data["time_cap_s"]
    notes: list[str] = []
    c7n = _find(runs, tool="c7n")
    counted = [r for r in c7n if r["total_calls"] > 0]
    if c7n:
        if counted:
            notes.append(
                f"Cloud Custodian honoured `AWS_ENDPOINT_URL`: the emulator counted its ECR calls in "
                f"{len(counted)} of {len(c7n)} runs (plus {max(r['other_requests'] for r in c7n)} non-ECR "
                "request per run at most: STS `GetCallerIdentity` for the account id)."
            )
        else:
            notes.append("Cloud Custodian's calls never reached the emulator: its rows measure nothing.")
        for run in c7n:
            tags = run["calls"].get("ListTagsForResource", 0)
            if tags and run["kind"] == "read":
                notes.append(
                    f"c7n ({run['regime']}-bound, {run['size']:,}): {tags:,} `ListTagsForResource` calls "
                    "(its aws.ecr resource fetches every repository's tags before any filter runs), "
                    f"{run['calls'].get('GetRepositoryPolicy', 0):,} `GetRepositoryPolicy`; "
                    + (
                        f"the cross-account filter reported {_or_unknown(run['flagged'])} repositories "
                        f"({_or_unknown(run.get('seeded', {}).get('drifted'))} managed ones were seeded with "
                        "the older policy granting another account)."
                        if run["finished"]
                        else "it was stopped at the cap before its filter reported anything."
                    )
                )
        for run in _find(c7n, kind="write"):
            if not run["finished"]:
                continue  # reported with the other stopped runs below
            check = run["check"]
            extra = run["writes"] - check["differing_before"]
            notes.append(
                f"c7n write ({run['regime']}-bound, {run['size']:,}, {_wall(run, cap)}): {run['writes']:,} "
                f"writes where {check['differing_before']:,} were needed ({extra:,} to repositories "
                "already on the desired policy: `modify-ecr-policy` writes whenever `add-statements` is "
                "set); "
                f"{check['version_only']:,} repositories that had no policy got one without `Version` (c7n "
                "starts from an empty document), which IAM reads as the 2008-10-17 language version, so they "
                "do not count as on the desired policy; foreign statements kept: "
                f"{check['foreign_kept']:,}/{check['foreign_total']:,}."
            )
    for apply in _find(runs, regime="limit", tool="reconciler", kind="write"):
        sequential = apply.get("floor_sequential_s", 0.0)
        if apply["finished"] and sequential:
            notes.append(
                f"reconciler apply (limit-bound, {apply['size']:,}): {_fmt_s(apply['wall_s'])} = "
                f"{apply['wall_s'] / sequential:.2f}x of reads/limit + writes/limit ({_fmt_s(sequential)}), "
                f"{apply['wall_s'] / apply['floor_s']:.2f}x of the overlapped floor "
                f"({_fmt_s(apply['floor_s'])}): "
                "it streams (listing pages feed reads, a read that differs feeds its write at once), so "
                "the writes' budget is used while the reads go on."
            )
    for run in _find(runs, regime="latency", tool="reconciler", kind="write"):
        if run["finished"] and run.get("cpu_s") and run["wall_s"]:
            calls = max(run["total_calls"], 1)
            emulator = run.get("emulator_cpu_s", 0.0)
            busy = (run["cpu_s"] + emulator) / run["wall_s"]
            per_thread = ""
            if run["concurrency"]:
                per_call = 1000 * run["concurrency"] * run["wall_s"] / calls
                per_thread = f", i.e. {per_call:.0f} ms per call per worker thread"
            notes.append(
                f"{run['label']} (latency-bound, {run['size']:,}): {calls / run['wall_s']:,.0f} calls/s"
                f"{per_thread} against {data['latency_ms']:g} ms of "
                f"latency (start-up included); the tool used {run['cpu_s']:.1f} s of CPU "
                f"({1000 * run['cpu_s'] / calls:.1f} ms a call, start-up included) and the emulator "
                f"{emulator:.1f} s in {_fmt_s(run['wall_s'])}, i.e. {busy:.1f} of the machine's "
                f"{data['machine']['nproc']} cores."
            )
    for run in _find(runs, tool="naive", kind="write"):
        check = run["check"]
        outside = check["foreign_total"] - run.get("seeded", {}).get("foreign", check["foreign_total"])
        unmanaged = (
            f" (the {outside:,} in excluded `sandbox/` repositories, which it skips, included)"
            if outside
            else ""
        )
        notes.append(
            f"Serial loop ({run['regime']}-bound, {run['size']:,}, {_wall(run, cap)}): "
            f"{run['writes']:,} writes where {check['differing_before']:,} were needed; it replaces whole "
            "policies, so foreign "
            f"statements kept: {check['foreign_kept']:,}/{check['foreign_total']:,}{unmanaged} and "
            f"{check['on_desired']:,}/{check['managed']:,} repositories end on the desired policy "
            f"(throttled calls: {run['throttled']:,})."
        )
    for run in _find(runs, tool="naive", kind="write-again"):
        notes.append(
            f"Serial loop again ({run['regime']}-bound, {run['size']:,}): {run['writes']:,} writes: its JSON "
            "comparison "
            + (
                "sees no difference once its own policy is in place (ECR's read-back rewriting does not "
                "change this policy's parsed JSON), so the lost foreign statements stay lost."
                if run["writes"] == 0
                else "still sees differences after its own write."
            )
        )
    for run in runs:
        if not run["finished"]:
            notes.append(
                f"{run['label']} ({run['regime']}-bound, {run['size']:,}) did not finish within "
                f"{_fmt_s(run.get('cap_s') or cap)} and was stopped; by then it had made "
                f"{run['total_calls']:,} calls and {run['writes']:,} writes."
            )
        elif run["exit_code"] != 0:
            tail = run["output_tail"].replace("\n", " / ")[-300:]
            notes.append(
                f"{run['label']} ({run['regime']}-bound, {run['size']:,}) exited {run['exit_code']}: {tail}"
            )
    return notes


def _caps(data: dict[str, Any]) -> str:
    caps = sorted(
        {run["cap_s"] for run in data["results"] if run["tool"] != "reconciler" and run.get("cap_s")}
    )
    if len(caps) > 1:
        return " or ".join(_fmt_s(cap) for cap in caps) + " (each command's `--time-cap`)"
    return _fmt_s(caps[0] if caps else data["time_cap_s"])


def _order(data: dict[str, Any]) -> str:
    within = (
        "in parallel, each in its own process with its own emulator"
        if data["parallel_regimes"]
        else "one after the other"
    )
    if data.get("at_once"):
        return (
            "the commands (separated by `;`) ran side by side, some of them overlapping in time, each in its "
            f"own processes with its own emulators; within a command the regimes ran {within}"
        )
    return within


def render(data: dict[str, Any]) -> str:
    runs = data["results"]
    cap = data["time_cap_s"]
    machine = data["machine"]
    out: list[str] = ["# Benchmarks", ""]
    out += [
        f"Measured on {data['started']} by `{' '.join(data['argv'])}` in {data['duration_s'] / 60:.0f} min. "
        "This file and `chart.png` are written by that script: rerun it (`make bench`, or "
        "`make bench-large` for 10,000 repositories, `make bench-huge` for 100,000) rather than editing "
        "them.",
        "",
        PREAMBLE,
        "## Run",
        "",
        "| | |",
        "|---|---|",
        f"| date | {data['started']} |",
        f"| command | `{' '.join(data['argv'])}` |",
        f"| machine | {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']} memory, "
        f"{machine['platform']} |",
        f"| Python | {machine['python']} |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + " |",
        f"| time cap per run | {_caps(data)} for the serial loop and c7n, "
        f"{_fmt_s(data.get('reconciler_time_cap_s', cap))} for the reconciler |",
        f"| regimes | {_order(data)} |",
        "",
        "The emulator answers every ECR call after "
        f"{data['latency_ms']:g} ms (a typical same-region round trip) and throttles each action of the "
        "account with its own token bucket (burst = rate). Seeded registry: 40% of repositories in sync, "
        "30% with an older policy of ours (Sid `AllowPull`, a different account), 30% without a policy; "
        "10% also carry Lambda's statement; every 50th is `sandbox/exp-N`, which the desired state "
        "excludes. Desired state:",
        "",
        "```yaml",
        data["policies"].rstrip(),
        "```",
        "",
    ]
    for regime in data["regimes"].values():
        out += [f"**{regime['title']}**: {regime['tps']:g} calls/s per action. {regime['why']}", ""]
    out += ["Tools:", "", TOOLS_TEXT]
    commands = {(r["label"].split(" (")[0].replace(", again", ""), r["command"]) for r in runs}
    out += ["Exact commands (one worker process per regime runs them with the emulator's environment):", ""]
    out += ["```sh", *sorted(command for _, command in commands), "```", ""]

    out += ["## Goals", "", "| goal | measured | target | result |", "|---|---|---|---|"]
    for goal, measured, target, passed in goals(data):
        out.append(f"| {goal} | {measured} | {target} | {_verdict(passed)} |")
    out.append("")

    for name, regime in data["regimes"].items():
        for size in sorted({r["size"] for r in runs}):
            chosen = _find(runs, regime=name, size=size)
            if not chosen:
                continue
            out += [f"## {regime['title'].capitalize()}, {size:,} repositories", ""]
            out += _table(chosen, cap, show_floor=regime.get("floor_bound", name == "limit"))
            out.append("")

    validate = data["validate"]
    out += [
        "## validate",
        "",
        f"`{validate['command']}` on the repository's `policies/`, {len(validate['runs'])} runs (seconds, "
        f"process start included): {', '.join(f'{t:.3f}' for t in validate['runs'])}; median "
        f"{validate['median_s']:.3f} s. boto3 imported: {'yes' if validate['imports_boto3'] else 'no'}.",
        "",
        "## Observations",
        "",
    ]
    out += [f"- {note}" for note in observations(data)]
    out += ["", "## Chart", "", "![wall time against repositories, one line per tool](chart.png)", ""]
    return "\n".join(out)


def write_results(data: dict[str, Any], results: Path, chart: Path) -> None:
    results.write_text(render(data), encoding="utf-8")


def merge_runs(runs: list[dict[str, Any]], *, at_once: bool = False) -> dict[str, Any]:
    """Several runs of benchmarks/run.py as one page: their results and regimes together, the first run's
    machine and settings, every run's command, and their durations summed (or, `at_once`: they ran at the
    same time, the longest)."""
    if len({run["machine"]["nproc"] for run in runs}) > 1:
        raise SystemExit("the runs were made on different machines; report them apart")
    merged = dict(runs[0])
    merged["started"] = min(run["started"] for run in runs)
    if at_once:  # from the first start to the last end (starts are to the minute)
        starts = [datetime.strptime(run["started"], "%Y-%m-%d %H:%M UTC").timestamp() for run in runs]
        ends = [start + run["duration_s"] for start, run in zip(starts, runs, strict=True)]
        merged["duration_s"] = max(ends) - min(starts)
    else:
        merged["duration_s"] = sum(run["duration_s"] for run in runs)
    merged["at_once"] = at_once and len(runs) > 1
    merged["argv"] = [
        word for index, run in enumerate(runs) for word in ([";"] if index else []) + run["argv"]
    ]
    merged["regimes"] = {name: regime for run in runs for name, regime in run["regimes"].items()}
    merged["results"] = [result for run in runs for result in run["results"]]
    return merged


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="Write RESULTS.md from the results.json of one or more runs."
    )
    parser.add_argument("sources", nargs="*", type=Path, default=[BENCH / "out" / "results.json"])
    parser.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--chart", type=Path, default=BENCH / "chart.png")
    parser.add_argument(
        "--bench-python", default=str(BENCH / ".venv" / "bin" / "python"), help="has matplotlib"
    )
    parser.add_argument(
        "--at-once", action="store_true", help="some of the runs overlapped in time (the page says so)"
    )
    args = parser.parse_args()
    runs = [json.loads(source.read_text(encoding="utf-8")) for source in args.sources]
    merged = merge_runs(runs, at_once=args.at_once)
    write_results(merged, args.results, args.chart)
    print(f"wrote {args.results}")
    if len(runs) > 1:
        # The chart is drawn from one results file: the merged one, next to the first source.
        merged_file = args.sources[0].with_name("results-merged.json")
        merged_file.write_text(json.dumps(merged, indent=1), encoding="utf-8")
        chart_source = merged_file
    else:
        chart_source = args.sources[0]
    if Path(args.bench_python).exists():
        subprocess.run(
            [args.bench_python, str(BENCH / "chart.py"), str(chart_source), str(args.chart)], check=True
        )
        print(f"wrote {args.chart}")
    else:
        print(f"no {args.bench_python} (make bench-venv): {args.chart} not redrawn", file=sys.stderr)
