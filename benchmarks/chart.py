"""Draw benchmarks/chart.png from results.json: wall time against repositories, one line per tool.

Runs in the bench venv (matplotlib lives there, not in the project's lock):

    benchmarks/.venv/bin/python benchmarks/chart.py benchmarks/out/results.json benchmarks/chart.png

One panel per regime, log-log axes. A run stopped at the time cap is drawn as a hollow marker at the cap
with an upward arrow (it would have taken longer); the dashed grey line is the floor of a full read at the
regime's limit (managed repositories / calls per second).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# (tool, kind, concurrency or None) -> how it is drawn; the "again" runs are left out to keep it readable.
SERIES: list[tuple[str, str, int | None, str, str, str]] = [
    ("reconciler", "read", None, "reconciler plan (default flags)", "tab:blue", "o"),
    ("reconciler", "write", None, "reconciler apply (default flags)", "tab:blue", "s"),
    ("reconciler", "read", 32, "reconciler plan --concurrency 32", "tab:cyan", "o"),
    ("reconciler", "write", 32, "reconciler apply --concurrency 32", "tab:cyan", "s"),
    ("naive", "write", None, "serial boto3 loop", "tab:orange", "D"),
    ("c7n", "read", None, "c7n cross-account (read)", "tab:green", "o"),
    ("c7n", "write", None, "c7n modify-ecr-policy (write)", "tab:green", "s"),
]


def draw(data: dict[str, Any], target: Path) -> None:
    runs = data["results"]
    regimes = [name for name in data["regimes"] if any(r["regime"] == name for r in runs)]
    figure, axes = plt.subplots(1, len(regimes), figsize=(7 * len(regimes), 6.5), squeeze=False)
    for axis, name in zip(axes[0], regimes, strict=True):
        regime = data["regimes"][name]
        chosen = [r for r in runs if r["regime"] == name]
        for tool, kind, concurrency, label, colour, marker in SERIES:
            points = sorted(
                (
                    r
                    for r in chosen
                    if r["tool"] == tool and r["kind"] == kind and r["concurrency"] == concurrency
                ),
                key=lambda r: r["size"],
            )
            if not points:
                continue
            dashes = "--" if kind == "read" else "-"
            xs = [p["size"] for p in points]
            ys = [p["wall_s"] for p in points]
            axis.plot(xs, ys, dashes, color=colour, marker=marker, label=label, linewidth=1.8)
            for point in points:
                if not point["finished"]:
                    axis.plot(
                        point["size"], point["wall_s"], marker, color="white", markeredgecolor=colour, ms=9
                    )
                    axis.annotate(
                        "",
                        xy=(point["size"], point["wall_s"] * 1.9),
                        xytext=(point["size"], point["wall_s"] * 1.05),
                        arrowprops={"arrowstyle": "->", "color": colour},
                    )
        floors = sorted(
            {(r["size"], r["floor_s"]) for r in chosen if r["tool"] == "reconciler" and r["kind"] == "read"}
        )
        if floors and regime.get("floor_bound", name == "limit"):
            axis.plot(
                *zip(*floors, strict=True), ":", marker="_", ms=14, color="grey", label="floor: reads / limit"
            )
        axis.set_xscale("log")
        axis.set_yscale("log")
        sizes = sorted({r["size"] for r in chosen})
        axis.set_xticks(sizes, [f"{s:,}" for s in sizes])
        axis.set_xlim(min(sizes) / 1.6, max(sizes) * 1.6)
        walls = [r["wall_s"] for r in chosen if r["wall_s"] > 0]
        walls += [f for _, f in floors if f > 0 and regime.get("floor_bound", name == "limit")]
        low, high = min(walls) / 1.5, max(walls) * 2.5
        axis.set_ylim(low, high)
        axis.minorticks_off()
        ticks = [t for t in TICKS if low <= t <= high]
        axis.set_yticks(ticks, [_seconds(t) for t in ticks])
        axis.set_xlabel("repositories (log scale)")
        axis.set_ylabel("wall time (log scale)")
        axis.set_title(
            f"{regime['title']}: {regime['tps']:g} calls/s per action, {data['latency_ms']:g} ms a call"
        )
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    figure.suptitle(
        "Reconciling ECR repository policies: wall time per run "
        "(hollow marker with arrow: stopped at its time cap, would have taken longer)",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(target, dpi=110)


TICKS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]


def _seconds(value: float) -> str:
    return f"{value / 60:g} min" if value >= 60 else f"{value:g} s"


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")), Path(sys.argv[2]))
