"""Store — fan-out progress (`dispatch#<id>`).

The dispatcher records how many messages a night has; each worker records its message's part as
done (a set: a redelivered message counts once). The worker that completes the set is the last,
and audits the table as the workers left it.
"""

from __future__ import annotations

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


def part_done(client: DynamoDBClient, table: str, dispatch_id: str, part: int) -> tuple[int, int]:
    """Mark one message of a fan-out done; returns (parts done, parts in all)."""
    resp = client.update_item(
        TableName=table,
        Key=_dispatch_key(dispatch_id),
        UpdateExpression="ADD Done :p",
        ConditionExpression="attribute_exists(Parts)",
        ExpressionAttributeValues={":p": {"NS": [str(part)]}},
        ReturnValues="ALL_NEW",
    )
    item = resp["Attributes"]
    return len(item["Done"]["NS"]), int(item["Parts"]["N"])
