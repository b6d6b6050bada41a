"""Overlap groups, default VPCs and free space: pure functions, and properties vs brute force."""

from __future__ import annotations

import ipaddress
import tracemalloc
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analysis import (
    RESERVED_OWNER,
    IPNetwork,
    build_audit,
    find_overlap_groups,
    first_free,
    overlap_groups,
)
from collector.analysis.overlaps import Member, find_span_groups, span_cidr
from collector.cidrs import block_span
from collector.config import ReservedCidr
from collector.models import Vpc
from tests.factories import make_vpc

NOW = datetime(2026, 11, 26, tzinfo=UTC)
net = ipaddress.ip_network


def vpc(
    vid: int,
    *cidrs: str,
    owner: str = "111111111111",
    default: bool = False,
    deleted: bool = False,
    v6: tuple[str, ...] = (),
) -> Vpc:
    return make_vpc(
        vid,
        *cidrs,
        owner=owner,
        default=default,
        deleted=deleted,
        v6=v6,
        account_name=f"acct-{owner[-1]}",
        seen=NOW,
    )


def brute_force(blocks: Sequence[tuple[IPNetwork, Hashable]]) -> list[list[int]]:
    """All pairs, union-find: the definition the fast version must match."""
    parent = list(range(len(blocks)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for i, (a, oa) in enumerate(blocks):
        for j in range(i + 1, len(blocks)):
            b, ob = blocks[j]
            if oa != ob and a.version == b.version and a.overlaps(b):  # type: ignore[arg-type]
                parent[find(j)] = find(i)
    comps: dict[int, list[int]] = {}
    for i in range(len(blocks)):
        comps.setdefault(find(i), []).append(i)
    return sorted((sorted(c) for c in comps.values() if len(c) > 1), key=lambda c: c[0])


@st.composite
def block_sets(draw: st.DrawFn) -> list[tuple[IPNetwork, Hashable]]:
    """Random v4/v6 blocks from a small space: nested, adjacent and identical blocks abound."""
    n = draw(st.integers(0, 40))
    out: list[tuple[IPNetwork, Hashable]] = []
    for _ in range(n):
        v6 = draw(st.booleans())
        plen = draw(st.integers(0, 6))
        base = draw(st.integers(0, 63))
        if v6:
            addr = (0x2001_0DB8 << 96) | (base << 90)
            network: IPNetwork = ipaddress.IPv6Network((addr, 32 + plen), strict=False)
        else:
            network = ipaddress.IPv4Network(((10 << 24) | (base << 18), 8 + plen), strict=False)
        owner: Hashable = draw(st.sampled_from(["a", "b", "c", "d", RESERVED_OWNER]))
        out.append((network, owner))
    return out


@settings(max_examples=400, deadline=None)
@given(block_sets())
def test_overlap_groups_equal_brute_force(blocks: list[tuple[IPNetwork, Hashable]]) -> None:
    assert find_overlap_groups(blocks) == brute_force(blocks)


@settings(max_examples=300, deadline=None)
@given(block_sets(), st.booleans())
def test_spans_from_stored_text_group_as_networks_do(
    blocks: list[tuple[IPNetwork, Hashable]], exploded: bool
) -> None:
    # overlap_groups reads each block's span from its stored text without `ipaddress` objects
    # (IPv4); the spans, and the groups built on them, are the networks' own. Exploded IPv6 is
    # text the fast path does not take.
    spans = []
    for n, owner in blocks:
        first = int(n.network_address)
        assert block_span(str(n)) == (n.version, first, int(n.broadcast_address))
        if exploded:
            assert block_span(n.exploded) == block_span(str(n))
        spans.append((block_span(str(n)), owner))
    assert find_span_groups(spans) == brute_force(blocks)


def test_a_block_with_host_bits_is_an_error_not_a_span() -> None:
    with pytest.raises(ValueError):
        block_span("10.0.0.1/16")
    with pytest.raises(ValueError):
        block_span("2001:db8::1/32")


def test_known_shapes() -> None:
    a = (net("10.0.0.0/16"), "a")
    a_inner = (net("10.0.1.0/24"), "a")
    b_inner = (net("10.0.1.0/24"), "b")
    c_adjacent = (net("10.1.0.0/16"), "c")
    r1, r2 = (net("10.0.0.0/8"), RESERVED_OWNER), (net("10.0.0.0/12"), RESERVED_OWNER)
    v6a, v6b = (net("2001:db8::/56"), "a"), (net("2001:db8::/64"), "b")
    assert find_overlap_groups([a, a_inner]) == []  # one VPC's blocks never clash
    assert find_overlap_groups([r1, r2]) == []  # nor do two reserved ranges
    assert find_overlap_groups([a, c_adjacent]) == []  # adjacent is not overlapping
    assert find_overlap_groups([a, a_inner, b_inner]) == [[0, 1, 2]]
    assert find_overlap_groups([r1, r2, c_adjacent]) == [[0, 1, 2]]
    assert find_overlap_groups([v6a, v6b, a]) == [[0, 1]]


def test_groups_with_vpcs_reserved_defaults_and_deleted() -> None:
    o1, o2 = "111111111111", "222222222222"
    vpcs = [
        vpc(1, "10.0.0.0/16", "100.64.0.0/20", owner=o1),
        vpc(2, "10.0.128.0/17", owner=o2),
        vpc(3, "100.64.8.0/21", owner=o2),
        vpc(4, "172.31.0.0/16", owner=o1, default=True),
        vpc(5, "172.31.0.0/16", owner=o2, default=True),
        vpc(6, "10.5.0.0/16", owner=o2, deleted=True),
        vpc(7, "10.5.0.0/16", owner=o1),
        vpc(8, "192.168.10.0/24", owner=o2, v6=("2600:1f18::/56",)),
    ]
    reserved = [ReservedCidr(cidr="192.168.0.0/16", name="corporate-network")]
    groups = overlap_groups(vpcs, reserved)
    assert [g.span for g in groups] == ["10.0.0.0/16", "100.64.0.0/20", "192.168.0.0/16"]
    assert [m.to_dict() for m in groups[0].members] == [
        {
            "VpcId": vpcs[0].VpcId,
            "OwnerId": o1,
            "AccountName": "acct-1",
            "Region": "us-east-1",
            "Cidr": "10.0.0.0/16",
        },
        {
            "VpcId": vpcs[1].VpcId,
            "OwnerId": o2,
            "AccountName": "acct-2",
            "Region": "us-east-1",
            "Cidr": "10.0.128.0/17",
        },
    ]
    assert groups[2].members[0].to_dict() == {
        "Reserved": "corporate-network",
        "Cidr": "192.168.0.0/16",
    }
    with_defaults = overlap_groups(vpcs, reserved, include_default=True)
    assert "172.31.0.0/16" in [g.span for g in with_defaults]

    audit = build_audit(vpcs, reserved, now=NOW)
    d = audit.to_dict()
    assert d["vpc_count"] == 7 and d["account_count"] == 2
    assert d["summary"] == {
        "overlap_groups": 3,
        "vpcs_in_overlaps": 4,
        "default_vpcs": 2,
        "unreadable_items": 0,
        "conflicts": 0,
        "headroom": 0,
        "exhausted_subnets": 0,
        "single_az": 0,
        "expected_overlaps": 0,
        "reservation_overlaps": 0,
        "stale": 0,
    }
    assert [x["VpcId"] for x in d["default_vpcs"]] == [vpcs[3].VpcId, vpcs[4].VpcId]
    only_o1 = build_audit(vpcs, reserved, now=NOW, accounts=[o1]).to_dict()
    assert only_o1["summary"] == {
        "overlap_groups": 2,
        "vpcs_in_overlaps": 3,
        "default_vpcs": 1,
        "unreadable_items": 0,
        "conflicts": 0,
        "headroom": 0,
        "exhausted_subnets": 0,
        "single_az": 0,
        "expected_overlaps": 0,
        "reservation_overlaps": 0,
        "stale": 0,
    }


def test_first_free_basic() -> None:
    pool = net("10.0.0.0/8")
    used = [net("10.0.0.0/16"), net("10.1.0.0/20"), net("10.2.0.0/16"), net("192.168.0.0/16")]
    assert first_free(pool, 16, used) == net("10.3.0.0/16")
    assert first_free(pool, 20, used) == net("10.1.16.0/20")
    assert first_free(pool, 8, used) is None
    assert first_free(net("10.0.0.0/15"), 16, used) is None
    assert first_free(pool, 24, [net("10.0.0.0/8")]) is None
    assert first_free(pool, 24, []) == net("10.0.0.0/24")
    assert first_free(net("2001:db8::/48"), 56, [net("2001:db8::/56")]) == net(
        "2001:db8:0:100::/56"
    )
    with pytest.raises(ValueError, match="prefix length 7 is outside 10.0.0.0/8"):
        first_free(pool, 7, used)
    with pytest.raises(ValueError, match="outside"):
        first_free(pool, 33, used)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(20, 28)), max_size=30), st.integers(16, 28)
)
def test_first_free_matches_exhaustive_search(used_raw: list[tuple[int, int]], plen: int) -> None:
    pool = net("10.0.0.0/16")
    used = [ipaddress.IPv4Network(((10 << 24) | (x << 8), p), strict=False) for x, p in used_raw]
    expected = next(
        (c for c in pool.subnets(new_prefix=plen) if not any(c.overlaps(u) for u in used)), None
    )
    assert first_free(pool, plen, used) == expected


@settings(max_examples=300, deadline=None)
@given(block_sets())
def test_groups_order_and_span_as_ipaddress_networks_would(
    blocks: list[tuple[IPNetwork, Hashable]],
) -> None:
    # Members are sorted and the group's span chosen on integer spans (issue 26: `ipaddress`
    # networks for 155,000 members took 5 s of a 100k audit); the order and the span printed
    # are the networks' own: (version, first address, prefix length, VPC id).
    owners = sorted({str(o) for _, o in blocks})
    vpcs = [
        vpc(
            i,
            *[str(n) for n, o in blocks if str(o) == owner and n.version == 4],
            v6=tuple(str(n) for n, o in blocks if str(o) == owner and n.version == 6),
            owner=f"{100000000000 + i}",
        )
        for i, owner in enumerate(owners)
    ]
    groups = overlap_groups(vpcs)
    spans = [ipaddress.ip_network(g.span) for g in groups]
    assert spans == sorted(spans, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    for group in groups:
        nets = [ipaddress.ip_network(m.cidr) for m in group.members]
        keys = [
            (n.version, int(n.network_address), n.prefixlen, m.vpc.VpcId if m.vpc else "")
            for n, m in zip(nets, group.members, strict=True)
        ]
        assert keys == sorted(keys)
        assert group.span == str(min(nets, key=lambda n: (n.version, n.prefixlen)))


@given(
    st.integers(0, 2**128 - 1) | st.integers(0, 2**16 - 1).map(lambda x: x << 112),
    st.integers(0, 129) | st.sampled_from(["064", "", "-1", "６４"]),
    st.booleans(),
)
@settings(max_examples=500)
def test_ipv6_spans_agree_with_ipaddress(value: int, prefix: int | str, exploded: bool) -> None:
    address = ipaddress.IPv6Address(value)
    cidr = f"{address.exploded if exploded else address}/{prefix}"
    try:
        expected: tuple[int, int, int] | None = (
            6,
            int((n := ipaddress.IPv6Network(cidr, strict=True)).network_address),
            int(n.broadcast_address),
        )
    except ValueError:
        expected = None
    try:
        got: tuple[int, int, int] | None = block_span(cidr)
    except ValueError:
        got = None
    assert got == expected


@given(
    st.sampled_from([4, 6]),
    st.integers(0, 2**128 - 1)
    | st.integers(0, 2**32 - 1).map(lambda x: 0xFFFF << 32 | x)  # IPv4-mapped: dotted quads
    | st.integers(0, 2**32 - 1),  # IPv4-compatible
    st.integers(0, 128),
)
@settings(max_examples=1000)
def test_a_span_prints_as_its_ipaddress_network(version: int, value: int, prefix: int) -> None:
    # A group's span is printed from its widest member's integers (issue 26: each block parsed
    # once), by the C library; it must read as `ipaddress` prints the network.
    width = 32 if version == 4 else 128
    prefix = min(prefix, width)
    kind = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    net = kind((value % 2**width, prefix), strict=False)
    span = (version, int(net.network_address), int(net.broadcast_address))
    assert span_cidr(span) == str(net)
    assert block_span(span_cidr(span)) == span


def _traced_bytes(make: Callable[[int], object], n: int = 2000) -> int:
    """The memory `n` things `make` makes hold, traced after as many made untraced (first
    calls allocate once what later calls reuse)."""
    warm = [make(i) for i in range(n)]
    del warm
    tracemalloc.start()
    try:
        kept = [make(i) for i in range(n)]
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return size


def test_a_parsed_member_is_the_one_init_makes_in_no_more_memory() -> None:
    # An audit holds a member for each grouped block (100,000 at 100k VPCs): one made from a
    # span already parsed must be the member `__init__` makes, and no larger (a dict filled
    # in one `update` took 72 bytes more per member than `__init__`'s, measured).
    cidrs = [f"10.{i % 256}.{i // 256}.0/24" for i in range(2000)]
    spans = [block_span(c) for c in cidrs]
    made = Member(cidrs[0], reserved="corp")
    parsed = Member.parsed(cidrs[0], spans[0], reserved="corp")
    assert parsed == made and parsed.span == made.span and parsed.__dict__ == made.__dict__

    def by_init(i: int) -> object:
        m = Member(cidrs[i], reserved="corp")
        m.__dict__["span"] = spans[i]
        return m

    assert _traced_bytes(lambda i: Member.parsed(cidrs[i], spans[i], reserved="corp")) <= (
        _traced_bytes(by_init)
    )


def test_a_member_s_owner_is_its_vpc_s_key_however_it_was_made() -> None:
    """The analysis matches members by `owner` (conflicts, the summary's VPC count): the key a
    group's members were made with, or their VPC's own, None for a reserved range."""
    a, b = make_vpc(1, "10.0.0.0/16", owner="111111111111"), make_vpc(2, "10.0.0.0/24")
    c = make_vpc(1, "10.0.0.0/28", owner="222222222222")  # the same VpcId, another account
    (group,) = overlap_groups([a, b, c], [ReservedCidr(cidr="10.0.0.0/8", name="corp")])
    assert {(m.cidr, m.owner) for m in group.members} == {
        ("10.0.0.0/8", None),
        ("10.0.0.0/16", a.key),
        ("10.0.0.0/24", b.key),
        ("10.0.0.0/28", c.key),
    }
    assert Member("10.0.0.0/16", vpc=a).owner == a.key
    assert Member("10.0.0.0/8", reserved="corp").owner is None
