"""Store — fan-out progress (`dispatch#<id>`).

The dispatcher records how many messages a night has; each worker records its message's part as
done (a set: a redelivered message counts once), and a message on its last receive that still
failed as done too, with its failed accounts: it goes to the dead-letter queue, and one account
that keeps failing must not keep the whole night from being recorded. The worker that completes
the set is the last, and records the night's findings as the workers left the table (those of
the failed accounts stand as they were).
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


def put_dispatch(
    client: DynamoDBClient, table: str, dispatch_id: str, parts: int, expires_at: int
) -> None:
    """Record a fan-out of `parts` messages (before any is sent)."""
    client.put_item(
        TableName=table,
        Item={
            **_dispatch_key(dispatch_id),
            "Parts": {"N": str(parts)},
            "ExpiresAt": {"N": str(expires_at)},
        },
    )


@dataclass(frozen=True)
class Progress:
    """How far a night's fan-out is."""

    done: int  # parts finished (ok, or failed on their last receive)
    parts: int
    failed_accounts: frozenset[str]  # accounts of parts that finished failed

    @property
    def complete(self) -> bool:
        """Every part has finished."""
        return self.done >= self.parts


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
        ConditionExpression="attribute_exists(Parts)",
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    item = resp["Attributes"]
    return Progress(
        len(item["Done"]["NS"]),
        int(item["Parts"]["N"]),
        frozenset(item.get("FailedAccounts", {}).get("SS", [])),
    )
