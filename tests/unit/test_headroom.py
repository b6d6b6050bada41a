"""Subnets, growth headroom and lookup (issue 14): pure functions from real API shapes."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analysis import build_audit
from collector.analysis.headroom import (
    HeadroomLimits,
    find_headroom,
    largest_free_block,
    subnet_size,
    vpc_headroom,
)
from collector.analysis.lookup import BlockIndex, lookup, parse_query
from collector.config import ReservedCidr
from collector.models import Account, Reservation, Subnet, to_records
from collector.store.vpcs import from_item, to_item
from tests.factories import make_vpc

T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
ACCOUNT = Account("111111111111", "payments")


def subnet(n: int, cidr: str, az: str = "us-east-1a", available: int | None = None) -> Subnet:
    size = ipaddress.IPv4Network(cidr).num_addresses - 5
    return Subnet(
        SubnetId=f"subnet-{n:017x}",
        CidrBlock=cidr,
        AvailabilityZone=az,
        AvailableIpAddressCount=size if available is None else available,
        Name=f"sn-{n}",
    )


def raw_subnet(n: int, vpc: str, cidr: str, az: str, available: int) -> dict[str, Any]:
    """A `describe_subnets` item as EC2 returns it."""
    return {
        "AvailabilityZone": az,
        "AvailabilityZoneId": "use1-az1",
        "AvailableIpAddressCount": available,
        "CidrBlock": cidr,
        "DefaultForAz": False,
        "MapPublicIpOnLaunch": False,
        "State": "available",
        "SubnetId": f"subnet-{n:017x}",
        "VpcId": vpc,
        "OwnerId": ACCOUNT.id,
        "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [
            {
                "AssociationId": "subnet-cidr-assoc-0123",
                "Ipv6CidrBlock": "2600:1f18:4c3:a01::/64",
                "Ipv6CidrBlockState": {"State": "associated"},
            }
        ],
        "Tags": [{"Key": "Name", "Value": f"app-{n}"}],
        "SubnetArn": f"arn:aws:ec2:us-east-1:111111111111:subnet/subnet-{n:017x}",
    }


def raw_vpc(vpc_id: str, cidr: str) -> dict[str, Any]:
    return {
        "CidrBlock": cidr,
        "State": "available",
        "VpcId": vpc_id,
        "OwnerId": ACCOUNT.id,
        "IsDefault": False,
        "CidrBlockAssociationSet": [
            {"CidrBlock": cidr, "CidrBlockState": {"State": "associated"}, "AssociationId": "a"}
        ],
    }


def test_subnets_ride_on_their_vpc_and_shared_ones_are_left_to_their_owner() -> None:
    vid = "vpc-0a1b2c3d4e5f60718"
    shared = {**raw_subnet(9, vid, "10.0.9.0/24", "us-east-1a", 10), "OwnerId": "999999999999"}
    out = to_records(
        [raw_vpc(vid, "10.0.0.0/16")],
        account=ACCOUNT,
        region="us-east-1",
        now=T,
        raw_subnets=[raw_subnet(1, vid, "10.0.1.0/24", "us-east-1a", 200), shared],
    )
    (vpc,) = out.records
    (sn,) = vpc.Subnets
    assert (sn.CidrBlock, sn.AvailabilityZoneId, sn.Name, sn.Ipv6CidrBlocks) == (
        "10.0.1.0/24",
        "use1-az1",
        "app-1",
        ("2600:1f18:4c3:a01::/64",),
    )
    assert from_item(to_item(vpc)) == vpc


def test_a_vpc_with_a_malformed_subnet_is_invalid_not_half_written() -> None:
    vid = "vpc-0a1b2c3d4e5f60718"
    broken = {**raw_subnet(1, vid, "10.0.1.0/24", "us-east-1a", 200), "CidrBlock": "10.0.1.0/33"}
    out = to_records(
        [raw_vpc(vid, "10.0.0.0/16")],
        account=ACCOUNT,
        region="us-east-1",
        now=T,
        raw_subnets=[broken],
    )
    assert out.records == [] and out.invalid[0].reason.startswith("Subnets: CidrBlock")


def test_two_hundred_subnets_stay_far_below_the_item_limit() -> None:
    subnets = tuple(subnet(i, f"10.{i // 256}.{i % 256}.0/24", available=100) for i in range(200))
    vpc = make_vpc(1, "10.0.0.0/8").model_copy(update={"Subnets": subnets})
    item = to_item(vpc)
    # DynamoDB counts names and values in UTF-8; the JSON text of the item is an upper bound.
    assert len(json.dumps(item).encode()) < 100_000  # the limit is 400 KB
    assert from_item(item) == vpc


def test_largest_free_block_and_usual_subnet_size() -> None:
    assert largest_free_block(["10.0.0.0/24"], ["10.0.0.0/26", "10.0.0.128/26"]) == "10.0.0.64/26"
    assert largest_free_block(["10.0.0.0/24"], []) == "10.0.0.0/24"
    assert largest_free_block(["10.0.0.0/24"], [f"10.0.0.{i * 64}/26" for i in range(4)]) is None
    # Unaligned free space: the widest aligned block inside it.
    assert largest_free_block(["10.0.0.0/24"], ["10.0.0.0/25", "10.0.0.128/27"]) == "10.0.0.192/26"
    # Secondary blocks count.
    assert largest_free_block(["10.0.0.0/24", "100.64.0.0/20"], ["10.0.0.0/24"]) == "100.64.0.0/20"
    # Ties: the larger subnet.
    assert subnet_size([subnet(1, "10.0.0.0/24"), subnet(2, "10.0.1.0/26")]) == 24
    assert (
        subnet_size([subnet(i, f"10.0.{i}.0/26") for i in range(3)] + [subnet(9, "10.1.0.0/24")])
        == 26
    )
    assert subnet_size([]) is None


def _reference_largest_free(blocks: list[str], carved: list[str]) -> str | None:
    """The plain `ipaddress` definition: every free aligned block, the widest, the lowest."""
    free: list[ipaddress.IPv4Network] = []
    for block in map(ipaddress.IPv4Network, blocks):
        rest = [block]
        for c in map(ipaddress.IPv4Network, carved):
            rest = [
                piece
                for r in rest
                for piece in (
                    (r,) if not r.overlaps(c) else () if r.subnet_of(c) else r.address_exclude(c)
                )
            ]
        free += rest
    if not free:
        return None
    return str(min(free, key=lambda n: (n.prefixlen, n.network_address)))


@given(
    st.lists(st.integers(min_value=16, max_value=30), min_size=0, max_size=8),
    st.integers(min_value=0, max_value=2**16 - 1),
)
@settings(max_examples=300, deadline=None)
def test_largest_free_block_agrees_with_ipaddress(prefixes: list[int], seed: int) -> None:
    # Integer arithmetic (fast at 100k VPCs) against the object-based definition.
    block = ipaddress.IPv4Network("10.64.0.0/16")
    carved: list[str] = []
    for n, plen in enumerate(prefixes):
        subnets = list(block.subnets(new_prefix=plen)) if plen - 16 <= 6 else None
        if subnets is None:
            step = 1 << (32 - plen)
            first = int(block.network_address) + ((seed * (n + 1) * 7919) % (2**16 // step)) * step
            cand = ipaddress.IPv4Network((first, plen))
        else:
            cand = subnets[(seed + n) % len(subnets)]
        if not any(cand.overlaps(ipaddress.IPv4Network(c)) for c in carved):
            carved.append(str(cand))
    blocks = [str(block), "100.64.0.0/22"]
    assert largest_free_block(blocks, carved) == _reference_largest_free(blocks, carved)


def test_headroom_findings_and_their_exact_fields() -> None:
    full = make_vpc(1, "10.0.0.0/24", name="payments", account_name="pay").model_copy(
        update={
            "Subnets": tuple(
                subnet(i, f"10.0.0.{i * 64}/26", az="us-east-1" + "ab"[i % 2]) for i in range(4)
            )
        }
    )
    busy = make_vpc(2, "10.1.0.0/16").model_copy(
        update={
            "Subnets": (
                subnet(10, "10.1.0.0/24", "us-east-1a", available=10),  # 251 usable, 10 free
                subnet(11, "10.1.1.0/24", "us-east-1b", available=40),
            )
        }
    )
    roomy = make_vpc(3, "10.2.0.0/16").model_copy(
        update={"Subnets": (subnet(20, "10.2.0.0/24", "us-east-1a", available=200),)}
    )
    h = find_headroom([full, busy, roomy], HeadroomLimits(used_pct=80, subnet_free_pct=10))
    assert [(f["VpcId"], f["Reason"]) for f in h.headroom] == [
        (full.VpcId, "no-room"),
        (busy.VpcId, "utilization"),
    ]
    assert h.headroom[0] == {
        "VpcId": full.VpcId,
        "OwnerId": "111111111111",
        "AccountName": "pay",
        "Region": "us-east-1",
        "Name": "payments",
        "Cidrs": ["10.0.0.0/24"],
        "SubnetCount": 4,
        "UsableAddresses": 236,
        "UsedAddresses": 0,
        "UtilizationPct": 0.0,
        "LargestFreeBlock": None,
        "Reason": "no-room",
    }
    assert h.headroom[1]["UtilizationPct"] == round(100 * (502 - 50) / 502, 1) == 90.0
    assert h.exhausted_subnets == (
        {
            "SubnetId": "subnet-0000000000000000a",
            "VpcId": busy.VpcId,
            "OwnerId": "111111111111",
            "AccountName": "",
            "Region": "us-east-1",
            "Name": None,
            "AvailabilityZone": "us-east-1a",
            "Cidr": "10.1.0.0/24",
            "AvailableAddresses": 10,
            "FreePct": 4.0,
        },
    )
    assert h.single_az == (
        {
            "VpcId": roomy.VpcId,
            "OwnerId": "111111111111",
            "AccountName": "",
            "Region": "us-east-1",
            "Name": None,
            "AvailabilityZone": "us-east-1a",
        },
    )
    audit = build_audit([full, busy, roomy], [], now=T).to_dict()
    assert [audit["summary"][k] for k in ("headroom", "exhausted_subnets", "single_az")] == [
        2,
        1,
        1,
    ]
    assert vpc_headroom(make_vpc(4, "10.3.0.0/16")).utilization_pct == 0.0  # no subnets


def test_lookup_answers_each_kind_of_space() -> None:
    vpc = make_vpc(1, "10.42.0.0/16", name="app").model_copy(
        update={"Subnets": (subnet(1, "10.42.7.0/24"),)}
    )
    index = BlockIndex([vpc, make_vpc(2, "10.43.0.0/16", deleted=True)])
    corp = ReservedCidr(cidr="192.168.0.0/16", name="corp")
    res = Reservation("10.50.0.0/16", "222222222222", T, int(T.timestamp()) + 60)

    def ask(q: str) -> dict[str, Any]:
        return lookup(parse_query(q), index, [corp], [res]).to_dict()

    in_subnet = ask("10.42.7.19")
    assert in_subnet["query"] == "10.42.7.19"
    assert [(m["VpcId"], m["SubnetId"], m["SubnetName"]) for m in in_subnet["matches"]] == [
        (vpc.VpcId, "subnet-00000000000000001", "sn-1")
    ]
    (no_subnet,) = ask("10.42.200.1")["matches"]
    assert no_subnet["SubnetId"] is None and no_subnet["Cidr"] == "10.42.0.0/16"
    assert no_subnet["Name"] == "app"
    assert ask("192.168.3.3") == {
        "query": "192.168.3.3",
        "matches": [],
        "reserved": [{"Reserved": "corp", "Cidr": "192.168.0.0/16"}],
    }
    assert ask("10.50.1.1")["reserved"] == [{"ReservedFor": "222222222222", "Cidr": "10.50.0.0/16"}]
    assert ask("10.43.0.1") == {"query": "10.43.0.1", "matches": [], "reserved": []}  # deleted
    # A CIDR query finds what overlaps it, larger or smaller.
    assert len(ask("10.0.0.0/8")["matches"]) == 1 and len(ask("10.42.7.128/25")["matches"]) == 1
    # `lookup 10.1.1.7/16` says what is wrong (host bits), not "not an address".
    with pytest.raises(ValueError, match=r"has host bits set: the block is 10\.0\.0\.0/16"):
        parse_query("10.0.0.5/16")
    with pytest.raises(ValueError, match="not an IP address or CIDR block"):
        parse_query("10.0.0.500")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(8, 28)), min_size=1, max_size=30),
    st.integers(0, 2**32 - 1),
    st.integers(8, 32),
)
def test_the_index_finds_exactly_what_brute_force_finds(
    blocks: list[tuple[int, int]], addr: int, prefix: int
) -> None:
    vpcs = []
    for i, (second, plen) in enumerate(blocks):
        net = ipaddress.IPv4Network((f"10.{second}.0.0", plen), strict=False)
        vpcs.append(make_vpc(i + 1, str(net)))
    query = ipaddress.IPv4Network((addr, prefix), strict=False)
    got = {(c, v.VpcId) for c, v in BlockIndex(vpcs).overlapping(query)}
    want = {
        (v.CidrBlock, v.VpcId) for v in vpcs if ipaddress.IPv4Network(v.CidrBlock).overlaps(query)
    }
    assert got == want


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(40, 64)), min_size=1, max_size=30),
    st.integers(0, 300),
    st.integers(0, 2**80 - 1),
    st.integers(40, 128),
)
def test_the_index_finds_exactly_what_brute_force_finds_in_ipv6(
    blocks: list[tuple[int, int]], third: int, rest: int, prefix: int
) -> None:
    vpcs = []
    for i, (second, plen) in enumerate(blocks):
        net = ipaddress.IPv6Network((f"2600:1f18:{second:x}::", plen), strict=False)
        vpcs.append(make_vpc(i + 1, v6=(str(net),)))
    # 2600:1f18:<third>:...: the group where the blocks differ, so that many queries hit.
    address = int(ipaddress.IPv6Address("2600:1f18::")) + (third << 80) + rest
    query = ipaddress.IPv6Network((address, prefix), strict=False)
    got = {(c, v.VpcId) for c, v in BlockIndex(vpcs).overlapping(query)}
    want = {
        (b, v.VpcId)
        for v in vpcs
        for b in v.Ipv6CidrBlocks
        if ipaddress.IPv6Network(b).overlaps(query)
    }
    assert got == want


@given(
    st.lists(
        st.tuples(
            st.integers(16, 28),  # subnet prefix length
            st.integers(0, 2**12 - 1),  # its place in 10.0.0.0/16
            st.sampled_from(["us-east-1a", "us-east-1b"]),
            st.integers(0, 70_000),  # AvailableIpAddressCount (can exceed what is usable)
        ),
        max_size=12,
    ),
    st.booleans(),
)
@settings(max_examples=300)
def test_one_pass_headroom_equals_its_parts(
    rows: list[tuple[int, int, str, int]], secondary: bool
) -> None:
    # vpc_headroom reads each subnet once (issue 26); what it says must equal what the
    # per-subnet functions say one by one: usable addresses, the usual size, the free block.
    subnets, taken = [], []
    for n, (prefix, place, az, available) in enumerate(rows):
        net = ipaddress.IPv4Network((0x0A000000 | place << 4, prefix), strict=False)
        if any(net.overlaps(t) for t in taken):
            continue  # subnets of one VPC never overlap
        taken.append(net)
        subnets.append(subnet(n, str(net), az, available))
    blocks = ("10.0.0.0/16", "100.64.0.0/22") if secondary else ("10.0.0.0/16",)
    v = make_vpc(1, *blocks).model_copy(update={"Subnets": tuple(subnets)})
    h = vpc_headroom(v)
    rooms = [max(0, ipaddress.IPv4Network(s.CidrBlock).num_addresses - 5) for s in subnets]
    assert h.usable == sum(rooms)
    pairs = list(zip(subnets, rooms, strict=True))
    assert h.used == sum(r - min(s.AvailableIpAddressCount, r) for s, r in pairs)
    assert h.subnet_size == subnet_size(subnets)
    assert h.largest_free == largest_free_block(blocks, [s.CidrBlock for s in subnets])
    assert h.azs == tuple(sorted({s.AvailabilityZone for s in subnets}))
    found = find_headroom([v], HeadroomLimits(used_pct=50.0, subnet_free_pct=30.0))
    assert [f["SubnetId"] for f in found.exhausted_subnets] == [
        s.SubnetId
        for s, r in pairs
        if (round(100 * min(s.AvailableIpAddressCount, r) / r, 1) if r else 0.0) <= 30.0
    ]


def test_headroom_findings_come_in_account_region_vpc_order_whatever_the_input_order() -> None:
    """Every list by (OwnerId, Region, VpcId), a VPC's subnets in their own order: the order
    scripts and the report print, though the VPCs come in table order."""
    vpcs = []
    for n, (owner, region) in enumerate(
        [
            ("222222222222", "us-east-1"),
            ("111111111111", "us-west-2"),
            ("111111111111", "eu-west-1"),
            ("222222222222", "ap-south-1"),
        ]
    ):
        base = make_vpc(40 - n, f"10.{n}.0.0/24", owner=owner, region=region)
        vpcs.append(
            base.model_copy(
                update={
                    # Two nearly exhausted subnets in one AZ: a single-AZ VPC short of room.
                    "Subnets": (
                        subnet(100 + 2 * n, f"10.{n}.0.128/25", available=1),
                        subnet(99 + 2 * n, f"10.{n}.0.0/25", available=2),
                    )
                }
            )
        )
    h = find_headroom(vpcs, HeadroomLimits(used_pct=80, subnet_free_pct=10))
    order = sorted(vpcs, key=lambda v: (v.OwnerId, v.Region, v.VpcId))
    assert [f["VpcId"] for f in h.headroom] == [v.VpcId for v in order]
    assert [f["VpcId"] for f in h.single_az] == [v.VpcId for v in order]
    assert [f["SubnetId"] for f in h.exhausted_subnets] == [
        s.SubnetId for v in order for s in v.Subnets
    ]
