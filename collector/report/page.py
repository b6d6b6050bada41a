"""Report — the HTML audit: one self-contained page (inline CSS, JS and SVG; no network fetch).

The map's data comes from `addressmap` (pure) and is drawn here as inline SVG, as are the
findings tables (default VPCs, reservations, headroom, expected and stale). The tables that
list every VPC or every overlap (groups, accounts, IPv6, inventory), the cell details and the
lookup are drawn by the page's script from one data block (`pagedata`) that names each VPC
once. Member strings are HTML-escaped in markup and by the script. The data is gzip-compressed
JSON in base64, whose alphabet has no `<`, `&` or quote: no Name can end or re-open a script.
"""

from __future__ import annotations

import base64
import gzip
import html
import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from collector.analysis import Audit
from collector.analysis.inventory import vpc_order
from collector.models import Reservation, iso
from collector.report.addressmap import (
    DEFAULT_FILL,
    FREE_FILL,
    SIDE,
    AccountStyles,
    Cell,
    Pool,
    map_pools,
)
from collector.report.jsontext import compact_json
from collector.report.pagedata import page_data
from collector.safety import counted
from collector.store.reader import paused_gc


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


def _drawn(table: str, rows: Sequence[object], empty: str) -> str:
    """Where the page's script draws a table from the data block (`empty` when it has none)."""
    if not rows:
        return f"<p>{_e(empty)}</p>"
    return f'<div id="{table}"><p class="loading">Drawing the table…</p></div>'


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


INVENTORY_SECTION = """<section id="inventory"><h2>Inventory (COUNT VPCs)</h2>
<div class="controls"><label>Filter <input id="inv-filter" type="search"
 placeholder="account, region, CIDR, name, VPC id" autocomplete="off"></label>
<label><input id="inv-group" type="checkbox"> group by region</label>
<button id="inv-csv" type="button">Download CSV</button> <span id="inv-count"></span></div>
<div class="scroll"><table id="inv-table"><thead><tr></tr></thead><tbody></tbody></table></div>
</section>"""


def embed(data: dict[str, Any]) -> str:
    """The data block as the page carries it: compact JSON, gzip, base64. At 100,000 VPCs:
    29 MB of JSON, 4.8 MB here. Level 4: level 6 saves 6 % more for three times the time; no
    timestamp, so the same audit gives the same page."""
    raw = compact_json(data).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=4, mtime=0)).decode("ascii")


def render_html(audit: Audit) -> str:
    """The whole self-contained page."""
    # Building it allocates millions of lists and strings and frees none of them, so each
    # cyclic collection only walked the whole inventory again: half the time of a
    # 100,000-VPC page went there. Nothing here makes a cycle.
    with paused_gc():
        return _page(audit)


def _page(audit: Audit) -> str:
    # In the inventory's order, not the read's: a table's segments hand their pages over in
    # the order they arrive, and the map's cells list (and sum) their VPCs in this one.
    vpcs = sorted(audit.vpcs, key=vpc_order)
    pools = map_pools(vpcs, audit.reserved, audit.overlap_groups, audit.reservations)
    styles = AccountStyles(v.OwnerId for v in vpcs)
    oldest = min((v.LastSeen for v in vpcs), default=None)
    payload = embed(page_data(audit, pools, styles, vpcs))
    s = audit.summary()
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
{_drawn("groups", audit.overlap_groups, "No overlapping ranges.")}
{_expected_section(audit)}{_stale_section(audit)}</section>
<section id="defaults"><h2>Default VPCs ({s["default_vpcs"]})</h2>
{_defaults_table(audit)}</section>
<section id="reservations"><h2>Reservations ({len(audit.reservations)})</h2>
{_reservations_table(audit.reservations)}</section>
<section id="headroom"><h2>Headroom ({s["headroom"]} VPCs, {s["exhausted_subnets"]} subnets,
{s["single_az"]} single-AZ)</h2>
{_headroom_table(audit)}</section>
{INVENTORY_SECTION.replace("COUNT", str(len(audit.vpcs)))}
<section id="accounts"><h2>Accounts ({audit.account_count})</h2>
{_drawn("accounts-table", audit.vpcs, "No VPCs.")}</section>
<section id="ipv6"><h2>IPv6 blocks</h2>
{_drawn("ipv6-table", [v for v in audit.vpcs if v.Ipv6CidrBlocks], "No IPv6 blocks.")}
</section>
</main>
<script type="application/octet-stream" id="report-data" data-encoding="gzip+base64">
{payload}
</script>
<script>{_asset("report.js")}</script>
</body></html>
"""
