"""Stage 7 — store: the central DynamoDB table (schema, item codec, batched writes, reads)."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from collector.errors import FatalError, MalformedResponse, RetryPolicy, error_code, error_message
from collector.models import (
    Connectivity,
    Reservation,
    Subnet,
    TgwRouteTable,
    UnreadableItem,
    Vpc,
    iso,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

OWNER_INDEX = "OwnerRegionIndex"
TTL_ATTRIBUTE = "ExpiresAt"
BATCH_SIZE = 25  # BatchWriteItem's hard limit
BATCH_GET_SIZE = 100  # BatchGetItem's


class TableMissingError(Exception):
    """The configured table does not exist (or is not visible to these credentials)."""


# ---------------------------------------------------------------------------------------------
# Schema


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


# ---------------------------------------------------------------------------------------------
# Item codec (pure). Written by hand rather than with boto3's TypeSerializer: the shape is
# fixed, this is the hot path of a large scan, and it keeps lists as L (SS cannot be empty).


def _s(v: str) -> dict[str, Any]:
    return {"S": v}


def _ts(v: datetime) -> dict[str, Any]:
    return {"S": iso(v)}


def to_item(vpc: Vpc) -> dict[str, Any]:
    """Serialize a record to a DynamoDB item (AttributeValue map)."""
    item: dict[str, Any] = {
        "VpcId": _s(vpc.VpcId),
        "OwnerId": _s(vpc.OwnerId),
        "CidrBlock": _s(vpc.CidrBlock),
        "IsDefault": {"BOOL": vpc.IsDefault},
        "State": _s(vpc.State),
        "Region": _s(vpc.Region),
        "AccountName": _s(vpc.AccountName),
        "CidrBlocks": {"L": [_s(c) for c in vpc.CidrBlocks]},
        "Ipv6CidrBlocks": {"L": [_s(c) for c in vpc.Ipv6CidrBlocks]},
        "Tags": {"M": {k: _s(v) for k, v in vpc.Tags.items()}},
        "Subnets": {"L": [_subnet_item(sn) for sn in vpc.Subnets]},
        "FirstSeen": _ts(vpc.FirstSeen),
        "LastSeen": _ts(vpc.LastSeen),
        "Deleted": {"BOOL": vpc.Deleted},
    }
    optional: dict[str, str | None] = {
        "Name": vpc.Name,
        "DhcpOptionsId": vpc.DhcpOptionsId,
        "InstanceTenancy": vpc.InstanceTenancy,
        "DeletedReason": vpc.DeletedReason,
        "DeletedAt": None if vpc.DeletedAt is None else _ts(vpc.DeletedAt)["S"],
    }
    item.update({k: _s(v) for k, v in optional.items() if v is not None})
    if vpc.ExpiresAt is not None:
        item["ExpiresAt"] = {"N": str(vpc.ExpiresAt)}
    return item


def _subnet_item(sn: Subnet) -> dict[str, Any]:
    m: dict[str, Any] = {
        "SubnetId": _s(sn.SubnetId),
        "CidrBlock": _s(sn.CidrBlock),
        "AvailabilityZone": _s(sn.AvailabilityZone),
        "AvailableIpAddressCount": {"N": str(sn.AvailableIpAddressCount)},
        "MapPublicIpOnLaunch": {"BOOL": sn.MapPublicIpOnLaunch},
    }
    if sn.Ipv6CidrBlocks:
        m["Ipv6CidrBlocks"] = {"L": [_s(c) for c in sn.Ipv6CidrBlocks]}
    if sn.AvailabilityZoneId:
        m["AvailabilityZoneId"] = _s(sn.AvailabilityZoneId)
    if sn.Name is not None:
        m["Name"] = _s(sn.Name)
    return {"M": m}


def _plain(value: Mapping[str, Any]) -> Any:
    ((kind, v),) = value.items()
    if kind == "L":
        return [_plain(x) for x in v]
    if kind == "M":
        return {k: _plain(x) for k, x in v.items()}
    if kind == "N":
        return int(v) if v.lstrip("-").isdigit() else float(v)
    if kind == "NULL":
        return None
    return v


def from_item(item: Mapping[str, Any]) -> Vpc:
    """Deserialize a table item into a record (raises ValueError if it cannot be read).

    Attributes the record does not know are ignored (a newer version may have added them).
    """
    try:
        plain = {k: _plain(v) for k, v in item.items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"not a DynamoDB item ({type(exc).__name__})") from None
    return Vpc.model_validate(plain)


def item_key(item: Mapping[str, Any]) -> tuple[str, str]:
    """(VpcId, OwnerId) of a raw item, as strings ("" where missing or not a string)."""

    def text(name: str) -> str:
        value = item.get(name)
        return str(value.get("S", "")) if isinstance(value, Mapping) else ""

    return text("VpcId"), text("OwnerId")


def unreadable(item: Mapping[str, Any], exc: BaseException) -> UnreadableItem:
    """Describe an item that failed to decode, in one bounded line without its values."""
    vpc_id, owner = item_key(item)
    if isinstance(exc, ValidationError):
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "item"
        reason = f"{where}: {err['msg']}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return UnreadableItem(vpc_id, owner, " ".join(reason.split())[:200])


# ---------------------------------------------------------------------------------------------
# Item kinds. One table holds several kinds of item, told apart by the prefix of `VpcId` (the
# partition key). A reader asks for the kinds it wants; an item of a kind it did not ask for,
# or of a kind this version does not know (written by a newer one), is passed over.


@dataclass(frozen=True)
class ItemKind:
    """One kind of table item: its key prefix and how to decode it."""

    name: str
    prefix: str
    decode: Callable[[Mapping[str, Any]], Any]


RESERVATION_PREFIX = "reservation#"
RESERVATION_OWNER = "reservation"
RESERVATION_REGION = "global"  # puts reservations in the owner index, under OwnerId=reservation
LEASE_PREFIX = "lease#"
LEASE_OWNER = "lease"
LOCK_KEY = {"VpcId": {"S": "allocation#lock"}, "OwnerId": {"S": "allocation"}}


def kind_of(item: Mapping[str, Any]) -> ItemKind | None:
    """The registered kind of a raw item, or None for an unknown kind."""
    vpc_id, _ = item_key(item)
    for kind in ITEM_KINDS.values():
        if vpc_id.startswith(kind.prefix):
            return kind
    return None


def is_vpc_item(item: Mapping[str, Any]) -> bool:
    """True for VPC items, False for reservations and other bookkeeping items."""
    return item_key(item)[0].startswith("vpc-")


# ---------------------------------------------------------------------------------------------
# Reads

READ_OPERATIONS = ("Scan", "Query")


def page_items(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A Scan or Query page's items; MalformedResponse (retried) for an answer without them.

    botocore's JSON parser reads a proxy's HTML page with status 200 as an answer holding only
    a `message`: taken as an empty page, it would make a table look empty and ranges free.
    """
    items = page.get("Items")
    if not isinstance(items, list):
        raise MalformedResponse("DynamoDB read answer has no Items list")
    return items


def _items_as_json(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """botocore `before-parse` hook: hand a read page's `Items` over as decoded JSON.

    botocore walks every attribute value through the service model in Python (about 85 % of
    the CPU of reading 100k items, measured: see docs/benchmarks.md); the AttributeValue maps
    it would build are exactly what `json.loads` returns, except binary (`B`) values, which
    stay base64 text: no item kind stores any. Error responses are left to botocore.
    """
    if response_dict.get("status_code") != 200 or not response_dict.get("body"):
        return
    try:
        body = json.loads(response_dict["body"])
    except ValueError:
        # A proxy's page with status 200: left to botocore, which reads it as an answer
        # without Items; `page_items` then raises MalformedResponse (retried).
        return
    if not isinstance(body, dict) or not isinstance(body.get("Items"), list):
        return
    customized_response_dict["Items"] = body.pop("Items")
    response_dict["body"] = json.dumps(body).encode()


def fast_reads(client: DynamoDBClient) -> DynamoDBClient:
    """`client`, with Scan and Query pages decoded by `json.loads` rather than botocore's
    per-attribute parser (same result, a fraction of the CPU)."""
    for op in READ_OPERATIONS:
        client.meta.events.register(f"before-parse.dynamodb.{op}", _items_as_json)
    return client


@dataclass
class Items:
    """Decoded items of the kinds a reader asked for, and those that could not be decoded."""

    vpcs: list[Vpc] = field(default_factory=list)
    reservations: list[Reservation] = field(default_factory=list)
    connectivity: list[Connectivity] = field(default_factory=list)
    route_tables: list[TgwRouteTable] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[UnreadableItem] = field(default_factory=list)

    def add(self, raw: Mapping[str, Any], kinds: frozenset[str]) -> None:
        """Decode one raw item into its list, if its kind was asked for."""
        kind = kind_of(raw)
        if kind is None or kind.name not in kinds:
            return
        try:
            value = kind.decode(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            bad = unreadable(raw, exc)
            log.warning("unreadable table item %s: %s", bad, bad.reason)
            self.unreadable.append(bad)
            return
        if kind.name == "vpc":
            self.vpcs.append(value)
        elif kind.name == "reservation":
            self.reservations.append(value)
        elif kind.name == "connectivity":
            self.connectivity.append(value)
        elif kind.name == "route-table":
            self.route_tables.append(value)
        elif kind.name == "change":
            self.changes.append(value)


def query_account(
    client: DynamoDBClient, table: str, account_id: str, kinds: frozenset[str] | None = None
) -> Items:
    """Every VPC item (live or deleted) of one account, through the owner index; with `kinds`,
    its items of those kinds."""
    out = Items()
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName=OWNER_INDEX,
        KeyConditionExpression="OwnerId = :o",
        ExpressionAttributeValues={":o": {"S": account_id}},
    )
    for page in pages:
        for raw in page_items(page):
            out.add(raw, kinds or VPCS)
    return out


# Whole-table reads run this many Scan segments side by side: one segment's page is on the wire
# while another's is decoded (measured in docs/benchmarks.md).
SCAN_SEGMENTS = 4
_END = object()  # a segment's last page was handed over


# What `allocate` needs of an item: a VPC's blocks and lifecycle, a reservation whole. Not the
# subnets and tags, most of a VPC item's bytes: the read moves and decodes far less.
BLOCK_ATTRIBUTES = (
    *("VpcId", "OwnerId", "CidrBlock", "IsDefault", "State", "Region", "AccountName"),
    *("CidrBlocks", "Ipv6CidrBlocks", "FirstSeen", "LastSeen"),
    *("Deleted", "DeletedAt", "DeletedReason", "ExpiresAt"),
    *("Cidr", "ReservedFor", "ReservedAt", "Note"),
)


def scan_items(
    client: DynamoDBClient,
    table: str,
    segments: int = SCAN_SEGMENTS,
    attributes: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """Stream every item of the table, page by page (raw AttributeValue maps).

    Strongly consistent: readers run right after a collection and must see what it wrote.
    The `segments` parallel segments hand their pages over through a short queue, so memory
    holds a few pages, not the table; a failed segment fails the whole read (its exception is
    raised here) and a reader that stops early stops the segments. With `attributes`, items
    carry only those (a projection).
    """
    scan = _SegmentedScan(client, table, segments, attributes)
    try:
        yield from scan.items()
    finally:
        scan.close()


class _SegmentedScan:
    """The reader threads of one `scan_items` and the queue of pages they fill."""

    def __init__(
        self, client: DynamoDBClient, table: str, segments: int, attributes: Sequence[str]
    ) -> None:
        self.client, self.table, self.segments = client, table, segments
        self.projection: dict[str, Any] = {}
        if attributes:
            # Placeholders throughout: State and Region are DynamoDB reserved words.
            names = {f"#a{n}": a for n, a in enumerate(attributes)}
            self.projection = {
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=2 * segments)
        self.stop = threading.Event()
        self.readers = [
            threading.Thread(target=self._read, args=(n,), name=f"scan-{n}", daemon=True)
            for n in range(segments)
        ]
        for t in self.readers:
            t.start()

    def items(self) -> Iterator[dict[str, Any]]:
        """The items of every segment, in the order their pages arrive."""
        finished = 0
        while finished < self.segments:
            value = self.pages.get()
            if value is _END:
                finished += 1
            elif isinstance(value, BaseException):
                raise value
            else:
                yield from value

    def close(self) -> None:
        """Stop the segments (a reader may stop early) and wait for their threads."""
        self.stop.set()
        for t in self.readers:
            t.join()

    def _hand_over(self, value: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.pages.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, segment: int) -> None:
        try:
            for page in self.client.get_paginator("scan").paginate(
                TableName=self.table,
                ConsistentRead=True,
                Segment=segment,
                TotalSegments=self.segments,
                **self.projection,
            ):
                if not self._hand_over(page_items(page)):
                    return
            self._hand_over(_END)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the reading thread
            self._hand_over(exc)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a whole table is decoded (or analysed).

    Decoding 100k items allocates millions of containers and keeps most of them, so the
    collector keeps re-walking a growing heap: more than half the CPU of the read, measured
    (docs/benchmarks.md). Decoded items hold no reference cycles, so nothing waits on the
    collector meanwhile: reference counting frees what is dropped, as always, and any cycle
    made meanwhile is collected once the collector is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_items(
    client: DynamoDBClient, table: str, kinds: frozenset[str], attributes: Sequence[str] = ()
) -> Items:
    """Every item of the given kinds, in one pass over the table (only `attributes` of each,
    if given: enough for the reader, not whole items to rewrite)."""
    out = Items()
    with paused_gc():
        for raw in scan_items(client, table, attributes=attributes):
            out.add(raw, kinds)
    return out


def load_inventory(client: DynamoDBClient, table: str) -> Items:
    """Every VPC item of the table (live and deleted), and the items that could not be read."""
    return load_items(client, table, VPCS)


# ---------------------------------------------------------------------------------------------
# Writes


@dataclass
class WriteStats:
    """What the writer did; `failed` items never reached the table and are reported."""

    written: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    # Of `written`, the VPC items (the rest: connectivity and other bookkeeping items).
    written_vpcs: int = 0


class BatchWriter:
    """Buffers items and writes them with BatchWriteItem, 25 a call, flushing in the background.

    Every UnprocessedItems entry is retried with jittered exponential backoff until written;
    items still unwritten after `max_attempts` (or on a non-retryable error) are counted in
    `stats.failed`, never dropped silently. Thread-safe `add`; `close()` waits for all flushes.

    A key added twice before its batch is sent is written once, the later item winning
    (DynamoDB rejects a whole batch that names one key twice). A batch DynamoDB rejects as
    invalid (one oversized item, say) is split until the bad item is alone, so one bad item
    never fails the others of its batch.

    Each added item gets a sequence number; `settled()` says up to which number every item
    has reached the table or failed, so a caller can act once some items are settled.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        threads: int = 4,
        max_attempts: int = 10,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table
        self._max_attempts = max_attempts
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._buffer: dict[tuple[str, str], dict[str, Any]] = {}
        self._buffer_first = 0  # sequence number of the oldest buffered item
        self._added = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ddb-writer")
        # Bounded in-flight batches: back-pressure instead of an unbounded queue in memory.
        self._slots = threading.BoundedSemaphore(threads * 2)
        self._futures: dict[Future[None], int] = {}  # in flight -> its oldest sequence number
        self.stats = WriteStats()

    @property
    def added(self) -> int:
        """Sequence number of the last item added (0 before the first)."""
        return self._added

    def settled(self) -> int:
        """Every item with a sequence number up to this one is written or counted failed."""
        with self._lock:
            oldest = [*self._futures.values()]
            if self._buffer:
                oldest.append(self._buffer_first)
            return min(oldest) - 1 if oldest else self._added

    def add(self, item: dict[str, Any]) -> None:
        """Queue one item; a full batch is handed to a background flush."""
        key = item_key(item)
        with self._lock:
            self._added += 1
            if not self._buffer:
                self._buffer_first = self._added
            self._buffer[key] = item
            if len(self._buffer) < BATCH_SIZE:
                return
            batch, first = self._take()
        self._submit(batch, first)

    def add_all(self, items: Iterable[dict[str, Any]]) -> None:
        """Queue several items."""
        for item in items:
            self.add(item)

    def flush(self) -> None:
        """Send whatever is buffered and wait until every batch so far is settled."""
        with self._lock:
            batch, first = self._take()
        if batch:
            self._submit(batch, first)
        with self._lock:
            futures = list(self._futures)
        for f in futures:
            f.result()

    def close(self) -> WriteStats:
        """Flush, stop the background threads and return the final stats."""
        self.flush()
        self._pool.shutdown(wait=True)
        return self.stats

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take(self) -> tuple[list[dict[str, Any]], int]:
        # Caller holds the lock.
        batch, self._buffer = list(self._buffer.values()), {}
        return batch, self._buffer_first

    def _submit(self, batch: list[dict[str, Any]], first: int) -> None:
        self._slots.acquire()
        fut = self._pool.submit(self._write_isolated, batch)
        with self._lock:
            self._futures[fut] = first
        fut.add_done_callback(self._done)

    def _done(self, fut: Future[None]) -> None:
        self._slots.release()
        with self._lock:
            self._futures.pop(fut, None)

    def _write_isolated(self, batch: list[dict[str, Any]]) -> None:
        """Write a batch; if DynamoDB rejects it as invalid, halve it until the culprit is alone."""
        rejected = self._write(batch)
        if rejected is None:
            return
        code, message, rest = rejected
        if len(rest) == 1:
            self._record(1, 0, code, message)
            return
        half = len(rest) // 2
        self._write_isolated(rest[:half])
        self._write_isolated(rest[half:])

    def _write(self, batch: list[dict[str, Any]]) -> tuple[str, str, list[dict[str, Any]]] | None:
        """Write until done; if DynamoDB rejects the batch as invalid, return (code, message,
        the items not yet written) for the caller to split."""
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": i}} for i in batch]
        for attempt in range(1, self._max_attempts + 1):
            try:
                resp = self._retry.call(
                    self._client.batch_write_item, RequestItems={self._table: requests}
                )
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none escapes
                code = error_code(exc)
                if code == "ValidationException":
                    return code, error_message(exc), [r["PutRequest"]["Item"] for r in requests]
                self._record(len(requests), 0, code, error_message(exc))
                return None
            unprocessed = resp.get("UnprocessedItems", {}).get(self._table, [])
            self._record(
                0,
                len(requests) - len(unprocessed),
                None,
                None,
                _vpc_count(requests) - _vpc_count(unprocessed),
            )
            if not unprocessed:
                return None
            requests = [dict(r) for r in unprocessed]
            # AWS: "we strongly recommend that you use an exponential backoff algorithm" when
            # BatchWriteItem returns unprocessed items.
            self._sleep(random.uniform(0, min(5.0, 0.05 * 2**attempt)))
        self._record(
            len(requests),
            0,
            "UnprocessedItems",
            f"{len(requests)} items still unprocessed after {self._max_attempts} tries",
        )
        return None

    def _record(
        self,
        failed: int,
        written: int,
        code: str | None,
        message: str | None,
        written_vpcs: int = 0,
    ) -> None:
        with self._lock:
            self.stats.written += written
            self.stats.written_vpcs += written_vpcs
            if failed:
                self.stats.failed += failed
                assert code is not None
                self.stats.errors[code] = self.stats.errors.get(code, 0) + failed
                log.error("DynamoDB write failed for %d items: %s %s", failed, code, message)


def _vpc_count(requests: Iterable[Mapping[str, Any]]) -> int:
    return sum(is_vpc_item(r["PutRequest"]["Item"]) for r in requests)


# ---------------------------------------------------------------------------------------------
# Leases. A run holds one lease item per account it is collecting, from before it reads the
# account's items until that account's writes have settled. A second run that overlaps waits
# for the lease, or reports the account failed: without it, a run that saw a VPC earlier
# could overwrite the "deleted" mark of a run that saw it later (BatchWriteItem has no
# conditions). The TTL frees the lease of a run that was killed.


@dataclass(frozen=True)
class Lease:
    """Who is collecting an account, and until when the claim holds."""

    account_id: str
    run_id: str
    started_at: datetime
    expires_at: int  # epoch seconds


def _lease_key(account_id: str) -> dict[str, Any]:
    return {"VpcId": _s(LEASE_PREFIX + account_id), "OwnerId": _s(LEASE_OWNER)}


def lease_from_item(item: Mapping[str, Any]) -> Lease:
    """Deserialize a lease item."""
    return Lease(
        account_id=item["VpcId"]["S"].removeprefix(LEASE_PREFIX),
        run_id=item["RunId"]["S"],
        started_at=datetime.fromisoformat(item["StartedAt"]["S"].replace("Z", "+00:00")),
        expires_at=int(item["ExpiresAt"]["N"]),
    )


def acquire_lease(client: DynamoDBClient, table: str, lease: Lease, now: int) -> Lease | None:
    """Take the account's lease for `lease.run_id`; None on success, else the current holder.

    Conditional: free, expired (`now` in epoch seconds), or already ours.
    """
    item = {
        **_lease_key(lease.account_id),
        "RunId": _s(lease.run_id),
        "StartedAt": _ts(lease.started_at),
        "ExpiresAt": {"N": str(lease.expires_at)},
    }
    try:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(VpcId) OR ExpiresAt < :now OR RunId = :run",
            ExpressionAttributeValues={":now": {"N": str(now)}, ":run": _s(lease.run_id)},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        held = client.get_item(
            TableName=table, Key=_lease_key(lease.account_id), ConsistentRead=True
        ).get("Item")
        try:
            return lease_from_item(held) if held else lease
        except (KeyError, ValueError):
            return lease  # an unreadable holder is still a holder
    return None


def release_lease(client: DynamoDBClient, table: str, account_id: str, run_id: str) -> None:
    """Give the lease back, if it is still ours."""
    try:
        client.delete_item(
            TableName=table,
            Key=_lease_key(account_id),
            ConditionExpression="RunId = :run",
            ExpressionAttributeValues={":run": _s(run_id)},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise


# ---------------------------------------------------------------------------------------------
# Reservations. Reservation and lock items share the table without breaking its key schema:
# `VpcId` is `reservation#<cidr>` / `allocation#lock`, `OwnerId` a constant.


def reservation_item(r: Reservation) -> dict[str, Any]:
    """Serialize a reservation to a table item."""
    return {
        "VpcId": _s(RESERVATION_PREFIX + r.cidr),
        "OwnerId": _s(RESERVATION_OWNER),
        "Region": _s(RESERVATION_REGION),
        "Cidr": _s(r.cidr),
        "ReservedFor": _s(r.owner),
        "ReservedAt": _ts(r.reserved_at),
        "Note": _s(r.note),
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


def list_reservations(client: DynamoDBClient, table: str) -> Items:
    """Every reservation item (expired ones included; filter with `Reservation.active`)."""
    out = Items()
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName=OWNER_INDEX,
        KeyConditionExpression="OwnerId = :o",
        ExpressionAttributeValues={":o": {"S": RESERVATION_OWNER}},
    )
    for page in pages:
        for raw in page_items(page):
            out.add(raw, RESERVATIONS)
    return out


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
            Key={"VpcId": _s(RESERVATION_PREFIX + cidr), "OwnerId": _s(RESERVATION_OWNER)},
            ConditionExpression="attribute_exists(VpcId)",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


# ---------------------------------------------------------------------------------------------
# Fan-out progress. The dispatcher records how many messages a night has; each worker records
# its message's part as done (a set: a redelivered message counts once). The worker that
# completes the set is the last, and audits the table as the workers left it.

DISPATCH_PREFIX = "dispatch#"
DISPATCH_OWNER = "dispatch"


def _dispatch_key(dispatch_id: str) -> dict[str, Any]:
    return {"VpcId": _s(DISPATCH_PREFIX + dispatch_id), "OwnerId": _s(DISPATCH_OWNER)}


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


# ---------------------------------------------------------------------------------------------
# Connectivity: one item per (account, region) target (`conn#<account>#<region>`), rewritten by
# every ok scan of it, and one per TGW route table (`tgw-rtb#<id>`), written by the scan of the
# TGW owner's account. Readers use only the route tables a current connectivity item lists;
# every item carries the deletion retention as its TTL, so stale ones expire.

CONNECTIVITY_PREFIX = "conn#"
ROUTE_TABLE_PREFIX = "tgw-rtb#"
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _encode(model: BaseModel, vpc_id: str, expires_at: int) -> dict[str, Any]:
    plain = {k: v for k, v in model.model_dump(mode="json").items() if v is not None}
    item: dict[str, Any] = {k: _SERIALIZER.serialize(v) for k, v in plain.items()}
    item["VpcId"] = _s(vpc_id)
    item["ExpiresAt"] = {"N": str(expires_at)}
    return item


def _decode(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items() if k != "VpcId"}


def connectivity_item(conn: Connectivity, expires_at: int) -> dict[str, Any]:
    """Serialize a target's connectivity (OwnerId and Region are its key and index key)."""
    return _encode(conn, f"{CONNECTIVITY_PREFIX}{conn.OwnerId}#{conn.Region}", expires_at)


def connectivity_from_item(item: Mapping[str, Any]) -> Connectivity:
    """Deserialize a connectivity item (unknown attributes ignored)."""
    return Connectivity.model_validate(_decode(item))


def route_table_item(table: TgwRouteTable, expires_at: int) -> dict[str, Any]:
    """Serialize a TGW route table."""
    return _encode(table, ROUTE_TABLE_PREFIX + table.Id, expires_at)


def route_table_from_item(item: Mapping[str, Any]) -> TgwRouteTable:
    """Deserialize a TGW route table item."""
    return TgwRouteTable.model_validate(_decode(item))


# ---------------------------------------------------------------------------------------------
# Changes: one item per change a write saw (`change#<time>#<VpcId>#<n>`), under OwnerId
# `change` in the owner index with the time as its sort key, so `vpctracker changes --since`
# is one Query. Known findings: one item per finding a write run saw (`finding#<id>`), plus a
# baseline marker, so a new finding is one not known yet and "none known" differs from "never
# recorded". Both carry the retention TTL.

CHANGE_PREFIX = "change#"
CHANGE_OWNER = "change"
FINDING_PREFIX = "finding#"
FINDING_OWNER = "finding"
BASELINE_KEY = {"VpcId": {"S": "finding#baseline"}, "OwnerId": {"S": FINDING_OWNER}}


def change_item(change: dict[str, Any], n: int, expires_at: int) -> dict[str, Any]:
    """Serialize one change (`time`, `change`, `VpcId`, `OwnerId`, ... as in its JSON shape)."""
    item: dict[str, Any] = {
        "VpcId": _s(f"{CHANGE_PREFIX}{change['time']}#{change['VpcId']}#{n}"),
        "OwnerId": _s(CHANGE_OWNER),
        "Region": _s(change["time"]),
        "ExpiresAt": {"N": str(expires_at)},
    }
    for key in ("change", "VpcId", "AccountName", "Cidr", "detail"):
        if change.get(key) is not None:
            item[f"C{key}"] = _s(str(change[key]))
    item["COwnerId"] = _s(change["OwnerId"])
    item["CRegion"] = _s(change["Region"])
    return item


def change_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Deserialize a change item into its JSON shape."""

    def get(key: str) -> str | None:
        return str(item[key]["S"]) if key in item else None

    return {
        "time": get("Region"),
        "change": get("Cchange"),
        "VpcId": get("CVpcId"),
        "OwnerId": get("COwnerId"),
        "AccountName": get("CAccountName") or "",
        "Region": get("CRegion"),
        "Cidr": get("CCidr"),
        "detail": get("Cdetail"),
    }


def query_changes(client: DynamoDBClient, table: str, since: str, until: str) -> Items:
    """Changes recorded between two ISO times (inclusive), oldest first."""
    out = Items()
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName=OWNER_INDEX,
        KeyConditionExpression="OwnerId = :o AND #t BETWEEN :a AND :b",
        ExpressionAttributeNames={"#t": "Region"},
        ExpressionAttributeValues={
            ":o": _s(CHANGE_OWNER),
            ":a": _s(since),
            ":b": _s(until + "~"),  # "~" sorts after the time's own suffixes
        },
    )
    for page in pages:
        for raw in page_items(page):
            out.add(raw, CHANGES)
    return out


def finding_item(finding_id: str, finding: dict[str, Any], expires_at: int) -> dict[str, Any]:
    """A known finding: its id, the finding as JSON (announced as is when it resolves) and the
    accounts it involves on their own (`FindingAccounts`), so a night reads ids and accounts
    without the bodies."""
    return {
        **finding_key(finding_id),
        "Region": _s("known"),  # in the owner index, so known findings are one Query
        "Finding": _s(json.dumps(finding, sort_keys=True)),
        "FindingAccounts": {"L": [_s(a) for a in finding.get("accounts", [])]},
        "ExpiresAt": {"N": str(expires_at)},
    }


def finding_from_item(item: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(finding id, finding) of a known-finding item."""
    return item["VpcId"]["S"].removeprefix(FINDING_PREFIX), json.loads(item["Finding"]["S"])


@dataclass
class KnownFindings:
    """What recording needs of the known findings: their ids, not their bodies."""

    baseline: bool  # findings were recorded at least once
    baseline_due: bool  # the marker is missing or due for rewriting (the middle of `refresh`)
    ids: set[str] = field(default_factory=set)
    # Known ids whose item must be written again: its TTL falls before the refresh horizon (so
    # DynamoDB never deletes a finding that still stands), or the previous version wrote it.
    rewrite: set[str] = field(default_factory=set)
    # Bodies already fetched (items of the previous version), by id.
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)


def known_findings(
    client: DynamoDBClient,
    table: str,
    *,
    accounts: Iterable[str] | None = None,
    refresh: tuple[int, int] = (0, 0),
) -> KnownFindings:
    """The known findings (with `accounts`, those involving one of them): a consistent read of
    the baseline marker, then one Query of ids, accounts and TTLs (no bodies).

    `refresh` = (earliest, latest) epoch seconds: an item whose TTL falls before a point of
    that window, fixed per id, is due for rewriting; findings first recorded on one night are
    so rewritten over many nights, not all on one."""
    wanted = None if accounts is None else frozenset(accounts)
    marker = client.get_item(TableName=table, Key=BASELINE_KEY, ConsistentRead=True).get("Item")
    expires = int(marker["ExpiresAt"]["N"]) if marker and "ExpiresAt" in marker else 0
    known = KnownFindings(
        baseline=marker is not None, baseline_due=expires < (refresh[0] + refresh[1]) // 2
    )
    legacy: list[str] = []
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName=OWNER_INDEX,
        KeyConditionExpression="OwnerId = :o",
        ExpressionAttributeValues={":o": _s(FINDING_OWNER)},
        ProjectionExpression="VpcId, ExpiresAt, FindingAccounts",
    )
    for page in pages:
        for raw in page_items(page):
            fid = raw["VpcId"]["S"].removeprefix(FINDING_PREFIX)
            if "FindingAccounts" not in raw:
                legacy.append(fid)
                continue
            if wanted is not None and wanted.isdisjoint(
                a["S"] for a in raw["FindingAccounts"]["L"]
            ):
                continue
            known.ids.add(fid)
            if "ExpiresAt" not in raw or int(raw["ExpiresAt"]["N"]) < _due(fid, refresh):
                known.rewrite.add(fid)
    for fid, body in finding_bodies(client, table, legacy).items():
        if wanted is None or not wanted.isdisjoint(body.get("accounts", [])):
            known.ids.add(fid)
            known.rewrite.add(fid)
            known.bodies[fid] = body
    return known


def _due(finding_id: str, window: tuple[int, int]) -> int:
    """The point of `window` at which this finding's item is rewritten (spread by its id)."""
    earliest, latest = window
    try:
        share = int(finding_id[:8], 16) / 0x1_0000_0000
    except ValueError:
        share = 1.0
    return earliest + int((latest - earliest) * share)


def finding_bodies(
    client: DynamoDBClient, table: str, finding_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The stored bodies of these known findings (100 a call); one deleted meanwhile is absent."""
    keys = [finding_key(fid) for fid in finding_ids]
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), BATCH_GET_SIZE):
        request: dict[str, Any] = {
            table: {
                "Keys": keys[start : start + BATCH_GET_SIZE],
                "ConsistentRead": True,
                "ProjectionExpression": "VpcId, Finding",
            }
        }
        for attempt in range(10):
            resp = client.batch_get_item(RequestItems=request)
            for raw in resp.get("Responses", {}).get(table, []):
                if "Finding" in raw:
                    fid, body = finding_from_item(raw)
                    out[fid] = body
            request = dict(resp.get("UnprocessedKeys") or {})
            if not request:
                break
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        if request:
            raise FatalError("known findings still unread after 10 attempts")
    return out


def delete_items(client: DynamoDBClient, table: str, keys: Iterable[Mapping[str, Any]]) -> None:
    """Delete items by key, 25 a call, retrying what DynamoDB leaves unprocessed."""
    requests = [{"DeleteRequest": {"Key": dict(k)}} for k in keys]
    for start in range(0, len(requests), BATCH_SIZE):
        batch: list[dict[str, Any]] = requests[start : start + BATCH_SIZE]
        for attempt in range(10):
            resp = client.batch_write_item(RequestItems={table: batch})  # type: ignore[dict-item]
            batch = [dict(r) for r in resp.get("UnprocessedItems", {}).get(table, [])]
            if not batch:
                break
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        if batch:
            raise FatalError(f"{len(batch)} deletes still unprocessed after 10 attempts")


def finding_key(finding_id: str) -> dict[str, Any]:
    """The table key of a known finding."""
    return {"VpcId": _s(FINDING_PREFIX + finding_id), "OwnerId": _s(FINDING_OWNER)}


def baseline_item(at: str, expires_at: int) -> dict[str, Any]:
    """The marker that findings have been recorded at least once."""
    return {**BASELINE_KEY, "RecordedAt": _s(at), "ExpiresAt": {"N": str(expires_at)}}


# ---------------------------------------------------------------------------------------------
# The registry of item kinds (key prefix -> decoder). A new kind is one entry here.

ITEM_KINDS: dict[str, ItemKind] = {
    "vpc": ItemKind("vpc", "vpc-", from_item),
    "reservation": ItemKind("reservation", RESERVATION_PREFIX, reservation_from_item),
    "lease": ItemKind("lease", LEASE_PREFIX, lease_from_item),
    "lock": ItemKind("lock", "allocation#", lambda item: item),
    "dispatch": ItemKind("dispatch", DISPATCH_PREFIX, lambda item: item),
    "connectivity": ItemKind("connectivity", CONNECTIVITY_PREFIX, connectivity_from_item),
    "route-table": ItemKind("route-table", ROUTE_TABLE_PREFIX, route_table_from_item),
    "change": ItemKind("change", CHANGE_PREFIX, change_from_item),
    "finding": ItemKind("finding", FINDING_PREFIX, lambda item: item),
}
VPCS = frozenset({"vpc"})
RESERVATIONS = frozenset({"reservation"})
CONNECTIONS = frozenset({"connectivity", "route-table"})
CHANGES = frozenset({"change"})
