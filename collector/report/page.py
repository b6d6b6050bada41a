"""Report — the HTML audit: one self-contained page (inline CSS, JS and SVG; no network fetch).

The map's data comes from `addressmap` (pure) and is drawn here as inline SVG; the page's script
only adds the cell details on hover/click and the filter. Member strings are HTML-escaped in
markup and embedded in the script's data with `script_json` (no `<`, `>`, `&`, U+2028/2029 left
raw), so no Name can end or re-open a script.
"""

from __future__ import annotations

import html
import ipaddress
from collections import defaultdict
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from collector.analysis import Audit, Member, vpc_blocks
from collector.analysis.inventory import COLUMNS, audit_rows
from collector.analysis.overlaps import by_pair
from collector.models import Reservation, Vpc, iso
from collector.report.addressmap import (
    DEFAULT_FILL,
    FREE_FILL,
    SIDE,
    AccountStyles,
    Cell,
    Pool,
    map_pools,
)
from collector.report.text import by_severity
from collector.safety import counted, script_json


def _asset(name: str) -> str:
    return resources.files("collector").joinpath("assets", name).read_text(encoding="utf-8")


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


LABEL_W, LABEL_H = 96, 16  # room for the row and column labels


def _svg(pool: Pool, pool_index: int, styles: AccountStyles) -> str:
    size = 22
    rows = (len(pool.cells) + SIDE - 1) // SIDE
    width, height = LABEL_W + SIDE * size, LABEL_H + rows * size
    parts = [
        f'<svg class="grid" role="group" aria-label="address map of {_e(pool.cidr)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    # Axis labels, readable without hovering: each row's first block, each column's offset in
    # cells of the pool's cell size.
    for col in range(SIDE):
        parts.append(
            f'<text class="axis col" x="{LABEL_W + col * size + size // 2}" y="12" '
            f'text-anchor="middle">+{col}</text>'
        )
    for row in range(rows):
        first = pool.cells[row * SIDE].cidr.split("/")[0]
        parts.append(
            f'<text class="axis row" x="{LABEL_W - 4}" y="{LABEL_H + row * size + 15}" '
            f'text-anchor="end">{_e(first)}</text>'
        )
    for c in pool.cells:
        x = LABEL_W + (c.index % SIDE) * size
        y = LABEL_H + (c.index // SIDE) * size
        parts.append(_cell(c, x, y, size, pool_index, styles))
    parts.append("</svg>")
    return "".join(parts)


def _cell(c: Cell, x: int, y: int, size: int, pool_index: int, styles: AccountStyles) -> str:
    kind = c.kind
    classes = ["cell", kind]
    fill = styles.fill(next(iter(c.accounts))) if kind == "account" else ""
    if c.conflict:
        classes.append("conflict")
    elif c.clash:
        classes.append("clash")
    if c.reservations:
        classes.append("reservation")
    partial = kind in ("account", "multi") and c.share < 1
    if partial:
        classes.append("partial")
    what = [counted(len(c.vpcs), "VPC")] if c.vpcs else []
    what += [f"{max(1, round(100 * c.share))}% of the cell"] if partial else []
    what += ["default VPCs only"] if kind == "default" else []
    what += ["reserved range"] if c.reserved else []
    what += c.reservations
    what += ["CONFLICT (a network reaches both)"] if c.conflict else []
    what += ["overlap (latent)"] if c.clash and not c.conflict else []
    label = f"{c.cidr}: {', '.join(what) or 'free'}"
    style = f' style="fill:{fill}"' if fill and not partial else ""
    out = [
        f'<rect class="{" ".join(classes)}" x="{x}" y="{y}" width="{size}" height="{size}"'
        f'{style} data-key="{pool_index}:{c.index}" data-cidr="{_e(c.cidr)}" tabindex="0"'
        f' aria-label="{_e(label)}"><title>{_e(label)}</title></rect>'
    ]
    if partial:
        # A VPC smaller than the cell: a sliver as tall as its share (at least 3 px, to see).
        h = max(3, round(size * c.share))
        out.append(
            f'<rect class="share" x="{x}" y="{y + size - h}" width="{size}" height="{h}" '
            f'fill="{fill or "url(#multi)"}" pointer-events="none"/>'
        )
    if c.reserved:
        out.append(_overlay(x, y, size, "hatch"))
    if c.reservations:
        out.append(_overlay(x, y, size, "resv"))
    if c.conflict:
        # Readable without color: two marks for a conflict, one for a latent overlap.
        out.append(f'<text class="mark conflictmark" x="{x + 3}" y="{y + 16}">!!</text>')
    elif c.clash:
        out.append(f'<text class="mark" x="{x + 7}" y="{y + 16}">!</text>')
    elif kind == "default":
        out.append(f'<text class="mark" x="{x + 6}" y="{y + 16}">d</text>')
    return "".join(out)


def _overlay(x: int, y: int, size: int, pattern: str) -> str:
    return (
        f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="url(#{pattern})" '
        'pointer-events="none"/>'
    )


def _swatch(
    fill: str,
    *,
    overlay: str = "",
    mark: str = "",
    clash: bool = False,
    conflict: bool = False,
    sliver: bool = False,
) -> str:
    """A legend/table swatch drawn exactly as a map cell is (same fills, same marks)."""
    stroke = ""
    if conflict:
        stroke = ' stroke="#b00000" stroke-width="5"'
    elif clash:
        stroke = ' stroke="#e08a00" stroke-width="3" stroke-dasharray="4 3"'
    return (
        '<svg class="sw" width="16" height="16" viewBox="0 0 22 22" aria-hidden="true">'
        f'<rect width="22" height="22" fill="{fill}"{stroke}/>'
        + ('<rect y="16" width="22" height="6" fill="url(#multi)"/>' if sliver else "")
        + (f'<rect width="22" height="22" fill="url(#{overlay})"/>' if overlay else "")
        + (
            f'<text class="mark" x="{3 if len(mark) > 1 else 6}" y="16">{mark}</text>'
            if mark
            else ""
        )
        + "</svg>"
    )


DEFS = """<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)">
<line x1="0" y1="0" x2="0" y2="6" stroke="#333" stroke-width="2" stroke-opacity=".55"/></pattern>
<pattern id="resv" width="8" height="8" patternUnits="userSpaceOnUse">
<rect width="8" height="8" fill="none" stroke="#0b4f9c" stroke-width="2.5"
 stroke-dasharray="3 2"/></pattern>
<pattern id="multi" width="8" height="8" patternUnits="userSpaceOnUse">
<rect width="8" height="8" fill="#8a94a6"/><rect width="4" height="8" fill="#5b6475"/></pattern>
ACCOUNT_PATTERNS</defs></svg>"""


def _legend() -> str:
    items = [
        (_swatch(FREE_FILL), "free (no VPC, reserved range or reservation)"),
        (_swatch("url(#multi)"), "several accounts"),
        (_swatch(DEFAULT_FILL, mark="d"), "default VPCs only"),
        (_swatch(FREE_FILL, overlay="hatch"), "reserved range (config)"),
        (_swatch(FREE_FILL, overlay="resv"), "reservation (allocate --reserve)"),
        (_swatch(FREE_FILL, mark="!!", conflict=True), "conflict: a network reaches both"),
        (_swatch(FREE_FILL, mark="!", clash=True), "latent overlap"),
        (_swatch(FREE_FILL, sliver=True), "a VPC smaller than the cell (its share)"),
    ]
    spans = "".join(f"<span>{sw}{_e(text)}</span>" for sw, text in items)
    return (
        f'<p class="legend">{spans}<span>other fills: one per account (accounts table)</span></p>'
    )


def _accounts_table(vpcs: list[Vpc], styles: AccountStyles) -> str:
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
            f'<tr data-search="{_e(search)}"><td class="acct">{_swatch(styles.fill(acct))}'
            f"{_e(acct)}</td><td>{_e(name)}</td>"
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
    for n, g in enumerate(by_severity(audit.overlap_groups), 1):
        # The first row of a group is its anchor (`#group-<span>`: notifications link it).
        anchor = f' id="group-{_e(g.span)}"'
        for m in g.members:
            d = m.to_dict()
            if m.vpc is None:
                who, name = f"reserved: {d['Reserved']}", ""
            else:
                who = f"{d['VpcId']} · {d['OwnerId']} {d['AccountName']} · {d['Region']}"
                name = m.vpc.Name or ""
            search = f"{g.severity} {g.span} {d.get('Cidr')} {who} {name}".lower()
            rows.append(
                f'<tr class="{g.severity}"{anchor} data-search="{_e(search)}">'
                f'<td class="sev">{_e(g.severity)}</td><td class="clashmark">#{n}</td>'
                f"<td>{_e(g.span)}</td><td><code>{_e(d['Cidr'])}</code></td>"
                f"<td>{_e(who)}</td><td>{_e(name)}</td></tr>"
            )
            anchor = ""
        for a, b, found in by_pair(g.conflicts):
            where = "; ".join(f"{c.network.describe(c.at)} via {', '.join(c.via)}" for c in found)
            text = f"conflict: {_pair_side(a)} ↔ {_pair_side(b)} — reached at {where}"
            rows.append(
                f'<tr class="conflict via" data-search="{_e(text.lower())}"><td></td>'
                f'<td></td><td colspan="4">{_e(text)}</td></tr>'
            )
    return (
        "<table><thead><tr><th>severity</th><th>group</th><th>span</th><th>block</th>"
        "<th>member</th><th>VPC name</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _pair_side(m: Member) -> str:
    if m.vpc is None:
        return f"reserved {m.reserved} ({m.cidr})"
    name = f' "{m.vpc.Name}"' if m.vpc.Name else ""
    return f"{m.vpc.VpcId}{name} ({m.cidr}, {m.vpc.OwnerId})"


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


def _reservations_table(reservations: list[Reservation]) -> str:
    if not reservations:
        return "<p>No active reservations.</p>"
    rows = "".join(
        f'<tr data-search="{_e(f"{r.cidr} {r.owner} {r.note}".lower())}">'
        f"<td><code>{_e(r.cidr)}</code></td><td>{_e(r.owner)}</td>"
        f"<td>{_e(iso(datetime.fromtimestamp(r.expires_at, UTC)))}</td><td>{_e(r.note)}</td></tr>"
        for r in sorted(reservations, key=lambda r: ipaddress.ip_network(r.cidr))
    )
    return (
        "<table><thead><tr><th>block</th><th>reserved for</th><th>until</th><th>note</th>"
        "</tr></thead><tbody>" + rows + "</tbody></table>"
    )


def _ipv6_table(vpcs: list[Vpc]) -> str:
    """IPv6 blocks by the /48 they fall in (Amazon hands out /56s; BYOIP pools are /48s)."""
    # (address, prefix length, block as stored, VPC) per /48: integer keys, and the stored
    # (canonical) text, since comparing and printing IPv6Network objects is slow at 100k.
    by_pool: dict[ipaddress.IPv6Network, list[tuple[int, int, str, Vpc]]] = defaultdict(list)
    for v in vpcs:
        for c in v.Ipv6CidrBlocks:
            net = ipaddress.IPv6Network(c)
            pool = net.supernet(new_prefix=min(48, net.prefixlen))
            by_pool[pool].append((int(net.network_address), net.prefixlen, c, v))
    if not by_pool:
        return "<p>No IPv6 blocks.</p>"
    rows = []
    for pool in sorted(by_pool, key=lambda p: (int(p.network_address), p.prefixlen)):
        pool_text = str(pool)
        for _, _, block, v in sorted(by_pool[pool], key=lambda x: (x[0], x[1], x[3].VpcId)):
            search = f"{pool_text} {block} {v.VpcId} {v.OwnerId} {v.AccountName} {v.Name or ''}"
            rows.append(
                f'<tr data-search="{_e(search.lower())}"><td><code>{_e(pool_text)}</code></td>'
                f"<td><code>{_e(block)}</code></td><td>{_e(v.VpcId)}</td>"
                f"<td>{_e(v.OwnerId)} {_e(v.AccountName)}</td><td>{_e(v.Region)}</td>"
                f"<td>{_e(v.Name or '')}</td></tr>"
            )
    return (
        "<table><thead><tr><th>/48</th><th>block</th><th>VPC</th><th>account</th>"
        "<th>region</th><th>VPC name</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _headroom_table(audit: Audit) -> str:
    h = audit.headroom
    if not (h.headroom or h.exhausted_subnets or h.single_az):
        return "<p>No VPC short of room, no exhausted subnet, no single-AZ VPC.</p>"
    rows: list[tuple[str, dict[str, Any], str, float | None]] = []
    for f in sorted(h.headroom, key=lambda f: -f["UtilizationPct"]):
        free = f["LargestFreeBlock"] or "none"
        what = f"{f['Reason']}: {f['UtilizationPct']}% of {f['UsableAddresses']} used, "
        rows.append(("headroom", f, what + f"largest free block {free}", f["UtilizationPct"]))
    for f in h.exhausted_subnets:
        what = (
            f"{f['SubnetId']} {f['Cidr']} {f['AvailabilityZone']}: "
            f"{f['AvailableAddresses']} free ({f['FreePct']}%)"
        )
        rows.append(("exhausted subnet", f, what, 100 - f["FreePct"]))
    for f in h.single_az:
        rows.append(("single AZ", f, f"every subnet in {f['AvailabilityZone']}", None))
    body = "".join(_headroom_row(*row) for row in rows)
    return (
        "<table><thead><tr><th>finding</th><th>VPC</th><th>VPC name</th><th>account</th>"
        "<th>region</th><th>detail</th></tr></thead><tbody>" + body + "</tbody></table>"
    )


def _headroom_row(kind: str, f: dict[str, Any], what: str, pct: float | None) -> str:
    name = f.get("Name") or ""
    search = " ".join([kind, f["VpcId"], name, f["OwnerId"], f["AccountName"], what]).lower()
    return (
        f'<tr data-search="{_e(search)}"><td>{_e(kind)}</td><td>{_e(f["VpcId"])}</td>'
        f"<td>{_e(name)}</td>"
        f"<td>{_e(f['OwnerId'])} {_e(f['AccountName'])}</td><td>{_e(f['Region'])}</td>"
        f"<td>{_bar(pct)}{_e(what)}</td></tr>"
    )


def _bar(pct: float | None) -> str:
    if pct is None:
        return ""
    return (
        f'<span class="bar" role="img" aria-label="{pct}% used">'
        f'<span style="width:{min(100.0, max(0.0, pct))}%"></span></span>'
    )


def _expected_section(audit: Audit) -> str:
    """Expected reuse (`overlaps.expected`): collapsed, since none of it is a finding."""
    if not audit.expected:
        return ""
    rows = "".join(
        f"<tr><td>{_e(d['span'])}</td><td>{_e(d['reason'])}</td><td>{d['blocks']}</td>"
        f"<td>{d['accounts']}</td></tr>"
        for d in (e.to_dict() for e in audit.expected)
    )
    return (
        f'<details id="expected"><summary>Expected overlaps ({len(audit.expected)}): reuse '
        "the configuration expects, not findings</summary><table><thead><tr><th>span</th>"
        "<th>reason</th><th>blocks</th><th>accounts</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )


def _stale_section(audit: Audit) -> str:
    """Stale VPCs: collapsed, since none is a current finding (their ranges stay taken)."""
    if not audit.stale:
        return ""
    rows = "".join(
        f'<tr data-search="{_e(" ".join([d["VpcId"], d["OwnerId"], d["Region"]]).lower())}">'
        f"<td>{_e(d['VpcId'])}</td><td>{_e(d['OwnerId'])} {_e(d['AccountName'])}</td>"
        f"<td>{_e(d['Region'])}</td><td><code>{_e(' '.join(d['Cidrs']))}</code></td>"
        f"<td>{_e(d['LastSeen'])}</td><td>{_e(d['reason'])}</td></tr>"
        for d in audit.stale
    )
    return (
        f'<details id="stale"><summary>Stale VPCs ({len(audit.stale)}): outside the configured '
        "scope or not seen lately — not counted as findings, their ranges stay taken</summary>"
        "<table><thead><tr><th>VPC</th><th>account</th><th>region</th><th>CIDRs</th>"
        "<th>last seen</th><th>reason</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )


def inventory_data(audit: Audit) -> dict[str, Any]:
    """The inventory as the page's script gets it: columns once, one list per VPC (the same
    rows as `vpctracker inventory`, every live VPC, stale ones marked)."""
    rows = audit_rows(audit.vpcs, audit.stale)
    return {"columns": list(COLUMNS), "rows": [[r[c] for c in COLUMNS] for r in rows]}


INVENTORY_SECTION = """<section id="inventory"><h2>Inventory (COUNT VPCs)</h2>
<div class="controls"><label>Filter <input id="inv-filter" type="search"
 placeholder="account, region, CIDR, name, VPC id" autocomplete="off"></label>
<label><input id="inv-group" type="checkbox"> group by region</label>
<button id="inv-csv" type="button">Download CSV</button> <span id="inv-count"></span></div>
<div class="scroll"><table id="inv-table"><thead><tr></tr></thead><tbody></tbody></table></div>
</section>"""


def render_html(audit: Audit) -> str:
    """The whole self-contained page."""
    pools = map_pools(audit.vpcs, audit.reserved, audit.overlap_groups, audit.reservations)
    styles = AccountStyles(v.OwnerId for v in audit.vpcs)
    oldest = min((v.LastSeen for v in audit.vpcs), default=None)
    cells: dict[str, Any] = {}
    for pi, p in enumerate(pools):
        for c in p.cells:
            if not c.free:
                cells[f"{pi}:{c.index}"] = {
                    "vpcs": c.vpcs,
                    "reserved": c.reserved,
                    "reservations": c.reservations,
                }
    payload = script_json({"cells": cells, "inventory": inventory_data(audit)})
    s = audit.to_dict()["summary"]
    figures = "".join(
        f'<figure class="pool"><figcaption>{_e(p.cidr)} · cells of /{p.cell_prefix}, '
        f"rows of /{p.cell_prefix - 4} · {p.used} of {len(p.cells)} used</figcaption>"
        f"{_svg(p, i, styles)}</figure>"
        for i, p in enumerate(pools)
    )
    stats = [
        ("accounts", audit.account_count),
        ("VPCs", audit.vpc_count),
        ("overlap groups", s["overlap_groups"]),
        ("conflicts", s["conflicts"]),
        ("VPCs in overlaps", s["vpcs_in_overlaps"]),
        ("default VPCs left", s["default_vpcs"]),
        ("active reservations", len(audit.reservations)),
    ]
    stat_html = "".join(f'<div class="stat"><b>{n}</b>{_e(label)}</div>' for label, n in stats)
    defs = DEFS.replace("ACCOUNT_PATTERNS", styles.defs())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>VPCTracker audit {_e(iso(audit.generated_at))}</title>
<style>{_asset("report.css")}</style></head>
<body>{defs}
<header><h1>VPC address-space audit</h1>
<div>generated {_e(iso(audit.generated_at))} · data freshness: oldest LastSeen
<span id="freshness">{_e(iso(oldest)) if oldest else "n/a"}</span></div>
<div class="stats">{stat_html}</div>
</header>
<main>
<section aria-labelledby="map-h"><h2 id="map-h">Address-space map</h2>
{_legend()}
<div class="pools">{figures or "<p>No IPv4 VPC blocks.</p>"}</div>
<div id="detail" aria-live="polite">Hover, click or tab to a cell to see its VPCs.</div>
</section>
<section><h2><label for="lookup">Who holds this address?</label></h2>
<input id="lookup" type="search" placeholder="10.42.7.19" autocomplete="off">
<div id="lookup-result" aria-live="polite"></div></section>
<section><h2><label for="filter">Filter</label></h2>
<input id="filter" type="search" placeholder="account, name, region, CIDR, VPC id"
 autocomplete="off"> <span id="filter-count"></span></section>
<section id="overlaps"><h2>Overlap groups ({s["overlap_groups"]})</h2>
{_groups_table(audit)}{_expected_section(audit)}{_stale_section(audit)}</section>
<section id="defaults"><h2>Default VPCs ({s["default_vpcs"]})</h2>
{_defaults_table(audit)}</section>
<section id="reservations"><h2>Reservations ({len(audit.reservations)})</h2>
{_reservations_table(audit.reservations)}</section>
<section id="headroom"><h2>Headroom ({s["headroom"]} VPCs, {s["exhausted_subnets"]} subnets,
{s["single_az"]} single-AZ)</h2>
{_headroom_table(audit)}</section>
{INVENTORY_SECTION.replace("COUNT", str(len(audit.vpcs)))}
<section id="accounts"><h2>Accounts ({audit.account_count})</h2>
{_accounts_table(audit.vpcs, styles)}</section>
<section id="ipv6"><h2>IPv6 blocks</h2>
{_ipv6_table(audit.vpcs)}</section>
</main>
<script type="application/json" id="report-data">{payload}</script>
<script>{_asset("report.js")}</script>
</body></html>
"""
