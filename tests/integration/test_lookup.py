"""Issue 14 through the CLI under moto: subnets collected, `lookup` for each kind of space
with its exit code, headroom in the audit and the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.cli import main
from tests.integration.conftest import Org, cli


@pytest.fixture
def subnets(org: Org) -> dict[str, str]:
    """workload-a's 10.1.0.0/16 gets an app subnet; sandbox's 10.9.0.0/16 is filled with /18s
    in one AZ (no room for another, single-AZ)."""
    a = org.ec2("workload-a", "us-east-1")
    (vpc,) = [v for v in org.api_vpcs("workload-a", "us-east-1") if v["CidrBlock"] == "10.1.0.0/16"]
    app = a.create_subnet(
        VpcId=vpc["VpcId"],
        CidrBlock="10.1.7.0/24",
        AvailabilityZone="us-east-1a",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "app"}]}],
    )["Subnet"]["SubnetId"]
    s = org.ec2("sandbox", "eu-west-1")
    (sandbox,) = org.api_vpcs("sandbox", "eu-west-1")
    for i in range(4):
        s.create_subnet(
            VpcId=sandbox["VpcId"], CidrBlock=f"10.9.{i * 64}.0/18", AvailabilityZone="eu-west-1a"
        )
    return {"vpc": vpc["VpcId"], "app": app, "sandbox": sandbox["VpcId"]}


def lookup(org: Org, capsys: pytest.CaptureFixture[str], cfg: Path, *q: str) -> tuple[int, str]:
    code, out, _ = cli(org, capsys, "lookup", "--config", str(cfg), *q)
    return code, out


def test_lookup_answers_for_each_kind_of_space(
    org: Org, subnets: dict[str, str], cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    code, out = lookup(org, capsys, cfg, "10.1.7.19", "--format", "json")
    assert code == 0
    # workload-b's clashing 10.1.0.0/16 holds the address too (in no subnet): both are named.
    matches = json.loads(out)["matches"]
    assert [(x["OwnerId"], x["SubnetId"] is None) for x in matches] == sorted(
        [(org.accounts["workload-a"], False), (org.accounts["workload-b"], True)]
    )
    (m,) = [x for x in matches if x["SubnetId"]]
    assert (m["VpcId"], m["SubnetId"], m["SubnetCidr"], m["SubnetName"], m["AvailabilityZone"]) == (
        subnets["vpc"],
        subnets["app"],
        "10.1.7.0/24",
        "app",
        "us-east-1a",
    )
    assert (m["OwnerId"], m["AccountName"], m["Name"]) == (
        org.accounts["workload-a"],
        "workload-a",
        "a-main",
    )

    code, out = lookup(org, capsys, cfg, "10.1.200.1", "--format", "json")
    inside = json.loads(out)["matches"]
    assert code == 0 and [x["SubnetId"] for x in inside] == [None, None]

    code, out = lookup(org, capsys, cfg, "192.168.1.1")
    assert code == 0 and "reserved range corporate-network: 192.168.0.0/16" in out

    code, out = lookup(org, capsys, cfg, "172.20.0.1")
    assert (
        code == 3 and out == "172.20.0.1: free (no VPC, reserved range or reservation holds it)\n"
    )

    with pytest.raises(SystemExit) as bad:  # argparse rejects it, with our exit code
        main(["lookup", "--config", str(cfg), "10.1.7.300"], session=org.session)
    err = capsys.readouterr().err
    assert bad.value.code == 1 and "'10.1.7.300' is not an IP address or CIDR block" in err

    # A CIDR: everything overlapping it, in text one line each.
    code, out = lookup(org, capsys, cfg, "10.0.0.0/14")
    assert code == 0 and "10.1.7.0/24 us-east-1a (app)" in out

    # Live, for one account: the same answer without reading the table.
    code, out = lookup(
        org, capsys, cfg, "10.1.7.19", "--live", "--account", org.accounts["workload-a"]
    )
    assert code == 0 and subnets["app"] in out


def test_headroom_in_the_audit_and_the_gate(
    org: Org, subnets: dict[str, str], cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    code, out, _ = cli(org, capsys, "audit", "--config", str(cfg), "--format", "json")
    audit = json.loads(out)
    assert [(f["VpcId"], f["Reason"]) for f in audit["headroom"]] == [
        (subnets["sandbox"], "no-room")
    ]
    assert {f["VpcId"] for f in audit["single_az"]} == {subnets["sandbox"], subnets["vpc"]}
    assert audit["summary"]["headroom"] == 1
    table = cli(org, capsys, "audit", "--config", str(cfg))[1]
    assert table.index("DEFAULT VPCS") < table.index("HEADROOM") < table.index("SINGLE-AZ VPCS")

    sandbox = org.accounts["sandbox"]
    code, out, _ = cli(
        org, capsys, "check", "--config", str(cfg), "--account", sandbox, "--format", "json"
    )
    result = json.loads(out)
    # By default headroom is a warning, not a failure.
    assert code == 0 and result["verdict"] == "clean"
    assert [f["VpcId"] for f in result["warnings"]["headroom"]] == [subnets["sandbox"]]
    code, out, _ = cli(
        org,
        capsys,
        "check",
        "--config",
        str(cfg),
        "--account",
        sandbox,
        "--fail-on",
        "overlap,default-vpc,headroom",
    )
    assert code == 3 and f"FAILS: 2 findings involving {sandbox} fail --fail-on" in out
