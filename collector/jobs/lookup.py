"""Job — lookup: who holds an address or a CIDR, from one table read or a live scan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from collector.analysis.lookup import BlockIndex, LookupResult, lookup
from collector.analysis.overlaps import IPNetwork
from collector.analysis.stale import Scope, partition
from collector.config import Config, ConfigError
from collector.errors import FatalError
from collector.jobs.audit import read_inventory
from collector.jobs.collect import run
from collector.jobs.options import RunOptions
from collector.jobs.summary import RunSummary
from collector.store.registry import Items

if TYPE_CHECKING:
    pass


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
    else:
        items = read_inventory(config, opts.session, opts.retry)
        if items.unreadable:
            # An unreadable item might be the owner: "free" could be wrong.
            bad = items.unreadable[0]
            raise FatalError(
                f"table item {bad} could not be read ({bad.reason}); cannot tell who holds "
                f"{query}: fix or delete the item"
            )
    now = opts.clock()
    _, old = partition(items.vpcs, Scope.of(config))
    result = lookup(
        query,
        BlockIndex(items.vpcs),
        config.reserved_cidrs,
        [r for r in items.reservations if r.active(now)],
        stale={v.key: why for v, why in old},
    )
    return result, summary
