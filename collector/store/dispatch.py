"""Store — fan-out progress (`dispatch#<id>`).

The dispatcher records a night before it sends any message (`Listing`: it queues accounts as it
lists the organization, so the count is not known yet), then how many messages it sent
(`Parts`) once the listing has ended. Each worker records its message's part as
done (a set: a redelivered message counts once), and a message on its last receive that still
failed as done too, with its failed accounts: it goes to the dead-letter queue, and one account
that keeps failing must not keep the whole night from being recorded. The worker that completes
the set is the last, and records the night's findings as the workers left the table (those of
the failed accounts stand as they were). A worker's part and the count are single-item updates:
whichever comes last sees the night complete, so exactly one of them records it (the dispatcher,
when every part finished before the listing ended).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collector.store.attributes import s

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PREFIX = "dispatch#"
OWNER = "dispatch"


def _dispatch_key(dispatch_id: str) -> dict[str, Any]:
    return {"VpcId": s(PREFIX + dispatch_id), "OwnerId": s(OWNER)}


def open_dispatch(client: DynamoDBClient, table: str, dispatch_id: str, expires_at: int) -> None:
    """Record a fan-out whose messages are about to be sent, their count not known yet (before
    any is sent, so that every worker finds its night)."""
    client.put_item(
        TableName=table,
        Item={
            **_dispatch_key(dispatch_id),
            "Listing": {"BOOL": True},
            "ExpiresAt": {"N": str(expires_at)},
        },
    )


def close_dispatch(client: DynamoDBClient, table: str, dispatch_id: str, parts: int) -> Progress:
    """Record that the fan-out sent `parts` messages (after the last is sent); returns where the
    night stands, complete if every part finished before (then it is the caller's to record).
    Setting the same count again changes nothing, so a retried call is safe."""
    resp = client.update_item(
        TableName=table,
        Key=_dispatch_key(dispatch_id),
        UpdateExpression="SET Parts = :n REMOVE Listing",
        ExpressionAttributeValues={":n": {"N": str(parts)}},
        ReturnValues="ALL_NEW",
    )
    return _progress(resp["Attributes"])


@dataclass(frozen=True)
class Progress:
    """How far a night's fan-out is."""

    done: int  # parts finished (ok, or failed on their last receive)
    parts: int | None  # None while the dispatcher still lists and sends
    failed_accounts: frozenset[str]  # accounts of parts that finished failed

    @property
    def complete(self) -> bool:
        """Every part of a night that has some has finished."""
        return bool(self.parts) and self.done >= (self.parts or 0)


def part_done(
    client: DynamoDBClient,
    table: str,
    dispatch_id: str,
    part: int,
    failed_accounts: Sequence[str] = (),
) -> Progress:
    """Mark one message of a fan-out finished (with `failed_accounts`: finished failed, on its
    last receive); returns where the night stands."""
    update = "ADD Done :p"
    values: dict[str, Any] = {":p": {"NS": [str(part)]}}
    if failed_accounts:
        update += ", FailedAccounts :a"
        values[":a"] = {"SS": sorted(set(failed_accounts))}
    resp = client.update_item(
        TableName=table,
        Key=_dispatch_key(dispatch_id),
        UpdateExpression=update,
        # A night recorded by its dispatcher (an older one wrote `Parts` only, at once).
        ConditionExpression="attribute_exists(Parts) OR attribute_exists(Listing)",
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    return _progress(resp["Attributes"])


def _progress(item: dict[str, Any]) -> Progress:
    parts = item.get("Parts")
    return Progress(
        len(item.get("Done", {}).get("NS", [])),
        None if parts is None else int(parts["N"]),
        frozenset(item.get("FailedAccounts", {}).get("SS", [])),
    )
