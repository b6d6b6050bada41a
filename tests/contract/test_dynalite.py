"""The store's requests, validated by a DynamoDB implementation we did not write (dynalite).

dynalite has no UpdateTimeToLive and no TransactWriteItems: tables are created with
`ttl=False` here, and reservations (a transaction) are covered under moto only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from collector.cli import main
from collector.config import Config
from collector.errors import MalformedResponse
from collector.jobs.audit import read_inventory, run_audit
from collector.jobs.collect import run
from collector.jobs.options import RunOptions
from collector.models import Account, Reservation, Subnet, to_records
from collector.store.leases import Lease, acquire_lease, release_lease
from collector.store.reader import fast_reads, scan_items
from collector.store.registry import (
    BLOCK_ATTRIBUTES,
    RESERVATIONS,
    VPCS,
    list_reservations,
    load_inventory,
    load_items,
    query_account,
)
from collector.store.reservations import delete_reservation, reservation_item
from collector.store.table import TableMissingError, check_table, create_table
from collector.store.vpcs import to_item
from collector.store.writer import BatchWriter, delete_items, fast_writes
from tests.conftest import load_data
from tests.factories import make_vpc
from tests.integration.conftest import FAST_RETRY, build_org

T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def test_store_against_dynalite(dynalite_url: str) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=dynalite_url, region_name="us-east-1")
    assert create_table(ddb, "VPCTracker-store", ttl=False) is True
    assert create_table(ddb, "VPCTracker-store", ttl=False) is False
    check_table(ddb, "VPCTracker-store")
    with pytest.raises(TableMissingError):
        check_table(ddb, "VPCTracker-absent")

    raw = load_data("describe_vpcs_mixed.json")["Vpcs"][:2]
    written = []
    for n in range(40):  # 80 items: several full batches of 25 and a partial one
        acct = Account(f"{111111111111 + n % 3:012d}", f"acct-{n % 3}")
        for r in raw:
            item = {**r, "VpcId": f"vpc-{n:04d}{r['VpcId'][-13:]}", "OwnerId": acct.id}
            written.extend(to_records([item], account=acct, region="eu-west-1", now=T).records)
    with BatchWriter(ddb, "VPCTracker-store", threads=3) as w:
        w.add_all(to_item(v) for v in written)
    assert w.stats.written == 80 and w.stats.failed == 0

    r = Reservation("10.9.0.0/16", "111111111111", T, int(T.timestamp()) + 3600, "note")
    ddb.put_item(TableName="VPCTracker-store", Item=reservation_item(r))
    inventory = load_inventory(ddb, "VPCTracker-store")
    assert inventory.unreadable == []
    assert sorted(inventory.vpcs, key=lambda v: v.VpcId) == sorted(written, key=lambda v: v.VpcId)
    mine = query_account(ddb, "VPCTracker-store", "111111111111").vpcs
    assert {v.VpcId for v in mine} == {v.VpcId for v in written if v.OwnerId == "111111111111"}
    assert list_reservations(ddb, "VPCTracker-store").reservations == [r]
    assert delete_reservation(ddb, "VPCTracker-store", "10.9.0.0/16") is True
    assert delete_reservation(ddb, "VPCTracker-store", "10.9.0.0/16") is False


def _read_both_ways(plain: Any, fast: Any) -> None:
    create_table(plain, "VPCTracker-fast", ttl=False)
    raw = load_data("describe_vpcs_mixed.json")["Vpcs"]
    acct = Account("111111111111", 'payments \u202e"<x>')
    vpcs = to_records(raw, account=acct, region="eu-west-1", now=T).records
    sn = Subnet(
        SubnetId="subnet-0123456789abcdef0",
        CidrBlock=vpcs[0].CidrBlock,
        Ipv6CidrBlocks=("2600:1f18:4c3:a01::/64",),
        AvailabilityZone="eu-west-1a",
        AvailableIpAddressCount=251,
        Name="app \u00e9",
    )
    vpcs[0] = vpcs[0].model_copy(update={"Subnets": (sn,), "Tags": {"k": "v\n", "aws:x": "\u00e9"}})
    r = Reservation("10.9.0.0/16", "111111111111", T, int(T.timestamp()) + 3600, "n\u00f6te")
    items = [to_item(v) for v in vpcs] + [reservation_item(r)]
    odd = {"N": {"N": "-1500.25"}, "L": {"L": [{"NULL": True}, {"BOOL": False}, {"SS": ["a"]}]}}
    items.append({"VpcId": {"S": "other#x"}, "OwnerId": {"S": "o"}, **odd})
    for item in items:
        plain.put_item(TableName="VPCTracker-fast", Item=item)

    def everything(client: Any) -> list[Any]:
        pages = client.get_paginator("scan").paginate(
            TableName="VPCTracker-fast", PaginationConfig={"PageSize": 2}
        )
        return sorted((i for p in pages for i in p["Items"]), key=lambda i: i["VpcId"]["S"])

    assert everything(fast) == everything(plain)
    assert len(everything(fast)) == len(items)
    # Parallel segments: every item exactly once, whatever the segment count.
    for segments in (1, 3, 4):
        key = lambda i: i["VpcId"]["S"]  # noqa: E731
        assert sorted(scan_items(fast, "VPCTracker-fast", segments), key=key) == everything(plain)
    # allocate's projection: blocks and lifecycle only, still decodable, reservations whole.
    projected = list(scan_items(fast, "VPCTracker-fast", attributes=BLOCK_ATTRIBUTES))
    assert all(set(i) <= set(BLOCK_ATTRIBUTES) for i in projected) and len(projected) == len(items)
    blocks = load_items(fast, "VPCTracker-fast", VPCS | RESERVATIONS, BLOCK_ATTRIBUTES)
    assert blocks.unreadable == [] and blocks.reservations == [r]
    assert sorted(v.CidrBlocks for v in blocks.vpcs) == sorted(v.CidrBlocks for v in vpcs)
    mine = query_account(fast, "VPCTracker-fast", "111111111111")
    assert mine == query_account(plain, "VPCTracker-fast", "111111111111")
    assert sorted(v.VpcId for v in mine.vpcs) == sorted(v.VpcId for v in vpcs)
    assert next(v for v in mine.vpcs if v.Subnets).Subnets == (sn,)
    with pytest.raises(ClientError) as err:
        fast.scan(TableName="VPCTracker-absent")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_read_page_that_is_not_json_is_a_malformed_answer_not_an_empty_table(
    dynalite_url: str,
) -> None:
    # A proxy answering 200 with an HTML page: botocore reads it as an answer with no Items.
    # Taken as an empty page the table would look empty and its ranges free; the JSON hook must
    # not turn it into a bare ValueError (a traceback) either. One bounded error instead.
    ddb = boto3.client("dynamodb", endpoint_url=dynalite_url, region_name="us-east-1")
    create_table(ddb, "VPCTracker-proxy", ttl=False)

    def proxy_page(response_dict: dict[str, Any], **_: Any) -> None:
        response_dict["body"] = b"<html>Please log in</html>"

    ddb.meta.events.register("before-parse.dynamodb.Scan", proxy_page)
    fast_reads(ddb)
    ddb.put_item(TableName="VPCTracker-proxy", Item=to_item(make_vpc(1, "10.1.0.0/16")))
    with pytest.raises(MalformedResponse):
        list(scan_items(ddb, "VPCTracker-proxy"))
    with pytest.raises(MalformedResponse):
        load_items(ddb, "VPCTracker-proxy", VPCS)


def test_fast_reads_return_exactly_what_botocore_parses(dynalite_url: str) -> None:
    # Scan and Query pages are handed over as JSON instead of going through botocore's parser:
    # the same items, to the character, from two DynamoDB implementations we did not write.
    def client() -> Any:
        return boto3.client("dynamodb", endpoint_url=dynalite_url, region_name="us-east-1")

    _read_both_ways(client(), fast_reads(client()))
    with mock_aws():
        _read_both_ways(
            boto3.client("dynamodb", "us-east-1"), fast_reads(boto3.client("dynamodb", "us-east-1"))
        )


def _write_both_ways(client: Callable[[], Any], table: str) -> None:
    """The same batches through a plain client and through one with `fast_writes`: byte for
    byte the same request bodies, botocore serializing only a placeholder of the items it can
    leave to JSON, and the table holding the same items after each."""
    plain, fast = client(), client()
    bodies: dict[str, list[bytes]] = {"plain": [], "fast": [], "serialized": []}
    # Registered before fast_writes' own hook: what botocore serialized, before the items are
    # put back.
    fast.meta.events.register(
        "before-call.dynamodb.BatchWriteItem",
        lambda params, **_: bodies["serialized"].append(params["body"]),
    )
    fast_writes(fast_writes(fast))  # twice: the second must not take the placeholder
    for name, c in (("plain", plain), ("fast", fast)):
        c.meta.events.register(
            "request-created.dynamodb.BatchWriteItem",
            lambda request, name=name, **_: bodies[name].append(request.body),
        )
    hostile = 'a "quoted" \\ back\nslash, \u00e9t\u00e9, \U0001f600, \u2028, <b>&amp;</b>'
    vpc = to_item(make_vpc(1, "10.1.0.0/16"))
    vpc["Tags"] = {"M": {hostile: {"S": hostile}}}
    odd = {
        "VpcId": {"S": "vpc-00000000000000002"},
        "OwnerId": {"S": "111111111111"},
        "Nested": {"M": {"l": {"L": [{"N": "-1500.25"}, {"NULL": True}, {"BOOL": False}]}}},
        "Sets": {"SS": ["x", "y"]},
        "Numbers": {"NS": ["1", "2"]},
        "Bytes": {"B": b"\x00\xff"},  # json cannot write bytes: botocore writes this one
    }
    items = [vpc, odd]
    for name, c in (("plain", plain), ("fast", fast)):
        for item in items:
            c.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}]})
        c.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": vpc}}]}, ReturnConsumedCapacity="TOTAL"
        )
        stored = plain.scan(TableName=table, ConsistentRead=True)["Items"]
        assert sorted(stored, key=lambda i: i["VpcId"]["S"]) == [vpc, odd], name
        delete_items(c, table, [{"VpcId": i["VpcId"], "OwnerId": i["OwnerId"]} for i in items])
        assert plain.scan(TableName=table, ConsistentRead=True)["Items"] == [], name
    assert bodies["fast"] == bodies["plain"] and len(bodies["fast"]) == 4
    placeholder = f'{{"RequestItems": {{"{table}": [{{"PutRequest": {{"Item": {{}}}}}}]}}'
    serialized = [b.decode() for b in bodies["serialized"]]
    assert serialized[0] == serialized[3] == placeholder + "}"  # the VPC; the deletes
    assert serialized[1] == bodies["plain"][1].decode()  # the item with bytes: botocore's
    assert serialized[2] == placeholder + ', "ReturnConsumedCapacity": "TOTAL"}'


def test_fast_writes_send_the_bytes_botocore_would(dynalite_url: str) -> None:
    # Batch writes are encoded by json.dumps instead of botocore's serializer: the same request
    # to the byte, stored alike by two DynamoDB implementations we did not write.
    def remote() -> Any:
        return boto3.client("dynamodb", endpoint_url=dynalite_url, region_name="us-east-1")

    create_table(remote(), "VPCTracker-writes", ttl=False)
    _write_both_ways(remote, "VPCTracker-writes")
    with mock_aws():
        create_table(boto3.client("dynamodb", "us-east-1"), "VPCTracker-writes", ttl=False)
        _write_both_ways(lambda: boto3.client("dynamodb", "us-east-1"), "VPCTracker-writes")


def test_collect_and_audit_with_dynalite_table(
    dynalite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The standard per-service endpoint variable sends DynamoDB to dynalite, while moto
    # serves Organizations, STS and EC2 in-process.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite_url)
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        org = build_org(session)
        a = org.create_vpc("workload-a", "us-east-1", "10.1.0.0/16", "a")
        org.create_vpc("workload-b", "us-east-1", "10.1.128.0/17", "b")
        cfg = Config.model_validate(
            {
                "regions": ["us-east-1"],
                "table": {"name": "VPCTracker-collect"},
                "scan": {"max_workers": 4},
            }
        )
        for name in ("VPCTracker-collect", "VPCTracker-collect-ledger"):
            create_table(session.client("dynamodb"), name, ttl=False)
        opts = RunOptions(session=session, retry=FAST_RETRY, clock=lambda: T)
        first = run(cfg, opts)
        assert first.exit_code == 0 and first.vpcs_written == first.vpcs_seen > 2
        org.ec2("workload-a", "us-east-1").delete_vpc(VpcId=a)
        second = run(cfg, opts)
        assert second.marked_deleted == 1
        audit, _ = run_audit(cfg, options=opts)
        stored = read_inventory(cfg, session).vpcs
    assert {v.VpcId for v in stored if v.Deleted} == {a}
    assert audit.to_dict()["summary"]["overlap_groups"] == 0  # a's clash is gone with it
    assert audit.vpc_count == first.vpcs_seen - 1
    # And it really was dynalite that stored them (moto is gone now).
    direct = boto3.client("dynamodb", endpoint_url=dynalite_url, region_name="us-east-1")
    items = direct.scan(TableName="VPCTracker-collect")["Items"]
    assert len([i for i in items if i["VpcId"]["S"].startswith("vpc-")]) == len(stored)
    # Beside them, one connectivity item per (account, region) target.
    assert len([i for i in items if i["VpcId"]["S"].startswith("conn#")]) == first.ok


def test_init_table_without_ttl_support_warns_and_succeeds(
    dynalite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """dynalite has no UpdateTimeToLive: init-table creates the table and says what it lacks."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite_url)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("table: {name: VPCTracker-init, region: us-east-1}\n")
    assert main(["init-table", "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    # The inventory table and, beside it, the ledger.
    assert out == (
        "table VPCTracker-init in us-east-1: created\n"
        "table VPCTracker-init-ledger in us-east-1: created\n"
    )
    assert err.startswith("vpctracker: warning: this endpoint does not support DynamoDB TTL")
    assert len(err.splitlines()) == 1
    assert main(["init-table", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out == (
        "table VPCTracker-init in us-east-1: already exists\n"
        "table VPCTracker-init-ledger in us-east-1: already exists\n"
    )


def test_leases_and_isolated_batches_against_dynalite(dynalite_url: str) -> None:
    """The conditional lease writes and the split of a rejected batch, on a second DynamoDB."""
    ddb = boto3.client("dynamodb", endpoint_url=dynalite_url, region_name="us-east-1")
    create_table(ddb, "VPCTracker-lease", ttl=False)
    now = int(T.timestamp())
    mine = Lease("111111111111", "run-a", T, now + 900)
    theirs = Lease("111111111111", "run-b", T, now + 1800)
    assert acquire_lease(ddb, "VPCTracker-lease", mine, now) is None
    assert acquire_lease(ddb, "VPCTracker-lease", mine, now) is None  # ours already
    assert acquire_lease(ddb, "VPCTracker-lease", theirs, now) == mine
    assert acquire_lease(ddb, "VPCTracker-lease", theirs, now + 901) is None  # expired
    release_lease(ddb, "VPCTracker-lease", "111111111111", "run-a")  # not ours any more
    assert acquire_lease(ddb, "VPCTracker-lease", mine, now + 901) == theirs
    release_lease(ddb, "VPCTracker-lease", "111111111111", "run-b")
    assert acquire_lease(ddb, "VPCTracker-lease", mine, now + 901) is None

    raw = load_data("describe_vpcs_mixed.json")["Vpcs"][0]
    acct = Account("111111111111", "a")
    items = [
        to_item(v)
        for n in range(10)
        for v in to_records(
            [{**raw, "VpcId": f"vpc-{n:017x}"}], account=acct, region="us-east-1", now=T
        ).records
    ]
    items[4]["Tags"] = {"M": {f"k{i}": {"S": "x" * 1000} for i in range(420)}}  # > 400 KB
    with BatchWriter(ddb, "VPCTracker-lease", threads=2) as w:
        w.add_all(items)
    assert (w.stats.written, w.stats.failed) == (9, 1)


def test_the_item_size_formula_agrees_with_dynalite(dynalite_url: str) -> None:
    """Issue 23, observation 2: sizes computed with DynamoDB's formula, checked against a
    DynamoDB we did not write: an item at the limit is taken, one byte more is refused, and a
    VPC too large for one item is written in parts and read back whole."""
    from collector.store.parts import MAX_ITEM, item_size
    from collector.store.vpcs import vpc_items
    from tests.unit.test_store_parts import huge_vpc

    ddb = boto3.client("dynamodb", endpoint_url=dynalite_url, region_name="us-east-1")
    create_table(ddb, "VPCTracker-size", ttl=False)
    base = {"VpcId": {"S": "vpc-00000000000000001"}, "OwnerId": {"S": "111111111111"}}
    pad = MAX_ITEM - item_size({**base, "Pad": {"S": ""}})
    at_limit = {**base, "Pad": {"S": "x" * pad}}
    assert item_size(at_limit) == MAX_ITEM
    ddb.put_item(TableName="VPCTracker-size", Item=at_limit)
    with pytest.raises(ClientError) as refused:
        ddb.put_item(TableName="VPCTracker-size", Item={**base, "Pad": {"S": "x" * (pad + 1)}})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    vpc = huge_vpc()
    with BatchWriter(ddb, "VPCTracker-size") as writer:
        writer.add_all(vpc_items(vpc, 2_000_000_000))
    assert writer.stats.failed == 0
    assert load_items(fast_reads(ddb), "VPCTracker-size", VPCS).vpcs[-1] == vpc


def test_the_bench_fakes_request_units_agree_with_dynalite(dynalite_url: str) -> None:
    """The bench reports the request units its runs would be billed (`bench.fake_dynamodb`):
    the fake's count of the table's units, call by call, is dynalite's `ConsumedCapacity` for
    the same calls (items of 1, 2 and 5 units to write and 1 or 2 to read, rewritten larger and
    smaller, read consistently or not, absent, projected, deleted). dynalite bills no index
    writes and takes no `ConsistentRead` for a Scan (its validation has no such parameter):
    those two are checked by the documented rules apart."""
    import random

    from bench.fake_dynamodb import FakeDynamoDB
    from collector.store.vpcs import to_item as vpc_to_item
    from tests.factories import make_vpc

    table = "VPCTracker-units"
    ddb = boto3.client("dynamodb", endpoint_url=dynalite_url, region_name="us-east-1")
    create_table(ddb, table, ttl=False)
    items = [vpc_to_item(make_vpc(n, f"10.{n}.0.0/16", name="x" * (n * 700))) for n in range(1, 9)]
    key = lambda i: {"VpcId": i["VpcId"], "OwnerId": i["OwnerId"]}  # noqa: E731
    bigger = {**items[0], "Pad": {"S": "y" * 6000}}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("BatchWriteItem", {"RequestItems": {table: [{"PutRequest": {"Item": i}} for i in items]}}),
        ("PutItem", {"TableName": table, "Item": bigger}),
        ("PutItem", {"TableName": table, "Item": items[0]}),
        ("GetItem", {"TableName": table, "Key": key(items[7]), "ConsistentRead": True}),
        ("GetItem", {"TableName": table, "Key": key(items[7])}),
        ("GetItem", {"TableName": table, "Key": {**key(items[0]), "OwnerId": {"S": "2" * 12}}}),
        (
            "BatchGetItem",
            {
                "RequestItems": {
                    table: {
                        "Keys": [key(i) for i in items[2:6]]
                        + [{**key(items[0]), "OwnerId": {"S": "2" * 12}}],
                        "ConsistentRead": True,
                    }
                }
            },
        ),
        ("Scan", {"TableName": table}),
        ("Scan", {"TableName": table, "ProjectionExpression": "VpcId"}),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "VpcId = :p",
                "ExpressionAttributeValues": {":p": items[6]["VpcId"]},
                "ConsistentRead": True,
            },
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {table: [{"DeleteRequest": {"Key": key(i)}} for i in items[5:]]}},
        ),
        ("DeleteItem", {"TableName": table, "Key": key(items[1])}),
        ("DeleteItem", {"TableName": table, "Key": key(items[1])}),
    ]
    fake = FakeDynamoDB(0.0, 0.0, random.Random(0))
    for op, req in calls:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in op).lstrip("_")
        answer = getattr(ddb, snake)(**req, ReturnConsumedCapacity="TOTAL")
        consumed = answer["ConsumedCapacity"]
        billed = (
            sum(c["CapacityUnits"] for c in consumed)
            if isinstance(consumed, list)
            else consumed["CapacityUnits"]
        )
        before = dict(fake.units)
        body, _, status = fake.answer(op, req)
        assert status == 200, body
        kind = "write" if op in ("BatchWriteItem", "PutItem", "DeleteItem") else "read"
        assert fake.units[kind] - before.get(kind, 0.0) == billed, (op, req.get("ConsistentRead"))
    # Index writes: every item above has `OwnerId` and `Region` (the owner index's key), so each
    # write was written there too, at the same size (Region unchanged by the rewrites).
    assert fake.units["index_write"] == fake.units["write"] - 1  # the absent item's delete
    # A strongly consistent Scan reads as many units as an eventually consistent one, twice.
    for consistent in (False, True):
        fake.units.clear()
        fake.answer("Scan", {"TableName": table, "ConsistentRead": consistent})
        units = fake.units["read"] if consistent else 2 * fake.units["read"]
        rounded = -(-sum(fake.tables[table].sizes.values()) // 4096)
        assert units == rounded > 0
