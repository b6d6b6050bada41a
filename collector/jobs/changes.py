"""Job — changes: what appeared, disappeared or changed since a time (one Query)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collector.config import Config
from collector.errors import reading_table
from collector.hub import hub_session
from collector.jobs.options import RunOptions, dynamodb_client
from collector.models import iso
from collector.store.registry import query_changes
from collector.store.table import check_table


def run_changes(
    config: Config, since: datetime, options: RunOptions | None = None
) -> dict[str, Any]:
    """What appeared, disappeared or changed since `since` (the `changes` JSON shape)."""
    opts = options or RunOptions()
    ddb = dynamodb_client(opts.session or hub_session(), config)
    until = opts.clock()
    out: list[dict[str, Any]] = []
    # The ledger holds them; the inventory table those the previous version wrote, until the
    # first recording after the upgrade moves them.
    for table in (config.table.ledger, config.table.name):
        with reading_table(table):
            opts.retry.call(check_table, ddb, table)
            items = opts.retry.call(query_changes, ddb, table, iso(since), iso(until))
        out += items.changes
    out.sort(key=lambda c: str(c["time"]))
    return {"since": iso(since), "until": iso(until), "changes": out}
