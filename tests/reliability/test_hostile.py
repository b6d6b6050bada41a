"""Issue 11: member-controlled strings (VPC Name, tags, account names) are hostile. Every
renderer neutralizes them for its medium; JSON output keeps them exact."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import unicodedata

import pytest

from collector.analysis import Audit, build_audit
from collector.jobs.summary import RunSummary
from collector.models import TargetResult, TargetStatus
from collector.report import render_csv, render_html, render_json, render_summary, render_table
from collector.safety import csv_cell, terminal
from tests.factories import T, make_vpc, page_data

HOSTILE = [
    "<!--<script>",
    "</script><img src=x onerror=alert(1)>",
    '=HYPERLINK("http://x")',
    "+cmd|' /C calc'!A0",
    "x\nOVERLAP GROUPS: none",
    "\x1b[2J",
    "\u202eevil",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    "a\u2028b\u2029c",
    "\x85NEL\x9bC1",
    # Issue 23, observation 6: characters that render as nothing, so a Name can pass for
    # another: zero-width space, byte-order mark, word joiner, soft hyphen, Hangul filler,
    # tag characters, a private-use character.
    "pay\u200bments",
    "\ufeffprod",
    "wo\u2060rd",
    "soft\u00adhyphen",
    "\u3164filler",
    "tag\U000e0041\U000e007f",
    "\ue000private",
]


def _raw_unsafe() -> re.Pattern[str]:
    """Every character that must never reach a terminal raw (a line break between records aside):
    controls, format characters, separators, private use and the Hangul fillers."""
    chars = [
        chr(cp)
        for cp in range(sys.maxunicode + 1)
        if cp != 0x0A
        and (
            unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zl", "Zp", "Co")
            or chr(cp) in "\u115f\u1160\u3164\uffa0"
        )
    ]
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]")


RAW_CONTROL = _raw_unsafe()


def hostile_audit(names: list[str]) -> Audit:
    """Each name as a VPC Name, a tag and an account name, every VPC in an overlap, plus a
    default VPC per account."""
    vpcs = []
    for i, name in enumerate(names):
        owner = f"{100000000000 + i:012d}"
        vpcs.append(
            make_vpc(i + 1, "10.0.0.0/16", owner=owner, account_name=name, name=name).model_copy(
                update={"Tags": {"Name": name, name: name}}
            )
        )
        vpcs.append(
            make_vpc(500 + i, "172.31.0.0/16", owner=owner, account_name=name, default=True)
        )
    return build_audit(vpcs, [], now=T)


@pytest.mark.parametrize("payload", HOSTILE)
def test_text_is_one_record_per_line_and_inert(payload: str) -> None:
    benign = render_table(hostile_audit(["benign"]))
    text = render_table(hostile_audit([payload]))
    assert len(text.splitlines()) == len(benign.splitlines())
    assert not RAW_CONTROL.search(text)
    assert not any(line.startswith("OVERLAP GROUPS: none") for line in text.splitlines())
    assert terminal(payload) in text


def test_text_summary_is_inert() -> None:
    s = RunSummary(started_at=T)
    for i, payload in enumerate(HOSTILE):
        s.add(
            TargetResult(
                f"{i:012d}",
                "us-east-1",
                TargetStatus.FAILED,
                error_code="AccessDenied",
                message=payload,
            ),
            account_name=payload,
        )
    text = render_summary(s)
    assert not RAW_CONTROL.search(text)
    assert len(text.splitlines()) == 3 + len(HOSTILE)


@pytest.mark.parametrize("payload", HOSTILE)
def test_csv_cells_are_never_formulas(payload: str) -> None:
    rows = list(csv.reader(io.StringIO(render_csv(hostile_audit([payload])), newline="")))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    # Nothing is lost: the text is the payload behind one quote where it needed one.
    assert csv_cell(payload) in cells


def test_json_stays_exact() -> None:
    audit = hostile_audit(HOSTILE)
    got = json.loads(render_json(audit))
    names = {m["AccountName"] for g in got["overlap_groups"] for m in g["members"]}
    assert names == set(HOSTILE)


def test_html_embeds_the_data_intact_and_escapes_the_markup() -> None:
    page = render_html(hostile_audit(HOSTILE))
    # The data is base64: no payload can close its script early or open another.
    start = page.index('id="report-data"')
    block = page[page.index(">", start) + 1 : page.index("</script>", start)]
    assert re.fullmatch(r"\s*[A-Za-z0-9+/=]+\s*", block)
    data = page_data(page)
    assert set(HOSTILE) <= set(data["vpcs"]["Name"])
    assert set(HOSTILE) <= {name for _, name, _ in data["accounts"]}
    assert "<img" not in page and "<!--<script>" not in page
    assert page.count("<script") == 2


def test_lambda_check_result_is_exact_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambda result is data: it carries the names exactly and serializes cleanly."""
    from collector.jobs.check import CheckResult

    audit = hostile_audit(HOSTILE)
    result = CheckResult(["100000000000"], RunSummary(started_at=T), audit).to_dict()
    wire = json.dumps(result)
    assert json.loads(wire)["audit"]["default_vpcs"][0]["AccountName"] == HOSTILE[0]
