"""The bench's harness: the fake endpoint in its own process, and `bench.client` run in a fresh
process against it (its own CPU and RSS)."""

from __future__ import annotations

import compileall
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]


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


# The kinds of request unit the fake counts.
UNITS = ("read", "write", "index_write")


def units(counts: dict[str, Any]) -> dict[str, float]:
    """The DynamoDB request units in a `stats` answer (bench.fake_dynamodb bills them): read,
    the table's writes, and the owner index's."""
    return {k: round(float(counts.get(f"_{k}_units", 0.0)), 1) for k in UNITS}


def next_night(url: str) -> None:
    """Move the fake organization on one night (a few VPCs created and deleted)."""
    urllib.request.urlopen(f"{url}/__night", timeout=10).read()  # noqa: S310 - loopback


def set_latency(url: str, seconds: float, table: float | None = None) -> None:
    """Every call's latency from now on; with `table`, DynamoDB's apart (as a table in the
    function's region answers in milliseconds where EC2 takes a tenth of a second)."""
    query = f"s={seconds}" + (f"&table={table}" if table is not None else "")
    urllib.request.urlopen(f"{url}/__latency?{query}", timeout=10).read()  # noqa: S310 - loopback


def rounded(measures: dict[str, Any]) -> dict[str, Any]:
    """A client's measures, floats to two places."""
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in measures.items()}


@functools.cache
def byte_compiled() -> None:
    """Byte-compile the package once, before the first measured process: an installed package
    has its byte code (pip writes it; the Lambda zip carries it), where a checkout run with
    PYTHONDONTWRITEBYTECODE set (as this machine's images are) compiled every module it
    imported in every measured process: the audit's imports 0.51-0.72 s of CPU against
    0.41-0.66 s compiled, measured (docs/benchmarks.md)."""
    compileall.compile_dir(ROOT / "collector", quiet=1)


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
    byte_compiled()
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
