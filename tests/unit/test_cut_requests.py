"""On the wire, the cut data changes nothing: each call the tool makes, built by a hub client
(the hub's endpoints and documentation-free models) or a member client (EC2's nine operations),
is the request botocore's own data builds, URL, method, body and headers, in every partition.
Nothing is sent: the request is taken as it leaves, then the call stops.

`make test` runs this module again on the oldest boto3 and botocore pyproject.toml allows
(`make test-oldest`, without tests/conftest.py, whose moto needs a newer botocore): the cut was
made from a newer botocore, and `hub.at_least` keeps the hub's from older ones."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
import pytest

from collector.credentials import profile_member_session
from collector.hub import HUB_SERVICES, hub_session
from collector.scan.scanner import SCAN_OPERATIONS

TABLE = "vpctracker"
KEY = {"VpcId": {"S": "vpc-0123456789abcdef0"}, "OwnerId": {"S": "111122223333"}}
QUEUE = "https://sqs.us-east-1.amazonaws.com/111122223333/vpctracker"
TOPIC = "arn:aws:sns:us-east-1:111122223333:vpctracker"
RTB = {"TransitGatewayRouteTableId": "tgw-rtb-0123456789abcdef0"}
KEYS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "x", "aws_session_token": "t"}

# The calls the package makes, with the kinds of parameters it passes (each location and type
# the serializer writes: JSON bodies, query strings, headers, paths, a blob).
HUB_CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "dynamodb": [
        (
            "scan",
            {
                "TableName": TABLE,
                "Segment": 1,
                "TotalSegments": 4,
                "ExclusiveStartKey": KEY,
                "ProjectionExpression": "#v",
                "ExpressionAttributeNames": {"#v": "VpcId"},
            },
        ),
        (
            "query",
            {
                "TableName": TABLE,
                "IndexName": "ByOwner",
                "Limit": 100,
                "KeyConditionExpression": "OwnerId = :o",
                "ExpressionAttributeValues": {":o": {"S": "111122223333"}},
            },
        ),
        ("get_item", {"TableName": TABLE, "Key": KEY, "ConsistentRead": True}),
        (
            "put_item",
            {
                "TableName": TABLE,
                "Item": {**KEY, "N": {"N": "1"}},
                "ConditionExpression": "attribute_not_exists(VpcId)",
            },
        ),
        (
            "update_item",
            {
                "TableName": TABLE,
                "Key": KEY,
                "UpdateExpression": "SET #a = :v",
                "ExpressionAttributeNames": {"#a": "Lease"},
                "ExpressionAttributeValues": {":v": {"L": [{"BOOL": True}]}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        ("delete_item", {"TableName": TABLE, "Key": KEY}),
        (
            "batch_write_item",
            {
                "RequestItems": {
                    TABLE: [{"PutRequest": {"Item": KEY}}, {"DeleteRequest": {"Key": KEY}}]
                }
            },
        ),
        ("batch_get_item", {"RequestItems": {TABLE: {"Keys": [KEY], "ConsistentRead": True}}}),
        (
            "transact_write_items",
            # A token of its own: botocore makes a new one each call otherwise.
            {
                "TransactItems": [{"Put": {"TableName": TABLE, "Item": KEY}}],
                "ClientRequestToken": "t",
            },
        ),
        ("describe_table", {"TableName": TABLE}),
        ("describe_time_to_live", {"TableName": TABLE}),
        (
            "update_time_to_live",
            {
                "TableName": TABLE,
                "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "ExpiresAt"},
            },
        ),
        (
            "create_table",
            {
                "TableName": TABLE,
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "VpcId", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "VpcId", "AttributeType": "S"}],
            },
        ),
    ],
    "organizations": [
        ("list_accounts", {"NextToken": "t"}),
        ("describe_account", {"AccountId": "111122223333"}),
        ("list_accounts_for_parent", {"ParentId": "ou-ab12-cdefgh12"}),
        ("list_children", {"ParentId": "r-ab12", "ChildType": "ORGANIZATIONAL_UNIT"}),
    ],
    "sts": [
        ("get_caller_identity", {}),
        (
            "assume_role",
            {
                "RoleArn": "arn:aws:iam::111122223333:role/VpcTrackerRead",
                "RoleSessionName": "vpctracker",
                "DurationSeconds": 900,
            },
        ),
    ],
    "sns": [
        (
            "publish",
            {
                "TopicArn": TOPIC,
                "Subject": "s",
                "Message": "m",
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "overlap"}},
            },
        ),
        ("create_topic", {"Name": "vpctracker"}),
        (
            "subscribe",
            {
                "TopicArn": TOPIC,
                "Protocol": "sqs",
                "Endpoint": "arn:aws:sqs:us-east-1:111122223333:q",
            },
        ),
    ],
    "sqs": [
        (
            "send_message_batch",
            {"QueueUrl": QUEUE, "Entries": [{"Id": "1", "MessageBody": "{}", "DelaySeconds": 0}]},
        ),
        ("receive_message", {"QueueUrl": QUEUE, "MaxNumberOfMessages": 10}),
        ("get_queue_attributes", {"QueueUrl": QUEUE, "AttributeNames": ["All"]}),
        ("create_queue", {"QueueName": "vpctracker"}),
    ],
    "ssm": [
        ("get_parameter", {"Name": "/vpctracker/config", "WithDecryption": True}),
        (
            "put_parameter",
            {"Name": "/vpctracker/config", "Value": "x", "Type": "String", "Overwrite": True},
        ),
    ],
    "s3": [
        ("get_object", {"Bucket": "reports", "Key": "config.yaml"}),
        (
            "put_object",
            {
                "Bucket": "reports",
                "Key": "index.html",
                "Body": b"<html>",
                "ContentType": "text/html",
                "CacheControl": "no-cache",
            },
        ),
    ],
    "ec2": [  # the demo's simulator
        ("create_vpc", {"CidrBlock": "10.0.0.0/16"}),
        ("delete_vpc", {"VpcId": "vpc-0123456789abcdef0"}),
    ],
}
MEMBER_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("describe_regions", {"AllRegions": False}),
    ("describe_vpcs", {"MaxResults": 1000, "NextToken": "t"}),
    ("describe_subnets", {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1", "vpc-2"]}],
                          "MaxResults": 1000}),
    ("describe_vpc_peering_connections", {"MaxResults": 1000}),
    ("describe_transit_gateway_attachments", {"MaxResults": 1000}),
    ("describe_transit_gateway_route_tables", {"MaxResults": 1000}),
    ("search_transit_gateway_routes", {**RTB, "MaxResults": 1000, "Filters": [
        {"Name": "type", "Values": ["static"]}]}),
    ("get_transit_gateway_route_table_associations", RTB),
    ("get_transit_gateway_route_table_propagations", RTB),
]  # fmt: skip
REGIONS = ("us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1")
# What differs from one call to the next (time, ids, signatures over them), not by the data.
_PER_CALL = {"authorization", "x-amz-date", "user-agent", "amz-sdk-invocation-id",
             "amz-sdk-request", "x-amz-content-sha256"}  # fmt: skip


class _Sent(Exception):
    """Stops a call once its request is taken."""


def _request(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    taken: dict[str, Any] = {}

    def take(request: Any, **_: Any) -> None:
        taken.update(
            url=request.url,
            method=request.method,
            # S3's streamed body (chunked, with its checksum) read out; the rest are bytes.
            body=request.body.read() if hasattr(request.body, "read") else request.body,
            headers={k: v for k, v in request.headers.items() if k.lower() not in _PER_CALL},
        )
        raise _Sent

    client.meta.events.register("before-send", take)
    try:
        with pytest.raises(_Sent):
            getattr(client, operation)(**params)
    finally:
        client.meta.events.unregister("before-send", take)
    assert taken, operation
    return taken


@pytest.fixture(autouse=True)
def _botocore_s_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # No profile or endpoint: tests/conftest.py (`make test-oldest`: its environment). No data
    # or FIPS setting of the developer's either: both sides would read them.
    for name in ("AWS_DATA_PATH", "AWS_USE_FIPS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("service", sorted(HUB_CALLS))
def test_hub_clients_send_what_botocore_s_own_data_sends(service: str, region: str) -> None:
    # Keys of its own: `make test-oldest` runs this module without tests/conftest.py.
    ours = hub_session().client(service, region_name=region, **KEYS)
    theirs = boto3.Session().client(service, region_name=region, **KEYS)
    for operation, params in HUB_CALLS[service]:
        assert _request(ours, operation, params) == _request(theirs, operation, params), operation


@pytest.mark.parametrize("region", REGIONS)
def test_member_clients_send_what_botocore_s_own_data_sends(region: str) -> None:
    # The member session a scan worker makes; keys of its own, as an assumed role's would be.
    member, _ = profile_member_session(None)
    ours = member.client("ec2", region_name=region, **KEYS)
    theirs = botocore.session.Session().create_client("ec2", region_name=region, **KEYS)
    for operation, params in MEMBER_CALLS:
        assert _request(ours, operation, params) == _request(theirs, operation, params), operation


def test_every_service_and_scan_operation_is_here() -> None:
    """The tests above cover each service a hub client is made for, and each operation a
    member client has."""
    assert set(HUB_CALLS) == HUB_SERVICES
    assert {operation for operation, _ in MEMBER_CALLS} == SCAN_OPERATIONS
