"""Report — the page's data block (pure): one columnar structure that names each VPC once.

The page's script draws the overlap groups, accounts, IPv6 and inventory tables, the cell
details and the lookup from it. Everything else refers to a VPC by its row number here, and
repeated strings (accounts, regions, times, zones) are written once and referred to by number:
at 100,000 VPCs the page carried every VPC five times over (as map cells, group rows, account
rows, IPv6 rows and inventory rows) and weighed 112 MB.

The shape (the page's own, not a public contract; `columns` keeps the inventory's names):
`vpcs` holds one list per column, row i of each being VPC i in the inventory's order; `Account`,
`Region`, `State`, `FirstSeen`, `LastSeen` and `Stale` are indexes into `accounts`, `regions`,
`states`, `times`, `times` and `reasons`; a subnet is `[id, cidr, zone index, used %, name]`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from collector.analysis import Audit, Member
from collector.analysis.headroom import percent, subnet_use, used_pct
from collector.analysis.inventory import COLUMNS
from collector.analysis.overlaps import by_pair
from collector.cidrs import ipv6_span
from collector.models import Vpc, iso
from collector.report.addressmap import AccountStyles, Pool
from collector.report.text import by_severity


class Codes:
    """Distinct values in first-seen order, each referred to by its index."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[Hashable, int] = {}

    def __call__(self, value: Hashable) -> int:
        """The index of `value`, added if new."""
        i = self._index.get(value)
        if i is None:
            i = self._index[value] = len(self.values)
            self.values.append(value)
        return i


def page_data(
    audit: Audit, pools: Sequence[Pool], styles: AccountStyles, vpcs: Sequence[Vpc]
) -> dict[str, Any]:
    """Pure: the data block of the page for `audit`, whose map is `pools`; `vpcs`: the
    audit's VPCs in the inventory's order (`vpc_order`), as the map lists them."""
    row = {v.key: i for i, v in enumerate(vpcs)}
    stale = {(d["VpcId"], d["OwnerId"]): d["reason"] for d in audit.stale}
    accounts, regions, states, times, reasons, zones, names = (Codes() for _ in range(7))
    stamps: dict[Any, int] = {}  # datetime -> index in times (one iso() per distinct time)

    def when(t: Any) -> int:
        i = stamps.get(t)
        if i is None:
            i = stamps[t] = times(iso(t))
        return i

    columns: dict[str, list[Any]] = {
        c: []
        for c in (
            "VpcId",
            "Account",
            "Region",
            "Name",
            "CidrBlocks",
            "Ipv6CidrBlocks",
            "IsDefault",
            "State",
            "UsedPct",
            "FirstSeen",
            "LastSeen",
            "Stale",
            "Subnets",
        )
    }
    for v in vpcs:
        columns["VpcId"].append(v.VpcId)
        columns["Account"].append(accounts((v.OwnerId, v.AccountName)))
        columns["Region"].append(regions(v.Region))
        columns["Name"].append(v.Name)
        columns["CidrBlocks"].append(list(v.CidrBlocks))
        columns["Ipv6CidrBlocks"].append(list(v.Ipv6CidrBlocks))
        columns["IsDefault"].append(int(v.IsDefault))
        columns["State"].append(states("deleted" if v.Deleted else v.State))
        use = [subnet_use(s) for s in v.Subnets]  # once, for the VPC's figure and each subnet's
        columns["UsedPct"].append(used_pct(use))
        columns["FirstSeen"].append(when(v.FirstSeen))
        columns["LastSeen"].append(when(v.LastSeen))
        columns["Stale"].append(reasons(stale.get(v.key)))
        columns["Subnets"].append(
            [
                [s.SubnetId, s.CidrBlock, zones(s.AvailabilityZone), percent(used, room)]
                + ([names(s.Name)] if s.Name else [])
                for s, (room, used) in zip(v.Subnets, use, strict=True)
            ]
        )
    return {
        "columns": list(COLUMNS),  # the inventory's columns, in its order
        "vpcs": columns,
        "accounts": [[owner, name, styles.fill(owner)] for owner, name in accounts.values],
        "regions": regions.values,
        "states": states.values,
        "times": times.values,
        "reasons": reasons.values,
        "zones": zones.values,
        "subnet_names": names.values,
        "cells": _cells(pools, row),
        "groups": _groups(audit, row),
        "ipv6": _ipv6(vpcs),
    }


def _cells(pools: Sequence[Pool], row: dict[tuple[str, str], int]) -> dict[str, Any]:
    """Each occupied cell: its VPCs as [row, block], its reserved ranges and reservations."""
    cells: dict[str, Any] = {}
    for pi, p in enumerate(pools):
        for c in p.cells:
            if not c.free:
                cells[f"{pi}:{c.index}"] = {
                    "vpcs": [[row[v["VpcId"], v["OwnerId"]], v["Cidr"]] for v in c.vpcs],
                    "reserved": c.reserved,
                    "reservations": c.reservations,
                }
    return cells


def _groups(audit: Audit, row: dict[tuple[str, str], int]) -> list[list[Any]]:
    """Each overlap group, most severe first: [severity, span, members, conflict lines]; a
    member is [row, block], or [null, block, reserved range name]."""
    out = []
    for g in by_severity(audit.overlap_groups):
        members = [
            [None, m.cidr, m.reserved] if m.vpc is None else [row[m.vpc.key], m.cidr]
            for m in g.members
        ]
        lines = [
            f"conflict: {_side(a)} ↔ {_side(b)} — reached at "
            + "; ".join(f"{c.network.describe(c.at)} via {', '.join(c.via)}" for c in found)
            for a, b, found in by_pair(g.conflicts)
        ]
        out.append([g.severity, g.span, members, lines])
    return out


def _side(m: Member) -> str:
    if m.vpc is None:
        return f"reserved {m.reserved} ({m.cidr})"
    name = f' "{m.vpc.Name}"' if m.vpc.Name else ""
    return f"{m.vpc.VpcId}{name} ({m.cidr}, {m.vpc.OwnerId})"


def _ipv6(vpcs: Iterable[Vpc]) -> list[list[Any]]:
    """IPv6 blocks by the /48 they fall in (Amazon hands out /56s; BYOIP pools are /48s):
    [[pool, [[block, row], ...]], ...], both in address order."""
    by_pool: dict[tuple[int, int], list[tuple[int, int, str, str, int]]] = defaultdict(list)
    for i, v in enumerate(vpcs):
        for block in v.Ipv6CidrBlocks:
            first, last = ipv6_span(block)
            prefix = 128 - (last - first).bit_length()
            size = min(48, prefix)
            pool = (first >> (128 - size) << (128 - size), size)
            by_pool[pool].append((first, prefix, v.VpcId, block, i))
    return [
        [pool_text(*pool), [[block, i] for *_, block, i in sorted(by_pool[pool])]]
        for pool in sorted(by_pool)
    ]


def pool_text(first: int, prefix: int) -> str:
    """Pure: an IPv6 network as `ipaddress` prints it (the text every other output uses),
    printed by the C library: an `ipaddress` object per /48 took 0.4 s at 100k VPCs. Both
    follow RFC 5952, except that the C library writes a dotted quad where `ipaddress` writes
    hex (IPv4-mapped and -compatible addresses): those go through `ipaddress`."""
    address = socket.inet_ntop(socket.AF_INET6, first.to_bytes(16, "big"))
    if "." in address:
        return str(ipaddress.IPv6Network((first, prefix)))
    return f"{address}/{prefix}"
