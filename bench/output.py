"""`bench.run`'s printed table and its sweep's plot."""

from __future__ import annotations

from typing import Any


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        "shape",
        "accounts",
        "regions",
        "targets",
        "latency_s",
        "workers",
        "processes",
        "wall_s",
        "physical_bound_s",
        "ratio_to_bound",
        "cpu_ms_per_request",
        "floor_cpu_ms_per_request",
        "cpu_ms_per_target",
        "peak_rss_mb",
        "known_findings",
        "conflicts",
        "findings_s",
        "notifications",
        "requests",
        "required_requests",
        "ec2_throttled",
        "speedup_vs_threaded",
        "speedup_vs_seed",
    ]
    rows = [
        {**r, **({"conflicts": r["audit_summary"]["conflicts"]} if "audit_summary" in r else {})}
        for r in rows
    ]
    cols = [c for c in cols if any(c in r for r in rows)]
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    lines += [" | ".join(str(r.get(c, "")) for c in cols) for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["accounts"] for r in rows]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(xs, [r["wall_s"] for r in rows], "o-", color="tab:blue", label="wall time (s)")
    ax1.plot(
        xs,
        [r["physical_bound_s"] for r in rows],
        "--",
        color="tab:blue",
        alpha=0.5,
        label="physical bound (s)",
    )
    ax1.set_xlabel(
        f"accounts (x {rows[0]['regions']} regions, {rows[0]['latency_s'] * 1000:.0f} "
        f"ms latency, {rows[0]['workers']} workers)"
    )
    ax1.set_ylabel("seconds")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax2 = ax1.twinx()
    ax2.plot(
        xs,
        [r["cpu_ms_per_target"] for r in rows],
        "s-",
        color="tab:red",
        label="client CPU per target (ms)",
    )
    ax2.set_ylabel("ms CPU per (account, region)")
    ax2.set_ylim(0, max(3.5, max(r["cpu_ms_per_target"] for r in rows) * 1.2))
    lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax1.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax1.legend(lines, labels, loc="upper left", fontsize=8)
    ax1.set_title("vpctracker collect against the fake-latency endpoint")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
