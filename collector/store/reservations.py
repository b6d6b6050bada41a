"""Store — reservations (`reservation#<cidr>`) and the allocation counter (`allocation#lock`).

Reservation and lock items share the table without breaking its key schema: `VpcId` is
`reservation#<cidr>` / `allocation#lock`, `OwnerId` a constant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from collector.errors import error_code
from collector.models import Reservation
from collector.store.attributes import s, ts

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PREFIX = "reservation#"
OWNER = "reservation"
REGION = "global"  # puts reservations in the owner index, under OwnerId=reservation
LOCK_PREFIX = "allocation#"
LOCK_KEY = {"VpcId": {"S": "allocation#lock"}, "OwnerId": {"S": "allocation"}}
# What a reader needs of a reservation item (all of it, beside the key).
ATTRIBUTES = ("Cidr", "ReservedFor", "ReservedAt", "Note")


def reservation_item(r: Reservation) -> dict[str, Any]:
    """Serialize a reservation to a table item."""
    return {
        "VpcId": s(PREFIX + r.cidr),
        "OwnerId": s(OWNER),
        "Region": s(REGION),
        "Cidr": s(r.cidr),
        "ReservedFor": s(r.owner),
        "ReservedAt": ts(r.reserved_at),
        "Note": s(r.note),
        "ExpiresAt": {"N": str(r.expires_at)},
    }


def reservation_from_item(item: Mapping[str, Any]) -> Reservation:
    """Deserialize a reservation item."""
    return Reservation(
        cidr=item["Cidr"]["S"],
        owner=item["ReservedFor"]["S"],
        reserved_at=datetime.fromisoformat(item["ReservedAt"]["S"].replace("Z", "+00:00")),
        expires_at=int(item["ExpiresAt"]["N"]),
        note=item.get("Note", {}).get("S", ""),
    )


def allocation_version(client: DynamoDBClient, table: str) -> int:
    """The allocation counter every reservation bumps (0 before the first one)."""
    item = client.get_item(TableName=table, Key=LOCK_KEY, ConsistentRead=True).get("Item")
    return int(item["Version"]["N"]) if item else 0


def put_reservation(client: DynamoDBClient, table: str, r: Reservation, seen_version: int) -> bool:
    """Write a reservation iff nobody reserved anything since `seen_version` was read.

    One transaction: bump the allocation counter from `seen_version` (conditional) and put the
    reservation (conditional on its CIDR being unreserved). Two concurrent allocators read the
    same version and compute from the same snapshot; only one transaction can succeed, the
    other gets False and must recompute. Any other error raises.
    """
    cond: dict[str, Any]
    if seen_version:
        cond = {
            "ConditionExpression": "Version = :v",
            "ExpressionAttributeValues": {
                ":v": {"N": str(seen_version)},
                ":n": {"N": str(seen_version + 1)},
            },
        }
    else:
        cond = {
            "ConditionExpression": "attribute_not_exists(Version)",
            "ExpressionAttributeValues": {":n": {"N": "1"}},
        }
    update: dict[str, Any] = {
        "TableName": table,
        "Key": LOCK_KEY,
        "UpdateExpression": "SET Version = :n",
        **cond,
    }
    try:
        client.transact_write_items(
            TransactItems=[
                {"Update": update},  # type: ignore[typeddict-item]
                {
                    "Put": {
                        "TableName": table,
                        "Item": reservation_item(r),
                        "ConditionExpression": "attribute_not_exists(VpcId) OR ExpiresAt < :now",
                        "ExpressionAttributeValues": {
                            ":now": {"N": str(int(r.reserved_at.timestamp()))}
                        },
                    }
                },
            ]
        )
    except ClientError as exc:
        if error_code(exc) in ("TransactionCanceledException", "ConditionalCheckFailedException"):
            return False
        raise
    return True


def delete_reservation(client: DynamoDBClient, table: str, cidr: str) -> bool:
    """Delete the reservation of `cidr`; False if there was none."""
    try:
        client.delete_item(
            TableName=table,
            Key={"VpcId": s(PREFIX + cidr), "OwnerId": s(OWNER)},
            ConditionExpression="attribute_exists(VpcId)",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
