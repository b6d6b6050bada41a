"""The HTML report's map data (pure) and the page's self-containment."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from collector.analysis import build_audit
from collector.config import ReservedCidr
from collector.models import Vpc
from collector.report.page import account_color, clash_blocks, map_pools, render_html
from tests.factories import make_vpc

T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
A, B = "111111111111", "222222222222"


def v(n: int, owner: str, *cidrs: str, default: bool = False) -> Vpc:
    return make_vpc(
        n,
        *cidrs,
        owner=owner,
        default=default,
        region="eu-west-1",
        account_name={A: "pay", B: "data"}[owner],
        name=f"n{n}",
    )


VPCS = [
    v(1, A, "10.0.0.0/16"),
    v(2, B, "10.0.128.0/20"),  # inside A's 10.0/16: clash in cell 10.0.0.0/16
    v(3, B, "10.6.0.0/15"),  # two /16 cells, one account
    v(4, A, "100.64.0.0/20", "10.9.0.0/16"),
    v(5, B, "172.31.0.0/16", default=True),
    v(6, A, "192.168.7.0/24"),  # inside the reserved corporate network
    v(7, B, "52.10.0.0/16"),  # outside the standard pools: drawn in 52.0.0.0/8
]
RESERVED = [
    ReservedCidr(cidr="192.168.0.0/16", name="corp"),
    ReservedCidr(cidr="198.18.0.0/15", name="lab"),
]


def pools():  # type: ignore[no-untyped-def]
    audit = build_audit(VPCS, RESERVED, now=T)
    return {p.cidr: p for p in map_pools(audit.vpcs, audit.reserved, audit.overlap_groups)}


def test_pools_and_cell_sizes() -> None:
    p = pools()
    assert list(p) == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "198.18.0.0/15",
        "52.0.0.0/8",
    ]
    assert {c: (g.cell_prefix, len(g.cells)) for c, g in p.items()} == {
        "10.0.0.0/8": (16, 256),
        "172.16.0.0/12": (20, 256),
        "192.168.0.0/16": (24, 256),
        "100.64.0.0/10": (18, 256),
        "198.18.0.0/15": (23, 256),
        "52.0.0.0/8": (16, 256),
    }


def test_cells_colors_and_clashes() -> None:
    ten = pools()["10.0.0.0/8"]
    cell0 = ten.cells[0]
    assert cell0.cidr == "10.0.0.0/16"
    assert cell0.accounts == {A, B} and cell0.color == "multi" and cell0.clash
    assert [x["VpcId"] for x in cell0.vpcs] == [VPCS[0].VpcId, VPCS[1].VpcId]
    assert [c.index for c in ten.cells if c.vpcs] == [0, 6, 7, 9]
    assert ten.cells[6].color == ten.cells[7].color == account_color(B)
    assert not ten.cells[6].clash
    assert ten.cells[9].color == account_color(A)
    assert [c.index for c in ten.cells if c.clash] == [0]
    assert ten.used == 4


def test_reserved_hatch_and_clash_inside_it() -> None:
    corp = pools()["192.168.0.0/16"]
    assert all(c.reserved == ["corp (192.168.0.0/16)"] for c in corp.cells)
    assert [c.index for c in corp.cells if c.clash] == [7]
    assert [c.index for c in corp.cells if c.vpcs] == [7]
    lab = pools()["198.18.0.0/15"]
    assert all(c.reserved and not c.vpcs and not c.clash for c in lab.cells)


def test_default_vpcs_drawn_but_not_clashing() -> None:
    p = pools()["172.16.0.0/12"]
    assert [c.index for c in p.cells if c.vpcs] == list(range(240, 256))
    assert not any(c.clash for c in p.cells)


def test_clash_blocks_are_the_overlapping_parts() -> None:
    audit = build_audit(VPCS, RESERVED, now=T)
    assert sorted(map(str, clash_blocks(audit.overlap_groups))) == [
        "10.0.128.0/20",
        "192.168.7.0/24",
    ]


def test_account_color_is_stable_and_distinguishes() -> None:
    assert account_color(A) == account_color(A)
    assert account_color(A) != account_color(B)
    assert re.fullmatch(r"hsl\(\d+, 62%, 52%\)", account_color(A))


def test_page_is_self_contained_and_escaped() -> None:
    evil = v(9, A, "10.200.0.0/16").model_copy(
        update={"Name": "</script><img src=x onerror=alert(1)>"}
    )
    page = render_html(build_audit([*VPCS, evil], RESERVED, now=T))
    assert "<script src" not in page and "<link" not in page
    assert not re.search(r"(src|href)=[\"']?https?:", page)
    assert "</script><img" not in page  # escaped in both the table and the JSON data
    assert 'oldest LastSeen\n<span id="freshness">2026-11-26T03:00:00Z' in page
    assert page.count('class="cell') == 6 * 256


def test_clash_blocks_identical_and_big_groups() -> None:
    same = [v(20, A, "10.77.0.0/16"), v(21, B, "10.77.0.0/16")]
    audit = build_audit(same, [], now=T)
    assert [str(n) for n in clash_blocks(audit.overlap_groups)] == ["10.77.0.0/16"]
    # One reserved /8 over 3,000 VPCs of one account: every VPC clashes, the range itself not.
    many = [v(100 + i, A, f"10.{i // 256}.{i % 256}.0/24") for i in range(3000)]
    audit = build_audit(many, [ReservedCidr(cidr="10.0.0.0/8", name="on-prem")], now=T)
    clashes = clash_blocks(audit.overlap_groups)
    assert len(clashes) == 3000 and "10.0.0.0/8" not in map(str, clashes)
