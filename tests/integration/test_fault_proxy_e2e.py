"""Issue 10 end to end: the `vpctracker` console script against the moto server, through a
fault-injecting HTTP front (AuthFailure, a proxy's 502 page, slow answers), then Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from collector.demo import delete_default_vpc, member_clients
from tests.faultproxy import FaultProxy
from tests.integration.test_server_e2e import VPCTRACKER

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture
def world(tmp_path: Path, moto_url: str) -> Iterator[tuple[FaultProxy, dict[str, str], Path]]:
    """moto server with an organization (management + 3 members, one VPC per target), a
    table filled by a first fault-free collect, and the fault proxy in front of it."""
    session = boto3.Session(region_name="us-east-1")
    clients = {svc: session.client(svc) for svc in ("organizations", "sts")}
    clients["organizations"].create_organization(FeatureSet="ALL")
    accounts = {"management": clients["sts"].get_caller_identity()["Account"]}
    for i in range(3):
        accounts[f"member-{i}"] = clients["organizations"].create_account(
            Email=f"m{i}@example.com", AccountName=f"member-{i}"
        )["CreateAccountStatus"]["AccountId"]
    n = 0
    for acct in accounts.values():
        for region in REGIONS:
            ec2 = member_clients(session, acct, region)
            delete_default_vpc(ec2)
            ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")
            n += 1
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"regions: [{', '.join(REGIONS)}]\ntable: {{name: VPCTracker, region: us-east-1}}\n"
        "scan: {max_workers: 2}\n"
    )
    with FaultProxy(moto_url) as proxy:
        first = cli(proxy, "init-table", "--config", str(cfg))
        assert first.returncode == 0, first.stderr
        assert cli(proxy, "collect", "--config", str(cfg)).returncode == 0
        yield proxy, accounts, cfg


def env(proxy: FaultProxy) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": proxy.url}


def cli(proxy: FaultProxy, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VPCTRACKER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(proxy),
        check=False,
    )


@pytest.mark.slow
def test_check_is_incomplete_when_every_region_answers_auth_failure(
    world: tuple[FaultProxy, dict[str, str], Path],
) -> None:
    proxy, accounts, cfg = world
    proxy.add("auth", service="ec2", operation="DescribeVpcs")
    acct = accounts["member-1"]
    got = cli(proxy, "check", "--config", str(cfg), "--account", acct, "--format", "json")
    assert got.returncode == 2, got.stderr
    result = json.loads(got.stdout)
    assert result["verdict"] == "incomplete" and result["scan_complete"] is False
    assert {(n["region"], n["error_code"]) for n in result["not_scanned"]} == {
        ("us-east-1", "AuthFailure"),
        ("eu-west-1", "AuthFailure"),
    }
    assert result["scan"]["targets"] == {"total": 2, "ok": 0, "skipped": 0, "failed": 2}
    text = cli(proxy, "check", "--config", str(cfg), "--account", acct)
    assert text.returncode == 2
    assert text.stdout.rstrip().endswith(
        "INCOMPLETE: the scan of these accounts failed in part; cannot certify"
    )


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "code"), [("text502", "ResponseParserError"), ("html502", "502")])
def test_a_proxy_error_page_in_one_region_fails_only_those_targets(
    world: tuple[FaultProxy, dict[str, str], Path], kind: str, code: str
) -> None:
    proxy, accounts, cfg = world
    proxy.add(kind, service="ec2", region="eu-west-1", operation="DescribeVpcs")
    got = cli(proxy, "collect", "--config", str(cfg), "--format", "json")
    assert got.returncode == 2, got.stderr
    assert "Traceback" not in got.stderr
    summary = json.loads(got.stdout)
    assert summary["targets"] == {"total": 8, "ok": 4, "skipped": 0, "failed": 4}
    assert {(f["region"], f["error_code"]) for f in summary["failures"]} == {("eu-west-1", code)}
    assert all(len(f["message"]) <= 500 for f in summary["failures"])
    assert summary["vpcs_written"] == 4 and summary["marked_deleted"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_slow_run_within_two_seconds(
    world: tuple[FaultProxy, dict[str, str], Path], sig: signal.Signals
) -> None:
    proxy, accounts, cfg = world
    # us-east-1 answers at once; every eu-west-1 scan takes a minute.
    proxy.add("delay", service="ec2", region="eu-west-1", operation="DescribeVpcs", seconds=60)
    proc = subprocess.Popen(
        [VPCTRACKER, "collect", "--config", str(cfg), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # On SIGABRT it prints every thread's stack: where a run that did not stop hangs.
        env={**env(proxy), "PYTHONFAULTHANDLER": "1"},
    )
    try:
        time.sleep(6)  # the fast targets finish; both workers now wait on slow ones
        assert proc.poll() is None
        t0 = time.monotonic()
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            # Seen once under load, not reproduced since: the stacks say what held the run.
            proc.send_signal(signal.SIGABRT)
            err = proc.communicate(timeout=30)[1]
            pytest.fail(f"still running 30 s after {sig.name}; its threads:\n{err[-12000:]}")
        elapsed = time.monotonic() - t0
    finally:
        proc.kill()
    assert elapsed < 2.0, elapsed
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["interrupted"] is True and summary["exit_code"] == 130
    assert summary["marked_deleted"] == 0
    codes = {f["error_code"] for f in summary["failures"]}
    assert codes == {"Interrupted"}
    assert summary["targets"]["ok"] >= 1
    assert summary["vpcs_written"] == summary["vpcs_seen"] >= 1
