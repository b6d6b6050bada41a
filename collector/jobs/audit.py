"""Job — audit: read the table (or scan live into memory) and analyse it into one `Audit`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import boto3

from collector.analysis import Audit, Connections, build_audit
from collector.analysis.headroom import HeadroomLimits
from collector.analysis.stale import Scope
from collector.config import Config, ConfigError
from collector.errors import RetryPolicy, reading_table
from collector.hub import hub_session
from collector.jobs.collect import list_target_accounts, run
from collector.jobs.lean import for_audit
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.summary import RunSummary
from collector.store.registry import (
    CONNECTIONS,
    PAGE_ATTRIBUTES,
    RESERVATIONS,
    VPCS,
    Items,
    WithoutSubnets,
    load_items,
    load_without_subnets,
)
from collector.store.table import check_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def run_audit(
    config: Config,
    *,
    live: bool = False,
    accounts: Sequence[str] = (),
    include_default: bool = False,
    severity: str | None = None,
    options: RunOptions | None = None,
    inventory: Items | None = None,
    subnets: bool = True,
    connections: Connections | None = None,
) -> tuple[Audit, RunSummary | None]:
    """Audit the table (or, with `live`, a fresh in-memory collection that writes nothing).

    `accounts` keeps only findings involving those accounts; the whole organization is still
    read, because an overlap is always between an account and someone else. Without `subnets`
    the table's VPCs are read without their subnets and tags, but for those its findings name:
    enough for every output but the HTML page, and most of the read's bytes. `connections`:
    those of `inventory`, merged already (a recording merges them once for its audit and its
    scope).
    """
    opts = options or RunOptions()
    summary = None
    if live:
        if accounts:  # refused as collect and check refuse them (not in the org, excluded)
            list_target_accounts(opts.session or hub_session(), config, accounts, opts.retry)
        summary = run(config, replace(opts, write=False, accounts=()))
        items = Items(
            vpcs=summary.records,
            connectivity=summary.connectivity,
            route_tables=summary.route_tables,
        )
    else:
        items = (
            inventory
            if inventory is not None
            else read_inventory(
                config, opts.session, opts.retry, without=None if subnets else for_audit(config)
            )
        )
        known_accounts(items, accounts)
    audit = build_audit(
        items.vpcs,
        config.reserved_cidrs,
        now=opts.clock(),
        include_default=include_default,
        accounts=accounts,
        unreadable=items.unreadable,
        reservations=items.reservations,
        connections=(
            connections
            if connections is not None
            else Connections.of(items.connectivity, items.route_tables)
        ),
        severity=severity,
        limits=limits_of(config),
        expected=config.overlaps.expected,
        scope=Scope.of(config),
        address_use=items.address_use,
    )
    return audit, summary


def known_accounts(items: Items, accounts: Sequence[str]) -> None:
    """ConfigError for an account the table holds nothing of (no VPC, no scanned target): a
    typo, or an account outside the organization, would otherwise read as "no findings"."""
    known = {v.OwnerId for v in items.vpcs} | {c.OwnerId for c in items.connectivity}
    for account in accounts:
        if account not in known:
            raise ConfigError(
                f"--account {account}: nothing of this account in the table (not an account of "
                f"this organization, or never collected: `vpctracker collect --account {account}`)"
            )


def limits_of(config: Config) -> HeadroomLimits:
    """The headroom thresholds of a config."""
    return HeadroomLimits(config.headroom.used_pct, config.headroom.subnet_free_pct)


def read_inventory(
    config: Config,
    session: boto3.Session | None = None,
    retry: RetryPolicy | None = None,
    *,
    without: WithoutSubnets | None = None,
) -> Items:
    """Every VPC and reservation item of the table, and the items that could not be read
    (reported by callers, never silently dropped), in one pass; FatalError/TableMissingError
    when the table cannot be read. `without` as in `read_table`."""
    ddb = dynamodb_client(session or hub_session(), config)
    return read_table(ddb, config, retry, without=without)


def read_table(
    ddb: DynamoDBClient,
    config: Config,
    retry: RetryPolicy | None = None,
    stop: Callable[[], bool] | None = None,
    *,
    without: WithoutSubnets | None = None,
    checked: bool = False,
) -> Items:
    """`read_inventory` through a client the caller made (a boto3 session is not thread-safe:
    a thread reading beside other work is handed its client); `stop` as in `load_items`.
    Items as the HTML page reads them (`PAGE_ATTRIBUTES`: whole but for each VPC's tags and
    stored use), or with `without`, VPC items read as it says
    (`store.registry.load_without_subnets`). `checked`: the caller's run has just checked the
    table (`check_table`), so it is not described again. Never for a reader that writes an
    item back: it would write it without its tags."""
    retry = retry or RetryPolicy()
    kinds = VPCS | RESERVATIONS | CONNECTIONS
    with reading_table(config.table.name):
        if not checked:
            retry.call(check_table, ddb, config.table.name)
        if without is None:
            items = retry.call(
                load_items, ddb, config.table.name, kinds, PAGE_ATTRIBUTES, stop=stop
            )
        else:
            items = retry.call(
                load_without_subnets, ddb, config.table.name, kinds, without, stop=stop
            )
    return items
