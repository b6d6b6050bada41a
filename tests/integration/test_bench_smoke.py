"""The benchmark keeps working (a tiny run in CI). Timings are not asserted: they are
measured and reported by `make bench`, never in tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
KEYS = {
    "targets",
    "wall_s",
    "client_cpu_s",
    "cpu_ms_per_target",
    "peak_rss_mb",
    "requests",
    "lower_bound_s",
    "ratio_to_lower_bound",
    "baseline_wall_s",
    "baseline_cpu_ms_per_target",
    "speedup_vs_baseline",
    "analysis",
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
    assert set(result) >= KEYS
    assert result["targets"] == 12
    # Every request the fake endpoint served is counted, and the scan made at least one
    # DescribeVpcs per target plus the per-account calls.
    assert result["requests"] >= 12 + 3 * 4
    assert result["analysis"]["overlap_2000_groups"] >= 0
    assert "accounts | regions | targets" in proc.stdout
