"""The benchmark keeps working (a tiny run in CI). Timings are not asserted: they are
measured and reported by `make bench`, never in tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# The keys issue 16 names for each run of `make bench`'s JSON line.
RUN_KEYS = {
    "targets",
    "requests",
    "required_requests",
    "wall_s",
    "client_cpu_s",
    "cpu_ms_per_target",
    "cpu_ms_per_request",
    "floor_cpu_ms_per_request",
    "floor_hot_cpu_ms_per_request",
    "ec2_throttled",
    "physical_bound_s",
    "ratio_to_bound",
    "peak_rss_mb",
    "sum_of_peaks_rss_mb",
    "peak_shared_once_mb",
    "coordinator_rss_mb",
    "worker_rss_mb",
    "processes",
    "steady_state",
    "speedup_vs_seed",
    "speedup_vs_threaded",
    "third_night",
    "audit_summary",
    "vpcs_seen",
    "invalid_records",
}


@pytest.mark.slow
def test_bench_smoke() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--accounts",
            "4",
            "--regions",
            "3",
            "--vpcs",
            "1-3",
            "--latency",
            "0.002",
            "--workers",
            "4",
            "--baseline",
            "--events",
            "--analysis",
            "--analysis-sizes",
            "2000",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"runs", "analysis"}
    (run,) = result["runs"]
    assert set(run) >= RUN_KEYS
    # 4 accounts x 3 regions, less the opt-in region of every 7th account (account 0).
    assert run["targets"] == 11 and run["steady_state"] is True
    # The landing-zone shape by default: every target needs DescribeVpcs and the TGW
    # attachments, one with a VPC subnets and peerings too; the network account (the second,
    # VPCs in all three regions) also its TGW's route tables: one call, then three for each of
    # the two tables; every account AssumeRole and DescribeRegions, and the listing.
    assert run["shape"] == "landing-zone"
    network, accounts = 3 * (4 + 1 + 3 * 2), 4 * 2 + 1
    assert accounts + network + 8 * 2 <= run["required_requests"] <= accounts + network + 8 * 4
    assert run["requests"] > run["required_requests"]
    # `audit`'s summary of the measured night's table: its VPCs (the network account's six among
    # them), and whether some network routes to both sides of an overlap.
    assert run["audit_summary"]["vpc_count"] >= 6
    assert run["audit_summary"]["conflicts"] >= 0
    # The run's memory at once is at least any one process's peak, and at most all their
    # peaks together.
    assert run["coordinator_rss_mb"] <= run["peak_rss_mb"] <= run["sum_of_peaks_rss_mb"]
    assert all(w <= run["peak_rss_mb"] for w in run["worker_rss_mb"])
    # Shared pages once is less than the RSS summed; it is read from smaps_rollup (the pages
    # walked), which can be a little above status' batched counters: 1 MB of room.
    assert 0 < run["peak_shared_once_mb"] <= run["peak_rss_mb"] + 1
    assert result["analysis"]["overlap_2000_groups"] >= 0
    # The read path: each report command on the 2,000 filled items (each exits 0, or the run
    # fails), `lookup` with its by-key read of the VPC holding the address.
    for mode in ("audit", "allocate", "lookup"):
        assert result["analysis"][f"{mode}_2000_items_requests"] > 0
    # And `audit` on a landing zone's 2,000: the shared ranges' groups, no more.
    assert result["analysis"]["audit_2000_landing_zone_items_requests"] > 0
    assert 1 <= result["analysis"]["audit_2000_landing_zone_items_overlap_groups"] <= 40
    # Its network account's TGWs route to the VPCs that share the pod range: conflicts.
    assert result["analysis"]["audit_2000_landing_zone_items_conflicts"] >= 1
    # Live events on that table (its VPCs' accounts are the fake organization's): the burst's
    # ten batches, every message processed.
    assert result["analysis"]["event_2000_landing_zone_items_burst_batches"] == 10
    assert result["analysis"]["event_2000_landing_zone_items_burst_failed_messages"] == 0
    assert result["analysis"]["event_2000_landing_zone_items_burst_scans"] >= 1
    # Live updates: 1,000 events over every target, in batches of 100, scan each target once.
    events = run["events"]
    assert events["burst_failed_messages"] == 0 and events["burst_batches"] == 10
    # Over every target that holds a VPC (in the landing-zone shape, not all 11): one scan each.
    assert 1 <= events["burst_targets"] <= 11
    assert events["burst_scans"] == events["burst_targets"]
    # Again with the table at a real table's latency: the same targets, each scanned again (the
    # new burst's messages are younger than their scans).
    real = run["events_real_table"]
    assert real["table_latency_s"] == 0.02 and real["burst_failed_messages"] == 0
    assert real["burst_scans"] == real["burst_targets"] == events["burst_targets"]
    # The third night, on a clock past a quarter of the retention: it ran whole, and recorded.
    third = run["third_night"]
    assert third["days_ahead"] > 90 / 4 and third["requests"] > 0
    assert third["known_findings"] >= third["findings_refreshed"] >= 0
    # DynamoDB's request units, billed by the fake as DynamoDB bills them (tests/contract holds
    # that to dynalite): the nights read and write (a VPC item is in the owner index too), an
    # event reads the table and writes its scan, `audit` only reads.
    for billed in (run["dynamodb_units"], third["dynamodb_units"]):
        assert billed["read"] > 0 and billed["write"] > 0 and billed["index_write"] > 0
    assert events["event_read_units"] > 0 and events["event_write_units"] > 0
    assert events["burst_read_units"] >= events["event_read_units"]
    assert result["analysis"]["audit_2000_items_read_units"] > 0
    assert result["analysis"]["event_2000_landing_zone_items_event_read_units"] > 0
    assert "accounts | regions | targets" in proc.stdout
