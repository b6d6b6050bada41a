"""Issue 24: what a network engineer expects — a gate that judges the checked account's own
pairs and says what it means, stale items apart, `first-seen` changes, and the inventory itself
(under moto, through the CLI entry point)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from collector.analysis.inventory import COLUMNS
from tests.faults import Faults
from tests.integration.conftest import Org, check_json, cli, now


def peer(org: Org, hub: str, hub_account: str, vpc: str, account: str) -> str:
    """A peering from the hub VPC to `vpc`, accepted by its account (all in us-east-1)."""
    pcx = org.ec2(hub_account, "us-east-1").create_vpc_peering_connection(
        VpcId=hub, PeerVpcId=vpc, PeerOwnerId=org.accounts.get(account, account)
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    org.ec2(account, "us-east-1").accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    return str(pcx)


def vpc_id(org: Org, who: str, region: str, name: str) -> str:
    for v in org.api_vpcs(who, region):
        if any(t["Key"] == "Name" and t["Value"] == name for t in v.get("Tags", [])):
            return str(v["VpcId"])
    raise AssertionError(f"no VPC {name} in {who}/{region}")


@pytest.fixture
def shared_conflict(org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]) -> Org:
    """The management 'hub' VPC is peered with workload-a's and workload-b's 10.1.0.0/16 (a
    conflict between those two); the sandbox's 10.1.32.0/20 sits in the same overlap group but
    no network reaches it and either of them (latent, for the sandbox)."""
    hub = vpc_id(org, "management", "us-east-1", "hub")
    peer(org, hub, "management", vpc_id(org, "workload-a", "us-east-1", "a-main"), "workload-a")
    peer(org, hub, "management", vpc_id(org, "workload-b", "us-east-1", "b-clash"), "workload-b")
    org.create_vpc("sandbox", "us-east-1", "10.1.32.0/20", "sandbox-lab")
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    return org


# ----- the gate and the audit say what they mean ----------------------------------------


def test_fail_on_conflict_judges_the_checked_accounts_own_pairs(
    shared_conflict: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org = shared_conflict
    sandbox, b = org.accounts["sandbox"], org.accounts["workload-b"]
    # Before: the sandbox failed its gate for a conflict between two other accounts.
    code, out, _ = cli(
        org, capsys, "check", "--config", str(cfg), "--account", sandbox, "--fail-on", "conflict"
    )
    assert code == 0, out
    last = out.strip().splitlines()[-1]
    assert last == f"PASSES WITH WARNINGS: nothing that --fail-on conflict fails involves {sandbox}"
    code, d = check_json(org, capsys, cfg, sandbox)  # default --fail-on: any overlap fails
    assert code == 3
    # The group has a conflict (a fact of the group), but not one the sandbox is a side of.
    (group,) = d["audit"]["overlap_groups"]
    assert group["span"] == "10.1.0.0/16" and group["severity"] == "conflict"
    assert all(
        sandbox not in (c["a"].get("OwnerId"), c["b"].get("OwnerId")) for c in group["conflicts"]
    )
    # workload-b is one side of the conflict: its gate fails.
    code, out, _ = cli(
        org, capsys, "check", "--config", str(cfg), "--account", b, "--fail-on", "conflict"
    )
    assert code == 3 and f"involving {b} fail --fail-on conflict" in out
    # The audit filters the same way.
    code, out, _ = cli(
        org,
        capsys,
        "audit",
        "--config",
        str(cfg),
        "--account",
        sandbox,
        "--severity",
        "conflict",
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["overlap_groups"] == []
    code, out, _ = cli(
        org,
        capsys,
        "audit",
        "--config",
        str(cfg),
        "--account",
        b,
        "--severity",
        "conflict",
        "--format",
        "json",
    )
    (group,) = json.loads(out)["overlap_groups"]
    assert group["severity"] == "conflict"
    # The conflict names the hub with its account and Name, not a bare id.
    (c,) = group["conflicts"]
    assert c["at_owner"] == org.accounts["management"] and c["at_name"] == "hub"
    text = cli(org, capsys, "audit", "--config", str(cfg))[1]
    assert c["at_account_name"]
    assert f'"hub" in {org.accounts["management"]} ({c["at_account_name"]})' in text
    # Plurals people write: "1 conflict", never "conflict(s)".
    assert "(1 conflict, " in text and "(s)" not in text


def test_the_verdict_line_tells_clean_warnings_and_fails_apart(
    shared_conflict: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org = shared_conflict
    a, sandbox = org.accounts["workload-a"], org.accounts["sandbox"]
    # Before: "CLEAN" printed right after the conflict it listed.
    code, out, _ = cli(
        org, capsys, "check", "--config", str(cfg), "--account", a, "--fail-on", "default-vpc"
    )
    assert code == 0
    assert "conflict:" in out and "CLEAN" not in out
    lines = out.strip().splitlines()
    assert lines[-2].startswith("WARNINGS: ") and "--fail-on default-vpc does not fail" in lines[-2]
    assert lines[-1].startswith("PASSES WITH WARNINGS: ")
    code, out, _ = cli(
        org,
        capsys,
        "check",
        "--config",
        str(cfg),
        "--account",
        a,
        "--fail-on",
        "default-vpc",
        "--format",
        "json",
    )
    d = json.loads(out)
    assert code == 0 and d["verdict"] == "clean" and d["warning_count"] >= 1
    # Clean is clean: an account with no finding at all.
    org.ec2("sandbox", "us-east-1").delete_vpc(
        VpcId=vpc_id(org, "sandbox", "us-east-1", "sandbox-lab")
    )
    code, out, _ = cli(org, capsys, "check", "--config", str(cfg), "--account", sandbox)
    assert code == 0 and out.strip().splitlines()[-1] == f"CLEAN: no finding involves {sandbox}"
    code, d = check_json(org, capsys, cfg, sandbox)
    assert d["warning_count"] == 0


def test_audit_rejects_an_account_outside_the_organization(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(org, capsys, "collect", "--config", str(cfg))
    for command in ("audit", "inventory"):
        code, out, err = cli(
            org, capsys, command, "--config", str(cfg), "--account", "111111111111"
        )
        assert code == 1 and out == ""
        (line,) = err.strip().splitlines()
        assert line.startswith("vpctracker: error: --account 111111111111: nothing of this account")
        assert "not an account of this organization" in line
    # A member with no VPC left is still an account of the organization.
    code, _, _ = cli(
        org, capsys, "audit", "--config", str(cfg), "--account", org.accounts["management"]
    )
    assert code == 0


# ----- stale items ------------------------------------------------------------------------


def write_cfg(
    path: Path, org: Org, extra: str = "", regions: str = "[us-east-1, eu-west-1]"
) -> Path:
    path.write_text(
        "organization:\n"
        f"  exclude_accounts: ['{org.accounts['excluded']}']\n"
        f"regions: {regions}\n"
        "table: {name: VPCTracker, region: us-east-1}\n" + extra
    )
    return path


def test_a_region_no_longer_scanned_is_stale_out_of_scope(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wide = write_cfg(tmp_path / "wide.yaml", org)
    assert cli(org, capsys, "collect", "--config", str(wide))[0] == 0
    # workload-b kept its default VPC in us-east-1; narrowing to eu-west-1 leaves it behind.
    narrow = write_cfg(tmp_path / "narrow.yaml", org, regions="[eu-west-1]")
    assert cli(org, capsys, "collect", "--config", str(narrow))[0] == 0
    code, out, _ = cli(org, capsys, "audit", "--config", str(narrow), "--format", "json")
    d = json.loads(out)
    assert code == 0
    stale = {s["VpcId"]: s for s in d["stale"]}
    us = {v.VpcId for v in org.table().values() if v.Region == "us-east-1" and not v.Deleted}
    assert set(stale) == us and d["summary"]["stale"] == len(us)
    assert {s["reason"] for s in stale.values()} == {"out-of-scope"}
    assert set(next(iter(stale.values()))) >= {"VpcId", "OwnerId", "Region", "LastSeen", "reason"}
    # Not current findings: no default VPC, no overlap group of us-east-1 VPCs.
    assert d["default_vpcs"] == [] and d["summary"]["default_vpcs"] == 0
    assert all(m.get("Region") != "us-east-1" for g in d["overlap_groups"] for m in g["members"])
    # The table view lists them apart.
    text = cli(org, capsys, "audit", "--config", str(narrow))[1]
    assert "STALE" in text and "out-of-scope" in text
    # Still taken: allocate does not hand out a stale range, lookup shows it, marked.
    code, out, _ = cli(
        org,
        capsys,
        "allocate",
        "--config",
        str(narrow),
        "--pool",
        "10.0.0.0/15",
        "--prefix-length",
        "16",
    )
    assert code == 3, out  # 10.0.0.0/16 (hub) and 10.1.0.0/16 are stale but may be in use
    code, out, _ = cli(
        org, capsys, "lookup", "--config", str(narrow), "10.0.0.7", "--format", "json"
    )
    (match,) = json.loads(out)["matches"]
    assert match["Stale"] == "out-of-scope"
    assert (
        "STALE (out-of-scope" in cli(org, capsys, "lookup", "--config", str(narrow), "10.0.0.7")[1]
    )
    # Back in scope, back to current.
    code, out, _ = cli(org, capsys, "audit", "--config", str(wide), "--format", "json")
    assert json.loads(out)["stale"] == [] and json.loads(out)["summary"]["default_vpcs"] == 1


def test_an_account_no_scan_has_seen_for_a_week_is_stale_not_seen(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_cfg(tmp_path / "c.yaml", org)
    org.run(at=now(1))
    # From day 2 on, workload-b's role is refused: its items keep their day-1 LastSeen.
    faults = Faults(org.session).install()
    faults.error(
        "sts", "AssumeRole", "AccessDenied", status=403, account=org.accounts["workload-b"]
    )
    org.run(at=now(5))
    d = json.loads(cli(org, capsys, "audit", "--config", str(cfg), "--format", "json")[1])
    assert d["stale"] == [] and d["summary"]["default_vpcs"] == 1  # 4 days: still current
    org.run(at=now(9))
    d = json.loads(cli(org, capsys, "audit", "--config", str(cfg), "--format", "json")[1])
    b = org.accounts["workload-b"]
    assert {s["OwnerId"] for s in d["stale"]} == {b}
    assert {s["reason"] for s in d["stale"]} == {"not-seen"}
    # Its default VPC and its half of the 10.1.0.0/16 clash are no current finding.
    assert d["summary"]["default_vpcs"] == 0 and d["summary"]["overlap_groups"] == 0
    # scan.stale_after_days is the knob.
    patient = write_cfg(tmp_path / "p.yaml", org, "scan: {stale_after_days: 30}\n")
    d = json.loads(cli(org, capsys, "audit", "--config", str(patient), "--format", "json")[1])
    assert d["stale"] == [] and d["summary"]["default_vpcs"] == 1
    rows = json.loads(
        cli(org, capsys, "inventory", "--config", str(cfg), "--format", "json", "--account", b)[1]
    )["vpcs"]
    assert rows and {r["Stale"] for r in rows} == {"not-seen"}


# ----- changes: first seen ----------------------------------------------------------------


def test_the_first_scan_of_a_target_reports_first_seen_not_created(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    first = json.loads(cli(org, capsys, "changes", "--config", str(cfg), "--format", "json")[1])[
        "changes"
    ]
    assert first and {c["change"] for c in first} == {"first-seen"}
    new = org.create_vpc("sandbox", "eu-west-1", "10.44.0.0/16", "brand-new")
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    later = json.loads(cli(org, capsys, "changes", "--config", str(cfg), "--format", "json")[1])[
        "changes"
    ]
    assert [c["VpcId"] for c in later if c["change"] == "created"] == [new]
    assert len([c for c in later if c["change"] == "first-seen"]) == len(first)


# ----- the inventory ----------------------------------------------------------------------


def inventory(
    org: Org, capsys: pytest.CaptureFixture[str], cfg: Path, *args: str
) -> tuple[int, str]:
    code, out, _ = cli(org, capsys, "inventory", "--config", str(cfg), *args)
    return code, out


def test_inventory_lists_every_live_vpc_sorted_with_its_facts(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a1 = vpc_id(org, "workload-a", "us-east-1", "a-main")
    ec2 = org.ec2("workload-a", "us-east-1")
    for az, cidr in (("us-east-1a", "10.1.0.0/24"), ("us-east-1b", "10.1.1.0/24")):
        ec2.create_subnet(VpcId=a1, CidrBlock=cidr, AvailabilityZone=az)
    gone = org.create_vpc("sandbox", "eu-west-1", "10.45.0.0/16", "short-lived")
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    org.ec2("sandbox", "eu-west-1").delete_vpc(VpcId=gone)
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0

    code, out = inventory(org, capsys, cfg, "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert {"generated_at", "vpcs", "summary"} <= set(d)
    rows = d["vpcs"]
    live = [v for v in org.table().values() if not v.Deleted]
    assert sorted(r["VpcId"] for r in rows) == sorted(v.VpcId for v in live)
    assert gone not in {r["VpcId"] for r in rows}
    assert all(list(r) == list(COLUMNS) for r in rows)
    order = [(r["OwnerId"], r["Region"]) for r in rows]
    assert order == sorted(order)
    a = [
        r for r in rows if r["OwnerId"] == org.accounts["workload-a"] and r["Region"] == "us-east-1"
    ]
    # Within an account and region, by address (10.1 before 10.2.x, 10.2.16 before 10.2.32).
    assert [r["CidrBlocks"][0] for r in a] == sorted(
        (r["CidrBlocks"][0] for r in a), key=lambda c: tuple(int(x) for x in c[:-3].split("."))
    )
    main = next(r for r in rows if r["VpcId"] == a1)
    assert main["CidrBlocks"] == ["10.1.0.0/16", "100.64.0.0/20"] and main["Name"] == "a-main"
    assert main["Subnets"] == 2 and main["AvailabilityZones"] == 2
    assert isinstance(main["UsedPct"], float) and main["State"] == "available"
    assert main["IsDefault"] is False and main["Stale"] is None
    assert main["FirstSeen"].endswith("Z") and main["LastSeen"].endswith("Z")
    assert next(r for r in rows if r["Name"] == "a-0")["UsedPct"] is None  # no subnets
    assert d["summary"] == {
        "vpcs": len(live),
        "accounts": len({v.OwnerId for v in live}),
        "regions": 2,
        "default_vpcs": 1,
    }
    # Filters: account, region, CIDR (what overlaps it), deleted ones on request.
    only = json.loads(
        inventory(
            org,
            capsys,
            cfg,
            "--format",
            "json",
            "--account",
            org.accounts["workload-a"],
            "--region",
            "us-east-1",
            "--cidr",
            "10.2.0.0/19",
        )[1]
    )["vpcs"]
    assert [r["Name"] for r in only] == ["a-0", "a-1"]
    with_deleted = json.loads(
        inventory(org, capsys, cfg, "--format", "json", "--include-deleted")[1]
    )
    dead = next(r for r in with_deleted["vpcs"] if r["VpcId"] == gone)
    assert dead["State"] == "deleted"
    # The table: one line per VPC, and a summary.
    code, out = inventory(org, capsys, cfg)
    assert code == 0 and a1 in out and f"{len(live)} VPCs" in out


def test_inventory_csv_has_the_json_columns_and_is_inert(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hostile = '=HYPERLINK("http://x","y")'
    org.create_vpc("sandbox", "eu-west-1", "10.46.0.0/16", hostile)
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    out_file = tmp_path / "inv.csv"
    code, out = inventory(org, capsys, cfg, "--format", "csv", "--output", str(out_file))
    assert code == 0
    text = out_file.read_text()
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == list(COLUMNS)
    d = json.loads(inventory(org, capsys, cfg, "--format", "json")[1])
    assert [r["VpcId"] for r in table] == [r["VpcId"] for r in d["vpcs"]]
    main = next(r for r in table if r["Name"] == "a-main")
    assert main["CidrBlocks"] == "10.1.0.0/16 100.64.0.0/20" and main["UsedPct"] == ""
    evil = next(r for r in table if r["CidrBlocks"] == "10.46.0.0/16")
    assert evil["Name"] == "'" + hostile  # a spreadsheet shows it, never evaluates it
    # Every cell quoted, as `changes` and `audit` write theirs.
    assert all(line.startswith('"') for line in text.splitlines())


def test_inventory_exits_2_when_an_item_cannot_be_read(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    ddb = org.session.client("dynamodb", region_name="us-east-1")
    ddb.put_item(
        TableName="VPCTracker",
        Item={
            "VpcId": {"S": "vpc-0000000000000bad0"},
            "OwnerId": {"S": org.accounts["sandbox"]},
            "CidrBlock": {"S": "not a cidr"},
        },
    )
    code, out, err = cli(org, capsys, "inventory", "--config", str(cfg), "--format", "json")
    assert code == 2
    d: dict[str, Any] = json.loads(out)
    assert [u["VpcId"] for u in d["unreadable_items"]] == ["vpc-0000000000000bad0"]
    assert "could not be read" in err or "unreadable" in err
