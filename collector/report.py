"""Stage 9 — report: render an audit as a table (people), JSON (scripts) or CSV (spreadsheets)."""

from __future__ import annotations

import csv
import io
import json

from collector.analysis import Audit, Member
from collector.htmlreport import render_html
from collector.models import iso

CSV_COLUMNS = [
    "finding",
    "group",
    "span",
    "VpcId",
    "OwnerId",
    "AccountName",
    "Region",
    "Cidr",
    "Reserved",
]


def render_json(audit: Audit) -> str:
    """The public JSON shape, pretty-printed."""
    return json.dumps(audit.to_dict(), indent=2) + "\n"


def render_csv(audit: Audit) -> str:
    """One row per (overlap group, member) and one per default VPC."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for n, group in enumerate(audit.overlap_groups, 1):
        for m in group.members:
            w.writerow({"finding": "overlap", "group": n, "span": group.span, **m.to_dict()})
    for v in audit.default_vpcs:
        w.writerow(
            {
                "finding": "default-vpc",
                "VpcId": v.VpcId,
                "OwnerId": v.OwnerId,
                "AccountName": v.AccountName,
                "Region": v.Region,
                "Cidr": v.CidrBlock,
            }
        )
    return buf.getvalue()


def _member_line(m: Member) -> str:
    if m.vpc is None:
        return f"    {m.cidr:<22} reserved: {m.reserved}"
    v = m.vpc
    name = f" {v.Name}" if v.Name else ""
    return (
        f"    {m.cidr:<22} {v.VpcId:<22} {v.OwnerId} {v.AccountName or '-':<24} "
        f"{v.Region:<15}{name}"
    )


def render_table(audit: Audit) -> str:
    """Human-readable audit: summary first, then groups and default VPCs, sorted."""
    d = audit.to_dict()["summary"]
    lines = [
        f"VPC audit {iso(audit.generated_at)}: {audit.vpc_count} VPCs in "
        f"{audit.account_count} accounts",
        f"  overlap groups: {d['overlap_groups']} ({d['vpcs_in_overlaps']} VPCs involved)   "
        f"default VPCs left: {d['default_vpcs']}",
        "",
    ]
    if audit.overlap_groups:
        lines.append("OVERLAP GROUPS")
        for n, g in enumerate(audit.overlap_groups, 1):
            lines.append(f"  #{n} {g.span} — {len(g.members)} blocks")
            lines.extend(_member_line(m) for m in g.members)
        lines.append("")
    else:
        lines += ["No overlapping ranges.", ""]
    if audit.default_vpcs:
        lines.append("DEFAULT VPCS")
        for v in audit.default_vpcs:
            lines.append(
                f"  {v.OwnerId} {v.AccountName or '-':<24} {v.Region:<15} {v.VpcId:<22} "
                f"{v.CidrBlock}"
            )
    else:
        lines.append("No default VPCs left.")
    return "\n".join(line.rstrip() for line in lines) + "\n"


RENDERERS = {"json": render_json, "csv": render_csv, "table": render_table, "html": render_html}


def render(audit: Audit, fmt: str) -> str:
    """Render `audit` in `fmt` (table, json, csv, html)."""
    return RENDERERS[fmt](audit)
