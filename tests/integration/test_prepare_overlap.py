"""Issue 26: an account's table work (its lease and the read of its stored items) runs beside
its member calls (AssumeRole, DescribeRegions), not before them in the same scan slot: the
slots `scan.max_workers` caps are held by the calls the scan needs."""

from __future__ import annotations

import threading
from typing import Any

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
