"""Store — reading: pages checked and decoded fast, whole-table reads in parallel segments,
owner-index queries and batched gets. Raw items only: the registry decodes them."""

from __future__ import annotations

import contextlib
import gc
import json
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from collector.errors import FatalError, MalformedResponse
from collector.store.attributes import s
from collector.store.table import OWNER_INDEX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

READ_OPERATIONS = ("Scan", "Query")
BATCH_GET_SIZE = 100  # BatchGetItem's limit


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
    page = _page(response_dict["body"])
    if page is None:
        # A proxy's page with status 200: left to botocore, which reads it as an answer
        # without Items; `page_items` then raises MalformedResponse (retried).
        return
    customized_response_dict["Items"] = page.pop("Items")
    response_dict["body"] = json.dumps(page).encode()


def _page(body: bytes) -> dict[str, Any] | None:
    """A read answer's body as a page, by the thread's decoder (`scan_items(decode=...)`) or
    else `json.loads`; None when it is not a page of items."""
    decode: Callable[[bytes], dict[str, Any]] | None = getattr(_pages, "decode", None)
    if decode is not None:
        try:
            return decode(body)
        except ValueError:  # not a page of items (pydantic's ValidationError is one)
            pass
    try:
        page = json.loads(body)
    except ValueError:
        return None
    if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
        return None
    return page


# A thread's page decoder (`scan_items(decode=...)`): the hook above hands each page's body
# to it instead of `json.loads`. Per thread, since botocore's hooks are per client.
_pages = threading.local()


def fast_reads(client: DynamoDBClient) -> DynamoDBClient:
    """`client`, with Scan and Query pages decoded by `json.loads` rather than botocore's
    per-attribute parser (same result, a fraction of the CPU)."""
    for op in READ_OPERATIONS:
        client.meta.events.register(f"before-parse.dynamodb.{op}", _items_as_json)
    return client


def query_index(
    client: DynamoDBClient,
    table: str,
    owner: str,
    *,
    between: tuple[str, str] | None = None,
    projection: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every raw item under `OwnerId = owner` in the owner index (with `between`, whose `Region`
    sort key lies between the two values, inclusive), page by page."""
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": OWNER_INDEX,
        "KeyConditionExpression": "OwnerId = :o",
        "ExpressionAttributeValues": {":o": s(owner)},
    }
    if between is not None:
        args["KeyConditionExpression"] = "OwnerId = :o AND #t BETWEEN :a AND :b"
        args["ExpressionAttributeNames"] = {"#t": "Region"}
        args["ExpressionAttributeValues"].update({":a": s(between[0]), ":b": s(between[1])})
    if projection is not None:
        args["ProjectionExpression"] = projection
    for page in client.get_paginator("query").paginate(**args):
        yield from page_items(page)


# Batch reads and deletes send this many calls side by side: a run's few thousand keys are
# otherwise dozens of calls in sequence, each a round trip (issue 26 measured 6.7 s for 64).
PARALLEL_BATCHES = 8


def batch_get(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[Mapping[str, Any]],
    *,
    what: str = "items",
    attributes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The items of these keys (100 a call, consistent, calls side by side; with `attributes`,
    only those, named by placeholders as a Scan names them), retrying what DynamoDB leaves
    unprocessed; a key without an item is absent from the answer."""
    chunks = [keys[i : i + BATCH_GET_SIZE] for i in range(0, len(keys), BATCH_GET_SIZE)]
    only = projected(attributes) if attributes else {}

    def one(chunk: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return _batch_get_one(client, table, chunk, only, what)

    if len(chunks) <= 1:
        return [item for chunk in chunks for item in one(chunk)]
    with ThreadPoolExecutor(min(PARALLEL_BATCHES, len(chunks)), "batch-get") as pool:
        return [item for part in pool.map(one, chunks) for item in part]


def _batch_get_one(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[Mapping[str, Any]],
    only: Mapping[str, Any],
    what: str,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    wanted: dict[str, Any] = {"Keys": list(keys), "ConsistentRead": True, **only}
    request: dict[str, Any] = {table: wanted}
    for attempt in range(10):
        resp = client.batch_get_item(RequestItems=request)
        out.extend(resp.get("Responses", {}).get(table, []))
        request = dict(resp.get("UnprocessedKeys") or {})
        if not request:
            return out
        time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
    raise FatalError(f"{what} still unread after 10 attempts")


def projected(attributes: Sequence[str]) -> dict[str, Any]:
    """Pure: a read's parameters for only these attributes, each named by a placeholder
    (State, Region, Name and Values are DynamoDB reserved words)."""
    names = {f"#a{n}": a for n, a in enumerate(attributes)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


# Whole-table reads run this many Scan segments side by side: one segment's page is on the wire
# while another's is decoded (measured in docs/benchmarks.md).
SCAN_SEGMENTS = 4
_END = object()  # a segment's last page was handed over


def scan_items(
    client: DynamoDBClient,
    table: str,
    segments: int = SCAN_SEGMENTS,
    attributes: Sequence[str] = (),
    decode: Callable[[bytes], dict[str, Any]] | None = None,
) -> Iterator[Any]:
    """Stream every item of the table, page by page (raw AttributeValue maps; with `decode`,
    each page's body is decoded by it, on a client with `fast_reads`, and its items are
    what it gives).

    Strongly consistent: readers run right after a collection and must see what it wrote.
    The `segments` parallel segments hand their pages over through a short queue, so memory
    holds a few pages, not the table; a failed segment fails the whole read (its exception is
    raised here) and a reader that stops early stops the segments. With `attributes`, items
    carry only those (a projection).
    """
    scan = _SegmentedScan(client, table, segments, attributes, decode)
    try:
        yield from scan.items()
    finally:
        scan.close()


class _SegmentedScan:
    """The reader threads of one `scan_items` and the queue of pages they fill."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        segments: int,
        attributes: Sequence[str],
        decode: Callable[[bytes], dict[str, Any]] | None,
    ) -> None:
        self.client, self.table, self.segments, self.decode = client, table, segments, decode
        self.projection = projected(attributes) if attributes else {}
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
        _pages.decode = self.decode
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
        finally:
            _pages.decode = None


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
