"""The README and docs/ link to files and headings that exist: a user follows them to deploy and
operate the tool, and a section renamed (benchmarks.md names its sections by date) must not
leave a link to nowhere. Anchors are GitHub's: a heading lower-cased, its punctuation dropped,
spaces as hyphens, a repeated heading numbered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"```.*?```", re.S)
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    out: set[str] = set()
    seen: dict[str, int] = {}
    for text in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_the_anchor_rule_on_headings_these_pages_use(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Benchmarks\n"
        "## `audit` reads VPC items (issue 26, part), measured 2026-11-30\n"
        "## Where it stands — 1,000 × 17\n"
        "```\n# not a heading\n```\n"
        "## Where it stands — 1,000 × 17\n",
        encoding="utf-8",
    )
    assert anchors(page) == {
        "benchmarks",
        "audit-reads-vpc-items-issue-26-part-measured-2026-11-30",
        "where-it-stands--1000--17",
        "where-it-stands--1000--17-1",
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_local_link_reaches_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no such heading")
    assert not broken, broken
