"""End to end over real HTTP: moto server on 127.0.0.1, the `vpctracker` console script as a
subprocess, configured only through the standard AWS environment (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from collector.demo import delete_default_vpc, member_clients

VPCTRACKER = str(Path(sys.executable).parent / "vpctracker")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        yield url
    finally:
        server.stop()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VPCTRACKER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )


@pytest.mark.slow
def test_console_script_against_moto_server(endpoint: str, tmp_path: Path) -> None:
    session = boto3.Session(region_name="us-east-1")
    orgs = session.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    mgmt = session.client("sts").get_caller_identity()["Account"]
    members = [
        orgs.create_account(Email=f"m{i}@example.com", AccountName=f"member-{i}")[
            "CreateAccountStatus"
        ]["AccountId"]
        for i in range(3)
    ]
    expected = set()
    for i, acct in enumerate([mgmt, *members]):
        ec2 = member_clients(session, acct, "us-east-1")
        delete_default_vpc(ec2)
        vid = ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"]
        expected.add((vid, acct, f"10.{i}.0.0/16"))

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "regions: [us-east-1]\ntable: {name: VPCTracker-e2e, region: us-east-1}\n"
        "scan: {max_workers: 4}\n"
    )

    missing = cli("collect", "--config", str(cfg))
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "vpctracker: error: table VPCTracker-e2e not found: create it with "
        "`vpctracker init-table`, then fill it with `vpctracker collect`"
    )

    first = cli("init-table", "--config", str(cfg))
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    again = cli("init-table", "--config", str(cfg))
    assert again.returncode == 0 and "already exists" in again.stdout

    run = cli("collect", "--config", str(cfg), "--format", "json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["targets"] == {"total": 4, "ok": 4, "skipped": 0, "failed": 0}
    assert summary["vpcs_seen"] == summary["vpcs_written"] == 4
    assert summary["exit_code"] == 0

    items = session.client("dynamodb").scan(TableName="VPCTracker-e2e")["Items"]
    vpc_items = [i for i in items if i["VpcId"]["S"].startswith("vpc-")]
    assert {(i["VpcId"]["S"], i["OwnerId"]["S"], i["CidrBlock"]["S"]) for i in vpc_items} == (
        expected
    )

    text = cli("collect", "--config", str(cfg), "--account", members[0])
    assert text.returncode == 0, text.stderr
    assert "targets: 1 (1 ok, 0 skipped, 0 failed)" in text.stdout

    unknown = cli("collect", "--config", str(cfg), "--account", "000000000001")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "vpctracker: error: --account 000000000001: not an account of this organization"
    )
    assert "Traceback" not in unknown.stderr
