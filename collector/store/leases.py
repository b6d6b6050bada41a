"""Store — account leases (`lease#<account>`).

A run holds one lease item per account it is collecting, from before it reads the account's
items until that account's writes have settled. A second run that overlaps waits for the lease,
or reports the account failed: without it, a run that saw a VPC earlier could overwrite the
"deleted" mark of a run that saw it later (BatchWriteItem has no conditions). The TTL frees the
lease of a run that was killed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from collector.errors import error_code
from collector.store.attributes import s, ts

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PREFIX = "lease#"
OWNER = "lease"


@dataclass(frozen=True)
class Lease:
    """Who is collecting an account, and until when the claim holds."""

    account_id: str
    run_id: str
    started_at: datetime
    expires_at: int  # epoch seconds


def _lease_key(account_id: str) -> dict[str, Any]:
    return {"VpcId": s(PREFIX + account_id), "OwnerId": s(OWNER)}


def lease_from_item(item: Mapping[str, Any]) -> Lease:
    """Deserialize a lease item."""
    return Lease(
        account_id=item["VpcId"]["S"].removeprefix(PREFIX),
        run_id=item["RunId"]["S"],
        started_at=datetime.fromisoformat(item["StartedAt"]["S"].replace("Z", "+00:00")),
        expires_at=int(item["ExpiresAt"]["N"]),
    )


def acquire_lease(client: DynamoDBClient, table: str, lease: Lease, now: int) -> Lease | None:
    """Take the account's lease for `lease.run_id`; None on success, else the current holder.

    Conditional: free, expired (`now` in epoch seconds), or already ours.
    """
    item = {
        **_lease_key(lease.account_id),
        "RunId": s(lease.run_id),
        "StartedAt": ts(lease.started_at),
        "ExpiresAt": {"N": str(lease.expires_at)},
    }
    try:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(VpcId) OR ExpiresAt < :now OR RunId = :run",
            ExpressionAttributeValues={":now": {"N": str(now)}, ":run": s(lease.run_id)},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        held = client.get_item(
            TableName=table, Key=_lease_key(lease.account_id), ConsistentRead=True
        ).get("Item")
        try:
            return lease_from_item(held) if held else lease
        except (KeyError, ValueError):
            return lease  # an unreadable holder is still a holder
    return None


def release_lease(client: DynamoDBClient, table: str, account_id: str, run_id: str) -> None:
    """Give the lease back, if it is still ours."""
    try:
        client.delete_item(
            TableName=table,
            Key=_lease_key(account_id),
            ConditionExpression="RunId = :run",
            ExpressionAttributeValues={":run": s(run_id)},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise


def take_lease(
    client: DynamoDBClient,
    table: str,
    account_id: str,
    run_id: str,
    *,
    hold_seconds: int,
    wait_seconds: float,
    call: Callable[..., Lease | None] = lambda fn, *args: fn(*args),
    sleep: Callable[[float], None] = time.sleep,
    give_up: Callable[[], bool] = lambda: False,
) -> Lease | None:
    """Take the lease `account_id` (an account, or a name such as `recording`) for `run_id`,
    trying again every second or so for up to `wait_seconds`; None once it is ours, else the
    holder that kept it. `call` runs each attempt (a retry policy); `give_up` ends the wait early.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        # Wall-clock time, not a run's injected clock: leases are compared across runs.
        now = datetime.now(UTC).replace(microsecond=0)
        lease = Lease(
            account_id, run_id, now, int((now + timedelta(seconds=hold_seconds)).timestamp())
        )
        holder = call(acquire_lease, client, table, lease, int(now.timestamp()))
        if holder is None:
            return None
        if time.monotonic() >= deadline or give_up():
            return holder
        sleep(random.uniform(0.5, 2.0))
