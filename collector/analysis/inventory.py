"""The inventory (pure): every VPC as one row, the tracking the tool is for (the audit lists only
findings); shared by `vpctracker inventory` and the HTML report."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from collector.address_use import AddressUse
from collector.analysis.headroom import percent, utilization_pct
from collector.analysis.stale import Scope, partition
from collector.cidrs import ipv4_span, ipv6_span
from collector.models import Vpc, iso

COLUMNS = (
    "VpcId",
    "OwnerId",
    "AccountName",
    "Region",
    "Name",
    "CidrBlocks",
    "Ipv6CidrBlocks",
    "IsDefault",
    "State",
    "Subnets",
    "AvailabilityZones",
    "UsedPct",
    "FirstSeen",
    "LastSeen",
    "Stale",
)


def inventory_row(vpc: Vpc, stale: str | None, use: AddressUse | None = None) -> dict[str, Any]:
    """Pure: one VPC as the inventory shows it (a public JSON shape); `use`, its stored address
    use when it was read without its subnets."""
    if use is not None:
        subnets, zones = use.subnet_count, len(use.azs)
        used = percent(use.used, use.usable) if use.subnet_count else None
    else:
        subnets, zones = len(vpc.Subnets), len({s.AvailabilityZone for s in vpc.Subnets})
        used = utilization_pct(vpc)
    return {
        "VpcId": vpc.VpcId,
        "OwnerId": vpc.OwnerId,
        "AccountName": vpc.AccountName,
        "Region": vpc.Region,
        "Name": vpc.Name,
        "CidrBlocks": list(vpc.CidrBlocks),
        "Ipv6CidrBlocks": list(vpc.Ipv6CidrBlocks),
        "IsDefault": vpc.IsDefault,
        "State": "deleted" if vpc.Deleted else vpc.State,
        "Subnets": subnets,
        "AvailabilityZones": zones,
        # Of the usable addresses in its subnets; none without subnets.
        "UsedPct": used,
        "FirstSeen": iso(vpc.FirstSeen),
        "LastSeen": iso(vpc.LastSeen),
        "Stale": stale,
    }


def vpc_order(v: Vpc) -> tuple[str, str, int, int, str]:
    """The inventory's order: account, region, then address."""
    # Spans, not `ipaddress` objects: this sorts every VPC of the page and of `inventory`.
    if ":" in v.CidrBlock:
        return v.OwnerId, v.Region, 6, ipv6_span(v.CidrBlock)[0], v.VpcId
    return v.OwnerId, v.Region, 4, ipv4_span(v.CidrBlock)[0], v.VpcId


def inventory_of(
    vpcs: Sequence[Vpc],
    scope: Scope,
    *,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
    cidr: str | None = None,
    include_deleted: bool = False,
    uses: Mapping[tuple[str, str], AddressUse] | None = None,
) -> list[dict[str, Any]]:
    """Pure: the rows of the VPCs that match, sorted by account, region then address (`uses`:
    the stored address use of VPCs read without their subnets, by key)."""
    uses = uses or {}
    _, old = partition(vpcs, scope)
    stale = {v.key: why for v, why in old}
    query = ipaddress.ip_network(cidr) if cidr else None
    rows = []
    for v in sorted(vpcs, key=vpc_order):
        if (v.Deleted and not include_deleted) or (accounts and v.OwnerId not in accounts):
            continue
        if regions and v.Region not in regions:
            continue
        if query is not None and not any(
            (n := ipaddress.ip_network(b)).version == query.version and n.overlaps(query)
            for b in (*v.CidrBlocks, *v.Ipv6CidrBlocks)
        ):
            continue
        rows.append(inventory_row(v, stale.get(v.key), uses.get(v.key)))
    return rows


def summary_of(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The inventory's counts."""
    live = [r for r in rows if r["State"] != "deleted"]
    return {
        "vpcs": len(live),
        "accounts": len({r["OwnerId"] for r in live}),
        "regions": len({r["Region"] for r in live}),
        "default_vpcs": sum(r["IsDefault"] for r in live),
    }


def audit_rows(vpcs: Sequence[Vpc], stale: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pure: the inventory rows of an audit's VPCs (every live one; `stale`: the audit's stale
    list, whose reasons mark them), in the inventory's order."""
    why = {(d["VpcId"], d["OwnerId"]): d["reason"] for d in stale}
    return [inventory_row(v, why.get(v.key)) for v in sorted(vpcs, key=vpc_order) if not v.Deleted]
