"""store.wire: VPC items validated straight from a page's JSON must give exactly what the
registry's decoding gives (`vpcs.from_item`, `vpcs.use_from_item`), or be left raw for it.
Pure: pages in DynamoDB's JSON shape, no endpoint."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from collector.address_use import AddressUse
from collector.cidrs import Ipv4Cidr
from collector.models import (
    Connectivity,
    Peering,
    PeeringSide,
    Reservation,
    Subnet,
    TgwAttachment,
    Vpc,
)
from collector.store import parts, wire, wire_schemas
from collector.store.connectivity import connectivity_from_item, connectivity_item
from collector.store.registry import CONNECTIONS, Items, WithoutSubnets, take_lean
from collector.store.reservations import reservation_item
from collector.store.vpcs import LEAN_ATTRIBUTES, from_item, to_item, use_from_item
from tests.factories import make_vpc, tgw_attachment

T = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _lean(vpc: Vpc) -> dict[str, Any]:
    """A VPC item as a read without subnets gets it (its projection)."""
    return {k: v for k, v in to_item(vpc).items() if k in LEAN_ATTRIBUTES}


def _subnet(n: int, cidr: str, free: int) -> Subnet:
    return Subnet(
        SubnetId=f"subnet-{n:017x}",
        CidrBlock=cidr,
        AvailabilityZone=f"us-east-1{'ab'[n % 2]}",
        AvailableIpAddressCount=free,
    )


def _bases() -> list[dict[str, Any]]:
    """Items of every shape the store writes."""
    plain = make_vpc(1, "10.0.0.0/16", name="app", account_name="prod")
    with_subnets = plain.model_copy(
        update={
            "VpcId": "vpc-00000000000000002",
            "Subnets": (_subnet(1, "10.0.0.0/24", 200), _subnet(2, "10.0.1.0/24", 0)),
        }
    )
    full = plain.model_copy(
        update={
            "VpcId": "vpc-00000000000000003",
            "Subnets": (_subnet(3, "10.0.0.0/16", 65531),),
        }
    )
    deleted = make_vpc(4, "10.1.0.0/16", deleted=True).model_copy(update={"ExpiresAt": 1893456000})
    default = make_vpc(5, "172.31.0.0/16", default=True, v6=("2600:1f18:1234:5600::/56",))
    odd = make_vpc(6, "10.2.0.0/16", "100.64.0.0/20").model_copy(
        update={"Incomplete": ("Subnets", "Tags"), "DhcpOptionsId": "dopt-1", "Name": None}
    )
    items = [_lean(v) for v in (plain, with_subnets, full, deleted, default, odd)]
    no_use = _lean(make_vpc(7, "10.3.0.0/16"))
    del no_use["AddressUse"]  # an item an older version wrote
    return [*items, no_use]


# Every other shape an attribute can have in DynamoDB's JSON, and values the two readings could
# take apart (numbers `int()` and pydantic read differently, text that is not a CIDR or time).
_OTHERS: list[Any] = [
    {"S": "x"},
    {"S": ""},
    {"S": "10.0.0.0/16"},
    {"S": "2026-12-01T12:00:00"},
    {"S": "vpc-00000000000000009"},
    {"N": "12"},
    {"N": "12.0"},
    {"N": "1e2"},
    {"N": "-3"},
    {"N": " 12"},
    {"N": "\u0661\u0662"},
    {"N": "nan"},
    {"N": "101"},
    {"N": "33"},
    {"N": "32"},
    {"N": "0"},
    {"N": "0123"},
    {"N": "1_000"},
    {"N": "+5"},
    {"N": "99999999999999999999999"},
    {"N": "100.0"},
    {"N": "Infinity"},
    {"BOOL": True},
    {"BOOL": False},
    {"NULL": True},
    {"L": []},
    {"L": [{"S": "10.0.0.0/16"}]},
    {"L": [{"N": "1"}]},
    {"L": [{"S": "a"}, {"NULL": True}]},
    {"M": {}},
    {"M": {"S": {"S": "x"}}},
    {"SS": ["a"]},
]


def _variants(item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield item
    for name in [*item, "Parts", "Subnets", "Tags", "Unknown"]:
        without = {k: v for k, v in item.items() if k != name}
        yield without
        for other in _OTHERS:
            yield {**without, name: other}
    use = item.get("AddressUse", {}).get("M")
    if use is not None:
        # A use under another name: ignored, as `from_item` ignores it; under a guard's, the
        # item is still a split one, left to the registry.
        yield {**item, "Unknown": item["AddressUse"]}
        yield {**item, "Parts": item["AddressUse"]}
        for name in [*use, "Unknown"]:
            for other in [None, *_OTHERS]:
                members = {k: v for k, v in use.items() if k != name}
                if other is not None:
                    members[name] = other
                yield {**item, "AddressUse": {"M": members}}


def _slow(item: dict[str, Any]) -> tuple[Vpc | None, AddressUse | None]:
    try:
        vpc = from_item(item)
    except (ValueError, KeyError, TypeError, AttributeError):
        vpc = None
    return vpc, use_from_item(item)


def test_every_item_is_read_as_the_registry_reads_it_or_left_to_it() -> None:
    items = [v for base in _bases() for v in _variants(base)]
    page = wire.decode_page(json.dumps({"Items": items}).encode())["Items"]
    assert len(page) == len(items)
    fast = abstained = 0
    for item, got in zip(items, page, strict=True):
        if {"Parts", "Subnets", "Tags"} & set(item):
            # A split item is the registry's to join; subnets and tags are never read here.
            assert not wire.is_stored(got), item
        if not wire.is_stored(got):
            assert got == item  # left raw, exactly as `json.loads` gives it
            abstained += 1
            continue
        vpc, use = wire.record(got)
        want_vpc, want_use = _slow(item)
        assert want_vpc is not None, item  # never a record the registry would not make
        assert type(vpc) is Vpc and vpc == want_vpc, item
        assert vpc.model_fields_set == want_vpc.model_fields_set, item
        assert vpc.model_dump_json() == want_vpc.model_dump_json(), item
        assert use == want_use, item
        fast += 1
    # Both happen, and every item as the store writes it is taken.
    assert fast >= len(_bases()) and abstained > 0
    for base in _bases():
        (got,) = wire.decode_page(json.dumps({"Items": [base]}).encode())["Items"]
        assert wire.is_stored(got), base


def test_a_page_s_other_items_and_members_are_kept_raw() -> None:
    reservation = reservation_item(Reservation("10.9.0.0/16", "111111111111", T, 1893456000))
    vpc = _bases()[0]
    body = {
        "Items": [reservation, vpc, {"VpcId": {"S": "conn#x"}, "OwnerId": {"S": "1"}}],
        "Count": 3,
        "ScannedCount": 3,
        "LastEvaluatedKey": {"VpcId": {"S": "vpc-1"}, "OwnerId": {"S": "1"}},
    }
    page = wire.decode_page(json.dumps(body).encode())
    first, second, third = page.pop("Items")
    assert first == reservation and third == body["Items"][2]
    assert wire.is_stored(second)
    assert page == {k: v for k, v in body.items() if k != "Items"}


@pytest.mark.parametrize(
    "body",
    [b"<html>login</html>", b'{"message": "x"}', b'{"Items": 5}', b"[]", b'{"Items": [1'],
)
def test_a_body_that_is_not_a_page_of_items_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        wire.decode_page(body)


def test_every_vpc_attribute_has_its_stored_shape() -> None:
    # A field added to `Vpc` must say how it is stored, or this reading would not know it.
    assert set(wire._TAGS) == set(Vpc.model_fields)


def test_every_vpc_item_carries_what_a_page_s_items_are_told_apart_by() -> None:
    # Only items with this attribute (as `BOOL`) are tried as VPCs: were it optional, or stored
    # otherwise, VPC items without it would all go the slower way, the registry's.
    assert Vpc.model_fields[wire.ROUTE].is_required()
    assert wire._TAGS[wire.ROUTE] == "BOOL"
    assert all(wire.ROUTE in item for item in _bases())


def test_pages_decoded_side_by_side_at_first_use_are_all_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read's segments decode their first pages at once: built twice meanwhile, the model of
    one thread's items was not the one `is_stored` knew, and the read failed (now the model of
    connectivity items, `is_connectivity`'s)."""
    monkeypatch.setattr(wire, "_BUILT", [])
    vpcs, connectivity = _bases(), _connectivity_bases()
    body = json.dumps({"Items": [*vpcs, *connectivity]}).encode()
    start = threading.Barrier(8)
    pages: list[list[Any]] = []

    def decode() -> None:
        start.wait()
        pages.append(wire.decode_page(body)["Items"])

    threads = [threading.Thread(target=decode) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pages) == 8
    for page in pages:
        assert all(wire.is_stored(item) for item in page[: len(vpcs)])
        assert all(wire.is_connectivity(item) for item in page[len(vpcs) :])


def test_the_field_that_carries_the_use_is_never_read_and_its_default_is_shared_safely() -> None:
    # Its place in each read VPC's dict holds the use until `record` puts back this one value,
    # the same object in every record: it must be one nothing can change.
    assert wire._TAGS[wire._CARRIER] == wire_schemas.ABSENT
    default = Vpc.model_fields[wire._CARRIER].get_default(call_default_factory=True)
    assert default == wire._CARRIER_DEFAULT
    assert isinstance(wire._CARRIER_DEFAULT, tuple | str | int | None)


def test_records_read_with_the_same_fields_share_one_set_of_them_and_copies_do_not() -> None:
    """pydantic-core makes a set of the fields an item gave for each record: 73 MB at 100k."""
    base = _bases()[0]
    items = [{**base, "VpcId": {"S": f"vpc-{n:017x}"}} for n in range(3)]
    page = wire.decode_page(json.dumps({"Items": items}).encode())["Items"]
    first, second, third = (wire.record(got)[0] for got in page)
    assert first.model_fields_set is second.model_fields_set is third.model_fields_set
    assert first.model_fields_set == from_item(base).model_fields_set
    before = set(first.model_fields_set)
    copied = second.model_copy(update={"Tags": {"a": "b"}})
    assert "Tags" in copied.model_fields_set
    assert first.model_fields_set == before  # the shared set is not the copy's


def test_the_shared_sets_of_fields_are_few_whatever_the_items_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sets are kept as long as the process (a warm Lambda container): items that each give
    another set of optional attributes share none past the cap, and each record's set is still
    its own item's."""
    monkeypatch.setattr(wire, "_FIELDS_SETS", {})
    gone = ("Name", "AccountName", "Ipv6CidrBlocks")
    base = {k: v for k, v in _bases()[0].items() if k not in gone}
    optional = {
        "Name": {"S": "n"},
        "DhcpOptionsId": {"S": "dopt-1"},
        "InstanceTenancy": {"S": "default"},
        "Ipv6CidrBlocks": {"L": []},
        "ExpiresAt": {"N": "1"},
        "Incomplete": {"L": []},
        "AccountName": {"S": "a"},
    }
    names = sorted(optional)
    items = []
    for n in range(2 ** len(names)):
        item = {**base, "VpcId": {"S": f"vpc-{n:017x}"}}
        item.update({k: optional[k] for b, k in enumerate(names) if n >> b & 1})
        items.append(item)
    page = wire.decode_page(json.dumps({"Items": items}).encode())["Items"]
    assert all(wire.is_stored(got) for got in page)
    records = [wire.record(got)[0] for got in page]
    assert len(wire._FIELDS_SETS) == wire._MOST_FIELDS_SETS < len(items)
    for item, got in zip(items, records, strict=True):
        assert got.model_fields_set == from_item(item).model_fields_set


def test_a_record_is_no_larger_than_the_registry_s() -> None:
    """Each record kept the stored VPC's dict, sized for its two more fields: 30-40 MB more
    at a 100k audit."""
    for base in _bases():
        (got,) = wire.decode_page(json.dumps({"Items": [base]}).encode())["Items"]
        vpc, _ = wire.record(got)
        assert sys.getsizeof(vpc.__dict__) <= sys.getsizeof(from_item(base).__dict__)


# A stored VPC's IPv4 blocks are checked by a pattern in pydantic-core, not `Ipv4Cidr`'s Python
# check: it must take exactly the CIDRs that check keeps unchanged (anything it takes that the
# check would refuse or rewrite would be a record the registry would not make).
_CANONICAL = TypeAdapter(wire_schemas.canonical_ipv4())


def _kept(value: str) -> bool:
    try:
        return TypeAdapter(Ipv4Cidr).validate_python(value) == value
    except ValidationError:
        return False


def _taken(value: str) -> bool:
    try:
        return _CANONICAL.validate_python(value) == value
    except ValidationError:
        return False


def test_the_ipv4_pattern_takes_every_aligned_block_and_no_other() -> None:
    """Every prefix length, every value of the part its boundary falls in."""
    for prefix in range(33):
        boundary = min(prefix // 8, 3)
        for v in range(256):
            # The parts before the boundary any value, those after it zero: only the boundary
            # part decides whether host bits are set.
            parts = [10, 20, 30, 40][:boundary] + [v] + [0] * (3 - boundary)
            value = ".".join(map(str, parts)) + f"/{prefix}"
            assert _taken(value) == _kept(value), value


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 300).map(str),
            st.integers(0, 255).map(lambda n: f"0{n}"),
            st.sampled_from(["", "+1", " 1", "1 ", "\u0661", "0x1"]),
        ),
        min_size=3,
        max_size=5,
    ),
    st.one_of(
        st.integers(0, 40).map(str),
        st.sampled_from(["", "01", "+8", "8\n", "\u0668"]),
    ),
    st.sampled_from(["/", "", "//", "\\"]),
    st.sampled_from(["", "\n", " "]),
)
def test_the_ipv4_pattern_takes_what_ipv4cidr_keeps(
    parts: list[str], prefix: str, slash: str, tail: str
) -> None:
    value = ".".join(parts) + slash + prefix + tail
    assert _taken(value) == _kept(value), value


@pytest.mark.parametrize(
    "value",
    [
        "10.01.0.0/16",
        "010.1.0.0/16",
        "10.1.0.00/24",
        "10.1.0.0/024",
        "10.1.0.0/08",
        "10.1.0.1/24",
        "10.1.0.0/33",
        "10.1.0.0/-1",
        "10.1.0/24",
        "10.1.0.0.0/24",
        "10.1.0.0/24\n",
        "10.1.0.0 /24",
        "256.0.0.0/8",
        "10.1.0.0",
        "10.\u0661.0.0/16",
        "0x0a.1.0.0/16",
    ],
)
def test_the_ipv4_pattern_refuses_every_other_spelling(value: str) -> None:
    assert not _taken(value) and not _kept(value)


@pytest.mark.parametrize(
    "value", ["0.0.0.0/0", "10.1.0.0/16", "255.255.255.255/32", "10.0.0.128/25"]
)
def test_the_ipv4_pattern_takes_canonical_blocks(value: str) -> None:
    assert _taken(value) and _kept(value)


# Connectivity items are read straight from the page too, into exactly the `Connectivity` the
# registry's decoding makes (its peerings and attachments the same records); any other item,
# or one stored otherwise, is left to it.


def _connectivity_bases() -> list[dict[str, Any]]:
    """Connectivity items of every shape the store writes (most list nothing)."""
    empty = Connectivity(OwnerId="111111111111", Region="eu-west-1", LastSeen=T)
    expiring = connectivity_item(empty, 1893456000)
    unexpiring = {k: v for k, v in expiring.items() if k != "ExpiresAt"}
    owner = empty.model_copy(update={"RouteTables": ("tgw-rtb-0123456789abcdef0",)})
    side = PeeringSide(VpcId="vpc-00000000000000001", OwnerId="111111111111", Region="eu-west-1")
    peered = empty.model_copy(
        update={"Peerings": (Peering(Id="pcx-1", Status="active", Requester=side, Accepter=side),)}
    )
    attached = empty.model_copy(
        update={"Attachments": (tgw_attachment(1, make_vpc(1, "10.0.0.0/16"), "tgw-1", "2"),)}
    )
    return [
        expiring,
        unexpiring,
        *(connectivity_item(c, 1893456000) for c in (owner, peered, attached)),
    ]


def _slow_connectivity(item: dict[str, Any]) -> Connectivity | None:
    try:
        return connectivity_from_item(item)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def test_every_connectivity_item_is_read_as_the_registry_reads_it_or_left_to_it() -> None:
    bases = _connectivity_bases()
    items = [v for base in bases for v in _variants(base)]
    items += [{**base, "VpcId": {"S": "tgw-rtb#x"}} for base in bases]  # another kind's key
    page = wire.decode_page(json.dumps({"Items": items}).encode())["Items"]
    assert len(page) == len(items)
    fast = abstained = 0
    for item, got in zip(items, page, strict=True):
        assert not wire.is_stored(got), item  # never taken for a VPC
        if "Parts" in item or not item.get("VpcId", {}).get("S", "").startswith("conn#"):
            assert not wire.is_connectivity(got), item  # a split item, or another kind
        if not wire.is_connectivity(got):
            assert got == item  # left raw, exactly as `json.loads` gives it
            abstained += 1
            continue
        conn = wire.connectivity(got)
        want = _slow_connectivity(item)
        assert want is not None, item  # never a record the registry would not make
        assert type(conn) is Connectivity and conn == want, item
        assert conn.model_fields_set == want.model_fields_set, item
        assert conn.model_dump_json() == want.model_dump_json(), item
        for got_records, want_records in (
            (conn.Peerings, want.Peerings),
            (conn.Attachments, want.Attachments),
        ):
            for a, b in zip(got_records, want_records, strict=True):
                assert type(a) is type(b) and a.model_fields_set == b.model_fields_set, item
        fast += 1
    assert fast >= len(bases) and abstained > 0
    # Every item as the store writes it is taken.
    for base in bases:
        (got,) = wire.decode_page(json.dumps({"Items": [base]}).encode())["Items"]
        assert wire.is_connectivity(got), base


def test_a_connectivity_record_is_no_larger_than_the_registry_s() -> None:
    for base in _connectivity_bases():
        (got,) = wire.decode_page(json.dumps({"Items": [base]}).encode())["Items"]
        conn = wire.connectivity(got)
        assert sys.getsizeof(conn.__dict__) <= sys.getsizeof(connectivity_from_item(base).__dict__)


def test_every_connectivity_attribute_has_its_stored_shape() -> None:
    # A field added to `Connectivity` must say how it is stored, or this reading would not know
    # it; one added to a record it lists must have a stored shape (building it says which not).
    assert set(wire._CONNECTIVITY_TAGS) == set(Connectivity.model_fields)
    for record in (Peering, TgwAttachment):
        wire_schemas.stored_record(record)


def test_connectivity_records_read_alike_share_one_set_of_their_fields() -> None:
    """pydantic-core made a set of the fields for each peering and attachment: half of each
    record, 110 MB of a landing zone's hub at 100k VPCs."""
    vpc = make_vpc(1, "10.0.0.0/16")
    attachments = tuple(tgw_attachment(n, vpc, "tgw-1", "2") for n in range(3))
    conn = Connectivity(OwnerId="111111111111", Region="eu-west-1", LastSeen=T)
    item = connectivity_item(conn.model_copy(update={"Attachments": attachments}), 1893456000)
    (got,) = wire.decode_page(json.dumps({"Items": [item]}).encode())["Items"]
    read = wire.connectivity(got).Attachments
    want = connectivity_from_item(item).Attachments
    assert read == want
    assert read[0].model_fields_set is read[1].model_fields_set is read[2].model_fields_set
    assert read[0].model_fields_set == want[0].model_fields_set
    copied = read[0].model_copy(update={"State": "deleted"})
    assert copied.model_fields_set is not read[0].model_fields_set


def test_a_record_given_every_field_in_any_order_is_the_registry_s_byte_for_byte() -> None:
    """DynamoDB gives a map's attributes in any order; a record given every field keeps the
    dict pydantic-core made, which must hold them in the model's order (its JSON, its repr)."""
    side = PeeringSide(VpcId="vpc-00000000000000001", OwnerId="111111111111", Region="eu-west-1")
    attachment = tgw_attachment(1, make_vpc(1, "10.0.0.0/16"), "tgw-1", "2")
    conn = Connectivity(
        OwnerId="111111111111",
        Region="eu-west-1",
        Attachments=(attachment.model_copy(update={"RouteTableId": "tgw-rtb-1"}),),
        Peerings=(Peering(Id="pcx-1", Status="active", Requester=side, Accepter=side),),
        LastSeen=T,
    )
    item = connectivity_item(conn, 1893456000)
    for name in ("Attachments", "Peerings"):
        (stored,) = item[name]["L"]
        assert set(stored["M"]) == set(type(getattr(conn, name)[0]).model_fields)
        stored["M"] = dict(reversed(stored["M"].items()))
        for value in stored["M"].values():  # a peering's sides, reversed too
            if "M" in value:
                value["M"] = dict(reversed(value["M"].items()))
    (got,) = wire.decode_page(json.dumps({"Items": [item]}).encode())["Items"]
    read, want = wire.connectivity(got), connectivity_from_item(item)
    records = [*read.Attachments, *read.Peerings, read.Peerings[0].Requester]
    for record in records:
        assert list(record.__dict__) == list(type(record).model_fields)
    assert read.model_dump_json() == want.model_dump_json()


def test_the_shared_sets_of_a_record_s_fields_are_few_whatever_the_items_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kept as long as the process: attachments that each give another set of optional fields
    share none past the cap, and each record's set is still its own."""
    monkeypatch.setattr(wire_schemas, "_RECORD_FIELDS", {})
    vpc = make_vpc(1, "10.0.0.0/16")
    base = tgw_attachment(0, vpc, "tgw-1", "2")
    stored = connectivity_item(
        Connectivity(OwnerId="111111111111", Region="eu-west-1", Attachments=(base,), LastSeen=T),
        1893456000,
    )["Attachments"]["L"][0]["M"]
    required = {k: v for k, v in stored.items() if k != "RouteTableId"}
    items = []
    for n in range(40):
        # One attachment per item, each with or without its route table, under 40 owners'
        # names of an attribute nothing reads: 2 sets of fields, 40 of the item's raw keys.
        attachment = {**required, f"Extra{n}": {"S": "x"}}
        if n % 2:
            attachment["RouteTableId"] = {"S": "tgw-rtb-1"}
        items.append({**stored_item(n), "Attachments": {"L": [{"M": attachment}]}})
    page = wire.decode_page(json.dumps({"Items": items}).encode())["Items"]
    records = [wire.connectivity(got).Attachments[0] for got in page]
    assert len(wire_schemas._RECORD_FIELDS) == 2  # one per set of fields read, not per item
    for item, got in zip(items, records, strict=True):
        assert got.model_fields_set == connectivity_from_item(item).Attachments[0].model_fields_set
    # Full (other sets took the room): no set is kept, and each record keeps its own.
    full = {(Vpc, frozenset({str(n)})): set() for n in range(wire_schemas._MOST_RECORD_FIELDS)}
    monkeypatch.setattr(wire_schemas, "_RECORD_FIELDS", full)
    page = wire.decode_page(json.dumps({"Items": items[:3]}).encode())["Items"]
    first, _, third = (wire.connectivity(got).Attachments[0] for got in page)
    assert len(full) == wire_schemas._MOST_RECORD_FIELDS
    assert first.model_fields_set == third.model_fields_set == records[0].model_fields_set
    assert first.model_fields_set is not third.model_fields_set


def stored_item(n: int) -> dict[str, Any]:
    """The `n`th account's connectivity item in eu-west-1, listing nothing."""
    conn = Connectivity(OwnerId=f"{111111111111 + n}", Region="eu-west-1", LastSeen=T)
    return connectivity_item(conn, 1893456000)


_EXPIRES = 1893456000


def _split_connectivity() -> list[dict[str, Any]]:
    """A TGW owner's connectivity item split into a main item and parts (store.parts, a low
    limit): its attachments (some associated with a route table) and peerings in several parts
    each, its route tables' ids in one."""
    vpc = make_vpc(1, "10.0.0.0/16")
    side = PeeringSide(VpcId="vpc-00000000000000001", OwnerId="111111111111", Region="eu-west-1")
    conn = Connectivity(
        OwnerId="111111111111",
        Region="eu-west-1",
        Attachments=tuple(
            tgw_attachment(n, vpc, "tgw-1", "2").model_copy(
                update={"RouteTableId": "tgw-rtb-1"} if n % 2 else {}
            )
            for n in range(12)
        ),
        Peerings=tuple(
            Peering(Id=f"pcx-{n}", Status="active", Requester=side, Accepter=side) for n in range(8)
        ),
        RouteTables=tuple(f"tgw-rtb-{n:017x}" for n in range(60)),
        LastSeen=T,
    )
    lists = ("Attachments", "Peerings", "RouteTables")
    return parts.split(connectivity_item(conn, _EXPIRES), lists, _EXPIRES, limit=1000)


def _read_split(items: list[dict[str, Any]], *, fast: bool) -> Items:
    """`items` read as `registry.load_without_subnets` reads a page of them (`fast`), or as the
    registry decodes them."""
    out = Items(lean=True)
    page = wire.decode_page(json.dumps({"Items": items}).encode())["Items"] if fast else items
    for got in page:
        take_lean(got, out, CONNECTIONS, WithoutSubnets(), [])
    return out.complete()


def _same_reading(fast: Items, slow: Items, why: Any) -> None:
    assert fast.connectivity == slow.connectivity, why
    assert fast.unreadable == slow.unreadable, why
    for a, b in zip(fast.connectivity, slow.connectivity, strict=True):
        assert a.model_fields_set == b.model_fields_set, why
        for got, want in ((a.Attachments, b.Attachments), (a.Peerings, b.Peerings)):
            for x, y in zip(got, want, strict=True):
                assert type(x) is type(y) and x.model_fields_set == y.model_fields_set, why


def test_a_split_connectivity_item_s_attachments_and_peerings_are_read_from_the_page() -> None:
    """Issue 26 (a read built for 100k): a TGW owner's split items (a landing zone's network
    account: 26.6 MB of parts at 100k VPCs) were parsed raw and held as AttributeValue dicts
    to the read's end (≈ 120 MB of its peak), then joined and decoded by the registry. Their
    attachments' and peerings' parts are now validated into their records as the page is
    read, as a connectivity item's are; the registry joins the records."""
    items = _split_connectivity()
    main, *rest = items
    assert {p["Attr"]["S"] for p in rest} == {"Attachments", "Peerings", "RouteTables"}
    page = wire.decode_page(json.dumps({"Items": items}).encode())["Items"]
    for item, got in zip(items, page, strict=True):
        if item.get("Attr", {}).get("S") in ("Attachments", "Peerings"):
            assert wire.is_part(got), item
        else:  # the main item (split: the registry's), a list of strings
            assert not wire.is_part(got) and got == item, item
    fast, slow = _read_split(items, fast=True), _read_split(items, fast=False)
    _same_reading(fast, slow, "as written")
    (conn,) = fast.connectivity
    assert len(conn.Attachments) == 12 and len(conn.Peerings) == 8 and len(conn.RouteTables) == 60
    assert conn.Attachments[1].model_fields_set is conn.Attachments[3].model_fields_set
    # Parts arrive in any order, and with those of an older write of the item.
    older = parts.split(
        connectivity_item(connectivity_from_item(main).model_copy(update={"LastSeen": T}), 1),
        ("Attachments",),
        1,
        limit=1000,
    )
    shuffled = [*reversed(rest), *older[1:], main]
    _same_reading(_read_split(shuffled, fast=True), slow, "shuffled")


def test_every_part_is_read_as_the_registry_reads_it_or_left_to_it() -> None:
    main, *rest = _split_connectivity()
    firsts = [
        next(p for p in rest if p["Attr"]["S"] == attr) for attr in ("Attachments", "Peerings")
    ]
    taken = abstained = 0
    for first in firsts:
        others = [p for p in rest if p is not first]
        record = first["Values"]["L"][0]["M"]
        variants = [
            *_variants(first),
            # Its key another kind's part (a VPC's, a route table's), or not a part's.
            *({**first, "VpcId": {"S": key}} for key in ("part#vpc-1#0", "part#tgw-rtb#x#0")),
            *({**first, "VpcId": {"S": "x"}}, {**first, "VpcId": {"S": "part#conn#x#0"}}),
            # Its first record's attributes, each missing or stored otherwise.
            *(
                {**first, "Values": {"L": [{"M": r}, *first["Values"]["L"][1:]]}}
                for name in [*record, "Unknown"]
                for r in (
                    {k: v for k, v in record.items() if k != name},
                    *({**record, name: other} for other in _OTHERS),
                )
            ),
        ]
        for variant in variants:
            items = [main, *others, variant]
            got = wire.decode_page(json.dumps({"Items": [variant]}).encode())["Items"][0]
            if wire.is_part(got):
                taken += 1
            else:
                assert got == variant  # left raw, exactly as `json.loads` gives it
                abstained += 1
            _same_reading(_read_split(items, fast=True), _read_split(items, fast=False), variant)
    assert taken >= 2 and abstained > 0
