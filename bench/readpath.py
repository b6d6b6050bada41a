"""`bench.run --analysis`: the overlap analysis at 10k-1M blocks against brute force, the HTML
report and `lookup` over 100k VPCs in memory, and the read path (`audit`, `allocate`, `lookup`
on a table of 100k VPC items) through the fake endpoint."""

from __future__ import annotations

import gc
import ipaddress
import random
import time
from typing import Any

from bench.harness import UNITS, client, fake_endpoint, rounded, set_latency, stats, units

# A 1 MB Scan page inside one region: tens of milliseconds.
READ_PAGE_LATENCY_S = 0.02


def read_path(n: int, latency: float, landing_zone: bool = False) -> dict[str, Any]:
    """`audit`, `allocate` and `lookup` on a table of n VPC items (filled at no latency, read
    at `latency` per request): the table read every report, allocation and lookup starts
    with. With `landing_zone`, `audit` alone on a landing zone's VPCs (`landing_zone_vpcs`:
    few overlap groups, where the worst case's table holds 51,696) and its network account's
    TGWs and peerings (`landing_zone_connectivity`: the conflict pass over a hub that routes to
    most VPCs), its figures named `audit_{n}_landing_zone_items_*`; then live events on that
    table (`events_at_scale`)."""
    out: dict[str, Any] = {}
    # The landing zone's table is filled by the accounts of the bench's organization: the
    # events after its audit rescan targets of it, so the fake holds that organization.
    org = (1000, 17, "1-2", 0.0, 0.0, "landing-zone") if landing_zone else (1, 1, "1", 0.0, 0.0)
    with fake_endpoint(*org) as url:
        client("fill_landing_zone" if landing_zone else "fill", url, items=n)
        modes = ("audit",) if landing_zone else ("audit", "allocate", "lookup")
        label = f"{n}_landing_zone" if landing_zone else str(n)
        # Each read once untimed first (each reads its own projection): the fake then answers
        # pages from each item's JSON as it first sent it (bench.fake_aws `Table.json_of`), at
        # almost no CPU, where encoding them again took 3.7-4.8 s of the two cores beside an
        # audit's read of 100k items (a real table's pages cost this machine nothing). Each
        # command timed is a fresh process: nothing of the client is warm.
        for mode in modes:
            client(mode, url)
        set_latency(url, latency)
        for mode in modes:
            stats(url, reset=True)
            r = client(mode, url)
            assert r["exit_code"] == 0, r
            if mode == "audit":
                assert r["summary"]["summary"]["unreadable_items"] == 0, r["summary"]["summary"]
                if landing_zone:
                    counts = r["summary"]["summary"]
                    out[f"audit_{label}_items_overlap_groups"] = counts["overlap_groups"]
                    out[f"audit_{label}_items_conflicts"] = counts["conflicts"]
            out[f"{mode}_{label}_items_wall_s"] = round(r["wall_s"], 2)
            out[f"{mode}_{label}_items_cpu_s"] = round(r["cpu_s"], 2)
            out[f"{mode}_{label}_items_peak_rss_mb"] = round(r["peak_rss_mb"], 1)
            counted = stats(url)
            out[f"{mode}_{label}_items_requests"] = sum(
                v for k, v in counted.items() if not k.startswith("_")
            )
            # The request units DynamoDB would bill the command (bench.fake_dynamodb).
            out[f"{mode}_{label}_items_read_units"] = units(counted)["read"]
        if landing_zone:
            out.update(events_at_scale(url, label))
    return out


# The headline's EC2 latency: an event's rescan as the live updates' measure makes it.
EVENT_EC2_LATENCY_S = 0.1


def events_at_scale(url: str, label: str) -> dict[str, Any]:
    """Live events on the read path's table (`bench.client events`: ten single events, then a
    burst of 1,000 over 100 targets in SQS batches of 100), EC2 at the headline's latency and
    the table at a real one's. First, untimed, a full recording of the table (a night's: it
    sets the block index, so an event that can only move its own target's findings reads that
    target, not the table: jobs.narrow) and one rescan of each target the events name (the
    table the bench filled then holds what the fake's organization holds for them, as a table
    the nights wrote would). Its figures named `event_{label}_items_*`."""
    set_latency(url, 0.0)
    assert client("recording", url)["exit_code"] == 0
    set_latency(url, EVENT_EC2_LATENCY_S, table=READ_PAGE_LATENCY_S)
    r = client("events_warm", url, 64)
    assert r["exit_code"] == 0, r
    return {f"event_{label}_items_{k}": v for k, v in rounded(r).items() if k in _EVENT_KEYS}


# What `events_at_scale` reports of `bench.client events`'s measures.
_EVENT_KEYS = {
    "event_freshness_s",
    "event_freshness_max_s",
    "burst_wall_s",
    "burst_batch_max_s",
    "burst_batches",
    "burst_scans",
    "burst_failed_messages",
    "cpu_s",
    "peak_rss_mb",
    *(f"event_{k}_units" for k in UNITS),
    *(f"burst_{k}_units" for k in UNITS),
}


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
    out.update(read_path(max(sizes[:2]), READ_PAGE_LATENCY_S, landing_zone=True))
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
