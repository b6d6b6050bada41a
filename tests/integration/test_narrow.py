"""Issue 26 (one live event at 100,000 VPCs; the house rule that no event reads the whole table):
an event whose rescan can only have moved its own target's findings reads that target's items
and the block index near its blocks, not the inventory, and records what a whole read would."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from collector.analysis.findings import iter_findings
from collector.handler import handler
from collector.jobs.audit import run_audit
from collector.jobs.options import RunOptions, dynamodb_client
from collector.store.findings import all_known, read_marker
from collector.store.reader import scan_items
from tests.conftest import load_data
from tests.integration.conftest import FAST_RETRY, Org
from tests.integration.test_handler import Context, env  # noqa: F401 - fixture
from tests.integration.test_live import event_for

LEDGER = "VPCTracker-ledger"


@pytest.fixture(autouse=True)
def handler_env(request: pytest.FixtureRequest) -> None:
    """The function's environment, as in test_handler."""
    request.getfixturevalue("env")


def _night(org: Org) -> None:
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]


def _scans(org: Org) -> list[str]:
    """Each inventory `Scan` made from now on."""
    seen: list[str] = []
    org.session.events.register(
        "before-call.dynamodb.Scan", lambda **kw: seen.append("S"), unique_id="narrow-scans"
    )
    return seen


def _event(org: Org, who: str, region: str = "us-east-1", name: str = "CreateVpc") -> Any:
    result = handler(event_for(org, who, region, name), Context(), session=org.session)
    assert result["ok"] is True, result
    return result


def _as_a_whole_read_records(org: Org) -> None:
    """The ledger holds what a full recording of the table as it is now would: every finding
    of a whole audit, in its state, and nothing else."""
    cfg = org.config()
    audit, _ = run_audit(cfg, options=RunOptions(session=org.session, retry=FAST_RETRY))
    now = {f.id: f.state for f in iter_findings(audit, cfg.overlaps.expected)}
    known = all_known(dynamodb_client(org.session, cfg), LEDGER)
    assert {k: v.state for k, v in known.items()} == now


def _entries(org: Org) -> dict[str, str]:
    """Every block index entry: its sort key -> its partition."""
    ddb = dynamodb_client(org.session, org.config())
    return {
        i["OwnerId"]["S"]: i["VpcId"]["S"]
        for i in scan_items(ddb, LEDGER)
        if i["VpcId"]["S"].startswith("block#")
    }


def test_an_event_that_overlaps_nothing_reads_no_inventory_and_records_exactly(
    org: Org,
) -> None:
    _night(org)
    ddb = dynamodb_client(org.session, org.config())
    assert read_marker(ddb, LEDGER).indexed  # the night's recording checked the index
    scans = _scans(org)
    lab = org.create_vpc("sandbox", "us-east-1", "10.77.0.0/16", "lab")
    _event(org, "sandbox")
    # A default VPC made again is a finding of that target alone: recorded the same way.
    org.ec2("sandbox", "us-east-1").create_default_vpc()
    _event(org, "sandbox")
    org.ec2("sandbox", "us-east-1").delete_vpc(VpcId=lab)
    _event(org, "sandbox", name="DeleteVpc")
    assert scans == []  # not one page of the inventory
    _as_a_whole_read_records(org)
    known = all_known(ddb, LEDGER).values()
    assert (org.accounts["sandbox"], "default-vpc") in {(k.account, k.kind) for k in known}
    assert read_marker(ddb, LEDGER).indexed  # kept by the events' recordings


def test_an_event_near_another_account_s_block_reads_the_inventory(org: Org) -> None:
    _night(org)
    scans = _scans(org)
    # Inside workload-a's 10.1.0.0/16: another account's finding moves too.
    org.create_vpc("sandbox", "us-east-1", "10.1.128.0/20", "nested")
    _event(org, "sandbox")
    assert scans  # read whole, as before
    _as_a_whole_read_records(org)
    known = all_known(dynamodb_client(org.session, org.config()), LEDGER).values()
    assert (org.accounts["sandbox"], "overlap", "10.1.128.0/20") in {
        (k.account, k.kind, k.cidr) for k in known
    }


def test_an_entry_left_by_a_deleted_vpc_does_not_hold_an_event_back(org: Org) -> None:
    _night(org)
    old = org.create_vpc("workload-b", "eu-west-1", "10.88.0.0/16", "short-lived")
    _event(org, "workload-b", "eu-west-1")
    org.ec2("workload-b", "eu-west-1").delete_vpc(VpcId=old)
    _event(org, "workload-b", "eu-west-1", "DeleteVpc")
    (stale,) = [
        {"VpcId": {"S": p}, "OwnerId": {"S": k}}
        for k, p in _entries(org).items()
        if k.endswith(f"#{old}#{org.accounts['workload-b']}")
    ]
    scans = _scans(org)
    org.create_vpc("sandbox", "us-east-1", "10.88.0.0/16", "same-range")
    _event(org, "sandbox")
    assert scans == []  # the entry's VPC was read by key: deleted, so nothing overlaps
    _as_a_whole_read_records(org)
    # A night's recording removes what no live VPC stands behind, once written before its
    # read began (less the clock skew: a VPC written while it reads may not be in it).
    dynamodb_client(org.session, org.config()).update_item(
        TableName=LEDGER,
        Key=stale,
        UpdateExpression="SET WrittenAt = :t",
        ExpressionAttributeValues={":t": {"S": "2026-01-01T00:00:00Z"}},
    )
    _night(org)
    assert not any(k.endswith(f"#{old}#{org.accounts['workload-b']}") for k in _entries(org))


def test_a_table_an_older_version_wrote_is_read_whole_until_a_night_indexes_it(
    org: Org,
) -> None:
    _night(org)
    ddb = dynamodb_client(org.session, org.config())
    # As an older version leaves the ledger: no entries, a marker without the index's flag.
    keys = [{"VpcId": {"S": p}, "OwnerId": {"S": k}} for k, p in _entries(org).items()]
    for key in keys:
        ddb.delete_item(TableName=LEDGER, Key=key)
    ddb.update_item(
        TableName=LEDGER,
        Key={"VpcId": {"S": "baseline"}, "OwnerId": {"S": "findings"}},
        UpdateExpression="REMOVE IndexedBlocks",
    )
    scans = _scans(org)
    org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "copy")  # workload-a's range
    _event(org, "sandbox")
    assert scans  # read whole: the index is not known to be whole
    _as_a_whole_read_records(org)
    assert not read_marker(ddb, LEDGER).indexed  # an event's recording never sets it
    _night(org)
    assert read_marker(ddb, LEDGER).indexed
    assert len(_entries(org)) == len(keys) + 1  # every live block, the copy's too
    scans.clear()
    org.create_vpc("workload-b", "eu-west-1", "10.66.0.0/16", "fresh")
    _event(org, "workload-b", "eu-west-1")
    assert scans == []


def test_a_target_whose_index_entries_cannot_be_written_writes_nothing(org: Org) -> None:
    # Entries go in before the items they stand for: a VPC item is never in the table without
    # them (a narrowed read would not see it), and the event's message goes back to the queue.
    _night(org)

    def refuse(params: dict[str, Any], **_: Any) -> None:
        puts = params.get("RequestItems", {}).get(LEDGER, [])
        if any(
            r.get("PutRequest", {}).get("Item", {}).get("VpcId", {}).get("S", "")[:6] == "block#"
            for r in puts
        ):
            error = {"Code": "AccessDeniedException", "Message": "injected"}
            raise ClientError({"Error": error}, "BatchWriteItem")

    org.session.events.register("before-parameter-build.dynamodb.BatchWriteItem", refuse)
    vpc = org.create_vpc("sandbox", "us-east-1", "10.91.0.0/16", "unindexed")
    result = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    assert result["ok"] is False
    assert (vpc, org.accounts["sandbox"]) not in org.table()
