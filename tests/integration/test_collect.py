"""The whole pipeline under moto: multi-account through real AssumeRole, real table."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from collector.analysis.findings import current_findings
from collector.jobs.audit import run_audit
from collector.jobs.collect import run
from collector.jobs.findings import remember_findings
from collector.jobs.options import RunOptions, dynamodb_client
from collector.models import TargetStatus
from collector.store.findings import all_known
from collector.store.reader import SCAN_SEGMENTS
from collector.store.table import TableMissingError
from tests.faults import Faults
from tests.integration.conftest import FAST_RETRY, REGIONS, Org, now

SCANNED = ("management", "workload-a", "workload-b", "sandbox")


def api_state(org: Org) -> dict[tuple[str, str], dict[str, Any]]:
    """What the EC2 APIs hold for every scanned account, keyed like the table."""
    out = {}
    for name in SCANNED:
        for region in REGIONS:
            for v in org.api_vpcs(name, region):
                blocks = [
                    a["CidrBlock"]
                    for a in v.get("CidrBlockAssociationSet", [])
                    if a["CidrBlockState"]["State"] == "associated"
                ]
                out[(v["VpcId"], v["OwnerId"])] = {
                    "CidrBlock": v["CidrBlock"],
                    "CidrBlocks": tuple(blocks),
                    "IsDefault": v["IsDefault"],
                    "State": v["State"],
                    "Region": region,
                }
    return out


def table_state(org: Org) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        k: {
            "CidrBlock": v.CidrBlock,
            "CidrBlocks": v.CidrBlocks,
            "IsDefault": v.IsDefault,
            "State": v.State,
            "Region": v.Region,
        }
        for k, v in org.table().items()
        if not v.Deleted
    }


def test_table_equals_what_the_apis_hold(org: Org, faults: Faults) -> None:
    faults.vpc_page_size = 3  # workload-a/us-east-1 has 8 VPCs: three pages
    summary = org.run(at=now(1))
    assert summary.exit_code == 0, summary.failures
    assert faults.injected["vpc-page"] >= 2
    # 4 scanned accounts (excluded and suspended are not) x 2 regions.
    assert summary.accounts == 4
    assert (summary.ok, summary.skipped, summary.failed) == (8, 0, 0)
    expected = api_state(org)
    assert table_state(org) == expected
    assert summary.vpcs_seen == summary.vpcs_written == len(expected) == 13
    items = org.table()
    owners = {owner for _, owner in items}
    assert org.accounts["excluded"] not in owners
    assert org.accounts["suspended"] not in owners
    by_name = {v.Name: v for v in items.values() if v.Name}
    assert by_name["a-main"].CidrBlocks == ("10.1.0.0/16", "100.64.0.0/20")
    assert by_name["a-main"].AccountName == "workload-a"
    assert by_name["hub"].OwnerId == org.management  # hub account scanned through the role
    defaults = [v for v in items.values() if v.IsDefault]
    assert [(v.OwnerId, v.Region) for v in defaults] == [(org.accounts["workload-b"], "us-east-1")]


def test_second_run_marks_exactly_the_deleted_vpc(org: Org) -> None:
    org.run(at=now(1))
    victim = org.create_vpc("sandbox", "us-east-1", "10.77.0.0/16")
    org.run(at=now(2))
    org.ec2("sandbox", "us-east-1").delete_vpc(VpcId=victim)
    summary = org.run(at=now(3))
    assert summary.exit_code == 0
    assert summary.marked_deleted == 1
    table = org.table()
    deleted = [v for v in table.values() if v.Deleted]
    assert [(v.VpcId, v.DeletedReason, v.DeletedAt) for v in deleted] == [
        (victim, "not-found", now(3))
    ]
    assert deleted[0].ExpiresAt == int(now(3).timestamp()) + 90 * 86400
    live = [v for v in table.values() if not v.Deleted]
    # FirstSeen survives later runs; LastSeen moves.
    assert {v.FirstSeen for v in live} == {now(1)}
    assert {v.LastSeen for v in live} == {now(3)}
    # A third run does not mark it again or touch its DeletedAt.
    again = org.run(at=now(4))
    assert again.marked_deleted == 0
    assert org.table()[(victim, org.accounts["sandbox"])].DeletedAt == now(3)


def test_assume_role_denied_isolated_and_nothing_marked(org: Org, faults: Faults) -> None:
    org.run(at=now(1))
    victim_account = org.accounts["workload-a"]
    before = {k: v for k, v in org.table().items() if k[1] == victim_account}
    # Delete a VPC there: with the account unreachable this must NOT be marked deleted.
    vid = next(k[0] for k, v in before.items() if v.Region == "eu-west-1")
    org.ec2("workload-a", "eu-west-1").delete_vpc(VpcId=vid)
    faults.error(
        "sts",
        "AssumeRole",
        "AccessDenied",
        status=403,
        account=victim_account,
        message="User is not authorized to perform: sts:AssumeRole",
    )
    summary = org.run(at=now(2))
    assert summary.exit_code == 2
    assert summary.failures == [
        {
            "account_id": victim_account,
            "account_name": "workload-a",
            "region": "*",
            "error_code": "AccessDenied",
            "message": "User is not authorized to perform: sts:AssumeRole",
        }
    ]
    assert summary.ok == 6 and summary.failed == 1
    after = {k: v for k, v in org.table().items() if k[1] == victim_account}
    assert after == before  # untouched: not deleted, LastSeen not moved


def test_throttling_then_success(org: Org, faults: Faults) -> None:
    acct = org.accounts["workload-b"]
    faults.error(
        "ec2",
        "DescribeVpcs",
        "RequestLimitExceeded",
        status=503,
        times=2,
        account=acct,
        region="us-east-1",
        message="Request limit exceeded.",
    )
    faults.error("dynamodb", "Query", "ProvisionedThroughputExceededException", times=1)
    faults.error("organizations", "ListAccounts", "TooManyRequestsException", times=1)
    summary = org.run(at=now(1))
    assert summary.exit_code == 0, summary.failures
    assert faults.injected == {
        "RequestLimitExceeded": 2,
        "ProvisionedThroughputExceededException": 1,
        "TooManyRequestsException": 1,
    }
    assert table_state(org) == api_state(org)


def test_region_the_account_has_not_opted_into_is_skipped(org: Org, faults: Faults) -> None:
    org.run(at=now(1))
    acct = org.accounts["sandbox"]
    vid = org.api_vpcs("sandbox", "eu-west-1")[0]["VpcId"]
    faults.region_status[(acct, "eu-west-1")] = "not-opted-in"
    summary = org.run(at=now(2))
    assert summary.exit_code == 0
    assert summary.skips == [
        {"account_id": acct, "region": "eu-west-1", "reason": "RegionNotEnabled"}
    ]
    assert summary.marked_deleted == 0
    assert not org.table()[(vid, acct)].Deleted


@pytest.mark.parametrize("code", ["AuthFailure", "UnrecognizedClientException", "OptInRequired"])
def test_an_enabled_region_answering_auth_failure_is_failed_not_skipped(
    org: Org, faults: Faults, code: str
) -> None:
    """Issue 10, observation 1: only the account's own DescribeRegions proves a region off."""
    org.run(at=now(1))
    acct = org.accounts["sandbox"]
    vid = org.api_vpcs("sandbox", "eu-west-1")[0]["VpcId"]
    org.ec2("sandbox", "eu-west-1").delete_vpc(VpcId=vid)
    faults.error("ec2", "DescribeVpcs", code, status=401, account=acct, region="eu-west-1")
    summary = org.run(at=now(2))
    assert summary.exit_code == 2
    assert summary.skips == []
    assert [(f["account_id"], f["region"], f["error_code"]) for f in summary.failures] == [
        (acct, "eu-west-1", code)
    ]
    assert summary.marked_deleted == 0
    assert not org.table()[(vid, acct)].Deleted


def test_unprocessed_items_all_land(org: Org, faults: Faults) -> None:
    faults.unprocessed_fraction = 0.5
    summary = org.run(at=now(1))
    assert faults.injected["UnprocessedItems"] > 0
    assert summary.write_failures == 0 and summary.exit_code == 0
    assert table_state(org) == api_state(org)


def test_unwritable_items_are_reported_not_dropped(org: Org, faults: Faults) -> None:
    faults.error("dynamodb", "BatchWriteItem", "AccessDeniedException", status=400)
    summary = org.run(at=now(1))
    assert summary.exit_code == 2
    # Nothing was written, and every failure is named: a target's block index entries go in
    # before any of its items (store.blocks), so the five targets holding the 13 VPCs failed
    # there and wrote nothing else (their VPCs, connectivity and "created" changes); the three
    # holding none failed at their connectivity item.
    assert summary.vpcs_seen == 13 and summary.ok == 8
    assert summary.write_failures == 5 + 3
    assert summary.write_errors == {
        "BlockIndexNotWritten:AccessDeniedException": 5,
        "AccessDeniedException": 3,
    }
    assert org.table() == {}


def test_expired_token_refreshes_credentials(org: Org, faults: Faults) -> None:
    acct = org.accounts["workload-a"]
    faults.error(
        "ec2",
        "DescribeVpcs",
        "ExpiredToken",
        status=400,
        times=1,
        account=acct,
        message="The security token included in the request is expired",
    )
    assume_before = faults.key_to_account.copy()
    summary = org.run(at=now(1))
    assert summary.exit_code == 0, summary.failures
    assert faults.injected["ExpiredToken"] == 1
    # The account's role was assumed a second time (a new key), not failed.
    keys = [k for k, a in faults.key_to_account.items() if a == acct and k not in assume_before]
    assert len(keys) == 2


def test_invalid_records_counted_not_written(org: Org, faults: Faults) -> None:
    acct = org.accounts["sandbox"]

    def corrupt(account: str, region: str, vpcs: list[dict[str, Any]], roll: Any) -> list[str]:
        if account == acct and region == "eu-west-1":
            for v in vpcs:
                v["State"] = "exploding"
            return [v["VpcId"] for v in vpcs]
        return []

    faults.vpc_mutator = corrupt
    summary = org.run(at=now(1))
    assert summary.exit_code == 0
    assert [(i["account_id"], i["region"]) for i in summary.invalid_records] == [
        (acct, "eu-west-1")
    ]
    assert "State" in str(summary.invalid_records[0]["reason"])
    assert all(v.Region != "eu-west-1" for k, v in org.table().items() if k[1] == acct)


def test_suspended_account_items_marked_on_full_run(org: Org) -> None:
    org.run(at=now(1))
    acct = org.accounts["workload-b"]
    ours = [k for k in org.table() if k[1] == acct]
    assert ours
    org.session.client("organizations").close_account(AccountId=acct)
    # A narrowed run (--account) never marks departed accounts...
    narrowed = org.run(at=now(2), accounts=[org.accounts["sandbox"]])
    assert narrowed.marked_deleted == 0
    # ...a full-org run does, with the reason.
    summary = org.run(at=now(3))
    assert summary.marked_deleted == len(ours)
    table = org.table()
    assert {table[k].DeletedReason for k in ours} == {"account-suspended"}
    assert all(not v.Deleted for k, v in table.items() if k[1] != acct)


def test_a_full_collect_reads_the_table_once_and_its_findings_match_a_fresh_audit(
    org: Org,
) -> None:
    # Issue 16 observation 2: the departed-account sweep and the findings audit each read the
    # whole table. One read now serves both, with the sweep's marks applied to what it read.
    org.run(at=now(1))
    acct = org.accounts["workload-b"]
    org.session.client("organizations").close_account(AccountId=acct)
    opts = RunOptions(session=org.session, retry=FAST_RETRY, clock=lambda: now(2))
    scans: list[int] = []  # the segment of each first page: one entry per segment per pass

    def first_pages(params: dict[str, Any], **_: Any) -> None:
        if "ExclusiveStartKey" not in params:
            scans.append(params.get("Segment", 0))

    org.session.events.register("before-parameter-build.dynamodb.Scan", first_pages)
    summary = run(org.config(), opts)
    remember_findings(org.config(), summary, opts)
    assert summary.marked_deleted > 0 and summary.exit_code == 0
    assert sorted(scans) == list(range(SCAN_SEGMENTS))  # the whole table, read once
    # What was recorded is what a fresh read of the table finds.
    audit, _ = run_audit(org.config(), options=opts)
    ddb = dynamodb_client(org.session, org.config())
    assert set(all_known(ddb, "VPCTracker-ledger")) == set(current_findings(audit))
    assert summary.findings is not None and summary.findings["known"] == len(
        current_findings(audit)
    )
    assert not any(f["OwnerId"] == acct for f in current_findings(audit).values())


def test_account_and_region_narrowing(org: Org) -> None:
    summary = org.run(at=now(1), accounts=[org.accounts["workload-a"]], regions=["eu-west-1"])
    assert (summary.accounts, summary.ok) == (1, 1)
    assert {(v.OwnerId, v.Region) for v in org.table().values()} == {
        (org.accounts["workload-a"], "eu-west-1")
    }


@pytest.mark.slow
def test_regions_all_discovers_enabled_regions(org: Org) -> None:
    cfg = org.config(regions="all", organization={"include_accounts": [org.accounts["sandbox"]]})
    summary = org.run(cfg, at=now(1))
    assert summary.exit_code == 0
    # One target per region the API says is enabled (opt-in regions only where opted in).
    regions = org.session.client("ec2").describe_regions(AllRegions=True)["Regions"]
    enabled = [r for r in regions if r["OptInStatus"] != "not-opted-in"]
    assert len(regions) > len(enabled) > 10
    assert summary.ok == len(enabled)
    table = org.table().values()
    assert {v.Region for v in table if not v.IsDefault} == {"eu-west-1"}
    # Default VPCs were deleted in the two baseline regions; every other region still has one,
    # as a real account does, and the scan finds them.
    assert {v.Region for v in table if v.IsDefault} == {r["RegionName"] for r in enabled} - set(
        REGIONS
    )


def test_include_ous_recursive(org: Org) -> None:
    cfg = org.config(organization={"include_ous": [org.ous["Workloads"]]})
    summary = org.run(cfg, at=now(1))
    assert summary.accounts == 2
    assert {o for _, o in org.table()} == {org.accounts["workload-a"], org.accounts["workload-b"]}


def test_target_results_statuses_are_named() -> None:
    assert [s.value for s in TargetStatus] == ["ok", "skipped", "failed"]


def test_a_run_checks_both_tables_and_who_it_is_side_by_side(org: Org) -> None:
    # A live update's run is a few dozen round trips; the three it starts with (is the table
    # there, is the ledger, whose credentials) were made one after another. Each waits here
    # until the other two are in flight: made in sequence, the first times out.
    meet = threading.Barrier(3, timeout=5)
    seen: list[str] = []

    def wait(event_name: str, **_: Any) -> None:
        seen.append(event_name)
        meet.wait()

    ev = org.session.events
    ev.register("before-call.dynamodb.DescribeTable", wait)
    ev.register("before-call.sts.GetCallerIdentity", wait)
    try:
        summary = org.run(accounts=[org.accounts["sandbox"]])
    finally:
        ev.unregister("before-call.dynamodb.DescribeTable", wait)
        ev.unregister("before-call.sts.GetCallerIdentity", wait)
    assert summary.exit_code == 0 and summary.ok
    assert sorted(seen) == [
        "before-call.dynamodb.DescribeTable",
        "before-call.dynamodb.DescribeTable",
        "before-call.sts.GetCallerIdentity",
    ]


def test_a_missing_table_is_named_before_its_ledger(org: Org) -> None:
    # Side by side, the checks still fail in the order they were made one after another.
    gone = org.config(table={"name": "VPCTracker-missing", "region": "us-east-1"})
    with pytest.raises(TableMissingError, match=r"^VPCTracker-missing$"):
        org.run(gone)
    ledgerless = org.config(
        table={"name": "VPCTracker", "ledger_name": "VPCTracker-gone", "region": "us-east-1"}
    )
    with pytest.raises(TableMissingError, match=r"^VPCTracker-gone$"):
        org.run(ledgerless)
