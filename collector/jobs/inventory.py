"""Job — inventory: every VPC the table holds, one row each, sorted by account, region and
address, from one table read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector.analysis.inventory import inventory_of, summary_of
from collector.analysis.stale import Scope
from collector.config import Config
from collector.jobs.audit import known_accounts, read_inventory
from collector.jobs.options import RunOptions
from collector.models import UnreadableItem, iso
from collector.store.registry import WithoutSubnets


def run_inventory(
    config: Config,
    *,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
    cidr: str | None = None,
    include_deleted: bool = False,
    options: RunOptions | None = None,
) -> tuple[dict[str, Any], list[UnreadableItem]]:
    """The inventory (the `inventory --format json` shape) from one table read, and the items
    that could not be read (the caller exits 2 when there are any)."""
    opts = options or RunOptions()
    # Each VPC's subnets are read as their stored use (its counts and `UsedPct`), not whole.
    without = WithoutSubnets(deleted=include_deleted)
    items = read_inventory(config, opts.session, opts.retry, without=without)
    known_accounts(items, accounts)
    rows = inventory_of(
        items.vpcs,
        Scope.of(config),
        accounts=accounts,
        regions=regions,
        cidr=cidr,
        include_deleted=include_deleted,
        uses=items.address_use,
    )
    shape = {
        "generated_at": iso(opts.clock()),
        "vpcs": rows,
        "summary": summary_of(rows),
        "unreadable_items": [u.to_dict() for u in items.unreadable],
    }
    return shape, items.unreadable
