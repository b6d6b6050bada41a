"""Audit as data: JSON for scripts (exact, a public contract) and CSV for spreadsheets (inert)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from collector.analysis import Audit
from collector.analysis.inventory import COLUMNS
from collector.report.jsontext import compact_json
from collector.report.text import by_severity
from collector.safety import csv_cell

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
    # Appended, not inserted: scripts that read columns by position keep working.
    "severity",
    "reason",  # expected-overlap rows: why the configuration expects the reuse
]


def dumps(data: Any, indent: int | None = None) -> str:
    """JSON for scripts: one compact line, or indented by `indent` spaces when asked
    (`--indent`). Compact by default: `indent` takes the json module's pure-Python encoder,
    0.81 s against 0.23 s for the audit of 100,000 VPCs; the compact line is `json.dumps`'
    text, written by pydantic-core where it can (`report.jsontext`)."""
    if indent is None:
        return compact_json(data) + "\n"
    return json.dumps(data, indent=indent) + "\n"


def render_json(audit: Audit, indent: int | None = None) -> str:
    """The public JSON shape; strings exactly as stored (JSON is data)."""
    return dumps(audit.to_dict(), indent)


def render_csv(audit: Audit) -> str:
    """One row per (overlap group, member) and one per default VPC; every cell inert."""
    buf = io.StringIO()
    # Every cell quoted, as `changes` and `inventory` write theirs (a lone "\r" in a Name, which
    # Python's writer does not quote on its own, cannot read as a line break).
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writeheader()

    def row(values: dict[str, Any]) -> None:
        w.writerow({k: csv_cell(v) for k, v in values.items()})

    for n, group in enumerate(by_severity(audit.overlap_groups), 1):
        for m in group.members:
            row(
                {
                    "finding": "overlap",
                    "group": n,
                    "span": group.span,
                    **m.to_dict(),
                    "severity": group.severity,
                }
            )
    for v in audit.default_vpcs:
        row(
            {
                "finding": "default-vpc",
                "VpcId": v.VpcId,
                "OwnerId": v.OwnerId,
                "AccountName": v.AccountName,
                "Region": v.Region,
                "Cidr": v.CidrBlock,
            }
        )
    h = audit.headroom
    who = ("VpcId", "OwnerId", "AccountName", "Region")
    for f in h.headroom:
        row({"finding": "headroom", **{k: f[k] for k in who}, "Cidr": f["Cidrs"][0]})
    for f in h.exhausted_subnets:
        row({"finding": "exhausted-subnet", **{k: f[k] for k in who}, "Cidr": f["Cidr"]})
    for f in h.single_az:
        row({"finding": "single-az", **{k: f[k] for k in who}})
    for r in audit.reservation_overlaps:
        row(
            {
                "finding": "reservation-overlap",
                "span": r["Cidr"],
                **{k: r[k] for k in who},
                "Cidr": r["VpcCidr"],
                "reason": f"reserved for {r['ReservedFor']} until {r['ReservedUntil']}",
            }
        )
    for e in audit.expected:
        row({"finding": "expected-overlap", "span": e.group.span, "reason": e.reason})
    return buf.getvalue()


CHANGE_COLUMNS = ["time", "change", "VpcId", "OwnerId", "AccountName", "Region", "Cidr", "detail"]


def render_changes_json(result: dict[str, Any], indent: int | None = None) -> str:
    """`vpctracker changes --format json`: exact; one compact line unless asked to indent."""
    return dumps(result, indent)


def render_changes_csv(result: dict[str, Any]) -> str:
    """`vpctracker changes --format csv`: one row per change, every cell inert."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CHANGE_COLUMNS, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writeheader()
    for c in result["changes"]:
        w.writerow({k: csv_cell(c.get(k)) for k in CHANGE_COLUMNS})
    return buf.getvalue()


INVENTORY_COLUMNS = list(COLUMNS)


def render_inventory_json(result: dict[str, Any], indent: int | None = None) -> str:
    """`vpctracker inventory --format json`: exact."""
    return dumps(result, indent)


def render_inventory_csv(result: dict[str, Any]) -> str:
    """`vpctracker inventory --format csv`: the JSON's columns, lists joined by spaces, every
    cell inert, every cell quoted (as `changes`)."""
    buf = io.StringIO()
    w = csv.DictWriter(
        buf, fieldnames=INVENTORY_COLUMNS, lineterminator="\n", quoting=csv.QUOTE_ALL
    )
    w.writeheader()
    for row in result["vpcs"]:
        w.writerow({k: csv_cell(_cell(row.get(k))) for k in INVENTORY_COLUMNS})
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(value)
    if value is None:
        return ""
    return value
