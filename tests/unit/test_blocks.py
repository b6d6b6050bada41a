"""The block index (`store.blocks`): the ranges a read takes hold every block that can overlap."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.cidrs import block_span
from collector.store.blocks import (
    WIDE,
    Range,
    entry_key,
    indexed_blocks,
    is_wide,
    partition,
    ranges_near,
)
from tests.factories import make_vpc


def _v4(first: int, prefix: int) -> str:
    return str(ipaddress.ip_network((first >> (32 - prefix) << (32 - prefix), prefix)))


def _v6(first: int, prefix: int) -> str:
    return str(ipaddress.ip_network((first >> (128 - prefix) << (128 - prefix), prefix)))


# Few distinct high bits, so that random blocks often overlap and often share a partition.
v4 = st.builds(
    _v4,
    st.integers(0, 7).map(lambda n: (10 << 24) | (n << 20)) | st.integers(0, 2**32 - 1),
    st.integers(8, 28),
)
v6 = st.builds(
    _v6,
    st.integers(0, 3).map(lambda n: (0x2600 << 112) | (n << 84)),
    st.integers(30, 64),
)
block = v4 | v6


def _holds(ranges: list[Range], key: dict[str, dict[str, str]]) -> bool:
    p, k = key["VpcId"]["S"], key["OwnerId"]["S"]
    return any(
        r.partition == p and (r.low is None or (r.high is not None and r.low <= k <= r.high))
        for r in ranges
    )


@settings(max_examples=600, deadline=None)
@given(st.lists(block, min_size=1, max_size=4), st.lists(block, min_size=1, max_size=30))
def test_a_read_near_some_blocks_holds_every_entry_that_overlaps_them(
    touched: list[str], stored: list[str]
) -> None:
    touched = [t for t in touched if not is_wide(t)]  # a reader then reads the inventory
    ranges = ranges_near(touched)
    for cidr in stored:
        net = ipaddress.ip_network(cidr)
        if any(
            net.version == (t := ipaddress.ip_network(c)).version and net.overlaps(t)
            for c in touched
        ):
            assert _holds(ranges, entry_key("vpc-1", "111111111111", cidr)), (cidr, ranges)


def test_blocks_wider_than_aws_gives_are_in_the_wide_partition_read_every_time() -> None:
    assert partition(block_span("10.0.0.0/8")) == WIDE
    assert partition(block_span("10.0.0.0/16")) == "block#4:0a00"
    assert partition(block_span("2600:1f18::/40")) == WIDE
    assert partition(block_span("2600:1f18:abcd:e000::/56")) == "block#6:2600"
    assert Range(WIDE) in ranges_near(["10.1.2.0/24"])
    with pytest.raises(ValueError, match="wider than a VPC block"):
        ranges_near(["10.0.0.0/8"])
    # Ranges that meet are one query.
    assert ranges_near(["10.1.2.0/24", "10.1.3.0/24"]) == [
        Range(WIDE),
        Range("block#4:0a01", "0a010000", "0a0103ff~"),
    ]


def test_the_index_holds_live_blocks_of_vpcs_that_are_not_default_ones() -> None:
    vpc = make_vpc(1, "10.0.0.0/16", "100.64.0.0/20", v6=("2600:1f18:abcd:e000::/56",))
    assert indexed_blocks(vpc) == ["10.0.0.0/16", "100.64.0.0/20", "2600:1f18:abcd:e000::/56"]
    assert indexed_blocks(make_vpc(2, "172.31.0.0/16", default=True)) == []
    assert indexed_blocks(make_vpc(3, "10.0.0.0/16", deleted=True)) == []
