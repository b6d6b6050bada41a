"""Job — collect, the departed sweep: items of accounts suspended or gone from the organization
are marked deleted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import Config
from collector.errors import FatalError, RetryPolicy, error_code
from collector.jobs.options import RunOptions, dynamodb_client
from collector.lifecycle import departed_reason, mark_deleted
from collector.models import Account, DeletionReason, UnreadableItem, Vpc
from collector.store.reader import scan_items
from collector.store.registry import VPCS, Items, query_account
from collector.store.vpcs import to_item
from collector.store.writer import BatchWriter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def sweep_departed(config: Config, everyone: list[Account], options: RunOptions) -> int:
    """Mark items of accounts no longer ACTIVE or gone from the org (the fan-out dispatcher's
    share of a full-org run); returns how many were marked."""
    opts = options
    ddb = dynamodb_client(opts.session or boto3.Session(), config)
    writer = BatchWriter(ddb, config.table.name, retry=opts.retry)
    try:
        marked, _ = _mark_departed(
            ddb,
            config.table.name,
            writer,
            {a.id: a for a in everyone},
            opts.clock(),
            config.table.deleted_retention_days,
            opts.retry,
        )
    finally:
        stats = writer.close()
    if stats.failed:
        raise FatalError(f"{stats.failed} departed-account items could not be written")
    return marked


def mark_accounts_gone(
    config: Config, gone: Mapping[str, DeletionReason], options: RunOptions
) -> int:
    """Mark every live item of accounts known to be suspended or gone from the organization
    (a fan-out worker's accounts); returns how many were marked."""
    opts = options
    ddb = dynamodb_client(opts.session or boto3.Session(), config)
    now = opts.clock()
    writer = BatchWriter(ddb, config.table.name, retry=opts.retry)
    marked = 0
    try:
        for account_id, reason in gone.items():
            items = opts.retry.call(query_account, ddb, config.table.name, account_id)
            for vpc in items.vpcs:
                if not vpc.Deleted:
                    writer.add(
                        to_item(
                            mark_deleted(
                                vpc,
                                now=now,
                                reason=reason,
                                retention_days=config.table.deleted_retention_days,
                            )
                        )
                    )
                    marked += 1
    finally:
        stats = writer.close()
    if stats.failed:
        raise FatalError(f"{stats.failed} items of departed accounts could not be written")
    return marked


def departed_marks(
    vpcs: Iterable[Vpc], org: Mapping[str, Account], now: datetime, retention_days: int
) -> dict[tuple[str, str], Vpc]:
    """Pure: the live VPCs of accounts that left the org or are no longer ACTIVE, marked."""
    out = {}
    for vpc in vpcs:
        reason = None if vpc.Deleted else departed_reason(vpc.OwnerId, org)
        if reason is not None:
            out[vpc.key] = mark_deleted(vpc, now=now, reason=reason, retention_days=retention_days)
    return out


def _mark_departed(
    ddb: DynamoDBClient,
    table: str,
    writer: BatchWriter,
    org: dict[str, Account],
    now: datetime,
    retention_days: int,
    retry: RetryPolicy,
) -> tuple[int, list[UnreadableItem]]:
    """Mark live items of accounts that left the org or are no longer ACTIVE.

    Returns how many were marked and the items that could not be read (left as they are).
    """
    # Writes for this run must be settled before we read the table back.
    writer.flush()

    def departed() -> tuple[list[Vpc], list[UnreadableItem]]:
        items = Items()
        for raw in scan_items(ddb, table):
            if raw.get("Deleted", {}).get("BOOL", False):
                continue
            if departed_reason(raw.get("OwnerId", {}).get("S", ""), org) is not None:
                items.add(raw, VPCS)  # reservations and bookkeeping items are passed over
        return list(departed_marks(items.vpcs, org, now, retention_days).values()), items.unreadable

    try:
        # Read everything first, then write: a retried read never double-counts.
        marked, bad = retry.call(departed)
    except (ClientError, BotoCoreError) as exc:
        raise FatalError(f"cannot read table {table}: {error_code(exc)}") from None
    writer.add_all(to_item(v) for v in marked)
    return len(marked), bad
