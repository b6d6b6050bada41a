"""Issue 13 end to end: the `vpctracker` console script against the moto server, where a
shared-services VPC is peered with two accounts that chose the same range (a conflict) and two
isolated sandboxes share a range (latent); the gate's `--fail-on conflict` tells them apart."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from collector.demo import delete_default_vpc, member_clients
from tests.integration.test_server_e2e import VPCTRACKER


@pytest.fixture
def world(tmp_path: Path, moto_url: str) -> Iterator[tuple[dict[str, str], Path]]:
    session = boto3.Session(region_name="us-east-1")
    orgs = session.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    ids = {"shared": session.client("sts").get_caller_identity()["Account"]}
    for name in ("app-b", "app-c", "sandbox-d", "sandbox-e"):
        ids[name] = orgs.create_account(Email=f"{name}@example.com", AccountName=name)[
            "CreateAccountStatus"
        ]["AccountId"]
    ec2 = {n: member_clients(session, a, "us-east-1") for n, a in ids.items()}
    for client in ec2.values():
        delete_default_vpc(client)
    cidr = {
        "shared": "10.0.0.0/16",
        "app-b": "10.40.0.0/16",
        "app-c": "10.40.0.0/16",
        "sandbox-d": "10.77.0.0/16",
        "sandbox-e": "10.77.0.0/16",
    }
    vpc = {n: ec2[n].create_vpc(CidrBlock=c)["Vpc"]["VpcId"] for n, c in cidr.items()}
    for peer in ("app-b", "app-c"):
        pcx = ec2["shared"].create_vpc_peering_connection(
            VpcId=vpc["shared"], PeerVpcId=vpc[peer], PeerOwnerId=ids[peer]
        )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        ec2[peer].accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("regions: [us-east-1]\ntable: {name: VPCTracker-conflicts}\n")
    assert cli("init-table", "--config", str(cfg)).returncode == 0
    yield ids, cfg


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VPCTRACKER, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_a_shared_peer_conflict_fails_the_gate_and_a_sandbox_clash_does_not(
    world: tuple[dict[str, str], Path],
) -> None:
    ids, cfg = world
    collected = cli("collect", "--config", str(cfg))
    assert collected.returncode == 0, collected.stdout + collected.stderr

    audit = json.loads(cli("audit", "--config", str(cfg), "--format", "json").stdout)
    by_span = {g["span"]: g for g in audit["overlap_groups"]}
    assert audit["summary"]["conflicts"] == 1
    shared = by_span["10.40.0.0/16"]
    assert shared["severity"] == "conflict"
    (conflict,) = shared["conflicts"]
    assert {conflict["a"]["OwnerId"], conflict["b"]["OwnerId"]} == {ids["app-b"], ids["app-c"]}
    assert conflict["at"].startswith("vpc-") and len(conflict["via"]) == 2
    assert all(v.startswith("pcx-") for v in conflict["via"])
    assert by_span["10.77.0.0/16"] == {
        **by_span["10.77.0.0/16"],
        "severity": "latent",
        "conflicts": [],
    }

    only = json.loads(
        cli("audit", "--config", str(cfg), "--format", "json", "--severity", "conflict").stdout
    )
    assert [g["span"] for g in only["overlap_groups"]] == ["10.40.0.0/16"]
    table = cli("audit", "--config", str(cfg)).stdout
    assert table.index("CONFLICT 10.40.0.0/16") < table.index("LATENT 10.77.0.0/16")

    # The gate: with --fail-on conflict only the conflict fails; the latent clash is a warning.
    gate = cli("check", "--config", str(cfg), "--account", ids["app-b"], "--fail-on", "conflict")
    assert gate.returncode == 3, gate.stdout
    sandbox = cli(
        "check",
        "--config",
        str(cfg),
        "--account",
        ids["sandbox-d"],
        "--fail-on",
        "conflict",
        "--format",
        "json",
    )
    assert sandbox.returncode == 0, sandbox.stdout
    result = json.loads(sandbox.stdout)
    assert result["verdict"] == "clean" and result["fail_on"] == ["conflict"]
    assert [g["span"] for g in result["warnings"]["overlap_groups"]] == ["10.77.0.0/16"]
    # The default gate still fails on any overlap.
    default = cli("check", "--config", str(cfg), "--account", ids["sandbox-d"])
    assert default.returncode == 3
    bad = cli("check", "--config", str(cfg), "--account", ids["sandbox-d"], "--fail-on", "clash")
    assert (
        bad.returncode == 1 and "'clash' is not one of overlap, conflict, default-vpc" in bad.stderr
    )

    # Allocation next to the shared VPC avoids only what it reaches.
    near = cli(
        "allocate",
        "--config",
        str(cfg),
        "--pool",
        "10.40.0.0/15",
        "--prefix-length",
        "16",
        "--connected-to",
        json.loads(cli("audit", "--config", str(cfg), "--format", "json").stdout)["overlap_groups"][
            0
        ]["conflicts"][0]["at"],
    )
    assert near.stdout.strip() == "10.41.0.0/16"
    free_for_sandbox = cli(
        "allocate",
        "--config",
        str(cfg),
        "--pool",
        "10.77.0.0/16",
        "--prefix-length",
        "16",
        "--connected-to",
        conflict["a"]["VpcId"],
    )
    assert free_for_sandbox.stdout.strip() == "10.77.0.0/16"  # the sandboxes are not in reach
