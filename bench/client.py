"""Benchmark client: runs one measured job in its own process and writes its figures as JSON.

    python -m bench.client collect  OUT.json --workers 32
    python -m bench.client baseline OUT.json
    python -m bench.client percall  OUT.json
    python -m bench.client fill     OUT.json --items 100000   (the worst case: half overlap)
    python -m bench.client fill_landing_zone OUT.json --items 100000
    python -m bench.client audit    OUT.json      (the table read path; also: allocate)
    python -m bench.client events   OUT.json      (live updates: one event, then a burst)

The fake endpoint is reached through AWS_ENDPOINT_URL, as any AWS-compatible endpoint would be.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from bench.baselines import baseline, threaded
from bench.harness import UNITS, units
from bench.measure import ChildPeaks, cpu, peak_rss_mb

TOPIC = f"arn:aws:sns:us-east-1:{'0' * 11}1:vpctracker-findings"


def _config(workers: int) -> str:
    # BENCH_PROCESSES: scan.processes (unset: the collector's default, the CPUs available).
    processes = os.environ.get("BENCH_PROCESSES", "")
    scan = f"max_workers: {workers}" + (f", processes: {processes}" if processes else "")
    # BENCH_CHANGED_ONLY: table.rewrite_unchanged false (unchanged items are not written).
    table = "name: VPCTracker, region: us-east-1"
    if os.environ.get("BENCH_CHANGED_ONLY"):
        table += ", rewrite_unchanged: false"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(
            f"regions: all\ntable: {{{table}}}\n"
            f"scan: {{{scan}}}\n"
            # The fake answers Publish: a run announces what it records, as the function does.
            f"notify: {{topic_arn: '{TOPIC}'}}\n"
        )
    return f.name


def cli(args: list[str], workers: int = 32) -> dict[str, Any]:
    """One real `vpctracker` command (the CLI's main, output to stdout), measured."""
    from collector.cli import main

    config = _config(workers)
    cpu0, t0 = cpu(), time.perf_counter()
    code = main([*args, "--config", config, "--format", "json"])
    return {"exit_code": code, "wall_s": time.perf_counter() - t0, "cpu_s": cpu() - cpu0}


def collect(workers: int) -> dict[str, Any]:
    """The real `vpctracker collect` code path, measured."""
    return cli(["collect"], workers)


def collect_later(workers: int, days: float) -> dict[str, Any]:
    """`vpctracker collect` as its command runs it (the run, then its findings recorded), on a
    clock `days` ahead: a night on which the TTL refreshes of standing findings are due. The
    CLI has no clock to move, so this calls what `cmd_collect` calls, with one injected."""
    from datetime import UTC, datetime, timedelta

    from collector.config import load_config
    from collector.jobs.collect import run
    from collector.jobs.findings import remember_findings
    from collector.jobs.options import RunOptions

    config = load_config(_config(workers))
    ahead = timedelta(days=days)
    opts = RunOptions(clock=lambda: datetime.now(UTC) + ahead)
    cpu0, t0 = cpu(), time.perf_counter()
    summary = run(config, opts)
    remember_findings(config, summary, opts)
    return {
        "exit_code": summary.exit_code,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": cpu() - cpu0,
        "summary": summary.to_dict(),
    }


def fill(n: int, landing_zone: bool = False) -> dict[str, Any]:
    """Write n synthetic VPC items with the collector's own writer (for the read path), and
    the connectivity item each scanned (account, region) leaves, as a night of the synthetic
    organization's 1,000 accounts in 17 regions would: most list nothing. The VPCs are the
    worst case (`synthetic_vpcs`) or, with `landing_zone`, a landing zone's
    (`landing_zone_vpcs`), its network account's TGWs, route tables and peerings listed
    (`landing_zone_connectivity`)."""
    from bench.inventory import (
        landing_zone_connectivity,
        landing_zone_vpcs,
        synthetic_connectivity,
        synthetic_vpcs,
    )
    from collector.models import TgwRouteTable
    from collector.store.connectivity import connectivity_items, route_table_items
    from collector.store.vpcs import to_item
    from collector.store.writer import BatchWriter

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    expires = int(time.time()) + 86400 * 90
    vpcs = landing_zone_vpcs(n) if landing_zone else synthetic_vpcs(n)
    tables: list[TgwRouteTable] = []
    if landing_zone:
        targets, tables = landing_zone_connectivity(vpcs)
    else:
        targets = synthetic_connectivity()
    with BatchWriter(ddb, "VPCTracker") as writer:
        writer.add_all(to_item(v) for v in vpcs)
        # A TGW owner's item lists thousands of attachments: parts, as a scan writes it.
        writer.add_all(i for c in targets for i in connectivity_items(c, expires))
        writer.add_all(i for t in tables for i in route_table_items(t, expires))
    return {
        "exit_code": 0,
        "items": n,
        "connectivity_items": len(targets),
        "route_tables": len(tables),
    }


class _Context:
    """A Lambda context with the whole 15 minutes ahead."""

    function_name = "vpctracker"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _cloudtrail(account: str, region: str, n: int) -> dict[str, Any]:
    """A CreateVpc event as EventBridge delivers it (the fields the function reads)."""
    return {
        "version": "0",
        "id": f"bench-{n}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": account,
        "time": "2026-11-27T03:00:00Z",
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventTime": "2026-11-27T03:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "CreateVpc",
            "awsRegion": region,
            "recipientAccountId": account,
            "requestParameters": {"cidrBlock": "10.0.0.0/16"},
            "responseElements": {"vpc": {"vpcId": "vpc-0bench"}},
        },
    }


def _sqs_record(n: int, body: dict[str, Any], sent: float) -> dict[str, Any]:
    return {
        "messageId": f"m-{n}",
        "receiptHandle": f"r-{n}",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(sent * 1000))},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000001:vpctracker-events",
        "awsRegion": "us-east-1",
    }


def _fake_stats() -> dict[str, Any]:
    import urllib.request

    url = os.environ["AWS_ENDPOINT_URL"] + "/__stats"
    with urllib.request.urlopen(url) as r:  # noqa: S310 - the local fake endpoint
        return dict(json.load(r))


def _scans() -> int:
    return int(_fake_stats().get("ec2.DescribeVpcs", 0))


def _units() -> dict[str, float]:
    """DynamoDB's request units billed so far (the fake counts them: bench.fake_dynamodb)."""
    return units(_fake_stats())


def _units_since(before: dict[str, float]) -> dict[str, float]:
    now = _units()
    return {kind: now[kind] - before[kind] for kind in UNITS}


def events(
    workers: int, targets: int, burst: int, batch: int, warm: bool = False
) -> dict[str, Any]:
    """Live updates at the hub, on the populated table: the function itself from an event's
    arrival to its item written and notification published, one target at a time; then a
    burst of `burst` events over `targets` targets delivered as the event source mapping
    delivers them (SQS batches of `batch`, one invocation each). With `warm`, each target is
    rescanned once first, untimed: a table the bench filled with items of its own then holds,
    for the targets the events rescan, what the fake's organization holds, as a table the
    nights wrote would (its first rescan of a target otherwise rewrites it whole)."""
    import random
    import statistics

    from collector.handler import handler
    from collector.jobs.views import CLOCK_SKEW

    os.environ.update(
        VPCTRACKER_TABLE="VPCTracker",
        VPCTRACKER_TABLE_REGION="us-east-1",
        VPCTRACKER_REGIONS="all",
        VPCTRACKER_MAX_WORKERS=str(workers),
        VPCTRACKER_NOTIFY_TOPIC_ARN=TOPIC,
    )
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    stored = sorted(
        {
            (i["OwnerId"]["S"], i["Region"]["S"])
            for page in ddb.get_paginator("scan").paginate(
                TableName="VPCTracker", ProjectionExpression="VpcId, OwnerId, Region"
            )
            for i in page["Items"]
            if i["VpcId"]["S"].startswith("vpc-")
        }
    )
    rng = random.Random(0)
    chosen = rng.sample(stored, min(targets, len(stored)))
    targets = len(chosen)
    if warm:
        for n, (account, region) in enumerate(chosen):
            answer = handler(_cloudtrail(account, region, n), _Context())
            assert answer.get("ok") is True, answer
        time.sleep(CLOCK_SKEW.total_seconds())
    cpu0 = cpu()
    single: list[float] = []
    # Each single event's request units (read, write, index write) apart from its timing.
    billed: list[dict[str, float]] = []
    for n, (account, region) in enumerate(chosen[:10]):
        if n:
            # Single events, not a burst (measured below): each starts once the clock skew
            # past the previous one's recording has gone by, which an event after another
            # recorder's recording waits out first (jobs.views; this process waits out none
            # past its own since ba83ad5, so here it changes nothing but the pace).
            time.sleep(CLOCK_SKEW.total_seconds())
        units0 = _units()
        t0 = time.perf_counter()
        answer = handler(_cloudtrail(account, region, n), _Context())
        single.append(time.perf_counter() - t0)
        billed.append(_units_since(units0))
        assert answer.get("ok") is True, answer
    stream = [chosen[n % targets] for n in range(burst)]
    rng.shuffle(stream)
    # The burst reaches the queue at once, a little (more than the clock skew the function
    # allows) before the first batch is taken; after the single events' scans started, so
    # none of those counts as having seen it.
    time.sleep(3)
    sent = time.time() - 2
    scans0, units0 = _scans(), _units()
    t0, walls, failed = time.perf_counter(), [], 0
    for start in range(0, burst, batch):
        records = [
            _sqs_record(start + k, _cloudtrail(a, r, start + k), sent)
            for k, (a, r) in enumerate(stream[start : start + batch])
        ]
        b0 = time.perf_counter()
        failed += len(handler({"Records": records}, _Context())["batchItemFailures"])
        walls.append(time.perf_counter() - b0)
    burst_units = _units_since(units0)
    return {
        "exit_code": 0 if failed == 0 else 1,
        "event_freshness_s": statistics.median(single),
        "event_freshness_max_s": max(single),
        "burst_events": burst,
        "burst_targets": targets,
        "burst_batches": len(walls),
        "burst_scans": _scans() - scans0,
        "burst_wall_s": time.perf_counter() - t0,
        "burst_batch_max_s": max(walls),
        "burst_failed_messages": failed,
        # DynamoDB's request units (bench.fake_dynamodb): one event's, the median of the
        # single events; the burst's, all of them.
        **{f"event_{k}_units": statistics.median(b[k] for b in billed) for k in UNITS},
        **{f"burst_{k}_units": burst_units[k] for k in UNITS},
        "cpu_s": cpu() - cpu0,
    }


def recording() -> dict[str, Any]:
    """A full recording of the table as it is, what a night's recording does after its scan
    (the first one sets the baseline and the block index: jobs.blockindex)."""
    from collector.config import Config
    from collector.jobs.findings import record_findings
    from collector.jobs.options import RunOptions

    config = Config.model_validate(
        {"regions": "all", "table": {"name": "VPCTracker", "region": "us-east-1"}}
    )
    cpu0 = cpu()
    record = record_findings(config, RunOptions(session=boto3.Session()))
    return {"exit_code": 0, "findings": record.to_dict(), "cpu_s": cpu() - cpu0}


def percall(workers: int = 1, n: int = 300) -> dict[str, Any]:
    """CPU of one DescribeVpcs call on a warm, shared client (the unit of the lower bound).

    With `workers` > 1, that many threads share the client and make the calls together, as
    the collector's do: on an endpoint with the run's latency this is the floor a
    latency-bound client can reach (the interpreter lock shared, threads woken per answer),
    not a hot loop in one thread."""
    from concurrent.futures import ThreadPoolExecutor

    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.describe_vpcs()
    calls = max(n, workers * 10)
    cpu0 = cpu()
    if workers <= 1:
        for _ in range(calls):
            ec2.describe_vpcs()
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda _: ec2.describe_vpcs(), range(calls)))
    return {"single_call_cpu_s": (cpu() - cpu0) / calls}


def main() -> None:
    from collector.arenas import limit_arenas

    # What each process of the tool does first (the console script, the function, a worker).
    limit_arenas()
    mode, out = sys.argv[1], Path(sys.argv[2])
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 32
    items = int(sys.argv[sys.argv.index("--items") + 1]) if "--items" in sys.argv else 0
    days = float(sys.argv[sys.argv.index("--days") + 1]) if "--days" in sys.argv else 0.0
    children = ChildPeaks()
    modes: dict[str, Callable[[], dict[str, Any]]] = {
        "collect": lambda: collect(workers),
        "collect_later": lambda: collect_later(workers, days),
        "fill": lambda: fill(items),
        "fill_landing_zone": lambda: fill(items, landing_zone=True),
        "audit": lambda: cli(["audit"]),
        "allocate": lambda: cli(["allocate", "--pool", "172.16.0.0/12", "--prefix-length", "16"]),
        # The first synthetic VPC's block (`bench.inventory`): held at any size.
        "lookup": lambda: cli(["lookup", "10.0.0.5"]),
        "baseline": baseline,
        "threaded": lambda: threaded(32),
        "percall": lambda: percall(workers),
        "events": lambda: events(workers, targets=100, burst=1000, batch=100),
        "events_warm": lambda: events(workers, targets=100, burst=1000, batch=100, warm=True),
        "recording": recording,
    }
    result = modes[mode]()
    workers_peak = children.stop()
    result["peak_rss_mb"] = max(peak_rss_mb(), children.own)
    # Worker processes run beside this one: the run's memory is all of them together.
    result["worker_peak_rss_mb"] = sorted(workers_peak.values())
    result["total_peak_rss_mb"] = result["peak_rss_mb"] + sum(workers_peak.values())
    # At least any one process's own peak, which a sample can fall between.
    result["together_peak_rss_mb"] = max(
        children.together, result["peak_rss_mb"], *workers_peak.values()
    )
    result["together_shared_once_mb"] = children.shared_once
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
