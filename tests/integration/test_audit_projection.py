"""`audit` reads the table without subnets and tags unless it renders the HTML page, and
`inventory` and `lookup` always (issue 26: a read path built for 100k VPCs): each VPC item's
stored `AddressUse` stands in for its subnets, and the subnets an answer names are read whole
(a finding's, or those of the VPCs holding the looked-up address). Whatever the table holds,
each says what a whole read says."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from pydantic import BaseModel, model_validator

from collector.analysis.inventory import inventory_of
from collector.analysis.lookup import BlockIndex, lookup
from collector.analysis.stale import Scope, partition
from collector.config import Config
from collector.errors import FatalError
from collector.jobs.audit import read_inventory, run_audit
from collector.jobs.inventory import run_inventory
from collector.jobs.lean import for_audit
from collector.jobs.lookup import run_lookup
from collector.jobs.options import RunOptions
from collector.models import (
    Connectivity,
    Reservation,
    TgwRouteTable,
    Vpc,
)
from collector.store import parts, wire
from collector.store.connectivity import connectivity_item, connectivity_items, route_table_items
from collector.store.registry import Items
from collector.store.reservations import reservation_item
from collector.store.table import create_table
from collector.store.vpcs import to_item, vpc_items
from collector.store.writer import BatchWriter
from tests.factories import make_vpc, tgw_attachment, with_subnets
from tests.integration.conftest import Org, cli, scanned_attributes

T = datetime(2026, 11, 30, tzinfo=UTC)
TABLE = "VPCTracker"
REGION = "us-east-1"
NETWORK = "999999999999"
OWNERS = ("111111111111", "222222222222", "333333333333")
TGW = "tgw-0123456789abcdef0"
EXPIRES = int(T.timestamp()) + 86400 * 30


def config(used_pct: int = 80, subnet_free_pct: int = 10) -> Config:
    return Config.model_validate(
        {
            "regions": [REGION],
            "table": {"name": TABLE, "region": REGION},
            "headroom": {"used_pct": used_pct, "subnet_free_pct": subnet_free_pct},
        }
    )


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def write(
    session: boto3.Session,
    vpcs: Sequence[Vpc],
    *,
    old: frozenset[int] = frozenset(),
    split: frozenset[int] = frozenset(),
    routed: frozenset[int] = frozenset(),
) -> None:
    """Write `vpcs` to a new table as the collector does, every VPC attached to the network
    account's TGW, whose one route table reaches those in `routed`; with a reservation. The
    VPCs at the indexes in `old` are written as a version without `AddressUse` wrote them; those
    in `split` as a main item and parts."""
    client = session.client("dynamodb")
    create_table(client, TABLE)
    attachments = [tgw_attachment(n, v, TGW, NETWORK) for n, v in enumerate(vpcs)]
    items: list[dict[str, Any]] = []
    for n, v in enumerate(vpcs):
        item = to_item(v)
        if n in old:
            del item["AddressUse"]
        items += parts.split(item, ("Subnets",), EXPIRES, limit=600) if n in split else [item]
    for owner in (*OWNERS, NETWORK):
        mine = tuple(a for a in attachments if owner in (a.ResourceOwnerId, NETWORK))
        conn = Connectivity(
            OwnerId=owner,
            Region=REGION,
            Attachments=mine,
            RouteTables=("tgw-rtb-0123456789abcdef0",) if owner == NETWORK else (),
            LastSeen=T,
        )
        items += connectivity_items(conn, EXPIRES)
    table = TgwRouteTable(
        Id="tgw-rtb-0123456789abcdef0",
        TransitGatewayId=TGW,
        OwnerId=NETWORK,
        Region=REGION,
        Propagations=tuple(attachments[n].Id for n in sorted(routed) if n < len(attachments)),
        LastSeen=T,
    )
    items += route_table_items(table, EXPIRES)
    items.append(reservation_item(Reservation("10.9.0.0/16", OWNERS[0], T, EXPIRES, "next")))
    with BatchWriter(client, TABLE) as writer:
        writer.add_all(items)


def audits(session: boto3.Session, cfg: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """The audit JSON read without subnets, and read whole."""
    opts = RunOptions(session=session, clock=lambda: T)
    bare, _ = run_audit(cfg, options=opts, subnets=False)
    whole, _ = run_audit(cfg, options=opts)
    return bare.to_dict(), whole.to_dict()


SUBNETS = st.lists(
    st.tuples(st.sampled_from((20, 24, 26, 28)), st.integers(0, 5000), st.sampled_from("ab")),
    max_size=4,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(0, 2), SUBNETS, st.booleans(), st.booleans()), max_size=6),
    st.frozensets(st.integers(0, 5)),
    st.frozensets(st.integers(0, 5)),
    st.frozensets(st.integers(0, 5)),
    st.integers(1, 100),
    st.integers(0, 100),
)
def test_audit_and_inventory_read_without_subnets_say_what_a_whole_read_says(
    drawn: list[tuple[int, list[tuple[int, int, str]], bool, bool]],
    old: frozenset[int],
    split: frozenset[int],
    routed: frozenset[int],
    used_pct: int,
    subnet_free_pct: int,
) -> None:
    vpcs = [
        with_subnets(
            make_vpc(
                n + 1,
                f"10.{block}.0.0/16",
                owner=OWNERS[n % 3],
                default=default,
                deleted=deleted,
                name=f"vpc-{n}",
            ),
            subnets,
            team=f"t{n}",
        )
        for n, (block, subnets, default, deleted) in enumerate(drawn)
    ]
    cfg = config(used_pct, subnet_free_pct)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        write(session, vpcs, old=old, split=split, routed=routed)
        bare, whole = audits(session, cfg)
        # And the inventory, which reads each VPC's stored use for its subnet columns.
        opts = RunOptions(session=session)
        listed = {d: run_inventory(cfg, include_deleted=d, options=opts) for d in (False, True)}
        items = read_inventory(cfg, session)
    assert json.dumps(bare, sort_keys=True) == json.dumps(whole, sort_keys=True)
    for deleted, (shape, unreadable) in listed.items():
        rows = inventory_of(items.vpcs, Scope.of(cfg), include_deleted=deleted)
        assert shape["vpcs"] == rows and unreadable == items.unreadable == []


def test_only_the_vpcs_whose_subnets_are_findings_are_read_whole(session: boto3.Session) -> None:
    tight = with_subnets(make_vpc(1, "10.1.0.0/16"), [(24, 5, "a"), (24, 200, "b")], team="a")
    roomy = with_subnets(make_vpc(2, "10.2.0.0/16"), [(24, 200, "a")], team="b")
    older = with_subnets(make_vpc(3, "10.3.0.0/16"), [(24, 200, "a")], team="c")
    large = with_subnets(make_vpc(4, "10.4.0.0/16"), [(24, 200, "a")] * 3, team="d")
    gone = with_subnets(make_vpc(5, "10.5.0.0/16", deleted=True), [(24, 1, "a")], team="e")
    write(session, [tight, roomy, older, large, gone], old=frozenset({2, 4}), split=frozenset({3}))
    items = read_inventory(config(), session, without=for_audit(config()))
    read = {v.VpcId: v for v in items.vpcs}
    assert set(read) == {v.VpcId for v in (tight, roomy, older, large, gone)}
    # Read without subnets or tags: the roomy VPC (its stored use answers for it), and a
    # deleted one (no headroom to report).
    assert set(items.address_use) == {roomy.key}
    assert read[roomy.VpcId].Subnets == () and read[roomy.VpcId].Tags == {}
    assert read[gone.VpcId].Subnets == ()
    # Read whole: a subnet is a finding (5 of 251 free), an older writer's item; a split one is
    # read with its parts (its subnets), but without its tags.
    for v in (tight, older):
        assert read[v.VpcId] == v
    assert read[large.VpcId] == large.model_copy(update={"Tags": {}})
    assert not items.unreadable
    # And with the HTML page's read, every VPC with its subnets, but without its tags (no
    # report shows them).
    assert {v.VpcId: v for v in read_inventory(config(), session).vpcs} == {
        v.VpcId: v.model_copy(update={"Tags": {}}) for v in (tight, roomy, older, large, gone)
    }
    assert [s["SubnetId"] for s in audits(session, config())[0]["exhausted_subnets"]] == [
        tight.Subnets[0].SubnetId
    ]


def test_vpc_items_carry_their_address_use(session: boto3.Session) -> None:
    vpc = with_subnets(make_vpc(1, "10.1.0.0/16"), [(24, 5, "a"), (26, 59, "b")])
    (item,) = vpc_items(vpc, EXPIRES)
    assert item["AddressUse"] == {
        "M": {
            "Usable": {"N": "310"},
            "Used": {"N": "246"},
            "SubnetCount": {"N": "2"},
            "AvailabilityZones": {"L": [{"S": "us-east-1a"}, {"S": "us-east-1b"}]},
            "LargestFreeBlock": {"S": "10.1.128.0/17"},
            "SubnetSize": {"N": "24"},
            "TightestSubnetFreePct": {"N": "2.0"},
        }
    }


def test_the_cli_reads_subnets_only_where_its_answer_shows_them(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = org.create_vpc("sandbox", "us-east-1", "192.168.4.0/22", "lab")
    org.ec2("sandbox", "us-east-1").create_subnet(
        VpcId=lab, CidrBlock="192.168.4.0/24", AvailabilityZone="us-east-1a"
    )
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    scans: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    reports = {}
    for fmt in ("json", "table", "csv", "html"):
        scans.clear()
        code, reports[fmt], _ = cli(org, capsys, "audit", "--config", str(cfg), "--format", fmt)
        assert code == 0 and scans
        read = scanned_attributes(scans)
        if fmt == "html":  # every subnet; no tags, no stored use
            assert "Subnets" in read and not read & {"Tags", "AddressUse"}
        else:
            assert "AddressUse" in read and not read & {"Subnets", "Tags"}
    # A finding of the subnets, from the stored use.
    assert [f["VpcId"] for f in json.loads(reports["json"])["single_az"]] == [lab]
    # `inventory` reads no subnets either; its subnet columns come from the stored uses.
    scans.clear()
    code, out, _ = cli(org, capsys, "inventory", "--config", str(cfg), "--format", "json")
    read = scanned_attributes(scans)
    assert code == 0 and "AddressUse" in read and not read & {"Subnets", "Tags"}
    row = next(r for r in json.loads(out)["vpcs"] if r["VpcId"] == lab)
    assert (row["Subnets"], row["AvailabilityZones"], row["UsedPct"]) == (1, 1, 0.0)
    # `lookup` neither (nor the stored uses): it reads by key the one VPC holding the address,
    # for its subnets.
    scans.clear()
    gets: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.BatchGetItem", lambda params, **_: gets.append(params)
    )
    code, out, _ = cli(
        org, capsys, "lookup", "192.168.4.9", "--config", str(cfg), "--format", "json"
    )
    read = scanned_attributes(scans)
    assert code == 0 and "CidrBlocks" in read and not read & {"Subnets", "Tags", "AddressUse"}
    keys = [k["VpcId"]["S"] for g in gets for r in g["RequestItems"].values() for k in r["Keys"]]
    assert keys == [lab]
    (match,) = json.loads(out)["matches"]
    assert (match["VpcId"], match["SubnetCidr"]) == (lab, "192.168.4.0/24")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(0, 2), SUBNETS, st.booleans()), max_size=6),
    st.frozensets(st.integers(0, 5)),
    st.frozensets(st.integers(0, 5)),
    st.sampled_from((0, 1, 2, 9)),
    st.integers(0, 2**16 - 1),
    st.sampled_from((32, 28, 24, 20, 16, 12)),
)
def test_lookup_read_without_subnets_says_what_a_whole_read_says(
    drawn: list[tuple[int, list[tuple[int, int, str]], bool]],
    old: frozenset[int],
    split: frozenset[int],
    near: int,
    offset: int,
    prefix: int,
) -> None:
    vpcs = [
        with_subnets(
            make_vpc(n + 1, f"10.{block}.0.0/16", owner=OWNERS[n % 3], deleted=deleted),
            subnets,
            team=f"t{n}",
        )
        for n, (block, subnets, deleted) in enumerate(drawn)
    ]
    # An address in (or a block around) a drawn range, the reservation, or a range none holds.
    address = ipaddress.ip_address(f"10.{near}.0.0") + offset
    query = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    cfg = config()
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        write(session, vpcs, old=old, split=split)
        result, _ = run_lookup(cfg, query, options=RunOptions(session=session, clock=lambda: T))
        items = read_inventory(cfg, session)
    _, stale = partition(items.vpcs, Scope.of(cfg))
    expected = lookup(
        query,
        BlockIndex(items.vpcs),
        cfg.reserved_cidrs,
        [r for r in items.reservations if r.active(T)],
        stale={v.key: why for v, why in stale},
    )
    assert result.to_dict() == expected.to_dict()


def test_lookup_refuses_an_answer_when_a_vpc_it_names_goes_between_its_reads(
    session: boto3.Session,
) -> None:
    held = with_subnets(make_vpc(1, "10.1.0.0/16"), [(24, 200, "a")])
    write(session, [held])
    client = session.client("dynamodb")

    def delete_first(**_: Any) -> None:
        # Between the scan and the read by key, the VPC's item goes (a sweep's delete).
        client.delete_item(
            TableName=TABLE, Key={"VpcId": {"S": held.VpcId}, "OwnerId": {"S": held.OwnerId}}
        )

    session.events.register("before-call.dynamodb.BatchGetItem", delete_first)
    query = ipaddress.ip_network("10.1.0.9/32")
    with pytest.raises(FatalError, match="changed while it was read; run lookup again"):
        run_lookup(config(), query, options=RunOptions(session=session, clock=lambda: T))


def test_lookup_names_what_dynamodb_never_hands_over(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = with_subnets(make_vpc(1, "10.1.0.0/16"), [(24, 200, "a")])
    write(session, [held])
    monkeypatch.setattr("collector.store.reader.time.sleep", lambda _: None)

    def unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        # DynamoDB may hand back any key unprocessed (throughput): here, every key, every time.
        for table, items in parsed.get("Responses", {}).items():
            keys = [{k: item[k] for k in ("VpcId", "OwnerId")} for item in items]
            parsed["UnprocessedKeys"] = {table: {"Keys": keys, "ConsistentRead": True}}
            parsed["Responses"][table] = []

    session.events.register("after-call.dynamodb.BatchGetItem", unprocessed)
    query = ipaddress.ip_network("10.1.0.9/32")
    with pytest.raises(FatalError, match=r"VPC items holding 10\.1\.0\.9/32 still unread"):
        run_lookup(config(), query, options=RunOptions(session=session, clock=lambda: T))
    # And the audit, for the VPCs it reads again whole (a tight subnet's).
    tight = with_subnets(make_vpc(2, "10.2.0.0/16"), [(24, 1, "a")])
    (item,) = vpc_items(tight, EXPIRES)
    session.client("dynamodb").put_item(TableName=TABLE, Item=item)
    with pytest.raises(FatalError, match="VPC items read again whole still unread"):
        run_audit(config(), options=RunOptions(session=session, clock=lambda: T), subnets=False)


def test_lookup_reads_by_key_only_the_vpcs_holding_the_space_whoever_wrote_them(
    session: boto3.Session,
) -> None:
    # Items an earlier version wrote (no `AddressUse`): `lookup` needs no stored use, so only
    # the one holding the address is read again, for its subnets.
    vpcs = [with_subnets(make_vpc(n + 1, f"10.{n}.0.0/16"), [(24, 200, "a")]) for n in range(4)]
    write(session, vpcs, old=frozenset(range(4)))
    scans: list[dict[str, Any]] = []
    gets: list[dict[str, Any]] = []
    session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    session.events.register(
        "provide-client-params.dynamodb.BatchGetItem", lambda params, **_: gets.append(params)
    )
    query = ipaddress.ip_network("10.2.0.9/32")
    result, _ = run_lookup(config(), query, options=RunOptions(session=session, clock=lambda: T))
    keys = [k["VpcId"]["S"] for g in gets for r in g["RequestItems"].values() for k in r["Keys"]]
    assert keys == [vpcs[2].VpcId]
    (match,) = result.matches
    assert (match["VpcId"], match["SubnetCidr"]) == (vpcs[2].VpcId, "10.2.0.0/24")
    # Nor does it read the stored uses it does not need.
    read = scanned_attributes(scans)
    assert "CidrBlocks" in read and not read & {"Subnets", "Tags", "AddressUse"}


def _calls(
    monkeypatch: pytest.MonkeyPatch, name: str, seen: Callable[[Any, Any], Any]
) -> list[Any]:
    """Each call of `wire.<name>` from now on, as `seen(its argument, its result)` names it."""
    calls: list[Any] = []
    real = getattr(wire, name)

    def counted(stored: Any) -> Any:
        out = real(stored)
        calls.append(seen(stored, out))
        return out

    monkeypatch.setattr(wire, name, counted)
    return calls


def _read_both_ways(session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> tuple[Items, Items]:
    """The table read without subnets as store.wire reads it, then as the registry decodes the
    same pages without it."""
    fast = read_inventory(config(), session, without=for_audit(config()))

    def refuse(body: bytes) -> dict[str, Any]:
        raise ValueError("decoded by the registry")

    monkeypatch.setattr(wire, "decode_page", refuse)
    return fast, read_inventory(config(), session, without=for_audit(config()))


def test_a_read_without_subnets_validates_vpc_items_as_they_arrive_and_agrees_with_decoding(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """store.wire reads VPC items straight from each page's JSON: what it reads, and what it
    leaves to the registry (an older writer's item, a split one, a damaged one), must come out
    as the registry's own decoding of the whole page gives them."""
    vpcs = [
        with_subnets(
            make_vpc(n, f"10.{n}.0.0/16", owner=OWNERS[n % 3]),
            [(24, 5 + n * 40, "a"), (26, 60, "b"), (26, 60, "a")],
            team=f"t{n}",
        )
        for n in range(1, 7)
    ]
    write(session, vpcs, old=frozenset({1}), split=frozenset({2}))
    damaged = {**to_item(make_vpc(9, "10.9.0.0/16")), "Name": {"N": "9"}}
    session.client("dynamodb").put_item(TableName=TABLE, Item=damaged)
    records = _calls(monkeypatch, "record", lambda stored, _: stored.VpcId)
    fast, slow = _read_both_ways(session, monkeypatch)
    # Read as they arrived: all but the split and the damaged item (the older writer's, too:
    # it has no stored use, so it is then read again whole, as the registry would).
    assert sorted(records) == sorted(v.VpcId for n, v in enumerate(vpcs) if n != 2)
    for got in (fast, slow):
        got.vpcs.sort(key=lambda v: v.VpcId)
        got.unreadable.sort(key=lambda u: u.VpcId)
        got.connectivity.sort(key=lambda c: (c.OwnerId, c.Region))
    assert fast.vpcs == slow.vpcs and len(fast.vpcs) == len(vpcs)
    assert fast.address_use == slow.address_use and fast.address_use
    assert fast.without_subnets == slow.without_subnets
    assert fast.reservations == slow.reservations and fast.connectivity == slow.connectivity
    assert fast.unreadable == slow.unreadable and [u.VpcId for u in fast.unreadable] == [
        damaged["VpcId"]["S"]
    ]


def test_a_read_without_subnets_validates_connectivity_items_as_they_arrive(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26 (a read built for a landing zone): the registry's decoding of connectivity
    items (boto3's deserializer, then pydantic), one per target and most listing nothing, was
    more than half of a read without subnets. store.wire reads them straight from each page's
    JSON; what it reads, and what it leaves to the registry (a damaged one), must come out as
    the registry's own decoding of the page gives them."""
    vpcs = [make_vpc(n, f"10.{n}.0.0/16", owner=OWNERS[n % 3]) for n in range(1, 4)]
    write(session, vpcs)  # every owner's us-east-1 item lists attachments
    client = session.client("dynamodb")
    empty = [
        Connectivity(OwnerId=owner, Region=region, LastSeen=T)
        for owner in (*OWNERS, NETWORK)
        for region in ("eu-west-1", "ap-south-1", "sa-east-1")
    ]
    with BatchWriter(client, TABLE) as writer:
        writer.add_all([item for c in empty for item in connectivity_items(c, EXPIRES)])
    damaged = {
        **connectivity_items(Connectivity(OwnerId=OWNERS[0], Region="eu-north-1", LastSeen=T), 1)[
            0
        ],
        "LastSeen": {"S": "yesterday"},
    }
    client.put_item(TableName=TABLE, Item=damaged)
    taken = _calls(monkeypatch, "connectivity", lambda _, conn: (conn.OwnerId, conn.Region))
    fast, slow = _read_both_ways(session, monkeypatch)
    # Every one as it arrived (those that list attachments too), but the damaged one.
    listing = [(owner, REGION) for owner in (*OWNERS, NETWORK)]
    assert sorted(taken) == sorted([*((c.OwnerId, c.Region) for c in empty), *listing])
    for got in (fast, slow):
        got.connectivity.sort(key=lambda c: (c.OwnerId, c.Region))
        got.vpcs.sort(key=lambda v: v.VpcId)
    assert fast.connectivity == slow.connectivity
    assert [c.model_fields_set for c in fast.connectivity] == [
        c.model_fields_set for c in slow.connectivity
    ]
    assert len(fast.connectivity) == len(empty) + len(OWNERS) + 1
    assert fast.vpcs == slow.vpcs and fast.route_tables == slow.route_tables
    assert fast.unreadable == slow.unreadable and [u.VpcId for u in fast.unreadable] == [
        damaged["VpcId"]["S"]
    ]


def test_a_read_without_subnets_reads_a_split_connectivity_item_s_records_from_its_parts(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26 (a read built for 100k): a TGW owner's split connectivity item (a landing
    zone's network account lists every spoke's attachment) was parsed raw, joined and decoded
    by the registry. Its attachments' and peerings' parts are now validated into records as
    each page is read; a part it does not take (here: its route tables' ids) is left to the
    registry, and the item is joined all the same."""
    vpcs = [make_vpc(n, f"10.{n}.0.0/16", owner=OWNERS[n % 3]) for n in range(1, 40)]
    write(session, vpcs)
    network = read_inventory(config(), session, without=for_audit(config()))
    (listed,) = [c for c in network.connectivity if c.OwnerId == NETWORK]
    ids = tuple(f"tgw-rtb-{n:017x}" for n in range(150))
    conn = listed.model_copy(update={"RouteTables": ids})
    lists = ("Attachments", "Peerings", "RouteTables")
    main, *split = parts.split(connectivity_item(conn, EXPIRES), lists, EXPIRES, limit=2000)
    attached = [p for p in split if p["Attr"]["S"] == "Attachments"]
    assert len(attached) > 4 and len(split) > len(attached)
    with BatchWriter(session.client("dynamodb"), TABLE) as writer:
        writer.add_all([main, *split])
    taken = _calls(monkeypatch, "part", lambda stored, _: stored.VpcId)
    fast, slow = _read_both_ways(session, monkeypatch)
    assert sorted(taken) == sorted(p["VpcId"]["S"] for p in attached)
    for got in (fast, slow):
        got.connectivity.sort(key=lambda c: (c.OwnerId, c.Region))
    assert fast.connectivity == slow.connectivity and fast.unreadable == slow.unreadable == []
    (joined,) = [c for c in fast.connectivity if c.OwnerId == NETWORK]
    assert joined == conn and len(joined.Attachments) == len(vpcs) and joined.RouteTables == ids
    assert [c.model_fields_set for c in fast.connectivity] == [
        c.model_fields_set for c in slow.connectivity
    ]
    for a, b in zip(joined.Attachments, slow.connectivity[-1].Attachments, strict=True):
        assert a.model_fields_set == b.model_fields_set


def test_a_read_without_subnets_whose_fast_validator_cannot_be_built_reads_the_slower_way(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """store.wire builds its page validator from the schema pydantic generates for a stored
    VPC: a pydantic release that generates it in another shape (here: a model with a wrap
    validator, whose schema is a function's, not a model's) must not fail every read without
    subnets with a traceback. The fast read is an optimization: the read goes on as the
    registry decodes the pages, says so once in the log, and `audit` answers as before."""
    vpcs = [make_vpc(n, f"10.{n}.0.0/16", owner=OWNERS[n % 3]) for n in range(1, 5)]
    write(session, vpcs)
    built = wire._model

    def reshaped() -> type[BaseModel]:
        model = built()

        class Reshaped(model):  # type: ignore[valid-type, misc]
            @model_validator(mode="wrap")
            @classmethod
            def as_before(cls, value: Any, handler: Any) -> Any:
                return handler(value)

        return Reshaped

    before, _ = run_audit(config(), options=RunOptions(session=session, clock=lambda: T))
    expected = read_inventory(config(), session, without=for_audit(config()))
    monkeypatch.setattr(wire, "_BUILT", [])
    monkeypatch.setattr(wire, "_model", reshaped)
    monkeypatch.setattr(wire, "_FAILED", [])
    got = read_inventory(config(), session, without=for_audit(config()))
    again = read_inventory(config(), session, without=for_audit(config()))
    after, _ = run_audit(config(), options=RunOptions(session=session, clock=lambda: T))
    for items in (expected, got, again):
        items.vpcs.sort(key=lambda v: v.VpcId)
        items.connectivity.sort(key=lambda c: (c.OwnerId, c.Region))
    assert got.vpcs == expected.vpcs and again.vpcs == expected.vpcs and len(got.vpcs) == 4
    assert got.address_use == expected.address_use and got.connectivity == expected.connectivity
    assert got.unreadable == []
    assert json.dumps(after.to_dict(), sort_keys=True) == json.dumps(
        before.to_dict(), sort_keys=True
    )
    said = [r for r in caplog.records if r.name == wire.__name__]
    assert len(said) == 1 and said[0].levelname == "WARNING"
    assert "stored VPC" in said[0].getMessage()
