"""`make bench`: measure `vpctracker collect` against the fake-latency endpoint, side by side
with a seed-style baseline and the analysis, and print a table plus one JSON line.

    python -m bench.run --accounts 1000 --regions 17 --vpcs 1-2 --latency 0.1 --workers 32
    python -m bench.run --accounts 50 --regions 17 --latency 0.05 --baseline
    python -m bench.run --analysis
    python -m bench.run --sweep 100,300,1000,3000 --plot docs/benchmarks.png
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import ipaddress
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.fake_org import ROUTE_TABLES

ROOT = Path(__file__).parents[1]
CORES = os.cpu_count() or 1
# Known findings are rewritten once a quarter to three quarters of their TTL has passed (the
# point fixed per finding): the third night comes a quarter of the default 90 days, plus one,
# after the second, when about one night's share of them (1/45) is due.
THIRD_NIGHT_DAYS = 90 / 4 + 1


@contextlib.contextmanager
def fake_endpoint(
    accounts: int,
    regions: int,
    vpcs: str,
    latency: float,
    jitter: float,
    shape: str = "full",
    ec2_throttle: float = 0.0,
) -> Iterator[str]:
    """Start bench.fake_aws in its own process; yield its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.fake_aws",
            "--accounts",
            str(accounts),
            "--regions",
            str(regions),
            "--vpcs",
            vpcs,
            "--latency",
            str(latency),
            "--jitter",
            str(jitter),
            "--shape",
            shape,
            "--ec2-throttle",
            str(ec2_throttle),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"fake endpoint did not start: {line!r}")
    try:
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def stats(url: str, reset: bool = False) -> dict[str, Any]:
    """The fake endpoint's request counts (and, with `reset`, zero them)."""
    path = "/__stats?reset" if reset else "/__stats"
    with urllib.request.urlopen(f"{url}{path}", timeout=10) as r:  # noqa: S310 - loopback
        return dict(json.load(r))


def next_night(url: str) -> None:
    """Move the fake organization on one night (a few VPCs created and deleted)."""
    urllib.request.urlopen(f"{url}/__night", timeout=10).read()  # noqa: S310 - loopback


def client(
    mode: str,
    url: str,
    workers: int = 32,
    items: int = 0,
    processes: int | None = None,
    days: float = 0.0,
    changed_only: bool = False,
) -> dict[str, Any]:
    """Run bench.client in a fresh process (its own CPU and RSS) against `url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BENCH_"))}
    if processes is not None:
        env["BENCH_PROCESSES"] = str(processes)
    if changed_only:
        env["BENCH_CHANGED_ONLY"] = "1"
    env.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "bench.client", mode, str(out)),
                *("--workers", str(workers), "--items", str(items), "--days", str(days)),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if not out.exists():
            raise RuntimeError(f"bench client {mode} failed: {proc.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
    if mode in ("collect", "audit", "allocate"):
        try:
            result["summary"] = json.loads(proc.stdout)
        except ValueError:
            raise RuntimeError(f"bench client {mode}: {proc.stderr[-2000:]}") from None
    return result


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
        # libraries) counted once, as the kernel holds them (bench.client.ChildPeaks).
        "peak_shared_once_mb": round(run["together_shared_once_mb"], 1),
        "coordinator_rss_mb": round(run["peak_rss_mb"], 1),
        "worker_rss_mb": [round(w, 1) for w in run["worker_peak_rss_mb"]],
        "fake_cpu_s": round(fake_cpu, 2),
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
    }
    if live is not None:
        out["events"] = {k: round(v, 2) if isinstance(v, float) else v for k, v in live.items()}
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


# A 1 MB Scan page inside one region: tens of milliseconds.
READ_PAGE_LATENCY_S = 0.02


def read_path(n: int, latency: float) -> dict[str, Any]:
    """`audit`, `allocate` and `lookup` on a table of n VPC items (filled at no latency, read
    at `latency` per request): the table read every report, allocation and lookup starts
    with."""
    out: dict[str, Any] = {}
    with fake_endpoint(1, 1, "1", 0.0, 0.0) as url:
        client("fill", url, items=n)
        modes = ("audit", "allocate", "lookup")
        # Each read once untimed first (each reads its own projection): the fake then answers
        # pages from each item's JSON as it first sent it (bench.fake_aws `Table.json_of`), at
        # almost no CPU, where encoding them again took 3.7-4.8 s of the two cores beside an
        # audit's read of 100k items (a real table's pages cost this machine nothing). Each
        # command timed is a fresh process: nothing of the client is warm.
        for mode in modes:
            client(mode, url)
        urllib.request.urlopen(f"{url}/__latency?s={latency}", timeout=10).read()  # noqa: S310
        for mode in modes:
            stats(url, reset=True)
            r = client(mode, url)
            assert r["exit_code"] == 0, r
            if mode == "audit":
                assert r["summary"]["summary"]["unreadable_items"] == 0, r["summary"]["summary"]
            out[f"{mode}_{n}_items_wall_s"] = round(r["wall_s"], 2)
            out[f"{mode}_{n}_items_cpu_s"] = round(r["cpu_s"], 2)
            out[f"{mode}_{n}_items_peak_rss_mb"] = round(r["peak_rss_mb"], 1)
            out[f"{mode}_{n}_items_requests"] = sum(
                v for k, v in stats(url).items() if not k.startswith("_")
            )
    return out


def _random_blocks(n: int, seed: int) -> list[tuple[Any, int]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        plen = rng.randint(16, 28)
        addr = (10 << 24) | rng.getrandbits(24)
        out.append((ipaddress.IPv4Network((addr, plen), strict=False), i % max(1, n // 2)))
    return out


def analysis(
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000), brute: int = 3_000
) -> dict[str, Any]:
    """Overlap groups at 10k/100k/1M blocks, brute force where it finishes, and allocate."""
    from collector.analysis import find_overlap_groups, first_free

    out: dict[str, Any] = {}
    for n in sizes:
        blocks = _random_blocks(n, n)
        t0 = time.perf_counter()
        groups = find_overlap_groups(blocks)
        out[f"overlap_{n}_s"] = round(time.perf_counter() - t0, 3)
        out[f"overlap_{n}_groups"] = len(groups)
    # The million blocks above, still alive, made the collector's full passes land inside the
    # small timing below (0.52 s for 3,000 blocks): free them first.
    del blocks, groups
    gc.collect()
    small = _random_blocks(brute, 7)
    t0 = time.perf_counter()
    fast = find_overlap_groups(small)
    out[f"overlap_{brute}_s"] = round(time.perf_counter() - t0, 4)
    t0 = time.perf_counter()
    slow = _brute_force(small)
    out[f"brute_force_{brute}_s"] = round(time.perf_counter() - t0, 3)
    assert slow == fast
    out[f"speedup_vs_brute_force_{brute}"] = round(
        out[f"brute_force_{brute}_s"] / max(out[f"overlap_{brute}_s"], 1e-6)
    )
    out.update(report_and_lookup(max(sizes[:2])))
    out.update(read_path(max(sizes[:2]), READ_PAGE_LATENCY_S))
    used = [ipaddress.IPv4Network(((10 << 24) | (i << 8), 24)) for i in range(50_000)]
    random.Random(1).shuffle(used)
    t0 = time.perf_counter()
    free = first_free(ipaddress.IPv4Network("10.0.0.0/8"), 16, used)
    out["allocate_50k_used_s"] = round(time.perf_counter() - t0, 3)
    out["allocate_result"] = str(free)
    return out


def report_and_lookup(n: int) -> dict[str, Any]:
    """The HTML report and `lookup` over n VPCs (in memory: the read path is measured apart)."""
    import tracemalloc
    from datetime import UTC, datetime

    from bench.inventory import synthetic_vpcs
    from collector.analysis import build_audit
    from collector.analysis.lookup import BlockIndex, lookup
    from collector.report import render_html

    t = datetime(2026, 11, 27, tzinfo=UTC)
    vpcs = synthetic_vpcs(n)
    audit = build_audit(vpcs, [], now=t)
    t0 = time.perf_counter()
    page = render_html(audit)
    html_s = time.perf_counter() - t0
    # The peak apart: tracemalloc slows every allocation, so it must not be on the clock.
    tracemalloc.start()
    render_html(audit)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.perf_counter()
    index = BlockIndex(vpcs)
    index_s = time.perf_counter() - t0
    rng = random.Random(3)
    t0 = time.perf_counter()
    for _ in range(1000):
        lookup(ipaddress.ip_network((10 << 24) | rng.getrandbits(24)), index)
    return {
        f"html_{n}_vpcs_s": round(html_s, 2),
        f"html_{n}_vpcs_peak_mb": round(peak / 2**20, 1),
        f"html_{n}_vpcs_page_mb": round(len(page) / 2**20, 1),
        f"lookup_index_{n}_s": round(index_s, 3),
        f"lookup_{n}_ms_per_query": round((time.perf_counter() - t0), 3),
    }


def _brute_force(blocks: list[tuple[Any, int]]) -> list[list[int]]:
    parent = list(range(len(blocks)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, (a, oa) in enumerate(blocks):
        for j in range(i + 1, len(blocks)):
            b, ob = blocks[j]
            if oa != ob and a.overlaps(b):
                parent[find(j)] = find(i)
    comps: dict[int, list[int]] = {}
    for i in range(len(blocks)):
        comps.setdefault(find(i), []).append(i)
    return [c for c in comps.values() if len(c) > 1]


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
        if "events" in r:
            print("events: " + ", ".join(f"{k}={v}" for k, v in r["events"].items()))
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
