"""Issue 26: an account's table work (its lease and the read of its stored items) runs beside
its member calls (AssumeRole, DescribeRegions), not before them in the same scan slot: the
slots `scan.max_workers` caps are held by the calls the scan needs."""

from __future__ import annotations

import threading
from typing import Any

from collector.jobs.options import dynamodb_client
from tests.faults import Faults
from tests.integration.conftest import Org, now


def test_the_table_read_overlaps_the_member_calls_of_the_same_account(org: Org) -> None:
    org.run(at=now(1))  # the table holds every account's items
    lock = threading.Lock()
    assumed: dict[str, threading.Event] = {}
    overlapped: dict[str, bool] = {}

    def event(account: str) -> threading.Event:
        with lock:
            return assumed.setdefault(account, threading.Event())

    def on_assume(params: dict[str, Any], **_: Any) -> None:
        event(params["RoleArn"].split(":")[4]).set()

    def on_query(params: dict[str, Any], **_: Any) -> None:
        # An account's read of its items (a Query by owner) waits for its role to be assumed.
        # Run one after the other in one slot, the read comes first and the role is not being
        # assumed: it waits out the timeout.
        account = params.get("ExpressionAttributeValues", {}).get(":o", {}).get("S", "")
        if params.get("KeyConditionExpression") == "OwnerId = :o" and account.isdigit():
            overlapped[account] = event(account).wait(timeout=3)

    org.session.events.register("provide-client-params.sts.AssumeRole", on_assume)
    org.session.events.register("provide-client-params.dynamodb.Query", on_query)
    try:
        # One scan slot: the only concurrency left is the table work beside it.
        summary = org.run(org.config(scan={"max_workers": 1}), at=now(2))
    finally:
        org.session.events.unregister("provide-client-params.sts.AssumeRole", on_assume)
        org.session.events.unregister("provide-client-params.dynamodb.Query", on_query)
    assert summary.exit_code == 0
    assert overlapped and all(overlapped.values()), overlapped


def test_an_account_whose_role_is_denied_gives_its_lease_back_at_once(
    org: Org, faults: Faults
) -> None:
    """Its lease was taken beside the denied AssumeRole; it is given back then, not at the
    run's end: a run beside this one must not wait on an account this one cannot scan. With
    one scan slot, every later account's AssumeRole looks for the denied account's lease."""
    org.run(at=now(1))
    denied = org.accounts["workload-a"]
    faults.error("sts", "AssumeRole", "AccessDenied", status=403, account=denied)
    # Made before the run, not per look (as `raw_item` does): the look must come before the
    # run's loop could free the lease on its own, which a client made per look gives it time to.
    ddb = dynamodb_client(org.session, org.config())
    tried: list[str] = []
    held_after: list[bool] = []

    def on_assume(params: dict[str, Any], **_: Any) -> None:
        account = params["RoleArn"].split(":")[4]
        if denied in tried and account != denied:
            lease = ddb.get_item(
                TableName="VPCTracker",
                Key={"VpcId": {"S": f"lease#{denied}"}, "OwnerId": {"S": "lease"}},
                ConsistentRead=True,
            )
            held_after.append("Item" in lease)
        tried.append(account)

    org.session.events.register("provide-client-params.sts.AssumeRole", on_assume)
    try:
        summary = org.run(org.config(scan={"max_workers": 1}), at=now(2))
    finally:
        org.session.events.unregister("provide-client-params.sts.AssumeRole", on_assume)
    assert [f["account_id"] for f in summary.failures] == [denied]
    assert held_after and not any(held_after), (tried, held_after)
