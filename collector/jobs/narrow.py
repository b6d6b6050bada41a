"""Job — a narrowed view: what a rescan's recording compares when the rescan can only have
changed the findings of the targets it scanned, read without reading the inventory.

A live event's recording compared the whole inventory: every finding the rescan could move is in
it. Most events move only their own target's: its VPCs, their blocks and subnets. When

- the rescan found every target connected as the table held it (the same peerings and TGW
  attachments) and none of them owns a TGW route table, so every routing domain is as it was;
- it released no reservation;
- no block the targets hold now or held before (default VPCs aside) overlaps a block of a VPC
  of another target, a reserved range or a reservation, as the block index shows (store.blocks;
  an entry left by a VPC since gone is read by key and passed over);

then no other target's finding can have moved (a finding of a block depends on the blocks it
overlaps and the domains that reach them), and the targets' own findings are those of an audit
of their VPCs alone: no overlap group, default VPCs, headroom. The view is those VPCs: the items
the rescan wrote, read back by key (strongly consistent), and the rest as the run read them
before it. Anything else (an overlap near the targets, a change of routing, a write not known
to have landed, an entry or item that cannot be read) returns None: the recording then reads
the whole inventory, as before. Property tests hold the narrowed recording to the whole one
(tests/unit/test_narrow.py).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from collector.cidrs import block_span
from collector.config import Config, ReservedCidr
from collector.errors import FatalError, MalformedResponse, error_code
from collector.jobs.options import RunOptions
from collector.jobs.summary import RunSummary
from collector.jobs.views import View, merge, now_utc, read_back
from collector.models import Reservation, Vpc
from collector.store.blocks import (
    Entry,
    indexed_blocks,
    is_wide,
    ranges_near,
    read_ranges,
)
from collector.store.findings import Marker
from collector.store.registry import BLOCK_ATTRIBUTES, Items, list_reservations, read_keys

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

Target = tuple[str, str]  # (account, region)


@dataclass(frozen=True)
class Narrowed:
    """A narrowed view: the targets' VPCs (and the reservations), and the targets whose
    findings it speaks for (every other finding stands as known)."""

    view: View
    targets: frozenset[Target]


def touched(vpcs: Iterable[Vpc], targets: Collection[Target]) -> set[str]:
    """Pure: the blocks the index holds of the targets' VPCs among `vpcs`."""
    return {c for v in vpcs if (v.OwnerId, v.Region) in targets for c in indexed_blocks(v)}


def _overlap(a: str, b: str) -> bool:
    (va, fa, la), (vb, fb, lb) = block_span(a), block_span(b)
    return va == vb and fa <= lb and fb <= la


def alone(
    before: Sequence[Vpc],
    after: Sequence[Vpc],
    targets: Collection[Target],
    reserved: Iterable[str],
) -> set[str] | None:
    """Pure: the blocks the targets' VPCs hold now or held before (`before`, `after`), when no
    two of them of different VPCs overlap now and no `reserved` range (the config's, the
    reservations) overlaps any; None otherwise, or when one is wider than a VPC block."""
    blocks = touched(before, targets) | touched(after, targets)
    if any(is_wide(c) for c in blocks):
        return None
    now = [(c, v.key) for v in after if (v.OwnerId, v.Region) in targets for c in indexed_blocks(v)]
    for i, (a, ka) in enumerate(now):
        if any(ka != kb and _overlap(a, b) for b, kb in now[i + 1 :]):
            return None
    for r in reserved:
        if any(_overlap(r, c) for c in blocks):
            return None
    return blocks


def others_near(
    entries: Iterable[Entry], blocks: Collection[str], targets: Collection[Target]
) -> list[Entry]:
    """Pure: the index entries of VPCs outside the targets whose block overlaps one of `blocks`."""
    return [
        e
        for e in entries
        if (e.owner, e.region) not in targets and any(_overlap(e.cidr, b) for b in blocks)
    ]


def still_there(entries: Sequence[Entry], items: Items) -> bool:
    """Pure: some entry's VPC item (as `items` read them by key) is live and holds its block,
    or cannot be read (so might)."""
    if items.unreadable:
        return True
    held = {(v.VpcId, v.OwnerId, c) for v in items.vpcs for c in indexed_blocks(v)}
    return any((e.vpc_id, e.owner, e.cidr) in held for e in entries)


def narrowed_view(
    config: Config,
    opts: RunOptions,
    ddb: DynamoDBClient,
    rescan: RunSummary,
    marker: Marker,
) -> Narrowed | None:
    """The narrowed view after the narrowed run `rescan` reports on, read after `marker` (under
    the recording's lease), or None when the recording must read the whole inventory (see the
    module)."""
    if (
        not marker.indexed
        or not rescan.rescanned
        or rescan.connectivity_changed
        or rescan.reservations_released
    ):
        return None
    started = now_utc()
    try:
        fresh = read_back(rescan, config, opts, ddb)
        if fresh is None or fresh.unreadable:
            return None
        targets = frozenset(rescan.rescanned)
        before = [v for v in rescan.vpcs_before if (v.OwnerId, v.Region) in targets]
        reservations = opts.retry.call(list_reservations, ddb, config.table.name).reservations
        base = Items(vpcs=before, reservations=reservations)
        items = merge(base, fresh, rescan.written_keys or set(), ())
        items.vpcs = [v for v in items.vpcs if (v.OwnerId, v.Region) in targets]
        blocks = alone(before, items.vpcs, targets, _reserved(config.reserved_cidrs, reservations))
        if blocks is None:
            return None
        near = opts.retry.call(read_ranges, ddb, config.table.ledger, ranges_near(blocks))
        if near.damaged:
            return None
        others = others_near(near.entries, blocks, targets)
        if others:
            keys = sorted({e.vpc_key for e in others})
            held = opts.retry.call(
                read_keys, ddb, config.table.name, keys, "VPCs near the rescan", BLOCK_ATTRIBUTES
            )
            if still_there(others, held):
                return None
    except (ClientError, BotoCoreError, FatalError, MalformedResponse) as exc:
        log.warning("narrowed view not read (%s): reading the inventory", error_code(exc))
        return None
    return Narrowed(View(items, started, now_utc(), after=marker), targets)


def _reserved(config: Sequence[ReservedCidr], reservations: Iterable[Reservation]) -> list[str]:
    """Every reserved range: the config's and every reservation's (expired or not)."""
    return [r.cidr for r in config] + [r.cidr for r in reservations]
