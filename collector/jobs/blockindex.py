"""Job — the block index kept whole: a full recording adds the entries its inventory needs and
the index lacks, and removes those no VPC stands behind any more (store.blocks).

Entries are written before the VPC items they stand for, so the index misses a live block only
when the table was written by a version that kept no index (before this one, or an older CLI
beside a later function), or by hand. A full recording's view holds every VPC item; what it
checks there is then in the index, and its marker says so (`IndexedBlocks`), which lets a later
recording read only the blocks near what its rescan touched (jobs.narrow).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from collector.errors import FatalError, MalformedResponse, RetryPolicy, error_code
from collector.models import iso
from collector.store.blocks import (
    entry_item,
    entry_key,
    indexed_blocks,
    is_wide,
    partitions_of,
    read_ranges,
)
from collector.store.registry import Items
from collector.store.writer import delete_items, put_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)


def keep_whole(
    ddb: DynamoDBClient,
    ledger: str,
    items: Items,
    started: datetime,
    *,
    skew: timedelta,
    retention: timedelta,
    now: datetime,
    retry: RetryPolicy,
) -> bool:
    """Make the index hold every live block of `items` (a whole read that started at
    `started`) and drop what is stale; True when it then holds them all, so a recording may
    say `IndexedBlocks`. False (logged, nothing raised: the recording goes on) when an item of the
    inventory could not be read (its blocks are not known), the index holds an entry it cannot
    read, a block is wider than a VPC's, or a read or write failed.

    Stale: an entry whose VPC item the read holds without that block live (deleted, or the
    block disassociated), written before the read began less `skew`; or one whose VPC item the
    read does not hold at all, written more than `retention` before it (the item has expired:
    a VPC written while the read went on is not in it, and its entry is recent)."""
    if items.unreadable:
        log.warning("block index not checked: %d items could not be read", len(items.unreadable))
        return False
    # (block, VpcId, OwnerId) of every block the index must hold, with its VPC.
    live = {(c, v.VpcId, v.OwnerId): v for v in items.vpcs for c in indexed_blocks(v)}
    held = {v.key for v in items.vpcs}
    wanted = [cidr for cidr, _, _ in live]
    if any(is_wide(c) for c in wanted):
        log.warning("block index not whole: a VPC block wider than AWS gives one")
        return False
    try:
        near = retry.call(read_ranges, ddb, ledger, partitions_of(wanted))
        if near.damaged:
            log.warning("block index not whole: an entry could not be read")
            return False
        have = {(e.cidr, e.vpc_id, e.owner) for e in near.entries}
        missing = [entry_item(v, key[0], now) for key, v in live.items() if key not in have]
        fresh, old = iso(started - skew), iso(started - retention)
        stale = [
            entry_key(e.vpc_id, e.owner, e.cidr)
            for e in near.entries
            if (e.cidr, e.vpc_id, e.owner) not in live
            and e.written_at < (fresh if e.vpc_key in held else old)
        ]
        if missing:
            retry.call(put_items, ddb, ledger, missing)
        if stale:
            retry.call(delete_items, ddb, ledger, stale)
    except (ClientError, BotoCoreError, FatalError, MalformedResponse) as exc:
        log.warning("block index not checked: %s", error_code(exc))
        return False
    if missing or stale:
        log.info("block index: %d entries added, %d stale removed", len(missing), len(stale))
    return True
