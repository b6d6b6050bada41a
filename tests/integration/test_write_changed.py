"""Issue 26, "write only what changed": with `table.rewrite_unchanged: false` a run leaves an
unchanged VPC or connectivity item alone, records each account's scan times once, and every
reader derives `LastSeen` from them."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from collector.config import Config
from collector.jobs.inventory import run_inventory
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.sinks import TableSink
from collector.jobs.summary import RunSummary
from collector.models import Account, TargetResult, TargetStatus, iso
from collector.store.registry import WithoutSubnets, load_without_subnets
from collector.store.scanned import scanned_key
from tests.factories import make_vpc
from tests.faults import Faults
from tests.integration.conftest import FAST_RETRY, Org, now


def changed_only(org: Org) -> Config:
    return org.config(
        table={"name": "VPCTracker", "region": "us-east-1", "rewrite_unchanged": False}
    )


def raw_item(org: Org, key: tuple[str, str]) -> dict[str, Any]:
    ddb = dynamodb_client(org.session, org.config())
    got = ddb.get_item(
        TableName="VPCTracker",
        Key={"VpcId": {"S": key[0]}, "OwnerId": {"S": key[1]}},
        ConsistentRead=True,
    )
    return dict(got.get("Item", {}))


def test_a_second_run_writes_only_what_changed_and_readers_say_when_it_saw_each_vpc(
    org: Org,
) -> None:
    cfg = changed_only(org)
    first = org.run(cfg, at=now(1))
    assert first.exit_code == 0 and first.vpcs_written == 13 and first.items_unchanged == 0
    new = org.create_vpc("sandbox", "us-east-1", "10.77.0.0/16", "new")
    second = org.run(cfg, at=now(2))
    assert second.exit_code == 0
    # Only the new VPC is written; the 13 others and the 8 targets' connectivity stand.
    assert second.vpcs_written == 1
    assert second.items_unchanged == 13 + 8
    # Written: the VPC, its change in the ledger, and the 4 scanned accounts' scan times.
    assert second.items_written == 1 + 1 + 4
    # The items themselves still say the first run ...
    untouched = next(k for k, v in org.table().items() if v.Name == "a-main")
    assert raw_item(org, untouched)["LastSeen"] == {"S": iso(now(1))}
    # ... and every reader says the second: whole reads, reads without subnets, the inventory.
    assert {v.LastSeen for v in org.table().values() if not v.Deleted} == {now(2)}
    ddb = dynamodb_client(org.session, cfg)
    lean = load_without_subnets(ddb, "VPCTracker", frozenset({"vpc"}), WithoutSubnets())
    assert {v.LastSeen for v in lean.vpcs} == {now(2)}
    inventory, _ = run_inventory(cfg, options=RunOptions(session=org.session, retry=FAST_RETRY))
    assert {row["LastSeen"] for row in inventory["vpcs"]} == {iso(now(2))}
    assert any(row["VpcId"] == new for row in inventory["vpcs"])
    # One scan-times item per scanned account.
    scanned = raw_item(org, scanned_key(org.accounts["workload-a"]))
    assert scanned["Scanned"] == {
        "M": {"eu-west-1": {"S": iso(now(2))}, "us-east-1": {"S": iso(now(2))}}
    }


def test_a_vpc_gone_since_is_marked_deleted_and_keeps_when_it_was_last_seen(org: Org) -> None:
    cfg = changed_only(org)
    org.run(cfg, at=now(1))
    key = next(k for k, v in org.table().items() if v.Name == "b-clash")
    org.ec2("workload-b", "us-east-1").delete_vpc(VpcId=key[0])
    org.run(cfg, at=now(2))
    gone = org.table()[key]
    assert gone.Deleted and gone.LastSeen == now(1)


def test_a_region_that_failed_keeps_the_time_of_its_last_good_scan(
    org: Org, faults: Faults
) -> None:
    cfg = changed_only(org)
    org.run(cfg, at=now(1))
    faults.error("ec2", "DescribeVpcs", "InternalError", status=500, region="eu-west-1")
    second = org.run(cfg, at=now(2))
    assert second.failed > 0
    seen = {v.Region: v.LastSeen for v in org.table().values() if not v.Deleted}
    assert seen == {"us-east-1": now(2), "eu-west-1": now(1)}


def test_after_a_write_failure_no_scan_time_speaks_for_a_mark_that_is_not_there(
    org: Org, faults: Faults
) -> None:
    cfg = changed_only(org)
    org.run(cfg, at=now(1))
    key = next(k for k, v in org.table().items() if v.Name == "b-clash")
    org.ec2("workload-b", "us-east-1").delete_vpc(VpcId=key[0])
    faults.error("dynamodb", "BatchWriteItem", "AccessDeniedException", status=400)
    second = org.run(cfg, at=now(2))
    assert second.write_failures > 0 and second.exit_code == 2
    # The mark did not land: the VPC is still live in the table, and nothing says a scan of
    # its region after the first run saw it.
    stale = org.table()[key]
    assert not stale.Deleted and stale.LastSeen == now(1)
    times = raw_item(org, scanned_key(org.accounts["workload-b"]))["Scanned"]["M"]
    assert {at["S"] for at in times.values()} == {iso(now(1))}


def test_connectivity_is_written_again_before_its_ttl_can_run_out(org: Org) -> None:
    cfg = changed_only(org)  # deleted_retention_days: 90, so a refresh is due after 45 days
    org.run(cfg, at=now(1))
    soon = org.run(cfg, at=now(1) + timedelta(days=44))
    assert soon.items_unchanged == 13 + 8
    due = org.run(cfg, at=now(1) + timedelta(days=46))
    assert due.items_unchanged == 13  # the 8 connectivity items are written again
    conn = raw_item(org, (f"conn#{org.accounts['sandbox']}#eu-west-1", org.accounts["sandbox"]))
    assert conn["LastSeen"] == {"S": iso(now(1) + timedelta(days=46))}


def test_by_default_every_item_is_written_and_no_scan_times_are_kept(org: Org) -> None:
    org.run(at=now(1))
    again = org.run(at=now(2))
    assert again.vpcs_written == 13 and again.items_unchanged == 0
    untouched = next(k for k, v in org.table().items() if v.Name == "a-main")
    assert raw_item(org, untouched)["LastSeen"] == {"S": iso(now(2))}
    assert not raw_item(org, scanned_key(org.accounts["workload-a"]))


def test_a_departed_account_s_vpcs_are_marked_with_when_they_were_last_seen(org: Org) -> None:
    cfg = changed_only(org)
    org.run(cfg, at=now(1))
    org.run(cfg, at=now(2))  # nothing changed: the items still say now(1)
    sandbox = org.accounts["sandbox"]
    org.session.client("organizations").close_account(AccountId=sandbox)
    org.run(cfg, at=now(3))
    (gone,) = [v for (_, owner), v in org.table().items() if owner == sandbox]
    assert gone.Deleted and gone.DeletedReason == "account-suspended"
    assert gone.LastSeen == now(2)


def test_an_account_that_wrote_nothing_is_released_without_waiting_for_others_writes(
    org: Org,
) -> None:
    """Measured at 1,000 x 17: with unchanged items left alone most accounts write nothing,
    and each waited for a batch of other accounts' items to fill (held to the run's end),
    so the run waited 66 s for their scan times and leases at its end."""
    cfg = changed_only(org)
    ddb = dynamodb_client(org.session, cfg)
    sink = TableSink(
        ddb, cfg, RunOptions(session=org.session, retry=FAST_RETRY, clock=lambda: now(1))
    )
    a = Account(org.accounts["workload-a"], "workload-a")
    b = Account(org.accounts["workload-b"], "workload-b")
    summary = RunSummary(started_at=now(1))
    state_a, state_b = sink.existing(a), sink.existing(b)
    # a: one new VPC, in a batch far from full; b: a target with nothing to write.
    new = make_vpc(1, owner=a.id, region="us-east-1", seen=now(1))
    sink.accept(TargetResult(a.id, "us-east-1", TargetStatus.OK, records=(new,)), state_a, summary)
    sink.accept(TargetResult(b.id, "us-east-1", TargetStatus.OK), state_b, summary)
    sink.account_done(a)
    sink.account_done(b)
    deadline = time.monotonic() + 10
    while raw_item(org, ("lease#" + b.id, "lease")) and time.monotonic() < deadline:
        time.sleep(0.05)  # released by a background thread
    assert not raw_item(org, ("lease#" + b.id, "lease"))
    assert raw_item(org, ("lease#" + a.id, "lease"))  # its VPC item is not written yet
    sink.finish(summary, None)
    assert not raw_item(org, ("lease#" + a.id, "lease"))
    assert summary.write_failures == 0
