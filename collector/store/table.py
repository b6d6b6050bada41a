"""Store — the table itself: its schema, creating it, checking it exists, its TTL."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from collector.errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

OWNER_INDEX = "OwnerRegionIndex"
TTL_ATTRIBUTE = "ExpiresAt"


class TableMissingError(Exception):
    """The configured table does not exist (or is not visible to these credentials)."""


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments: PK VpcId, SK OwnerId, GSI OwnerId+Region, on-demand billing."""
    return {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": "VpcId", "AttributeType": "S"},
            {"AttributeName": "OwnerId", "AttributeType": "S"},
            {"AttributeName": "Region", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "VpcId", "KeyType": "HASH"},
            {"AttributeName": "OwnerId", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": OWNER_INDEX,
                "KeySchema": [
                    {"AttributeName": "OwnerId", "KeyType": "HASH"},
                    {"AttributeName": "Region", "KeyType": "RANGE"},
                ],
                # ALL: lifecycle marking rewrites whole items read from the index.
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True},
    }


# What DynamoDB-compatible endpoints without the TTL API answer (dynalite: the first).
UNSUPPORTED_CODES = frozenset(
    {"UnknownOperationException", "UnsupportedOperationException", "NotImplemented"}
)


def create_table(client: DynamoDBClient, name: str, *, wait: bool = True, ttl: bool = True) -> bool:
    """Create the table (TTL on ExpiresAt unless `ttl=False`); True if created, False if it
    already existed. An endpoint without the TTL API gets a warning, not an error: see
    `enable_ttl`."""
    created = True
    try:
        client.create_table(**table_definition(name))
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
        created = False
    if wait:
        client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 60}
        )
    if ttl and not enable_ttl(client, name):
        log.warning("table %s: endpoint has no TTL support; deleted items will not expire", name)
    return created


def enable_ttl(client: DynamoDBClient, name: str) -> bool:
    """Turn on TTL on ExpiresAt; False when the endpoint does not implement the TTL API."""
    try:
        status = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
    except ClientError as exc:
        http = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if error_code(exc) in UNSUPPORTED_CODES or http == 501:
            return False
        raise
    return True


def check_table(client: DynamoDBClient, name: str) -> None:
    """Raise TableMissingError if the table is absent or lacks the owner index."""
    try:
        desc = client.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise TableMissingError(name) from None
        raise
    indexes = {i["IndexName"] for i in desc.get("GlobalSecondaryIndexes", [])}
    if OWNER_INDEX not in indexes:
        raise TableMissingError(f"{name} (index {OWNER_INDEX} missing)")
