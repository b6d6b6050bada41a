"""Job — collect, the departed sweep: items of accounts suspended or gone from the organization
are marked deleted, once Organizations confirms it.

A run lists the organization when it starts; an account created (or reinstated) since is not on
that list, and a `check` or a live event may have written its VPC meanwhile. Marking it would
make `lookup` say free and `allocate` hand out its range. So an account is marked only when
`DescribeAccount`, asked at sweep time, says it is suspended or not a member; and an item whose
`LastSeen` is not older than the run itself (a scan that started after this run did) is never
marked by it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

import boto3

from collector.config import Config
from collector.errors import FatalError, RetryPolicy, reading_table
from collector.hub import hub_session
from collector.jobs.options import RunOptions, dynamodb_client
from collector.lifecycle import mark_deleted
from collector.models import Account, DeletionReason, Vpc
from collector.organization import describe_account
from collector.scan import client_config
from collector.store.reader import scan_items
from collector.store.registry import (
    SWEEP_ATTRIBUTES,
    Items,
    live_vpc_keys,
    query_account,
    read_keys,
    scan_time_keys,
)
from collector.store.vpcs import shrink, vpc_items
from collector.store.writer import BatchWriter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ACCOUNT_LOOKUPS = 16  # DescribeAccount calls in flight at once


def candidates(vpcs: Iterable[Vpc], org: Mapping[str, Account]) -> set[str]:
    """Pure: owners of live VPCs that the run's listing does not show ACTIVE."""
    out = set()
    for v in vpcs:
        if not v.Deleted:
            account = org.get(v.OwnerId)
            if account is None or account.status != "ACTIVE":
                out.add(v.OwnerId)
    return out


def confirm_departed(
    session: boto3.Session, config: Config, account_ids: Iterable[str], retry: RetryPolicy
) -> dict[str, DeletionReason]:
    """Which of these accounts Organizations says, now, are suspended or not members (16
    `DescribeAccount` calls side by side); an ACTIVE one is left out."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    org = session.client(
        "organizations", region_name=config.table.region, config=client_config(ACCOUNT_LOOKUPS)
    )
    with ThreadPoolExecutor(min(len(ids), ACCOUNT_LOOKUPS)) as pool:
        found = list(pool.map(lambda a: retry.call(describe_account, org, a), ids))
    out: dict[str, DeletionReason] = {}
    for account_id, account in zip(ids, found, strict=True):
        if account is None:
            out[account_id] = "account-left-org"
        elif account.status != "ACTIVE":
            out[account_id] = "account-suspended"
    return out


def departed_marks(
    vpcs: Iterable[Vpc],
    gone: Mapping[str, DeletionReason],
    now: datetime,
    retention_days: int,
    *,
    seen_before: datetime | None = None,
) -> dict[tuple[str, str], Vpc]:
    """Pure: the live VPCs of confirmed departed accounts, marked; with `seen_before`, only
    those last seen by a scan that started before it (never what a later scan wrote)."""
    out = {}
    for vpc in vpcs:
        reason = None if vpc.Deleted else gone.get(vpc.OwnerId)
        if reason is None or (seen_before is not None and vpc.LastSeen >= seen_before):
            continue
        out[vpc.key] = mark_deleted(vpc, now=now, reason=reason, retention_days=retention_days)
    return out


def sweep(
    session: boto3.Session,
    config: Config,
    vpcs: Sequence[Vpc],
    org: Mapping[str, Account],
    *,
    now: datetime,
    run_started: datetime,
    retry: RetryPolicy,
    lean: Collection[tuple[str, str]] = frozenset(),
    read_whole: Callable[[Sequence[tuple[str, str]]], Sequence[Vpc]] | None = None,
) -> dict[tuple[str, str], Vpc]:
    """The marks of a full run's sweep: the live VPCs of accounts the listing no longer shows
    ACTIVE and Organizations confirms gone, seen before the run started.

    The VPCs keyed in `lean` were read without their tags (and maybe their subnets): their
    marks are made from their whole items, read by key through `read_whole`, since a mark is
    written back whole. One that does not come back whole, or that a later scan saw
    meanwhile, is left for the next run."""
    gone = confirm_departed(session, config, candidates(vpcs, org), retry)
    retention = config.table.deleted_retention_days
    marks = departed_marks(vpcs, gone, now, retention, seen_before=run_started)
    again = [key for key in marks if key in lean]
    if not again:
        return marks
    if read_whole is None:
        raise ValueError("VPCs read without their subnets need `read_whole` to be marked")
    whole = departed_marks(read_whole(again), gone, now, retention, seen_before=run_started)
    return {k: v for k, v in marks.items() if k not in lean} | {
        k: whole[k] for k in again if k in whole
    }


def _write(ddb: DynamoDBClient, config: Config, marked: Iterable[Vpc], retry: RetryPolicy) -> int:
    """Write marked items; FatalError when some could not be."""
    n = 0
    with BatchWriter(ddb, config.table.name, retry=retry, shrink=shrink) as writer:
        for vpc in marked:
            writer.add_all(vpc_items(vpc, vpc.ExpiresAt or 0))
            n += 1
    if writer.stats.failed:
        raise FatalError(f"{writer.stats.failed} items of departed accounts could not be written")
    return n


def sweep_departed(config: Config, everyone: list[Account], options: RunOptions) -> int:
    """Mark items of accounts no longer ACTIVE or gone from the org (the fan-out dispatcher's
    share of a full-org run); returns how many were marked."""
    opts = options
    session = opts.session or hub_session()
    ddb = dynamodb_client(session, config)
    started = opts.clock()
    org = {a.id: a for a in everyone}

    def departed(owner: str) -> bool:
        account = org.get(owner)
        return account is None or account.status != "ACTIVE"

    def live_of_others() -> Items:
        # Every item's key and lifecycle only; the live VPC items of accounts not ACTIVE in the
        # listing (and their parts) are then read whole, by key, to be marked and written back.
        raws = scan_items(ddb, config.table.name, attributes=SWEEP_ATTRIBUTES)
        keys = live_vpc_keys(raws, departed)
        if not keys:
            return Items()
        # With their accounts' scan times: a mark keeps when the VPC was last seen.
        every = [*keys, *scan_time_keys(keys)]
        return read_keys(ddb, config.table.name, every, "items of departed accounts")

    with reading_table(config.table.name):
        # Read everything first, then write: a retried read never double-counts.
        items = opts.retry.call(live_of_others)
    marks = sweep(
        session, config, items.vpcs, org, now=started, run_started=started, retry=opts.retry
    )
    return _write(ddb, config, marks.values(), opts.retry)


def mark_accounts_gone(
    config: Config, gone: Mapping[str, DeletionReason], options: RunOptions
) -> int:
    """Mark every live item of accounts known to be suspended or gone from the organization
    (a fan-out worker's accounts); returns how many were marked."""
    opts = options
    ddb = dynamodb_client(opts.session or hub_session(), config)
    vpcs = [
        v
        for account_id in gone
        for v in opts.retry.call(query_account, ddb, config.table.name, account_id).vpcs
    ]
    marks = departed_marks(vpcs, gone, opts.clock(), config.table.deleted_retention_days)
    return _write(ddb, config, marks.values(), opts.retry)
