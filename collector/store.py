"""Stage 7 — store: the central DynamoDB table (schema, item codec, batched writes, reads)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from collector.errors import RetryPolicy, error_code, error_message
from collector.models import Vpc, iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

OWNER_INDEX = "OwnerRegionIndex"
TTL_ATTRIBUTE = "ExpiresAt"
BATCH_SIZE = 25  # BatchWriteItem's hard limit


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


def create_table(client: DynamoDBClient, name: str, *, wait: bool = True, ttl: bool = True) -> bool:
    """Create the table with TTL on ExpiresAt; True if created, False if it already existed.

    `ttl=False` skips the TTL setting, for DynamoDB implementations without UpdateTimeToLive.
    """
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
    if not ttl:
        return created
    status = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    return created


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
    """Deserialize a table item into a record (raises pydantic ValidationError if malformed)."""
    return Vpc.model_validate({k: _plain(v) for k, v in item.items()})


# ---------------------------------------------------------------------------------------------
# Reads


def query_account(client: DynamoDBClient, table: str, account_id: str) -> list[Vpc]:
    """Every item (live or deleted) of one account, through the owner index."""
    out: list[Vpc] = []
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName=OWNER_INDEX,
        KeyConditionExpression="OwnerId = :o",
        ExpressionAttributeValues={":o": {"S": account_id}},
    )
    for page in pages:
        out.extend(from_item(i) for i in page["Items"])
    return out


def scan_items(client: DynamoDBClient, table: str) -> Iterator[dict[str, Any]]:
    """Stream every item of the table, page by page (raw AttributeValue maps).

    Strongly consistent: readers run right after a collection and must see what it wrote.
    """
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page["Items"]


# ---------------------------------------------------------------------------------------------
# Writes


@dataclass
class WriteStats:
    """What the writer did; `failed` items never reached the table and are reported."""

    written: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class BatchWriter:
    """Buffers items and writes them with BatchWriteItem, 25 a call, flushing in the background.

    Every UnprocessedItems entry is retried with jittered exponential backoff until written;
    items still unwritten after `max_attempts` (or on a non-retryable error) are counted in
    `stats.failed`, never dropped silently. Thread-safe `add`; `close()` waits for all flushes.
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
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ddb-writer")
        # Bounded in-flight batches: back-pressure instead of an unbounded queue in memory.
        self._slots = threading.BoundedSemaphore(threads * 2)
        self._futures: set[Future[None]] = set()
        self.stats = WriteStats()

    def add(self, item: dict[str, Any]) -> None:
        """Queue one item; a full batch is handed to a background flush."""
        with self._lock:
            self._buffer.append(item)
            if len(self._buffer) < BATCH_SIZE:
                return
            batch, self._buffer = self._buffer, []
        self._submit(batch)

    def add_all(self, items: Iterable[dict[str, Any]]) -> None:
        """Queue several items."""
        for item in items:
            self.add(item)

    def flush(self) -> None:
        """Send whatever is buffered and wait until every batch so far is settled."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if batch:
            self._submit(batch)
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

    def _submit(self, batch: list[dict[str, Any]]) -> None:
        self._slots.acquire()
        fut = self._pool.submit(self._write, batch)
        with self._lock:
            self._futures.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: Future[None]) -> None:
        self._slots.release()
        with self._lock:
            self._futures.discard(fut)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": i}} for i in batch]
        for attempt in range(1, self._max_attempts + 1):
            try:
                resp = self._retry.call(
                    self._client.batch_write_item, RequestItems={self._table: requests}
                )
            except (ClientError, BotoCoreError) as exc:
                self._record(len(requests), 0, error_code(exc), error_message(exc))
                return
            unprocessed = resp.get("UnprocessedItems", {}).get(self._table, [])
            self._record(0, len(requests) - len(unprocessed), None, None)
            if not unprocessed:
                return
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

    def _record(self, failed: int, written: int, code: str | None, message: str | None) -> None:
        with self._lock:
            self.stats.written += written
            if failed:
                self.stats.failed += failed
                assert code is not None
                self.stats.errors[code] = self.stats.errors.get(code, 0) + failed
                log.error("DynamoDB write failed for %d items: %s %s", failed, code, message)


# ---------------------------------------------------------------------------------------------
# Inventory reads and reservations. Reservation and lock items share the table without
# breaking its key schema: `VpcId` is `reservation#<cidr>` / `allocation#lock`, `OwnerId` a
# constant. Every reader that wants VPCs keeps only items whose VpcId starts with "vpc-".

RESERVATION_PREFIX = "reservation#"
RESERVATION_OWNER = "reservation"
RESERVATION_REGION = "global"  # puts reservations in the owner index, under OwnerId=reservation
LOCK_KEY = {"VpcId": {"S": "allocation#lock"}, "OwnerId": {"S": "allocation"}}


def is_vpc_item(item: Mapping[str, Any]) -> bool:
    """True for VPC items, False for reservations and other bookkeeping items."""
    return str(item.get("VpcId", {}).get("S", "")).startswith("vpc-")


def load_inventory(client: DynamoDBClient, table: str) -> tuple[list[Vpc], int]:
    """Every VPC item of the table (live and deleted) and the count of unreadable items."""
    vpcs: list[Vpc] = []
    bad = 0
    for raw in scan_items(client, table):
        if not is_vpc_item(raw):
            continue
        try:
            vpcs.append(from_item(raw))
        except ValueError as exc:  # pydantic ValidationError is a ValueError
            bad += 1
            log.warning("unreadable table item %s: %s", raw.get("VpcId"), str(exc).splitlines()[0])
    return vpcs, bad


@dataclass(frozen=True)
class Reservation:
    """A CIDR block set aside for an account that has no VPC in it yet."""

    cidr: str
    owner: str
    reserved_at: datetime
    expires_at: int
    note: str = ""

    def active(self, now: datetime) -> bool:
        """Not yet expired (DynamoDB TTL deletes lazily, so readers must check)."""
        return self.expires_at > int(now.timestamp())


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


def list_reservations(client: DynamoDBClient, table: str) -> list[Reservation]:
    """Every reservation item (expired ones included; filter with `Reservation.active`)."""
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName=OWNER_INDEX,
        KeyConditionExpression="OwnerId = :o",
        ExpressionAttributeValues={":o": {"S": RESERVATION_OWNER}},
    )
    return [reservation_from_item(i) for page in pages for i in page["Items"]]


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
