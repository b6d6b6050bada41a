"""Store — when the report was last published (`report#latest`, in the ledger).

Live updates refresh the published report at most once per `report.min_interval_minutes`: the
first invocation of a burst claims the interval with a conditional write, the others see it
taken and skip (so a burst of events is one upload, across concurrent invocations).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from collector.errors import error_code
from collector.store.attributes import n

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PREFIX = "report#"
KEY = {"VpcId": {"S": PREFIX + "latest"}, "OwnerId": {"S": "report"}}


def claim_refresh(client: DynamoDBClient, ledger: str, now: int, min_interval_s: int) -> bool:
    """Take the right to refresh the report now (epoch seconds): True unless a refresh was
    claimed less than `min_interval_s` ago."""
    item: dict[str, Any] = {**KEY, "PublishedAt": n(now), "ExpiresAt": n(now + 86_400)}
    try:
        client.put_item(
            TableName=ledger,
            Item=item,
            ConditionExpression="attribute_not_exists(VpcId) OR PublishedAt <= :cutoff",
            ExpressionAttributeValues={":cutoff": n(now - min_interval_s)},
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
