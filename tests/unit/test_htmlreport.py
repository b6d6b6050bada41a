"""The HTML report's map data (pure) and the page's self-containment."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from collector.analysis import build_audit
from collector.config import ReservedCidr
from collector.models import Vpc
from collector.report.addressmap import PALETTE, AccountStyles, clash_blocks, map_pools
from collector.report.page import render_html
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


STYLES = AccountStyles([A, B])


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
    assert cell0.accounts == {A, B} and cell0.kind == "multi" and cell0.clash
    assert [x["VpcId"] for x in cell0.vpcs] == [VPCS[0].VpcId, VPCS[1].VpcId]
    assert [c.index for c in ten.cells if c.vpcs] == [0, 6, 7, 9]
    assert ten.cells[6].kind == ten.cells[7].kind == "account"
    assert ten.cells[6].accounts == ten.cells[7].accounts == {B}
    assert not ten.cells[6].clash
    assert ten.cells[9].accounts == {A}
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
    assert {c.kind for c in p.cells if c.vpcs} == {"default"}


def test_default_vpcs_of_many_accounts_do_not_look_like_a_clash() -> None:
    """Issue 11, observation 7: every account's default VPC is 172.31.0.0/16."""
    defaults = [make_vpc(n, "172.31.0.0/16", owner=f"{n:012d}", default=True) for n in range(1, 6)]
    audit = build_audit(defaults, [], now=T)
    (grid,) = map_pools(audit.vpcs, audit.reserved, audit.overlap_groups)
    assert {c.kind for c in grid.cells if c.vpcs} == {"default"}
    page = render_html(audit)
    assert 'class="cell default"' in page and 'class="cell multi' not in page


def test_clash_blocks_are_the_overlapping_parts() -> None:
    audit = build_audit(VPCS, RESERVED, now=T)
    assert sorted(map(str, clash_blocks(audit.overlap_groups))) == [
        "10.0.128.0/20",
        "192.168.7.0/24",
    ]


def test_accounts_get_distinct_fills_from_a_fixed_palette() -> None:
    """Issue 11, observation 7: hues from a hash gave two accounts one colour."""
    ids = [f"{n:012d}" for n in range(1, 37)]
    styles = AccountStyles(reversed(ids))
    fills = [styles.fill(a) for a in ids]
    assert len(set(fills)) == 36  # 9 colours x (solid, dots, stripes, checks)
    assert fills[:9] == list(PALETTE)
    assert fills[9] == "url(#a9)" and 'id="a9"' in styles.defs()
    assert AccountStyles(ids).fill(ids[3]) == styles.fill(ids[3])  # stable for a set


def test_legend_swatches_are_drawn_like_the_cells() -> None:
    page = render_html(build_audit(VPCS, RESERVED, now=T))
    legend = page[page.index('<p class="legend">') : page.index("</p>", page.index("legend"))]
    # The several-accounts swatch uses the very pattern the striped cells use.
    assert 'fill="url(#multi)"' in legend and "svg.grid rect.multi{fill:url(#multi)}" in page
    assert 'fill="url(#hatch)"' in legend and 'fill="url(#resv)"' in legend
    assert ">d</text>" in legend


def test_page_is_self_contained_and_escaped() -> None:
    evil = v(9, A, "10.200.0.0/16").model_copy(
        update={"Name": "</script><img src=x onerror=alert(1)>"}
    )
    page = render_html(build_audit([*VPCS, evil], RESERVED, now=T))
    assert "<script src" not in page
    # One link: the empty inline icon, so a browser asks the server for no favicon either.
    assert re.findall(r"<link[^>]*>", page) == ['<link rel="icon" href="data:,">']
    assert not re.search(r"(src|href)=[\"']?https?:", page)
    assert "</script><img" not in page  # escaped in both the table and the JSON data
    # The overlap table names each VPC (issue 11, observation 7).
    assert "<th>VPC name</th>" in page and "<td>n1</td>" in page
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


def test_reserved_blocks_are_drawn_and_not_free() -> None:
    """Issue 11, observation 6: right after `allocate --reserve` the map said `free`."""
    from collector.models import Reservation

    res = Reservation("10.12.0.0/16", A, T, int(T.timestamp()) + 3600, "LZ-1")
    gone = Reservation("10.13.0.0/16", A, T, int(T.timestamp()) - 1, "expired")
    audit = build_audit(VPCS, RESERVED, now=T, reservations=[res, gone])
    assert audit.reservations == [res]
    ten = {
        p.cidr: p
        for p in map_pools(audit.vpcs, audit.reserved, audit.overlap_groups, audit.reservations)
    }["10.0.0.0/8"]
    cell = ten.cells[12]
    assert not cell.free and cell.reservations == [
        "10.12.0.0/16 reserved for 111111111111 until 2026-11-26T04:00:00Z"
    ]
    assert ten.cells[13].free
    page = render_html(audit)
    assert "10.12.0.0/16: 10.12.0.0/16 reserved for 111111111111 until" in page
    assert "10.13.0.0/16: free" in page
    assert 'class="cell free reservation"' in page
    assert "<h2>Reservations (1)</h2>" in page and "LZ-1" in page


def test_ipv6_blocks_are_listed_per_pool() -> None:
    six = [
        make_vpc(30, "10.30.0.0/16", owner=A, v6=("2600:1f18:4c3:a00::/56",), name="six-a"),
        make_vpc(31, "10.31.0.0/16", owner=B, v6=("2600:1f18:4c3:b00::/56",)),
    ]
    page = render_html(build_audit(six, [], now=T))
    section = page[page.index('<section id="ipv6">') :]
    assert section.count("<code>2600:1f18:4c3::/48</code>") == 2
    assert "2600:1f18:4c3:a00::/56" in section and "six-a" in section
