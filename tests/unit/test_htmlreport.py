"""The HTML report's map data (pure) and the page's self-containment."""

from __future__ import annotations

import ipaddress
import json
import random
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.inventory import synthetic_vpcs
from collector.analysis import build_audit
from collector.analysis.headroom import utilization_pct, vpc_headroom
from collector.analysis.inventory import audit_rows
from collector.config import ReservedCidr
from collector.models import Vpc
from collector.report.addressmap import PALETTE, AccountStyles, clash_blocks, map_pools
from collector.report.page import render_html
from collector.report.pagedata import pool_text
from tests.factories import make_vpc, page_data

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
    assert sorted(m.cidr for m in clash_blocks(audit.overlap_groups)) == [
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
    assert "</script><img" not in page and "<img" not in page  # nowhere raw, data compressed
    # The overlap table names each VPC (issue 11, observation 7): its script draws each
    # member's Name from the VPC's row.
    data = page_data(page)
    names = data["vpcs"]["Name"]
    members = [m for g in data["groups"] for m in g[2]]
    assert "n1" in {names[m[0]] for m in members if m[0] is not None}
    assert "'VPC name'" in page  # the groups table's header, in the script
    assert 'oldest LastSeen\n<span id="freshness">2026-11-26T03:00:00Z' in page
    assert page.count('class="cell') == 6 * 256


def test_clash_blocks_identical_and_big_groups() -> None:
    same = [v(20, A, "10.77.0.0/16"), v(21, B, "10.77.0.0/16")]
    audit = build_audit(same, [], now=T)
    assert [m.cidr for m in clash_blocks(audit.overlap_groups)] == ["10.77.0.0/16"]
    # One reserved /8 over 3,000 VPCs of one account: every VPC clashes, the range itself not.
    many = [v(100 + i, A, f"10.{i // 256}.{i % 256}.0/24") for i in range(3000)]
    audit = build_audit(many, [ReservedCidr(cidr="10.0.0.0/8", name="on-prem")], now=T)
    clashes = clash_blocks(audit.overlap_groups)
    assert len(clashes) == 3000 and "10.0.0.0/8" not in [m.cidr for m in clashes]


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
    assert '<div id="ipv6-table">' in page  # drawn by the page's script from its data
    data = page_data(page)
    rows = {vpc: i for i, vpc in enumerate(data["vpcs"]["VpcId"])}
    assert data["ipv6"] == [
        [
            "2600:1f18:4c3::/48",
            [
                ["2600:1f18:4c3:a00::/56", rows[six[0].VpcId]],
                ["2600:1f18:4c3:b00::/56", rows[six[1].VpcId]],
            ],
        ]
    ]
    assert data["vpcs"]["Name"][rows[six[0].VpcId]] == "six-a"
    # Without IPv6 blocks, the page says so instead of drawing an empty table.
    assert "<p>No IPv6 blocks.</p>" in render_html(build_audit(VPCS, [], now=T))


def inventory_rows_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The inventory rows as the page's script rebuilds them from the columns."""
    cols = data["vpcs"]
    rows = []
    for i, vpc_id in enumerate(cols["VpcId"]):
        owner, name, _ = data["accounts"][cols["Account"][i]]
        subnets = cols["Subnets"][i]
        row = {
            "VpcId": vpc_id,
            "OwnerId": owner,
            "AccountName": name,
            "Region": data["regions"][cols["Region"][i]],
            "Name": cols["Name"][i],
            "CidrBlocks": cols["CidrBlocks"][i],
            "Ipv6CidrBlocks": cols["Ipv6CidrBlocks"][i],
            "IsDefault": cols["IsDefault"][i] == 1,
            "State": data["states"][cols["State"][i]],
            "Subnets": len(subnets),
            "AvailabilityZones": len({s[2] for s in subnets}),
            "UsedPct": cols["UsedPct"][i],
            "FirstSeen": data["times"][cols["FirstSeen"][i]],
            "LastSeen": data["times"][cols["LastSeen"][i]],
            "Stale": data["reasons"][cols["Stale"][i]],
        }
        rows.append({c: row[c] for c in data["columns"]})
    return rows


def test_the_page_names_each_vpc_once_and_stays_small() -> None:
    """Issue 26: a 100,000-VPC page carried every VPC five times over (map cells, group, account,
    IPv6 and inventory rows): 112 MB. Now one columnar data block names each VPC once."""
    vpcs = synthetic_vpcs(2000, accounts=50)
    wide = make_vpc(99_999, "10.3.0.0/16", owner=B, name="wide")  # overlaps 256 of them
    audit = build_audit([*vpcs, wide], [], now=T)
    assert len(audit.overlap_groups) == 1
    page = render_html(audit)
    data = page_data(page)
    seen = Counter(re.findall(r"vpc-[0-9a-f]{17}", json.dumps(data)))
    assert set(seen) == {v.VpcId for v in [*vpcs, wide]} and set(seen.values()) == {1}
    # The old page's rows were 1.1 kB per VPC; the whole page is now under 60 bytes per VPC
    # plus its fixed part (styles, script, the map's 256 cells per pool).
    fixed = len(render_html(build_audit([wide], [], now=T)))
    assert len(page) - fixed < 60 * len(vpcs)
    # The same audit gives the same page (no timestamp in the compressed block).
    assert render_html(audit) == page
    # What the script rebuilds is exactly what `vpctracker inventory` prints.
    assert inventory_rows_of(data) == audit_rows(audit.vpcs, audit.stale)


def test_inventory_use_agrees_with_headroom() -> None:
    """`utilization_pct` (the inventory's `UsedPct`) is `vpc_headroom`'s figure, at a fraction
    of its cost; None without subnets."""
    for vpc in [*synthetic_vpcs(50), make_vpc(1, "10.0.0.0/16")]:
        expected = vpc_headroom(vpc).utilization_pct if vpc.Subnets else None
        assert utilization_pct(vpc) == expected


def test_ipv6_pool_text_is_what_ipaddress_prints() -> None:
    rng = random.Random(26)
    firsts = [0, 1, 0xFFFF << 32, (0xFFFF << 32) | 0x01020304, 0x01020304, 2**128 - 2**80]
    firsts += [rng.getrandbits(48) << 80 for _ in range(500)]
    firsts += [rng.getrandbits(128) >> rng.randrange(128) for _ in range(500)]  # zero runs
    for first in firsts:
        for prefix in (48, 56, 128):
            net = ipaddress.IPv6Network((first >> (128 - prefix) << (128 - prefix), prefix))
            assert pool_text(int(net.network_address), prefix) == str(net)


def test_the_same_inventory_draws_the_same_page_whatever_order_it_was_read_in() -> None:
    """A table's parallel read hands its items over in the order its segments' pages arrive:
    the map's cells listed their VPCs (and summed their share of the cell) in that order, so
    one table drew different pages, read twice (found comparing two reads of one table)."""
    vpcs = synthetic_vpcs(300)
    shuffled = list(vpcs)
    random.Random(7).shuffle(shuffled)
    pages = [render_html(build_audit(order, RESERVED, now=T)) for order in (vpcs, shuffled)]
    cells = [page_data(p)["cells"] for p in pages]
    assert any(len(c["vpcs"]) > 1 for c in cells[0].values())  # cells shared: order shows
    assert cells[0] == cells[1]
    assert pages[0] == pages[1]
