"""Store — the block index: one ledger item per block of every live VPC (default VPCs aside: they
are in no overlap group), so that a live event finds the blocks that may overlap its own without
reading the inventory.

An entry's key is `block#<version>:<first 16 bits, hex>` (its partition) and
`<first address, hex>/<prefix>#<VpcId>#<OwnerId>`. AWS gives a VPC IPv4 blocks of /16 to /28
and IPv6 blocks of /44 to /60, so every block that can overlap a block lies in its partition,
and sorted by first address, between the first address of the widest such block (rounded down
to /16, /44) and its own last one: one `Query` range. A block wider than that (not one AWS makes)
is under `block#wide`, which every read takes whole.

Entries are written before the VPC items they stand for (`jobs.sinks`), so an item never exists
without them; an entry left behind by a VPC since deleted only costs a key read. A full
recording adds what is missing and removes what is stale (`jobs.blockindex`), and the findings
marker says whether the index is whole (`IndexedBlocks`): an older version writes VPCs without
entries, and its marker, written whole, drops the flag.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from collector.cidrs import Span, block_span
from collector.models import Vpc, iso
from collector.store.attributes import s
from collector.store.reader import page_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PREFIX = "block#"
WIDE = PREFIX + "wide"
# The widest block AWS gives a VPC, by IP version: every block that can overlap one lies in the
# same aligned range of this size.
WIDEST = {4: 16, 6: 44}
_WIDTH = {4: 32, 6: 128}
# Queries of one read, side by side.
PARALLEL_QUERIES = 8


class Entry(NamedTuple):
    """One indexed block: the block and the VPC (key and region) it belongs to."""

    cidr: str
    vpc_id: str
    owner: str
    region: str
    written_at: str

    @property
    def vpc_key(self) -> tuple[str, str]:
        """(VpcId, OwnerId) of the VPC item it stands for."""
        return self.vpc_id, self.owner


def indexed_blocks(vpc: Vpc) -> list[str]:
    """Pure: the blocks of `vpc` the index holds: every block of a live VPC that is not a
    default VPC (none of a deleted or default one)."""
    if vpc.Deleted or vpc.IsDefault:
        return []
    return [*vpc.CidrBlocks, *vpc.Ipv6CidrBlocks]


def _prefix(span: Span) -> int:
    version, first, last = span
    return _WIDTH[version] - (last - first).bit_length()


def partition(span: Span) -> str:
    """Pure: the partition a block's entry lives in."""
    version, first, _ = span
    if _prefix(span) < WIDEST[version]:
        return WIDE
    return f"{PREFIX}{version}:{first >> (_WIDTH[version] - 16):04x}"


def _sort_key(span: Span) -> str:
    version, first, _ = span
    return f"{first:0{_WIDTH[version] // 4}x}/{_prefix(span):03d}"


def entry_key(vpc_id: str, owner: str, cidr: str) -> dict[str, Any]:
    """The ledger key of one block's entry."""
    span = block_span(cidr)
    return {"VpcId": s(partition(span)), "OwnerId": s(f"{_sort_key(span)}#{vpc_id}#{owner}")}


def entry_item(vpc: Vpc, cidr: str, at: datetime) -> dict[str, Any]:
    """One block's entry as a ledger item."""
    return {
        **entry_key(vpc.VpcId, vpc.OwnerId, cidr),
        "Cidr": s(cidr),
        "Region": s(vpc.Region),
        "WrittenAt": s(iso(at)),
    }


def entry_items(vpcs: Iterable[Vpc], at: datetime) -> list[dict[str, Any]]:
    """The entries of every block the index holds of `vpcs`."""
    return [entry_item(v, c, at) for v in vpcs for c in indexed_blocks(v)]


def _entry(item: dict[str, Any]) -> Entry | None:
    """An entry from its ledger item; None for one that cannot be read (a reader that finds one
    cannot trust the index: see `Near.damaged`)."""
    try:
        _, vpc_id, owner = item["OwnerId"]["S"].rsplit("#", 2)
        return Entry(item["Cidr"]["S"], vpc_id, owner, item["Region"]["S"], item["WrittenAt"]["S"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class Range:
    """One `Query` of the index: a partition, whole or between two sort keys."""

    partition: str
    low: str | None = None
    high: str | None = None


def is_wide(cidr: str) -> bool:
    """Pure: a block wider than AWS gives a VPC (blocks inside it lie in many partitions)."""
    return partition(block_span(cidr)) == WIDE


def ranges_near(cidrs: Iterable[str]) -> list[Range]:
    """Pure: the index ranges that hold every entry whose block may overlap one of `cidrs`
    (and the wide partition), merged where they meet. No block of `cidrs` may be wide
    (`is_wide`: ValueError); a caller with one reads the inventory instead."""
    by_partition: dict[str, list[tuple[str, str]]] = {}
    whole = {WIDE}
    for cidr in cidrs:
        span = block_span(cidr)
        version, first, last = span
        key = partition(span)
        if key == WIDE:
            raise ValueError(f"{cidr} is wider than a VPC block: the index cannot bound it")
        shift = _WIDTH[version] - WIDEST[version]
        widest = (first >> shift) << shift
        digits = _WIDTH[version] // 4
        # From the widest block that could hold it to the last block that starts inside it.
        by_partition.setdefault(key, []).append((f"{widest:0{digits}x}", f"{last:0{digits}x}~"))
    out = [Range(p) for p in sorted(whole)]
    for key, spans in sorted(by_partition.items()):
        spans.sort()
        low, high = spans[0]
        for a, b in spans[1:]:
            if a <= high:
                high = max(high, b)
            else:
                out.append(Range(key, low, high))
                low, high = a, b
        out.append(Range(key, low, high))
    return out


class Near(NamedTuple):
    """What a read of the index found: its entries, and whether one could not be read."""

    entries: list[Entry]
    damaged: bool


def read_ranges(client: DynamoDBClient, ledger: str, ranges: Sequence[Range]) -> Near:
    """Every entry in `ranges`, strongly consistent, the queries side by side."""

    def one(r: Range) -> list[dict[str, Any]]:
        args: dict[str, Any] = {
            "TableName": ledger,
            "ConsistentRead": True,
            "KeyConditionExpression": "VpcId = :p",
            "ExpressionAttributeValues": {":p": s(r.partition)},
        }
        if r.low is not None and r.high is not None:
            args["KeyConditionExpression"] += " AND OwnerId BETWEEN :a AND :b"
            args["ExpressionAttributeValues"].update({":a": s(r.low), ":b": s(r.high)})
        return [
            i for page in client.get_paginator("query").paginate(**args) for i in page_items(page)
        ]

    if len(ranges) <= 1:
        found = [one(r) for r in ranges]
    else:
        with ThreadPoolExecutor(min(PARALLEL_QUERIES, len(ranges))) as pool:
            found = list(pool.map(one, ranges))
    entries: list[Entry] = []
    damaged = False
    for items in found:
        for item in items:
            e = _entry(item)
            if e is None:
                damaged = True
            else:
                entries.append(e)
    return Near(entries, damaged)


def partitions_of(cidrs: Iterable[str]) -> list[Range]:
    """Pure: the whole partitions `cidrs` fall in (and the wide one)."""
    return [Range(p) for p in sorted({WIDE, *(partition(block_span(c)) for c in cidrs)})]
