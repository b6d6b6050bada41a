"""The bench's fake DynamoDB: its read pages are exactly the projected items as JSON, however it
builds them, and a write is seen by the next read."""

from __future__ import annotations

import json
from typing import Any

from bench.fake_aws import Server
from bench.fake_org import Org


def _item(n: int, extra: str = "x") -> dict[str, Any]:
    return {
        "VpcId": {"S": f"vpc-{n:017x}"},
        "OwnerId": {"S": "100000000000"},
        "Region": {"S": "us-east-1"},
        "Extra": {"S": extra},
        "CidrBlocks": {"L": [{"S": f"10.{n % 256}.0.0/16"}]},
    }


def _server() -> Server:
    return Server(Org(1, 1, "1"), 0.0, 0.0, 0.0, 0.0)


def _scan(server: Server, **req: Any) -> list[dict[str, Any]]:
    """Every page of a scan, as the JSON bodies the fake answers, each checked to be what
    `json.dumps` of the page itself gives (the bytes the client parses)."""
    pages: list[dict[str, Any]] = []
    after: dict[str, Any] | None = None
    while True:
        body, _, status = server.dynamodb(
            "Scan", {"TableName": "t", **req, **({"ExclusiveStartKey": after} if after else {})}
        )
        assert status == 200
        page = json.loads(body)
        assert body == json.dumps(page)
        pages.append(page)
        after = page.get("LastEvaluatedKey")
        if after is None:
            return pages


def test_scan_pages_are_the_projected_items_and_follow_writes() -> None:
    server = _server()
    table = server.table("t")
    for n in range(2500):
        table.put((f"vpc-{n:017x}", "100000000000"), _item(n))
    projection = {
        "ProjectionExpression": "#a0, #a1",
        "ExpressionAttributeNames": {"#a0": "VpcId", "#a1": "Extra"},
    }
    for req in ({}, projection, {"Segment": 1, "TotalSegments": 4, **projection}):
        pages = _scan(server, **req)
        items = [i for p in pages for i in p["Items"]]
        assert all(p["Count"] == p["ScannedCount"] == len(p["Items"]) for p in pages)
        keys = [k for k, _ in sorted(table.items.items())]
        if "Segment" not in req:
            assert [i["VpcId"]["S"] for i in items] == [k[0] for k in keys]
        wanted = set(projection["ExpressionAttributeNames"].values()) if req else None
        for i in items:
            whole = table.items[(i["VpcId"]["S"], "100000000000")]
            assert i == (whole if wanted is None else {k: whole[k] for k in wanted})
    # A write after a read: the next read gives the new item, projected or whole.
    table.put(("vpc-00000000000000007", "100000000000"), _item(7, extra="changed"))
    table.delete(("vpc-00000000000000009", "100000000000"))
    for req in ({}, projection):
        items = {i["VpcId"]["S"]: i for p in _scan(server, **req) for i in p["Items"]}
        assert items["vpc-00000000000000007"]["Extra"] == {"S": "changed"}
        assert "vpc-00000000000000009" not in items


def test_batch_gets_and_queries_are_the_projected_items_and_follow_writes() -> None:
    server = _server()
    table = server.table("t")
    for n in range(300):
        table.put((f"vpc-{n:017x}", "100000000000"), _item(n))
    keys = [{"VpcId": {"S": f"vpc-{n:017x}"}, "OwnerId": {"S": "100000000000"}} for n in (3, 5)]
    projection = {"ProjectionExpression": "VpcId, Extra"}
    query = {
        "IndexName": "OwnerRegionIndex",
        "KeyConditionExpression": "OwnerId = :o",
        "ExpressionAttributeValues": {":o": {"S": "100000000000"}},
    }
    for extra in ("x", "changed"):
        for spec in ({}, projection):
            body, _, status = server.dynamodb(
                "BatchGetItem", {"RequestItems": {"t": {"Keys": keys, **spec}}}
            )
            assert status == 200 and body == json.dumps(json.loads(body))
            got = json.loads(body)["Responses"]["t"]
            whole = [_item(n, extra if n == 5 else "x") for n in (3, 5)]
            assert got == (
                whole if not spec else [{"VpcId": i["VpcId"], "Extra": i["Extra"]} for i in whole]
            )
            body, _, status = server.dynamodb("Query", {"TableName": "t", **query, **spec})
            assert status == 200 and body == json.dumps(json.loads(body))
            page = json.loads(body)["Items"]
            assert len(page) == 300 and page[5]["Extra"] == {"S": extra}
        table.put(("vpc-00000000000000005", "100000000000"), _item(5, extra="changed"))


def test_the_table_s_latency_can_be_set_apart_from_every_other_call_s() -> None:
    """A table in the function's region answers in milliseconds, EC2 in a tenth of a second:
    the bench measures an event with both (docs/benchmarks.md)."""
    server = Server(Org(1, 1, "1"), 0.1, 0.0, 0.0, 0.0)
    table = {"x-amz-target": "DynamoDB_20120810.Scan"}
    ec2: dict[str, str] = {}
    assert server.delay(table) == server.delay(ec2) == 0.1
    server.control("/__latency?s=0.1&table=0.02")
    assert (server.delay(table), server.delay(ec2)) == (0.02, 0.1)
    server.control("/__latency?s=0.05")
    assert server.delay(table) == server.delay(ec2) == 0.05


def test_the_fake_takes_what_dynamodb_takes_and_refuses_what_it_refuses() -> None:
    # Until 2026-12-03 it sized an item by its JSON (type tags and quotes too): it refused the
    # parts of a TGW owner's connectivity item (5,000 attachments), which DynamoDB takes,
    # and the read path's landing zone lost its network account's items.
    from collector.store.connectivity import connectivity_items
    from collector.store.parts import MAX_ITEM, item_size
    from tests.unit.test_store_parts import big_connectivity

    server = _server()
    items = connectivity_items(big_connectivity(), 2_000_000_000)
    assert len(items) > 1
    for item in items:
        body, _, status = server.dynamodb(
            "BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": item}}]}}
        )
        assert status == 200, body
    base = {"VpcId": {"S": "vpc-00000000000000001"}, "OwnerId": {"S": "111111111111"}}
    pad = MAX_ITEM - item_size({**base, "Pad": {"S": ""}})
    for extra, status in ((0, 200), (1, 400)):
        item = {**base, "Pad": {"S": "x" * (pad + extra)}}
        assert server.dynamodb("PutItem", {"TableName": "t", "Item": item})[2] == status
