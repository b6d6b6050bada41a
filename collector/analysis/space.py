"""Default VPCs and free address space (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from collector.analysis.lookup import BlockIndex
from collector.cidrs import IPNetwork
from collector.models import Reservation, Vpc, iso


def default_vpcs(vpcs: Iterable[Vpc]) -> list[Vpc]:
    """Live default VPCs, sorted by account and region."""
    return sorted(
        (v for v in vpcs if v.IsDefault and not v.Deleted),
        key=lambda v: (v.OwnerId, v.Region, v.VpcId),
    )


def reservation_overlaps(
    index: BlockIndex, reservations: Iterable[Reservation], now: datetime
) -> list[dict[str, Any]]:
    """Pure: live VPC blocks inside (or over) an active reservation of another account: a VPC
    built where `allocate` had promised the range to someone else. The owner's own VPCs in its
    reservation are not findings (its matching VPC releases the reservation)."""
    out = []
    for r in sorted(reservations, key=lambda r: r.cidr):
        if not r.active(now):
            continue
        for cidr, vpc in index.overlapping(ipaddress.ip_network(r.cidr)):
            if vpc.OwnerId != r.owner:
                out.append(
                    {
                        "Cidr": r.cidr,
                        "ReservedFor": r.owner,
                        "ReservedUntil": iso(datetime.fromtimestamp(r.expires_at, now.tzinfo)),
                        "VpcId": vpc.VpcId,
                        "OwnerId": vpc.OwnerId,
                        "AccountName": vpc.AccountName,
                        "Region": vpc.Region,
                        "VpcCidr": cidr,
                    }
                )
    return out


def first_free(pool: IPNetwork, prefix_length: int, used: Iterable[IPNetwork]) -> IPNetwork | None:
    """Lowest-addressed block of `prefix_length`, aligned, inside `pool`, overlapping no `used`.

    O(n log n) in the number of used blocks: sort by start, then walk a candidate upwards,
    jumping past each used block it hits. None when the pool has no such free block.
    """
    if prefix_length < pool.prefixlen or prefix_length > pool.max_prefixlen:
        raise ValueError(
            f"prefix length {prefix_length} is outside {pool} "
            f"(must be {pool.prefixlen}-{pool.max_prefixlen})"
        )
    size = 1 << (pool.max_prefixlen - prefix_length)
    pool_start = int(pool.network_address)
    pool_end = pool_start + pool.num_addresses - 1
    spans = sorted(
        (int(u.network_address), int(u.network_address) + u.num_addresses - 1)
        for u in used
        if u.version == pool.version
    )
    candidate = pool_start
    for start, end in spans:
        if end < candidate:
            continue
        if start > candidate + size - 1:
            break  # the candidate ends before this used block starts: it is free
        # Overlap: next aligned candidate after the used block.
        candidate = (end // size + 1) * size
        if candidate + size - 1 > pool_end:
            return None
    if candidate + size - 1 > pool_end:
        return None
    net_cls = ipaddress.IPv4Network if pool.version == 4 else ipaddress.IPv6Network
    return net_cls((candidate, prefix_length))
