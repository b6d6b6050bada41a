"""`make bench`: measure `vpctracker collect` against the fake-latency endpoint, side by side
with a seed-style baseline and the analysis, and print a table plus one JSON line.

    python -m bench.run --accounts 1000 --regions 17 --vpcs 1-2 --latency 0.1 --workers 32
    python -m bench.run --accounts 50 --regions 17 --latency 0.05 --baseline
    python -m bench.run --analysis
    python -m bench.run --sweep 100,300,1000,3000 --plot docs/benchmarks.png
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from typing import Any

from bench.fake_org import ROUTE_TABLES
from bench.harness import (
    client,
    fake_endpoint,
    next_night,
    rounded,
    set_latency,
    stats,
    units,
)
from bench.output import plot, table

# Measured apart (`--analysis`); named here too, as docs/benchmarks.md's commands import them.
from bench.readpath import analysis, read_path, report_and_lookup  # noqa: F401

CORES = os.cpu_count() or 1
# Known findings are rewritten once a quarter to three quarters of their TTL has passed (the
# point fixed per finding): the third night comes a quarter of the default 90 days, plus one,
# after the second, when about one night's share of them (1/45) is due.
THIRD_NIGHT_DAYS = 90 / 4 + 1
# A page of a table in the function's region (the live updates' second measure, `--events`).
REAL_TABLE_S = 0.02


def required(counts: dict[str, int]) -> int:
    """The requests the features need whatever the implementation: the account listing, one
    AssumeRole per account, and every EC2 call (regions, VPCs, subnets, connectivity). Not
    counted: our own table reads and writes, leases, GetCallerIdentity."""
    return sum(
        n
        for k, n in counts.items()
        if k.startswith("ec2.") or k in ("organizations.ListAccounts", "sts.AssumeRole")
    )


def measure(
    accounts: int,
    regions: int,
    vpcs: str,
    latency: float,
    jitter: float,
    workers: int,
    baselines: tuple[str, ...] = (),
    seed_accounts: int = 3,
    events: bool = False,
    shape: str = "full",
    ec2_throttle: float = 0.0,
    processes: int | None = None,
    changed_only: bool = False,
) -> dict[str, Any]:
    """One steady-state collect: a first run fills the table, the org moves on a night, and
    the second run (every VPC already stored, a few created or deleted) is measured. The CPU
    floor (bare calls on a warm client, at the run's concurrency and latency) is probed in the
    same run; baselines on demand."""
    # The floor at the run's concurrency and latency (what a latency-bound threaded client
    # can reach), and, for comparison with earlier rounds, a hot loop in one thread.
    with fake_endpoint(accounts, regions, vpcs, latency, jitter, shape) as url:
        floor = client("percall", url, workers)["single_call_cpu_s"]
    with fake_endpoint(accounts, regions, vpcs, 0.0, 0.0, shape) as url:
        hot = client("percall", url, 1)["single_call_cpu_s"]
    with fake_endpoint(accounts, regions, vpcs, latency, jitter, shape, ec2_throttle) as url:
        night = functools.partial(client, processes=processes, changed_only=changed_only)
        night("collect", url, workers)  # the first night
        next_night(url)
        fake_cpu0 = stats(url, reset=True)["_cpu_s"]
        run = night("collect", url, workers)
        counts = stats(url)
        # The fake's own CPU (its one core): past about one CPU-second per second of wall it,
        # not the collector, sets the pace.
        fake_cpu = counts.pop("_cpu_s") - fake_cpu0
        # What the measured night left in the table, as `audit` sums it up (untimed): the
        # overlaps some network routes to both sides of, the default VPCs left.
        audited = client("audit", url, workers)["summary"]
        live = client("events", url, workers) if events else None
        # The same again with the table answering as a real one in the function's region does
        # (EC2 still at the run's latency): what a user's event takes. The targets' scans are
        # older than the new burst's messages, so each is scanned again.
        live_table = None
        if events:
            set_latency(url, latency, table=REAL_TABLE_S)
            live_table = client("events", url, workers)
            set_latency(url, latency)
        # The third night: the first on which standing findings' TTL refreshes are due (a
        # quarter of the default 90-day retention has passed since they were recorded), after
        # the events, whose targets it would otherwise make look current.
        next_night(url)
        stats(url, reset=True)
        third = night("collect_later", url, workers, days=THIRD_NIGHT_DAYS)
        third_counts = stats(url)
    requests = sum(v for k, v in counts.items() if not k.startswith("_"))
    need = required(counts)
    s = run["summary"]
    skipped = sum(1 for i in range(accounts) if (100000000000 + i) % 7 == 0) if regions > 1 else 0
    targets = accounts * regions - skipped
    assert s["targets"]["ok"] == targets, (s["targets"], s["failures"][:3])
    # Every VPC the fake makes is valid: one that is not is never stored, and the run would
    # measure a smaller organization than it reports (sa-east-1's, until 2026-12-02).
    assert s["invalid_records"] == 0, s["invalid"][:3]
    pages = -(-accounts // 20)
    # DescribeVpcs, DescribeSubnets, peering, TGW attachments; in the landing zone the network
    # account's targets also read their TGW's route tables: one call, then three per table.
    per_target = 4 + (1 + 3 * len(ROUTE_TABLES) if shape == "landing-zone" else 0)
    critical = (pages + 2 + per_target) * latency  # listing, AssumeRole, DescribeRegions, target
    # The GIL serializes a process's Python: one core per process, as many as the machine has.
    used = s.get("processes", 1)
    usable_cores = min(used, CORES)
    cpu_bound = need * floor / usable_cores
    # No client keeps more than `workers` calls in flight: each call holds a worker a latency.
    inflight_bound = need * latency / workers
    bound = max(critical, cpu_bound, inflight_bound)
    out: dict[str, Any] = {
        "shape": shape,
        "accounts": accounts,
        "regions": regions,
        "vpcs": vpcs,
        "latency_s": latency,
        "workers": workers,
        "processes": used,
        "targets": targets,
        "steady_state": True,
        "rewrite_unchanged": not changed_only,
        "vpcs_written": s["vpcs_written"],
        "vpcs_seen": s["vpcs_seen"],
        "invalid_records": s["invalid_records"],
        "items_written": s["items_written"],
        "items_unchanged": s.get("items_unchanged", 0),
        "known_findings": (s.get("findings") or {}).get("known"),
        "notifications": (s.get("findings") or {}).get("notified"),
        "findings_s": (s.get("findings") or {}).get("duration_s"),
        "marked_deleted": s["marked_deleted"],
        "wall_s": round(run["wall_s"], 2),
        "client_cpu_s": round(run["cpu_s"], 2),
        "cpu_ms_per_target": round(run["cpu_s"] * 1000 / targets, 3),
        "requests": requests,
        "required_requests": need,
        "ec2_throttled": counts.get("throttled.ec2", 0),
        "cpu_ms_per_request": round(run["cpu_s"] * 1000 / requests, 3),
        "floor_cpu_ms_per_request": round(floor * 1000, 3),
        "floor_hot_cpu_ms_per_request": round(hot * 1000, 3),
        "physical_bound_s": round(bound, 2),
        "ratio_to_bound": round(run["wall_s"] / bound, 3),
        # Every process of the run at once: the peak of their RSS summed (sampled every
        # 0.2 s, and at least any one's own peak). Each process at its own peak, summed, is
        # `sum_of_peaks_rss_mb` (this field until 2026-12-02).
        "peak_rss_mb": round(run["together_peak_rss_mb"], 1),
        "sum_of_peaks_rss_mb": round(run["total_peak_rss_mb"], 1),
        # The same samples with the pages the processes share (the interpreter and its
        # libraries) counted once, as the kernel holds them (bench.measure.ChildPeaks).
        "peak_shared_once_mb": round(run["together_shared_once_mb"], 1),
        "coordinator_rss_mb": round(run["peak_rss_mb"], 1),
        "worker_rss_mb": [round(w, 1) for w in run["worker_peak_rss_mb"]],
        "fake_cpu_s": round(fake_cpu, 2),
        # The request units DynamoDB would bill the measured night (bench.fake_dynamodb):
        # reads, the table's writes, and the owner index's.
        "dynamodb_units": units(counts),
        "audit_summary": {"vpc_count": audited["vpc_count"], **audited["summary"]},
    }
    t3 = third["summary"]
    assert t3["targets"]["ok"] == targets, (t3["targets"], t3["failures"][:3])
    out["third_night"] = {
        "days_ahead": THIRD_NIGHT_DAYS,
        "wall_s": round(third["wall_s"], 2),
        "client_cpu_s": round(third["cpu_s"], 2),
        "requests": sum(v for k, v in third_counts.items() if not k.startswith("_")),
        "items_written": t3["items_written"],
        "items_unchanged": t3.get("items_unchanged", 0),
        "known_findings": (t3.get("findings") or {}).get("known"),
        "findings_refreshed": (t3.get("findings") or {}).get("refreshed"),
        "findings_s": (t3.get("findings") or {}).get("duration_s"),
        "dynamodb_units": units(third_counts),
    }
    if live is not None:
        out["events"] = rounded(live)
    if live_table is not None:
        out["events_real_table"] = {"table_latency_s": REAL_TABLE_S, **rounded(live_table)}
    if "threaded" in baselines:
        # CPU-bound (a session per account and a client per region: about 1.5 s of CPU per
        # account on one core, 190 s for 128 accounts in 184 s), so its time is linear in the
        # accounts once its 32 threads are busy: measured on 32 accounts and scaled.
        n = min(32, accounts)
        with fake_endpoint(n, regions, vpcs, latency, jitter, shape, ec2_throttle) as url:
            naive = client("threaded", url)
        out["threaded_wall_s"] = round(naive["wall_s"] * accounts / n, 1)
        out["threaded_measured_accounts"] = n
        out["speedup_vs_threaded"] = round(out["threaded_wall_s"] / run["wall_s"], 1)
    if "seed" in baselines:
        # Sequential: its time is linear in the accounts, so it is measured on `seed_accounts`
        # and scaled (at the headline size it would run for over an hour).
        n = min(seed_accounts, accounts)
        with fake_endpoint(n, regions, vpcs, latency, jitter, shape, ec2_throttle) as url:
            seed = client("baseline", url)
        out["seed_wall_s"] = round(seed["wall_s"] * accounts / n, 1)
        out["seed_measured_accounts"] = n
        out["speedup_vs_seed"] = round(out["seed_wall_s"] / run["wall_s"], 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="VPCTracker benchmark")
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--regions", type=int, default=17)
    p.add_argument("--vpcs", default="1-2")
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--workers", type=int, default=32)
    p.add_argument(
        "--shape",
        choices=["landing-zone", "full"],
        default="landing-zone",
        help="landing-zone: workloads in 1-3 regions per account, a default VPC left in every "
        "10th account; full: every (account, region) holds VPCs (the earlier benchmarks)",
    )
    p.add_argument(
        "--ec2-throttle",
        type=float,
        default=0.01,
        help="share of EC2 calls the fake answers RequestLimitExceeded (retried with backoff)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=None,
        help="scan.processes for the measured collector (default: unset, the CPUs available)",
    )
    p.add_argument(
        "--changed-only",
        action="store_true",
        help="table.rewrite_unchanged false for the measured collector: unchanged items are "
        "not written again",
    )
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also run the baselines: naive threaded, and seed-style (sequential, scaled)",
    )
    p.add_argument("--analysis", action="store_true", help="also benchmark the analysis")
    p.add_argument(
        "--events",
        action="store_true",
        help="also measure live updates on the populated table: one event at a time, then a "
        "burst of 1,000 events over 100 targets in SQS batches of 100",
    )
    p.add_argument(
        "--analysis-sizes",
        default="10000,100000,1000000",
        help="block counts for the overlap benchmark",
    )
    p.add_argument("--sweep", default="", help="comma list of account counts, e.g. 100,300")
    p.add_argument("--plot", default="", help="with --sweep: write a PNG plot here")
    p.add_argument(
        "--suite",
        action="store_true",
        help="the targets' configurations side by side: 1000x17 at 100 ms with the baselines, "
        "100x17 at 100 ms with live updates, the read path and the analysis",
    )
    args = p.parse_args()
    if args.suite:
        # The headline at 1,000 x 17 at 100 ms in both shapes, side by side.
        headline = functools.partial(
            measure,
            args.accounts,
            17,
            "1-2",
            0.1,
            args.jitter,
            args.workers,
            ec2_throttle=args.ec2_throttle,
            processes=args.processes,
        )
        rows = [
            # The landing zone with the baselines, its live updates measured on its own table.
            headline(("threaded", "seed"), events=True, shape="landing-zone"),
            # The earlier shape beside it: every target holds VPCs.
            headline(shape="full"),
        ]
        args.analysis = True
    else:
        counts = [int(x) for x in args.sweep.split(",") if x] or [args.accounts]
        rows = []
        for n in counts:
            rows.append(
                measure(
                    n,
                    args.regions,
                    args.vpcs,
                    args.latency,
                    args.jitter,
                    args.workers,
                    ("threaded", "seed") if args.baseline and n == counts[0] else (),
                    events=args.events and n == counts[0],
                    shape=args.shape,
                    ec2_throttle=args.ec2_throttle,
                    processes=args.processes,
                    changed_only=args.changed_only,
                )
            )
            print(f"# measured {n} accounts: {rows[-1]['wall_s']} s", file=sys.stderr, flush=True)
    print(f"machine: {CORES} cores, Python {sys.version.split()[0]}")
    print(table(rows))
    for r in rows:
        for key in ("events", "events_real_table"):
            if key in r:
                print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in r[key].items()))
    result: dict[str, Any] = {"runs": rows}
    if args.analysis:
        a = analysis(
            tuple(int(x) for x in args.analysis_sizes.split(",")),
            brute=min(3_000, int(args.analysis_sizes.split(",")[0])),
        )
        print("\nanalysis: " + ", ".join(f"{k}={v}" for k, v in a.items()))
        result["analysis"] = a
    if args.plot and len(rows) > 1:
        plot(rows, args.plot)
        print(f"plot: {args.plot}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
