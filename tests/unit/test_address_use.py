"""A VPC's address use, stored on its item (`AddressUse`), stands in for its subnets in an
audit (issue 26: a read path built for 100k VPCs): it reads back exactly, one that cannot be
read reads as none, and the headroom findings from it are those from the subnets."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.address_use import address_use
from collector.analysis.headroom import HeadroomLimits, find_headroom
from collector.models import Vpc
from collector.store.vpcs import to_item, use_from_item
from tests.factories import make_vpc, with_subnets

SUBNETS = st.lists(
    st.tuples(st.sampled_from((20, 24, 26, 28)), st.integers(0, 5000), st.sampled_from("ab")),
    max_size=4,
)
BLOCKS = st.sampled_from(
    [("10.0.0.0/16",), ("10.0.0.0/18",), ("10.0.0.0/16", "100.64.0.0/20"), ("10.0.0.0/20",)]
)


def vpc_of(n: int, blocks: tuple[str, ...], subnets: list[tuple[int, int, str]]) -> Vpc:
    # A /18 or /20 holds fewer /20-apart subnets than a /16: keep those that fit.
    fit = {"10.0.0.0/16": 16, "10.0.0.0/18": 4, "10.0.0.0/20": 1}[blocks[0]]
    return with_subnets(make_vpc(n, *blocks), subnets[:fit], team="x")


@settings(max_examples=200, deadline=None)
@given(BLOCKS, SUBNETS)
def test_a_stored_address_use_reads_back_exactly(
    blocks: tuple[str, ...], subnets: list[tuple[int, int, str]]
) -> None:
    vpc = vpc_of(1, blocks, subnets)
    assert use_from_item(to_item(vpc)) == address_use(vpc)[0]


def _broken(change: str) -> dict[str, Any]:
    item = to_item(
        vpc_of(1, ("10.0.0.0/16",), [(24, 10, "a"), (26, 3, "b")]),
    )
    use = copy.deepcopy(item["AddressUse"]["M"])
    if change == "absent":
        del item["AddressUse"]
        return item
    if change == "not a map":
        item["AddressUse"] = {"S": "x"}
    elif change == "a count missing":
        del use["Usable"]
    elif change == "a negative count":
        use["Used"] = {"N": "-1"}
    elif change == "a fractional count":
        use["SubnetCount"] = {"N": "1.5"}
    elif change == "NaN":
        use["TightestSubnetFreePct"] = {"N": "NaN"}
    elif change == "over 100 %":
        use["TightestSubnetFreePct"] = {"N": "100.1"}
    elif change == "a zone that is not text":
        use["AvailabilityZones"] = {"L": [{"N": "1"}]}
    elif change == "a block that is not text":
        use["LargestFreeBlock"] = {"L": []}
    if change != "not a map":
        item["AddressUse"] = {"M": use}
    return item


@pytest.mark.parametrize(
    "change",
    [
        "absent",
        "not a map",
        "a count missing",
        "a negative count",
        "a fractional count",
        "NaN",
        "over 100 %",
        "a zone that is not text",
        "a block that is not text",
    ],
)
def test_an_address_use_that_cannot_be_read_reads_as_none(change: str) -> None:
    # None sends its reader to the subnets themselves: never a guess, never an unreadable VPC.
    assert use_from_item(_broken(change)) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(BLOCKS, SUBNETS), min_size=1, max_size=6),
    st.integers(1, 100),
    st.integers(0, 100),
)
def test_headroom_from_stored_use_is_headroom_from_subnets(
    drawn: list[tuple[tuple[str, ...], list[tuple[int, int, str]]]],
    used_pct: int,
    subnet_free_pct: int,
) -> None:
    limits = HeadroomLimits(used_pct, subnet_free_pct)
    vpcs = [vpc_of(n, blocks, subnets) for n, (blocks, subnets) in enumerate(drawn, 1)]
    # What a reader without subnets holds: each VPC's stored use, but for those with a subnet
    # at or under the limit (read whole), and the VPC without its subnets.
    uses = {}
    read = []
    for v in vpcs:
        use = use_from_item(to_item(v))
        assert use is not None
        if use.tightest_free_pct is not None and use.tightest_free_pct <= subnet_free_pct:
            read.append(v)
        else:
            uses[v.key] = use
            read.append(v.model_copy(update={"Subnets": (), "Tags": {}}))
    assert find_headroom(read, limits, uses) == find_headroom(vpcs, limits)


def test_a_vpc_read_without_the_subnets_its_findings_name_is_refused() -> None:
    vpc = vpc_of(1, ("10.0.0.0/16",), [(24, 10, "a")])  # 10 of 251 free: 4 %
    use = address_use(vpc)[0]
    bare = vpc.model_copy(update={"Subnets": ()})
    with pytest.raises(ValueError, match="without the subnets"):
        find_headroom([bare], HeadroomLimits(80, 10), {vpc.key: use})
    # Under a lower limit the subnet is no finding, and the use answers for it.
    assert find_headroom([bare], HeadroomLimits(80, 3), {vpc.key: use}) == find_headroom(
        [vpc], HeadroomLimits(80, 3)
    )
