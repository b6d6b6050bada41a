"""The bench's fake DynamoDB: in-memory tables that enforce the rules the collector relies on
(BatchWriteItem's 25 items, unique keys, the item size limit; pages resumed by key), with
unprocessed items and throttling at set shares, answering in as little CPU as it can (it shares
the machine's cores with the client measured). `bench.fake_aws` routes DynamoDB's calls here.

It also counts the request units each call would be billed on an on-demand table (`units`),
by DynamoDB's documented rules
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
a read item's size rounded up to 4 KB per unit (one unit strongly consistent, half eventually),
a Query or Scan page billed on the items it reads (a projection does not make it cheaper), a
write item's size rounded up to 1 KB per unit (the larger of the old and new item), an item
asked for or deleted that is not there one unit; and each write of an item the owner index
holds is written to the index too (`index_write`: every attribute is projected, so the same
size; a changed index key is a delete and a put there). Sizes by DynamoDB's formula, as the
collector counts them (`collector.store.parts.item_size`); tests/contract holds the table's
units to dynalite's `ConsumedCapacity`."""

from __future__ import annotations

import bisect
import json
import random
import zlib
from collections import defaultdict
from typing import Any

from collector.store.parts import item_size


def _kept(req: dict[str, Any]) -> frozenset[str] | None:
    """The attribute names a `ProjectionExpression` (top-level names only) keeps; None: all."""
    if "ProjectionExpression" not in req:
        return None
    names = req.get("ExpressionAttributeNames", {})
    tokens = (t.strip() for t in req["ProjectionExpression"].split(","))
    return frozenset(names.get(t, t) for t in tokens)


def _project(item: dict[str, Any], keep: frozenset[str] | None) -> dict[str, Any]:
    """The item as a projection keeping `keep` returns it."""
    return item if keep is None else {k: v for k, v in item.items() if k in keep}


TABLE_DESC = {
    "Table": {
        "TableName": "VPCTracker",
        "TableStatus": "ACTIVE",
        "KeySchema": [
            {"AttributeName": "VpcId", "KeyType": "HASH"},
            {"AttributeName": "OwnerId", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "OwnerRegionIndex",
                "IndexStatus": "ACTIVE",
                "KeySchema": [
                    {"AttributeName": "OwnerId", "KeyType": "HASH"},
                    {"AttributeName": "Region", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
}


MAX_ITEM = 400 * 1024
READ_UNIT, WRITE_UNIT = 4 * 1024, 1024  # bytes one request unit reads, writes
PAGE = 1000  # items per Scan/Query page (DynamoDB pages by 1 MB; close enough here)


def _size(item: dict[str, Any]) -> int:
    # By DynamoDB's formula, as the collector's writer counts (tests/contract/test_dynalite.py
    # holds it to a DynamoDB we did not write). Until 2026-12-03 the fake counted the item's
    # JSON, type tags and quotes included: ~1.6 times as much, so it refused the parts of a TGW
    # owner's connectivity item (350 KB by the formula) that DynamoDB takes.
    return item_size(item)


def json_error(code: str, message: str, status: int = 400) -> tuple[str, str, int]:
    """An error answer of a JSON protocol (DynamoDB's, Organizations')."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    return body, "application/x-amz-json-1.0", status


def _invalid(message: str) -> tuple[str, str, int]:
    return json_error("ValidationException", message)


def _item_key(item: dict[str, Any]) -> tuple[str, str]:
    return item.get("VpcId", {}).get("S", ""), item.get("OwnerId", {}).get("S", "")


def _units(size: int, unit: int) -> int:
    """Request units for one item of `size` bytes (at least one: an absent item costs one)."""
    return max(1, -(-size // unit))


def _index_key(item: dict[str, Any] | None) -> tuple[str, str] | None:
    """The item's key in the owner index (`OwnerId`, `Region`); None if it is not in it."""
    if item is None or "OwnerId" not in item or "Region" not in item:
        return None
    return item["OwnerId"].get("S", ""), item["Region"].get("S", "")


class Table:
    """One in-memory table: its items, by owner (the owner index) and by partition key (base-table
    queries), and the scan order, computed once per version of the table."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        # Scan order (keys), computed once per set of keys: sorting 100k items for every page
        # would spend the shared cores on the fake rather than on the client measured. Pages
        # resume after the last key returned, as DynamoDB's do: a scan beside writes returns
        # each item that exists throughout once (old or new), never skips or repeats one.
        self.scan_keys: dict[tuple[int, int], list[tuple[str, str]]] = {}
        self.by_owner: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.by_partition: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.query_rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # Each item's JSON, per projection, made when first read and dropped when the item is
        # written: a read page is then joined from them, where encoding 1,000 items for every
        # page put the fake on the clock (it shares the machine's cores with the client
        # measured: 3.7-4.8 s of CPU beside a 100k-item read's 4.9 s, docs/benchmarks.md).
        self.encoded: dict[tuple[str, str], dict[frozenset[str] | None, str]] = {}
        # Each item's size by DynamoDB's formula, counted once as it is written (the write
        # checks it against the item limit anyway): a read's units are a sum of these.
        self.sizes: dict[tuple[str, str], int] = {}

    def json_of(self, item: dict[str, Any], keep: frozenset[str] | None) -> str:
        """The item, as a projection keeping `keep` returns it, as JSON."""
        known = self.encoded.setdefault(_item_key(item), {})
        text = known.get(keep)
        if text is None:
            text = known[keep] = json.dumps(_project(item, keep))
        return text

    def put(self, key: tuple[str, str], item: dict[str, Any], size: int | None = None) -> None:
        if key not in self.items:
            self.scan_keys.clear()  # a new key: the scan order changes; an update does not
        self.items[key] = item
        self.sizes[key] = _size(item) if size is None else size
        self.encoded.pop(key, None)
        self.by_owner.setdefault(key[1], {})[key] = item
        self.by_partition.setdefault(key[0], {})[key] = item
        self._changed(key)

    def delete(self, key: tuple[str, str]) -> None:
        if key in self.items:
            self.scan_keys.clear()
        self.items.pop(key, None)
        self.sizes.pop(key, None)
        self.encoded.pop(key, None)
        self.by_owner.get(key[1], {}).pop(key, None)
        self.by_partition.get(key[0], {}).pop(key, None)
        self._changed(key)

    def _changed(self, key: tuple[str, str]) -> None:
        self.query_rows.pop(("index", key[1]), None)
        self.query_rows.pop(("base", key[0]), None)

    def rows(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        values = req.get("ExpressionAttributeValues", {})
        if "IndexName" in req:
            # The owner index: per owner, sorted once per change of that owner's items
            # (filtering the whole table for every page would put the fake on the clock).
            owner = values[":o"]["S"]
            if ("index", owner) not in self.query_rows:
                self.query_rows[("index", owner)] = sorted(
                    (i for i in self.by_owner.get(owner, {}).values() if "Region" in i),
                    key=lambda i: i["Region"]["S"],
                )
            return self.query_rows[("index", owner)]
        # The base table: one partition, sorted by the sort key; `begins_with` narrows it.
        part = (values.get(":p") or values.get(":o") or {}).get("S", "")
        if ("base", part) not in self.query_rows:
            self.query_rows[("base", part)] = [
                i for _, i in sorted(self.by_partition.get(part, {}).items())
            ]
        rows = self.query_rows[("base", part)]
        prefix = values.get(":a", {}).get("S")
        if prefix is not None:
            rows = [i for i in rows if i["OwnerId"]["S"].startswith(prefix)]
        return rows

    def scan(self, total: int, seg: int) -> list[tuple[str, str]]:
        if (total, seg) not in self.scan_keys:
            keys = sorted(self.items)
            if total > 1:
                keys = [k for k in keys if zlib.crc32(k[0].encode()) % total == seg]
            self.scan_keys[(total, seg)] = keys
        return self.scan_keys[(total, seg)]


class FakeDynamoDB:
    """DynamoDB's calls, on real (in-memory) tables, so a second run reads back everything the
    first one wrote (the steady state)."""

    def __init__(self, unprocessed: float, throttle: float, rng: random.Random) -> None:
        self.unprocessed = unprocessed
        self.throttle = throttle
        self.rng = rng
        self.tables: dict[str, Table] = {}
        # Request units billed so far: "read", "write" (the table's) and "index_write".
        self.units: defaultdict[str, float] = defaultdict(float)

    def table(self, name: str) -> Table:
        """The table of that name (made empty on first use)."""
        if name not in self.tables:
            self.tables[name] = Table()
        return self.tables[name]

    def answer(self, op: str, req: dict[str, Any]) -> tuple[str, str, int]:
        """The answer to one DynamoDB call: (body, content type, HTTP status)."""
        if self.throttle and op != "DescribeTable" and self.rng.random() < self.throttle:
            return json_error("ProvisionedThroughputExceededException", "Rate exceeded")
        if op == "DescribeTable":
            desc = {"Table": {**TABLE_DESC["Table"], "TableName": req.get("TableName", "")}}
            return json.dumps(desc), "application/x-amz-json-1.0", 200
        if op == "BatchWriteItem":
            return self.batch_write(req)
        if op == "BatchGetItem":
            return self.batch_get(req)
        # No UpdateItem: nothing the bench runs calls it, and a fake that answered it without
        # applying it would let a new use measure a write that never happened.
        if op in ("PutItem", "DeleteItem", "GetItem"):
            table = self.table(req.get("TableName", ""))
            key = _item_key(req.get("Item") or req.get("Key") or {})
            out: dict[str, Any] = {}
            if op == "PutItem":
                size = _size(req["Item"])
                if size > MAX_ITEM:
                    return _invalid("Item size has exceeded the maximum")
                self.write(table, key, req["Item"], size)
            elif op == "DeleteItem":
                self.write(table, key, None, None)
            else:
                self.bill_get(table, [key], req)
                if key in table.items:
                    out = {"Item": table.items[key]}
            return json.dumps(out), "application/x-amz-json-1.0", 200
        if op in ("Query", "Scan"):
            return self.read(op, req)
        return json_error("UnknownOperationException", op)

    def write(
        self,
        table: Table,
        key: tuple[str, str],
        item: dict[str, Any] | None,
        size: int | None,
    ) -> None:
        """Put `item` (of `size` bytes) at `key`, or delete it (None), and bill the write."""
        old, old_size = table.items.get(key), table.sizes.get(key, 0)
        new_size = size or 0
        self.units["write"] += _units(max(old_size, new_size), WRITE_UNIT)
        was, now = _index_key(old), _index_key(item)
        if was is not None and was == now:
            self.units["index_write"] += _units(max(old_size, new_size), WRITE_UNIT)
        else:
            self.units["index_write"] += (was is not None) * _units(old_size, WRITE_UNIT)
            self.units["index_write"] += (now is not None) * _units(new_size, WRITE_UNIT)
        if item is None:
            table.delete(key)
        else:
            table.put(key, item, size)

    def bill_get(self, table: Table, keys: list[tuple[str, str]], req: dict[str, Any]) -> None:
        """Bill reading `keys` one by one (GetItem, BatchGetItem): each item rounded up."""
        whole = sum(_units(table.sizes.get(k, 0), READ_UNIT) for k in keys)
        self.units["read"] += whole if req.get("ConsistentRead") else whole / 2

    def batch_write(self, req: dict[str, Any]) -> tuple[str, str, int]:
        ((name, requests),) = req["RequestItems"].items()
        table = self.table(name)
        if not 1 <= len(requests) <= 25:
            return _invalid("Too many items requested for the BatchWriteItem")
        keys = [
            _item_key(r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])
            for r in requests
        ]
        if len(set(keys)) != len(keys):
            return _invalid("Provided list of item keys contains duplicates")
        sizes = [_size(r["PutRequest"]["Item"]) if "PutRequest" in r else None for r in requests]
        if any(size is not None and size > MAX_ITEM for size in sizes):
            return _invalid("Item size has exceeded the maximum allowed size")
        left = []
        for key, r, size in zip(keys, requests, sizes, strict=True):
            if self.unprocessed and self.rng.random() < self.unprocessed:
                left.append(r)
            else:
                self.write(table, key, r.get("PutRequest", {}).get("Item"), size)
        if left and len(left) == len(requests):
            # Some progress, always.
            self.write(table, keys[0], requests[0].get("PutRequest", {}).get("Item"), sizes[0])
            left = left[1:]
        out = {"UnprocessedItems": {name: left} if left else {}}
        return json.dumps(out), "application/x-amz-json-1.0", 200

    def batch_get(self, req: dict[str, Any]) -> tuple[str, str, int]:
        ((name, spec),) = req["RequestItems"].items()
        table = self.table(name)
        if not 1 <= len(spec["Keys"]) <= 100:
            return _invalid("Too many items requested for the BatchGetItem")
        keys = list(map(_item_key, spec["Keys"]))
        self.bill_get(table, keys, spec)
        found = [table.items[k] for k in keys if k in table.items]
        keep = _kept(spec)
        items = ", ".join(table.json_of(i, keep) for i in found)
        body = f'{{"Responses": {{{json.dumps(name)}: [{items}]}}}}'
        return body, "application/x-amz-json-1.0", 200

    def read(self, op: str, req: dict[str, Any]) -> tuple[str, str, int]:
        table = self.table(req.get("TableName", ""))
        after = req.get("ExclusiveStartKey") or {}
        if op == "Scan":
            keys = table.scan(req.get("TotalSegments", 1), req.get("Segment", 0))
            start = bisect.bisect_right(keys, _item_key(after)) if after else 0
            chunk = keys[start : start + PAGE]
            present = [k for k in chunk if k in table.items]
            rows = [table.items[k] for k in present]
            more, last = start + PAGE < len(keys), chunk[-1] if chunk else ("", "")
            resume: dict[str, Any] = {"VpcId": {"S": last[0]}, "OwnerId": {"S": last[1]}}
        else:
            matches = table.rows(req)
            start = int(after.get("n", {}).get("N", 0))
            rows = matches[start : start + PAGE]
            present = [_item_key(i) for i in rows]
            more, resume = start + PAGE < len(matches), {"n": {"N": str(start + PAGE)}}
        # A page is billed on the items it read, whole, rounded up once (an index is read
        # eventually consistent, whatever the request says).
        read = -(-sum(table.sizes[k] for k in present) // READ_UNIT)
        consistent = req.get("ConsistentRead") and "IndexName" not in req
        self.units["read"] += read if consistent else read / 2
        # Pages stay as long with a projection: DynamoDB's 1 MB page limit counts the data read.
        # The page is `json.dumps` of {"Items": ..., "Count": ..., ...}, joined from each item's
        # JSON (`Table.json_of`).
        keep, n = _kept(req), len(rows)
        items = ", ".join(table.json_of(i, keep) for i in rows)
        body = f'{{"Items": [{items}], "Count": {n}, "ScannedCount": {n}'
        if more:
            body += f', "LastEvaluatedKey": {json.dumps(resume)}'
        return body + "}", "application/x-amz-json-1.0", 200
