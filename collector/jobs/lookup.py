"""Job — lookup: who holds an address or a CIDR, from one table read or a live scan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from collector.analysis.lookup import BlockIndex, LookupResult, lookup
from collector.analysis.stale import Scope, partition
from collector.cidrs import IPNetwork
from collector.config import Config, ConfigError
from collector.errors import FatalError, reading_table
from collector.hub import hub_session
from collector.jobs.audit import read_table
from collector.jobs.collect import run
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.summary import RunSummary
from collector.models import Vpc
from collector.store.registry import Items, WithoutSubnets, read_keys
from collector.store.scanned import derive

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def run_lookup(
    config: Config,
    query: IPNetwork,
    *,
    live: bool = False,
    accounts: Sequence[str] = (),
    options: RunOptions | None = None,
) -> tuple[LookupResult, RunSummary | None]:
    """Who holds `query`: from one table read (or, with `live`, a fresh in-memory scan of
    `accounts`, which knows no reservations)."""
    opts = options or RunOptions()
    summary = None
    if live:
        if not accounts:
            raise ConfigError("lookup --live needs at least one --account")
        summary = run(config, replace(opts, write=False, accounts=accounts))
        items = Items(vpcs=summary.records)
        index = BlockIndex(items.vpcs)
    else:
        # The table is read without subnets and tags (issue 26: a read path built for 100k
        # VPCs); only the VPCs holding the queried space are then read whole, for the subnets
        # the answer names.
        ddb = dynamodb_client(opts.session or hub_session(), config)
        items = read_table(ddb, config, opts.retry, without=WithoutSubnets(use=False))
        _refuse_unreadable(items, query)
        index = BlockIndex(_whole(ddb, config, opts, items, BlockIndex(items.vpcs), query))
    now = opts.clock()
    _, old = partition(items.vpcs, Scope.of(config))
    result = lookup(
        query,
        index,
        config.reserved_cidrs,
        [r for r in items.reservations if r.active(now)],
        stale={v.key: why for v, why in old},
    )
    return result, summary


def _refuse_unreadable(items: Items, query: IPNetwork) -> None:
    if items.unreadable:
        # An unreadable item might be the owner: "free" could be wrong.
        bad = items.unreadable[0]
        raise FatalError(
            f"table item {bad} could not be read ({bad.reason}); cannot tell who holds "
            f"{query}: fix or delete the item"
        )


def _whole(
    ddb: DynamoDBClient,
    config: Config,
    opts: RunOptions,
    items: Items,
    index: BlockIndex,
    query: IPNetwork,
) -> list[Vpc]:
    """The VPCs with a block overlapping `query`, with their subnets: those read without
    them (`items.without_subnets`) read again whole by key."""
    held = {vpc.key: vpc for _, vpc in index.overlapping(query)}
    again = sorted(k for k in held if k in items.without_subnets)
    if not again:
        return list(held.values())
    with reading_table(config.table.name):
        fresh = opts.retry.call(
            read_keys, ddb, config.table.name, again, f"VPC items holding {query}"
        )
    _refuse_unreadable(fresh, query)
    # As the first read said when they were last seen (a read by key has no scan times).
    whole = {v.key: v for v in derive(fresh.vpcs, items.scanned)}
    if set(whole) != set(again):
        # Gone from the table between the two reads (a sweep's delete, its TTL): an answer
        # without its subnets would be a guess. (One split into parts meanwhile is read
        # incomplete, and refused above as unreadable.)
        missing = sorted(set(again) - set(whole))[0]
        raise FatalError(
            f"VPC {missing[0]} of {missing[1]} changed while it was read; run lookup again"
        )
    held.update(whole)
    return list(held.values())
