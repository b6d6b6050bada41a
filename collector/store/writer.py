"""Store — writing: items batched 25 a call in the background, every unprocessed item retried,
failures counted (never dropped), a watermark of what has settled; batched deletes."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collector.errors import FatalError, RetryPolicy, error_code, error_message
from collector.store.attributes import item_key
from collector.store.reader import PARALLEL_BATCHES
from collector.store.vpcs import is_vpc_item

if TYPE_CHECKING:
    from botocore.model import OperationModel
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

BATCH_SIZE = 25  # BatchWriteItem's hard limit


@dataclass
class WriteStats:
    """What the writer did; `failed` items never reached the table and are reported."""

    written: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    # Of `written`, the VPC items (the rest: connectivity and other bookkeeping items).
    written_vpcs: int = 0
    # Items DynamoDB refused whole, written cut down: (VpcId, OwnerId, why).
    incomplete: list[tuple[str, str, str]] = field(default_factory=list)


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
        shrink: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> None:
        self._client = client
        self._table = table
        # An item DynamoDB refuses on its own (too large, say) is written cut down by this,
        # when it can be (store.vpcs.shrink: a VPC's blocks), rather than lost.
        self._shrink = shrink
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
            smaller = self._shrink(rest[0]) if self._shrink else None
            if smaller is not None and self._write([smaller]) is None:
                with self._lock:
                    self.stats.incomplete.append((*item_key(rest[0]), f"{code}: {message}"))
                log.error(
                    "item %s written without its large attributes: %s", item_key(rest[0]), code
                )
                return
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


# Where a BatchWriteItem call's items wait, as JSON, between the two hooks below (the call's
# own request context: one per call, so calls side by side never mix their items).
_ITEMS_JSON = "vpctracker_request_items"


def _take_items(
    params: dict[str, Any], model: OperationModel, context: dict[str, Any], **_: Any
) -> None:
    """botocore `before-parameter-build` hook of BatchWriteItem: take the items out of
    botocore's hands as JSON, leaving one empty request per table in their place.

    botocore validates and serializes every attribute value through the service model in
    Python: without it, writing VPC items takes 0.29 of the client CPU (measured:
    docs/benchmarks.md); the AttributeValue maps the store writes are already the wire's
    JSON. A value `json.dumps` cannot write (binary `B`, which no item kind stores) leaves the
    call to botocore whole.
    """
    items = params.get("RequestItems")
    if model.name != "BatchWriteItem" or not isinstance(items, dict) or not items:
        return
    try:
        # As botocore's JSON serializer writes it (json.dumps' defaults): the same bytes.
        context[_ITEMS_JSON] = json.dumps(items)
    except (TypeError, ValueError):
        return
    # Keeps the table names, which endpoint resolution reads; an empty Item passes validation.
    params["RequestItems"] = {table: [{"PutRequest": {"Item": {}}}] for table in items}


def _put_items(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """botocore `before-call` hook of BatchWriteItem: the serialized request's items put back,
    before the request is built and signed (its body as botocore would have written it)."""
    items = context.pop(_ITEMS_JSON, None)
    if items is None:
        return
    body = json.loads(params["body"])
    body.pop("RequestItems", None)
    rest = json.dumps(body)
    whole = '{"RequestItems": ' + items + ("}" if rest == "{}" else ", " + rest[1:])
    params["body"] = whole.encode("utf-8")


def fast_writes(client: DynamoDBClient) -> DynamoDBClient:
    """`client`, with BatchWriteItem's items written by `json.dumps` rather than botocore's
    per-attribute validation and serialization (same request, a fraction of the CPU).

    Registered on the events' least specific names (botocore calls a more specific name's
    hooks first): the items are taken after every other `before-parameter-build` hook saw, or
    changed, them (a test's fault injection, say), and put back ahead of the other generic
    `before-call` hooks; a hook on `before-call.dynamodb.BatchWriteItem` sees the placeholder."""
    events = client.meta.events
    # Once per client, however often applied: a second take would take the placeholder.
    events.register_last("before-parameter-build", _take_items, unique_id=_ITEMS_JSON + "-take")
    events.register_first("before-call", _put_items, unique_id=_ITEMS_JSON + "-put")
    return client


def _vpc_count(requests: Iterable[Mapping[str, Any]]) -> int:
    return sum(is_vpc_item(r["PutRequest"]["Item"]) for r in requests)


def delete_items(client: DynamoDBClient, table: str, keys: Iterable[Mapping[str, Any]]) -> None:
    """Delete items by key, 25 a call, calls side by side, retrying what DynamoDB leaves
    unprocessed (deleting is idempotent: a retried whole run deletes nothing twice)."""
    _write_now(client, table, [{"DeleteRequest": {"Key": dict(k)}} for k in keys], "deletes")


def put_items(client: DynamoDBClient, table: str, items: Iterable[Mapping[str, Any]]) -> None:
    """Write items now, 25 a call, calls side by side, retrying what DynamoDB leaves
    unprocessed; returns once every one is in the table (FatalError, or the call's error, if
    one is not): for items that must land before others are written (`BatchWriter` writes
    in the background)."""
    _write_now(client, table, [{"PutRequest": {"Item": dict(i)}} for i in items], "writes")


def _write_now(
    client: DynamoDBClient, table: str, requests: list[dict[str, Any]], what: str
) -> None:
    batches = [requests[i : i + BATCH_SIZE] for i in range(0, len(requests), BATCH_SIZE)]

    def one(batch: list[dict[str, Any]]) -> None:
        _write_batch(client, table, batch, what)

    if len(batches) <= 1:
        for batch in batches:
            one(batch)
        return
    with ThreadPoolExecutor(min(PARALLEL_BATCHES, len(batches)), "batch-delete") as pool:
        # list(): the first failure is raised here, after the other calls have finished.
        list(pool.map(one, batches))


def _write_batch(
    client: DynamoDBClient, table: str, batch: list[dict[str, Any]], what: str
) -> None:
    for attempt in range(10):
        resp = client.batch_write_item(RequestItems={table: batch})  # type: ignore[dict-item]
        batch = [dict(r) for r in resp.get("UnprocessedItems", {}).get(table, [])]
        if not batch:
            return
        time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
    raise FatalError(f"{len(batch)} {what} still unprocessed after 10 attempts")
