"""Stage 9 — report: render an audit for people (table, HTML), scripts (JSON) or spreadsheets
(CSV). Each renderer neutralizes member-controlled strings through `collector.safety`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collector.analysis import Audit
from collector.report.data import (
    dumps,
    render_changes_csv,
    render_changes_json,
    render_csv,
    render_inventory_csv,
    render_inventory_json,
    render_json,
)
from collector.report.page import render_html
from collector.report.text import (
    render_changes_table,
    render_inventory_table,
    render_lookup,
    render_summary,
    render_table,
)

RENDERERS: dict[str, Callable[[Audit], str]] = {
    "json": render_json,
    "csv": render_csv,
    "table": render_table,
    "html": render_html,
}

__all__ = [
    "RENDERERS",
    "dumps",
    "render",
    "render_changes",
    "render_inventory",
    "render_csv",
    "render_html",
    "render_json",
    "render_lookup",
    "render_summary",
    "render_table",
]


def render(audit: Audit, fmt: str, indent: int | None = None) -> str:
    """Render `audit` in `fmt` (table, json, csv, html); JSON indented by `indent` if given."""
    if fmt == "json":
        return render_json(audit, indent)
    return RENDERERS[fmt](audit)


def render_changes(result: dict[str, Any], fmt: str, indent: int | None = None) -> str:
    """Render a `changes` result in `fmt` (table, json, csv); JSON indented if asked."""
    if fmt == "json":
        return render_changes_json(result, indent)
    renderers = {
        "table": render_changes_table,
        "csv": render_changes_csv,
    }
    return renderers[fmt](result)


def render_inventory(result: dict[str, Any], fmt: str, indent: int | None = None) -> str:
    """Render an `inventory` result in `fmt` (table, json, csv); JSON indented if asked."""
    if fmt == "json":
        return render_inventory_json(result, indent)
    renderers = {
        "table": render_inventory_table,
        "csv": render_inventory_csv,
    }
    return renderers[fmt](result)
