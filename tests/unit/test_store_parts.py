"""Issue 23, observation 2: no item too large for DynamoDB hides a VPC or a TGW's routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collector.models import (
    Connectivity,
    Peering,
    PeeringSide,
    Reservation,
    Subnet,
    TgwAttachment,
)
from collector.store.attributes import item_key
from collector.store.connectivity import connectivity_item, connectivity_items
from collector.store.parts import LIMIT, MAX_ITEM, item_size, value_size
from collector.store.registry import CONNECTIONS, SWEEP_ATTRIBUTES, VPCS, Items, live_vpc_keys
from collector.store.reservations import reservation_item
from collector.store.vpcs import to_item, vpc_items
from tests.factories import make_vpc

T = datetime(2026, 11, 29, tzinfo=UTC)
OWNER = "111111111111"


def huge_vpc(subnets: int = 1000) -> object:
    """1,000 subnets with 256-character names and 50 tags of the longest key and value."""
    tags = {f"k{n:03d}".ljust(128, "k"): "v" * 256 for n in range(50)}
    return make_vpc(1, "10.150.0.0/16", owner=OWNER).model_copy(
        update={
            "Tags": tags,
            "Subnets": tuple(
                Subnet(
                    SubnetId=f"subnet-{n:017x}",
                    CidrBlock=f"10.150.{n // 4}.{n % 4 * 64}/26",
                    AvailabilityZone="us-east-1a",
                    AvailabilityZoneId="use1-az1",
                    AvailableIpAddressCount=59,
                    Name=f"{n:04d}" * 64,
                )
                for n in range(subnets)
            ),
        }
    )


def big_connectivity() -> Connectivity:
    """A TGW owner's target: 5,000 attachments (the quota) and 2,000 peerings."""
    side = PeeringSide(VpcId="vpc-00000000000000001", OwnerId=OWNER, Region="us-east-1")
    return Connectivity(
        OwnerId=OWNER,
        Region="us-east-1",
        Attachments=tuple(
            TgwAttachment(
                Id=f"tgw-attach-{n:017x}",
                TransitGatewayId="tgw-00000000000000001",
                TransitGatewayOwnerId=OWNER,
                ResourceType="vpc",
                ResourceId=f"vpc-{n:017x}",
                ResourceOwnerId=f"{200000000000 + n:012d}",
                State="available",
                RouteTableId="tgw-rtb-00000000000000001",
            )
            for n in range(5000)
        ),
        Peerings=tuple(
            Peering(
                Id=f"pcx-{n:017x}",
                Status="active",
                Requester=side,
                Accepter=PeeringSide(
                    VpcId=f"vpc-{n:017x}", OwnerId=f"{300000000000 + n:012d}", Region="eu-west-1"
                ),
            )
            for n in range(2000)
        ),
        RouteTables=("tgw-rtb-00000000000000001",),
        LastSeen=T,
    )


def test_the_size_formula() -> None:
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
    assert item_size({"VpcId": {"S": "vpc-1"}}) == len("VpcId") + 5
    assert value_size({"N": "123"}) == 3 and value_size({"N": "1000000"}) == 2
    assert value_size({"BOOL": True}) == 1
    assert value_size({"L": []}) == 3 and value_size({"L": [{"S": "ab"}]}) == 3 + 2 + 1
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1


def test_a_vpc_too_large_for_one_item_is_split_and_read_back_whole() -> None:
    vpc = huge_vpc()
    assert item_size(to_item(vpc)) > MAX_ITEM  # before: one item DynamoDB refused
    items = vpc_items(vpc, 2_000_000_000)
    assert len(items) > 1 and all(item_size(i) <= LIMIT for i in items)
    got = Items()
    for raw in reversed(items):  # parts may arrive before their main item
        got.add(raw, VPCS)
    assert got.complete().vpcs == [vpc] and not got.unreadable


def test_a_part_missing_leaves_the_blocks_and_says_so() -> None:
    main, *parts = vpc_items(huge_vpc(), 2_000_000_000)
    got = Items()
    for raw in [main, *parts[1:]]:
        got.add(raw, VPCS)
    (vpc,) = got.complete().vpcs
    assert vpc.CidrBlocks == ("10.150.0.0/16",) and vpc.Incomplete == ("Subnets",)
    assert vpc.Subnets == ()


def test_parts_of_an_older_write_are_not_joined() -> None:
    old = vpc_items(huge_vpc(1000), 2_000_000_000)
    new = vpc_items(
        huge_vpc(900).model_copy(update={"LastSeen": datetime(2026, 11, 30, tzinfo=UTC)}), 2
    )
    got = Items()
    for raw in [*old[1:], *new]:  # the old parts linger (their TTL will remove them)
        got.add(raw, VPCS)
    (vpc,) = got.complete().vpcs
    assert len(vpc.Subnets) == 900


def test_a_tgw_owner_with_5000_attachments_and_2000_peerings_is_stored_whole() -> None:
    conn = big_connectivity()
    assert item_size(connectivity_item(conn, 2_000_000_000)) > MAX_ITEM
    items = connectivity_items(conn, 2_000_000_000)
    assert all(item_size(i) <= LIMIT for i in items)
    got = Items()
    for raw in items:
        got.add(raw, CONNECTIONS)
    (back,) = got.complete().connectivity
    assert back == conn.model_copy(update={"ExpiresAt": 2_000_000_000})
    # A part missing: what routes where is unknown, so the item is unreadable (reported, and
    # the findings of its account stand), never read as fewer connections.
    partial = Items()
    for raw in items[:-1]:
        partial.add(raw, CONNECTIONS)
    assert partial.complete().connectivity == [] and len(partial.unreadable) == 1


def test_a_sweep_picks_live_vpc_items_of_its_owners_with_their_parts_by_key() -> None:
    """The departed sweep reads of each item only its key and lifecycle (`SWEEP_ATTRIBUTES`),
    and then its picks whole by key: a split VPC's parts come with it, or it reads back
    incomplete; a deleted VPC, another owner's, a reservation or connectivity are not picked."""
    other = "222222222222"
    split = vpc_items(huge_vpc(), 0)  # a main item and parts
    assert len(split) > 2
    items = [
        *split,
        to_item(make_vpc(2, "10.2.0.0/16", owner=OWNER)),
        to_item(make_vpc(3, "10.3.0.0/16", owner=OWNER, deleted=True)),
        to_item(make_vpc(4, "10.4.0.0/16", owner=other)),
        connectivity_item(big_connectivity().model_copy(update={"Attachments": ()}), 0),
        reservation_item(Reservation("10.9.0.0/16", OWNER, T, 0)),
    ]
    projected = [{k: v for k, v in i.items() if k in SWEEP_ATTRIBUTES} for i in items]
    keys = live_vpc_keys(reversed(projected), lambda owner: owner == OWNER)
    main = (split[0]["VpcId"]["S"], OWNER)
    parts_of_main = sorted((p["VpcId"]["S"], OWNER) for p in split[1:])
    assert keys[0] == ("vpc-00000000000000002", OWNER)
    assert keys[1] == main and sorted(keys[2:]) == parts_of_main
    # What `read_keys` then gets for them decodes whole: the parts join their main.
    got = Items()
    for item in items:
        if item_key(item) in set(keys):
            got.add(item, VPCS)
    assert {v.VpcId: v.Incomplete for v in got.complete().vpcs} == {
        "vpc-00000000000000002": (),
        main[0]: (),
    }


def test_a_split_connectivity_item_s_records_share_their_sets_of_fields() -> None:
    """Decoded by the registry (a page's read leaves split items to it), each attachment and
    peering had a set of its field names of its own: half of each record."""
    items = connectivity_items(big_connectivity(), 2_000_000_000)
    got = Items()
    for raw in items:
        got.add(raw, CONNECTIONS)
    (back,) = got.complete().connectivity
    assert len({id(a.model_fields_set) for a in back.Attachments}) == 1
    assert len({id(p.model_fields_set) for p in back.Peerings}) == 1
    assert len({id(p.Requester.model_fields_set) for p in back.Peerings}) == 1
    # Each set is still its record's: the names its stored map gave.
    stored = connectivity_item(big_connectivity(), 2_000_000_000)["Attachments"]["L"][0]["M"]
    assert back.Attachments[0].model_fields_set == set(stored)


def test_a_damaged_part_leaves_its_item_unreadable_not_the_read_failed() -> None:
    """A part whose place cannot be read (its index not a whole number, its list or attribute
    name missing or of another type) raised out of `complete()`: every reader of the table
    failed with a traceback. It is now a part missing: its item is reported unreadable (a
    VPC's blocks still read), and every other item is read."""
    items = connectivity_items(big_connectivity(), 2_000_000_000)
    main, first, *rest = items
    for damaged in (
        {**first, "Index": {"N": "1.5"}},
        {**first, "Index": {"S": "0"}},
        {k: v for k, v in first.items() if k != "Attr"},
        {**first, "Attr": {"N": "1"}},
        {**first, "Values": {"M": {}}},
        {**first, "Stamp": {"N": "1"}},
    ):
        _only_the_damaged_item_unreadable(main, [damaged, *rest])
    # The main item's count of a list's parts, too.
    counts = main["Parts"]["M"]
    for count in ({"S": "4"}, {"N": "four"}, "4"):
        damaged_main = {**main, "Parts": {"M": {**counts, "Attachments": count}}}
        _only_the_damaged_item_unreadable(damaged_main, [first, *rest])
    vpc_main, vpc_first, *vpc_rest = vpc_items(huge_vpc(), 2_000_000_000)
    got = Items()
    for raw in (vpc_main, {**vpc_first, "Index": {"N": "x"}}, *vpc_rest):
        got.add(raw, VPCS)
    (vpc,) = got.complete().vpcs
    assert vpc.CidrBlocks == ("10.150.0.0/16",) and vpc.Incomplete == ("Subnets",)


def _only_the_damaged_item_unreadable(main: dict[str, Any], parts: list[dict[str, Any]]) -> None:
    got = Items()
    other = connectivity_item(big_connectivity().model_copy(update={"Region": "eu-west-1"}), 1)
    for raw in (main, *parts, other):
        got.add(raw, CONNECTIONS)
    read = got.complete()
    assert [c.Region for c in read.connectivity] == ["eu-west-1"], (main, parts[0])
    assert [u.VpcId for u in read.unreadable] == [main["VpcId"]["S"]], (main, parts[0])
