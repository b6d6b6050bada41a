"""Job — allocate: the next free block of a pool from one table read, optionally reserved."""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from collector.analysis import Connections, IPNetwork, domain_blocks, first_free, vpc_blocks
from collector.config import ConfigError, ReservedCidr
from collector.errors import FatalError, RetryPolicy
from collector.models import Connectivity, Reservation, TgwRouteTable, Vpc
from collector.store.registry import BLOCK_ATTRIBUTES, CONNECTIONS, RESERVATIONS, VPCS, load_items
from collector.store.reservations import allocation_version, put_reservation

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class PoolExhaustedError(Exception):
    """The pool has no free block of the requested size."""


@dataclass(frozen=True)
class Allocation:
    """The result of `allocate`; `reservation` is set when it was reserved."""

    cidr: str
    pool: str
    prefix_length: int
    reservation: Reservation | None = None


def used_blocks(
    vpcs: Iterable[Vpc],
    reserved: Iterable[ReservedCidr],
    reservations: Iterable[Reservation],
    now: datetime,
) -> list[IPNetwork]:
    """Address space taken: live VPC blocks (defaults too), reserved ranges, active reservations."""
    out: list[IPNetwork] = [
        ipaddress.ip_network(c) for v in vpcs if not v.Deleted for c in vpc_blocks(v)
    ]
    out.extend(ipaddress.ip_network(r.cidr) for r in reserved)
    out.extend(ipaddress.ip_network(r.cidr) for r in reservations if r.active(now))
    return out


def in_domain(
    network: str,
    vpcs: list[Vpc],
    connectivity: list[Connectivity],
    route_tables: list[TgwRouteTable],
) -> list[Vpc]:
    """The live VPCs that share a routing domain with `network` (a VPC or a TGW route table):
    the only ones a new VPC connected to it can conflict with."""
    live = [v for v in vpcs if not v.Deleted]
    blocks = {v.key: vpc_blocks(v) for v in live}
    domain = domain_blocks(network, Connections.of(connectivity, route_tables), blocks)
    if domain is None:
        raise ConfigError(f"--connected-to {network}: not a live VPC or known TGW route table")
    keys, _ = domain
    return [v for v in live if v.key in keys]


def check_pool(pool: IPNetwork, prefix_length: int, reserved: Iterable[ReservedCidr]) -> None:
    """Raise ConfigError for a prefix length outside the pool or a pool inside a reserved range."""
    if not pool.prefixlen <= prefix_length <= pool.max_prefixlen:
        raise ConfigError(
            f"--prefix-length {prefix_length}: outside pool {pool} "
            f"(must be {pool.prefixlen}-{pool.max_prefixlen})"
        )
    for r in reserved:
        rnet = ipaddress.ip_network(r.cidr)
        if rnet.version == pool.version and pool.subnet_of(rnet):  # type: ignore[arg-type]
            raise ConfigError(
                f"--pool {pool}: lies entirely within reserved range {r.cidr} ({r.name})"
            )


def allocate(
    ddb: DynamoDBClient,
    table: str,
    *,
    pool: IPNetwork,
    prefix_length: int,
    reserved: list[ReservedCidr],
    now: Callable[[], datetime],
    reserve_for: str | None = None,
    note: str = "",
    ttl_hours: float = 72.0,
    connected_to: str | None = None,
    max_attempts: int = 25,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
) -> Allocation:
    """Find (and with `reserve_for`, reserve) the lowest free block of the pool.

    Reserving is optimistic: read the allocation counter, compute from a fresh snapshot, then
    write counter+reservation in one conditional transaction; on a lost race, start again.
    """
    check_pool(pool, prefix_length, reserved)
    retry = retry or RetryPolicy()
    for attempt in range(max_attempts):
        version = retry.call(allocation_version, ddb, table) if reserve_for else 0
        if connected_to:
            items = retry.call(load_items, ddb, table, VPCS | RESERVATIONS | CONNECTIONS)
        else:
            # Blocks only: VPCs decoded without their subnets and tags (never written back).
            items = retry.call(load_items, ddb, table, VPCS | RESERVATIONS, BLOCK_ATTRIBUTES)
        if items.unreadable:
            # Its range might be in use: handing out blocks as if it were free is the one
            # wrong answer an allocator must never give.
            bad = items.unreadable[0]
            more = f" (and {len(items.unreadable) - 1} more)" if len(items.unreadable) > 1 else ""
            raise FatalError(
                f"table item {bad} could not be read ({bad.reason}){more}; refusing to allocate "
                "while a range might be in use: fix or delete the item"
            )
        ts = now()
        vpcs = items.vpcs
        if connected_to:
            vpcs = in_domain(connected_to, items.vpcs, items.connectivity, items.route_tables)
        block = first_free(pool, prefix_length, used_blocks(vpcs, reserved, items.reservations, ts))
        if block is None:
            raise PoolExhaustedError(f"pool {pool} has no free /{prefix_length}")
        if reserve_for is None:
            return Allocation(str(block), str(pool), prefix_length)
        res = Reservation(
            cidr=str(block),
            owner=reserve_for,
            reserved_at=ts,
            note=note,
            expires_at=int((ts + timedelta(hours=ttl_hours)).timestamp()),
        )
        if retry.call(put_reservation, ddb, table, res, version):
            return Allocation(str(block), str(pool), prefix_length, res)
        # Lost the race to another allocator: back off a little, with jitter, and recompute.
        sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
    raise FatalError(f"could not reserve a block after {max_attempts} attempts (contention)")
