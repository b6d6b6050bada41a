"""The HTML audit report: one self-contained page (inline CSS, JS and SVG; no network fetch).

The map's data is computed here, in pure functions (`map_pools`, `account_color`), and drawn
as inline SVG; the page's script only adds the cell details on hover/click and the filter.
"""

from __future__ import annotations

import html
import ipaddress
import json
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from collector.analysis import Audit, IPNetwork, OverlapGroup, vpc_blocks
from collector.config import ReservedCidr
from collector.models import Vpc, iso

# Where VPCs usually live: the RFC 1918 ranges and the shared (CGNAT) space.
STANDARD_POOLS = [
    ipaddress.IPv4Network(c)
    for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
]
CELLS_PER_POOL_BITS = 8  # 256 cells: one /16 of a /8, one /20 of a /12, one /24 of a /16
SIDE = 16  # cells per row


def account_color(account_id: str) -> str:
    """A stable, distinct-enough color per account (same account, same color, every report)."""
    hue = zlib.crc32(account_id.encode()) % 360
    return f"hsl({hue}, 62%, 52%)"


@dataclass
class Cell:
    """One block of a pool's grid and what occupies it."""

    index: int
    cidr: str
    vpcs: list[dict[str, str]] = field(default_factory=list)
    accounts: set[str] = field(default_factory=set)
    reserved: list[str] = field(default_factory=list)
    clash: bool = False

    @property
    def color(self) -> str | None:
        """The owning account's color; None when free, "multi" when several accounts share it."""
        if not self.accounts:
            return None
        if len(self.accounts) > 1:
            return "multi"
        return account_color(next(iter(self.accounts)))


@dataclass
class Pool:
    """A range drawn as a grid of 256 cells."""

    cidr: str
    cell_prefix: int
    cells: list[Cell]

    @property
    def used(self) -> int:
        """Cells holding at least one VPC."""
        return sum(1 for c in self.cells if c.vpcs)


def clash_blocks(groups: Iterable[OverlapGroup]) -> list[IPNetwork]:
    """The address ranges where two owners really overlap.

    In a group, a block clashes where it lies inside (or equals) a block of another owner; the
    widest block of a group is not itself a clash everywhere, only where others sit in it.
    A group can hold thousands of blocks (a wide reserved range over many VPCs), so this is a
    sweep over the blocks' containment chain, not a comparison of every pair.
    """
    out: list[IPNetwork] = []
    for g in groups:
        members = sorted(
            ((m.network, m.vpc.VpcId if m.vpc else "reserved") for m in g.members),
            key=lambda x: (x[0].version, int(x[0].network_address), x[0].prefixlen),
        )
        owners_of: dict[IPNetwork, set[str]] = {}
        # Frame: (version, last address, owner of a single-owner chain, chain has 2+ owners)
        stack: list[tuple[int, int, str, bool]] = []
        for net, owner in members:
            owners_of.setdefault(net, set()).add(owner)
            start = int(net.network_address)
            while stack and (stack[-1][0] != net.version or stack[-1][1] < start):
                stack.pop()
            multi = bool(stack) and (stack[-1][3] or stack[-1][2] != owner)
            if multi:
                out.append(net)
            stack.append((net.version, int(net.broadcast_address), owner, multi))
        # Identical blocks of two owners clash both ways; the sweep saw only the later one.
        seen = set(out)
        out.extend(n for n, owners in owners_of.items() if len(owners) > 1 and n not in seen)
    return out


def _pool_for(net: IPNetwork, pools: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network | None:
    if net.version != 4:
        return None
    return next((p for p in pools if net.subnet_of(p)), None)


def _pools(vpcs: list[Vpc], reserved: list[ReservedCidr]) -> list[ipaddress.IPv4Network]:
    """The standard pools, then reserved ranges and /8s that hold VPCs outside them."""
    pools = list(STANDARD_POOLS)
    extra = [ipaddress.ip_network(r.cidr) for r in reserved]
    extra += [
        ipaddress.IPv4Network(c).supernet(new_prefix=8)
        for v in vpcs
        for c in v.CidrBlocks
        if ipaddress.IPv4Network(c).prefixlen > 8
    ]
    for net in extra:
        if net.version == 4 and _pool_for(net, pools) is None:
            pools.append(net)
    return pools


class _Grids:
    """Lazily created grids, and the cells a block covers."""

    def __init__(self, pools: list[ipaddress.IPv4Network]) -> None:
        self.pools = pools
        self.grids: dict[ipaddress.IPv4Network, Pool] = {}

    def covered(self, net: IPNetwork) -> list[Cell]:
        pool = _pool_for(net, self.pools)
        if pool is None:
            return []  # IPv6: not drawn
        if pool not in self.grids:
            prefix = min(32, pool.prefixlen + CELLS_PER_POOL_BITS)
            self.grids[pool] = Pool(
                str(pool),
                prefix,
                [Cell(i, str(sn)) for i, sn in enumerate(pool.subnets(new_prefix=prefix))],
            )
        g = self.grids[pool]
        shift = 32 - g.cell_prefix
        base = int(pool.network_address)
        first = (int(net.network_address) - base) >> shift
        last = (int(net.broadcast_address) - base) >> shift
        return g.cells[first : last + 1]


def map_pools(
    vpcs: Iterable[Vpc], reserved: Iterable[ReservedCidr], groups: Iterable[OverlapGroup]
) -> list[Pool]:
    """Pure: the grids to draw, one per pool that holds a VPC block or a reserved range.

    Pools are the RFC 1918 ranges and 100.64.0.0/10, plus any reserved range outside them, plus
    the enclosing /8 of IPv4 VPC blocks outside all of those. IPv6 blocks are not drawn (they
    are in the tables).
    """
    vpcs, reserved = list(vpcs), list(reserved)
    grids = _Grids(_pools(vpcs, reserved))
    for v in vpcs:
        for c in v.CidrBlocks:
            info = {
                "VpcId": v.VpcId,
                "OwnerId": v.OwnerId,
                "AccountName": v.AccountName,
                "Region": v.Region,
                "Name": v.Name or "",
                "Cidr": c,
                "Default": "yes" if v.IsDefault else "",
            }
            for cell in grids.covered(ipaddress.IPv4Network(c)):
                cell.vpcs.append(info)
                cell.accounts.add(v.OwnerId)
    for r in reserved:
        for cell in grids.covered(ipaddress.ip_network(r.cidr)):
            cell.reserved.append(f"{r.name} ({r.cidr})")
    for net in clash_blocks(groups):
        for cell in grids.covered(net):
            cell.clash = True
    order = {str(p): i for i, p in enumerate(grids.pools)}
    return sorted(grids.grids.values(), key=lambda g: order[g.cidr])


# ---------------------------------------------------------------------------------------------
# Rendering


def _asset(name: str) -> str:
    return resources.files("collector").joinpath("assets", name).read_text(encoding="utf-8")


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _svg(pool: Pool, pool_index: int) -> str:
    size = 22
    rows = (len(pool.cells) + SIDE - 1) // SIDE
    parts = [
        f'<svg class="grid" role="group" aria-label="address map of {_e(pool.cidr)}" '
        f'width="{SIDE * size}" height="{rows * size}" '
        f'viewBox="0 0 {SIDE * size} {rows * size}">'
    ]
    for c in pool.cells:
        x, y = (c.index % SIDE) * size, (c.index // SIDE) * size
        color = c.color
        classes = ["cell"]
        style = ""
        if color is None:
            classes.append("free")
        elif color == "multi":
            classes.append("multi")
        else:
            style = f' style="fill:{color}"'
        if c.clash:
            classes.append("clash")
        label = (
            f"{c.cidr}: "
            + (f"{len(c.vpcs)} VPC(s)" if c.vpcs else "free")
            + (", reserved" if c.reserved else "")
            + (", OVERLAP" if c.clash else "")
        )
        parts.append(
            f'<rect class="{" ".join(classes)}" x="{x}" y="{y}" width="{size}" height="{size}"'
            f'{style} data-key="{pool_index}:{c.index}" data-cidr="{_e(c.cidr)}" tabindex="0"'
            f' aria-label="{_e(label)}"><title>{_e(label)}</title></rect>'
        )
        if c.reserved:
            parts.append(
                f'<rect x="{x}" y="{y}" width="{size}" height="{size}" '
                'fill="url(#hatch)" pointer-events="none"/>'
            )
        if c.clash:
            # Readable without color: a mark, not just a red border.
            parts.append(f'<text class="mark" x="{x + 7}" y="{y + 16}">!</text>')
    parts.append("</svg>")
    return "".join(parts)


DEFS = """<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)">
<line x1="0" y1="0" x2="0" y2="6" stroke="#333" stroke-width="2" stroke-opacity=".55"/></pattern>
<pattern id="multi" width="8" height="8" patternUnits="userSpaceOnUse">
<rect width="8" height="8" fill="#8a94a6"/><rect width="4" height="8" fill="#5b6475"/></pattern>
</defs></svg>"""


def _accounts_table(vpcs: list[Vpc]) -> str:
    by_account: dict[str, list[Vpc]] = defaultdict(list)
    for v in vpcs:
        by_account[v.OwnerId].append(v)
    rows = []
    for acct in sorted(by_account):
        vs = by_account[acct]
        name = vs[0].AccountName
        regions = sorted({v.Region for v in vs})
        cidrs = sorted({c for v in vs for c in vpc_blocks(v)})
        defaults = sum(v.IsDefault for v in vs)
        search = " ".join(
            [acct, name, *regions, *cidrs, *(v.VpcId for v in vs), *(v.Name or "" for v in vs)]
        ).lower()
        rows.append(
            f'<tr data-search="{_e(search)}"><td><span class="sw" style="background:'
            f'{account_color(acct)}"></span>{_e(acct)}</td><td>{_e(name)}</td>'
            f"<td>{len(vs)}</td><td>{_e(', '.join(regions))}</td>"
            f"<td><code>{_e(', '.join(cidrs))}</code></td><td>{defaults or ''}</td></tr>"
        )
    return (
        "<table><thead><tr><th>account</th><th>name</th><th>VPCs</th><th>regions</th>"
        "<th>CIDRs</th><th>default VPCs left</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _groups_table(audit: Audit) -> str:
    if not audit.overlap_groups:
        return "<p>No overlapping ranges.</p>"
    rows = []
    for n, g in enumerate(audit.overlap_groups, 1):
        for m in g.members:
            d = m.to_dict()
            who = (
                f"reserved: {d['Reserved']}"
                if "Reserved" in d
                else f"{d['VpcId']} · {d['OwnerId']} {d['AccountName']} · {d['Region']}"
            )
            search = f"{g.span} {d.get('Cidr')} {who}".lower()
            rows.append(
                f'<tr data-search="{_e(search)}"><td class="clashmark">#{n}</td>'
                f"<td>{_e(g.span)}</td><td><code>{_e(d['Cidr'])}</code></td>"
                f"<td>{_e(who)}</td></tr>"
            )
    return (
        "<table><thead><tr><th>group</th><th>span</th><th>block</th><th>member</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _defaults_table(audit: Audit) -> str:
    if not audit.default_vpcs:
        return "<p>No default VPCs left.</p>"
    rows = "".join(
        f'<tr data-search="{_e(" ".join([v.VpcId, v.OwnerId, v.AccountName, v.Region]).lower())}">'
        f"<td>{_e(v.OwnerId)}</td><td>{_e(v.AccountName)}</td><td>{_e(v.Region)}</td>"
        f"<td>{_e(v.VpcId)}</td><td><code>{_e(v.CidrBlock)}</code></td></tr>"
        for v in audit.default_vpcs
    )
    return (
        "<table><thead><tr><th>account</th><th>name</th><th>region</th><th>VPC</th>"
        "<th>CIDR</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )


def render_html(audit: Audit) -> str:
    """The whole self-contained page."""
    pools = map_pools(audit.vpcs, audit.reserved, audit.overlap_groups)
    oldest = min((v.LastSeen for v in audit.vpcs), default=None)
    cells: dict[str, Any] = {}
    for pi, p in enumerate(pools):
        for c in p.cells:
            if c.vpcs or c.reserved:
                cells[f"{pi}:{c.index}"] = {"vpcs": c.vpcs, "reserved": c.reserved}
    # `</` must not appear inside the inline script element.
    payload = json.dumps({"cells": cells}).replace("</", "<\\/")
    s = audit.to_dict()["summary"]
    figures = "".join(
        f'<figure class="pool"><figcaption>{_e(p.cidr)} · cells of /{p.cell_prefix} · '
        f"{p.used} of {len(p.cells)} used</figcaption>{_svg(p, i)}</figure>"
        for i, p in enumerate(pools)
    )
    stats = [
        ("accounts", audit.account_count),
        ("VPCs", audit.vpc_count),
        ("overlap groups", s["overlap_groups"]),
        ("VPCs in overlaps", s["vpcs_in_overlaps"]),
        ("default VPCs left", s["default_vpcs"]),
    ]
    stat_html = "".join(f'<div class="stat"><b>{n}</b>{_e(label)}</div>' for label, n in stats)
    hatch = "repeating-linear-gradient(45deg,#999 0 2px,#fff 2px 5px)"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>VPCTracker audit {_e(iso(audit.generated_at))}</title>
<style>{_asset("report.css")}</style></head>
<body>{DEFS}
<header><h1>VPC address-space audit</h1>
<div>generated {_e(iso(audit.generated_at))} · data freshness: oldest LastSeen
<span id="freshness">{_e(iso(oldest)) if oldest else "n/a"}</span></div>
<div class="stats">{stat_html}</div>
</header>
<main>
<section aria-labelledby="map-h"><h2 id="map-h">Address-space map</h2>
<p class="legend"><span><span class="sw" style="background:#eef0f3"></span>free</span>
<span><span class="sw" style="background:#5b6475"></span>several accounts</span>
<span><span class="sw" style="background:{hatch}"></span>reserved</span>
<span><span class="clashmark">! red border</span> overlap</span>
<span>other colors: one per account (see the accounts table)</span></p>
<div class="pools">{figures or "<p>No IPv4 VPC blocks.</p>"}</div>
<div id="detail" aria-live="polite">Hover, click or tab to a cell to see its VPCs.</div>
</section>
<section><h2><label for="filter">Filter</label></h2>
<input id="filter" type="search" placeholder="account, name, region, CIDR, VPC id"
 autocomplete="off"> <span id="filter-count"></span></section>
<section id="overlaps"><h2>Overlap groups ({s["overlap_groups"]})</h2>
{_groups_table(audit)}</section>
<section id="defaults"><h2>Default VPCs ({s["default_vpcs"]})</h2>
{_defaults_table(audit)}</section>
<section id="accounts"><h2>Accounts ({audit.account_count})</h2>
{_accounts_table(audit.vpcs)}</section>
</main>
<script type="application/json" id="report-data">{payload}</script>
<script>{_asset("report.js")}</script>
</body></html>
"""
