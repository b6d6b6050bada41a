"""Bounded randomized soak: >= 50 accounts x 4 regions under fault schedules.

CI runs it with a fixed seed. Locally: `make soak SEEDS="1 2 3"` or `make soak DURATION=600`
(new seeds until the time is up). VPCTRACKER_SOAK_REPORT=path writes the figures as JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.reliability.harness import run_schedule


def _seeds() -> list[int]:
    return [int(s) for s in os.environ.get("VPCTRACKER_SOAK_SEEDS", "101").split()]


@pytest.mark.slow
def test_soak() -> None:
    accounts = int(os.environ.get("VPCTRACKER_SOAK_ACCOUNTS", "50"))
    duration = float(os.environ.get("VPCTRACKER_SOAK_SECONDS", "0"))
    assert accounts >= 50, "the soak is defined over at least 50 accounts"
    seeds = _seeds()
    start = time.monotonic()
    totals: Counter[str] = Counter()
    targets: Counter[str] = Counter()
    report = {
        "accounts": accounts + 1,
        "regions": 4,
        "schedules": 0,
        "seeds": [],
        "vpcs_checked": 0,
        "vpcs_lost": 0,
        "false_deletes": 0,
        "invalid_reported": 0,
    }
    i = 0
    while i < len(seeds) or (duration and time.monotonic() - start < duration):
        seed = seeds[i] if i < len(seeds) else seeds[-1] + i
        i += 1
        with mock_aws():
            f = run_schedule(boto3.Session(region_name="us-east-1"), accounts=accounts, seed=seed)
        assert f.vpcs_lost == 0 and f.false_deletes == 0
        report["schedules"] += 1
        report["seeds"].append(seed)
        for key in ("vpcs_checked", "vpcs_lost", "false_deletes", "invalid_reported"):
            report[key] += getattr(f, key)
        totals.update(f.faults)
        targets.update(f.targets)
    report["faults_injected"] = dict(sorted(totals.items()))
    report["targets"] = dict(targets)
    report["seconds"] = round(time.monotonic() - start, 1)
    out = os.environ.get("VPCTRACKER_SOAK_REPORT")
    if out:
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
    assert report["schedules"] >= 1
