"""Effective conflicts (issue 13): routing domains from recorded-shape API answers, and the
properties that make severity trustworthy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analysis import Connections, build_audit, overlap_groups
from collector.analysis.conflicts import annotate, routing_domains
from collector.config import ReservedCidr
from collector.models import Connectivity, Peering, PeeringSide
from collector.scan.connectivity import owned_tgws, to_connectivity
from tests.conftest import load_data
from tests.factories import make_vpc

T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
NETWORK = "999999999999"
LAYOUTS = load_data("tgw_layouts.json")


def owner_view(layout: dict[str, Any], peerings: list[dict[str, Any]] | None = None) -> Connections:
    """What the collector stores from the TGW owner's scan of that layout."""
    conn, tables = to_connectivity(
        NETWORK, "us-east-1", peerings or [], layout["attachments"], layout["route_tables"], now=T
    )
    return Connections.of([conn], tables)


def test_owned_tgws_are_read_from_the_attachments() -> None:
    assert owned_tgws(NETWORK, LAYOUTS["one_table"]["attachments"]) == {"tgw-0f0000000000000f1"}
    assert owned_tgws("111111111111", LAYOUTS["one_table"]["attachments"]) == set()


def test_one_route_table_for_all_makes_every_overlap_a_conflict() -> None:
    a = make_vpc("vpc-0a0000000000000a1", "10.1.0.0/16", owner="111111111111")
    b = make_vpc("vpc-0b0000000000000b1", "10.1.128.0/17", owner="222222222222")
    gone = make_vpc("vpc-0d0000000000000d1", "10.1.0.0/24", owner="444444444444")
    audit = build_audit([a, b, gone], [], now=T, connections=owner_view(LAYOUTS["one_table"]))
    (group,) = audit.to_dict()["overlap_groups"]
    assert group["severity"] == "conflict" and audit.to_dict()["summary"]["conflicts"] == 1
    # The deleted attachment routes nothing: only a <-> b conflict, at the route table.
    assert [(c["a"]["VpcId"], c["b"]["VpcId"], c["at"], c["via"]) for c in group["conflicts"]] == [
        (
            "vpc-0a0000000000000a1",
            "vpc-0b0000000000000b1",
            "tgw-rtb-0c0000000000000c1",
            [
                "tgw-0f0000000000000f1",
                "tgw-rtb-0c0000000000000c1",
                "tgw-attach-0a0000000000000a1",
                "tgw-attach-0b0000000000000b1",
            ],
        )
    ]
    assert group["conflicts"][0]["a"] == group["members"][0]  # members have the same shape


def test_separate_prod_and_dev_route_tables() -> None:
    prod_a = make_vpc("vpc-0a0000000000000a2", "10.1.0.0/16", owner="111111111111")
    prod_b = make_vpc("vpc-0b0000000000000b2", "10.1.128.0/17", "192.168.10.0/24", owner="2" * 12)
    dev_c = make_vpc("vpc-0c0000000000000c3", "10.1.0.0/24", "192.168.20.0/24", owner="3" * 12)
    isolated = make_vpc("vpc-0e0000000000000e9", "172.20.0.0/16", owner="5" * 12)
    sandbox = make_vpc("vpc-0e0000000000000e8", "172.20.0.0/16", owner="6" * 12)
    corp = ReservedCidr(cidr="192.168.0.0/16", name="corp", on_prem=True)
    audit = build_audit(
        [prod_a, prod_b, dev_c, isolated, sandbox],
        [corp],
        now=T,
        connections=owner_view(LAYOUTS["prod_dev"]),
    )
    groups = {g.span: g for g in audit.overlap_groups}
    ten = groups["10.1.0.0/16"]
    # prod routes to both prod VPCs; dev_c overlaps them but shares no route table with them.
    assert ten.severity == "conflict"
    assert [(c.a.vpc.VpcId, c.b.vpc.VpcId, c.at) for c in ten.conflicts if c.a.vpc and c.b.vpc] == [
        ("vpc-0a0000000000000a2", "vpc-0b0000000000000b2", "tgw-rtb-0c0000000000000c2")
    ]
    # The VPN attachment brings the on-prem range into prod's table only.
    corp_group = groups["192.168.0.0/16"]
    assert corp_group.severity == "conflict"
    (onprem,) = corp_group.conflicts
    assert onprem.a.reserved == "corp" and onprem.b.vpc is not None
    assert onprem.b.vpc.VpcId == "vpc-0b0000000000000b2"
    assert onprem.via == (
        "tgw-0f0000000000000f2",
        "tgw-rtb-0c0000000000000c2",
        "tgw-attach-0e0000000000000e2",
        "tgw-attach-0b0000000000000b2",
    )
    # An isolated sandbox clash is latent.
    assert groups["172.20.0.0/16"].severity == "latent" and groups["172.20.0.0/16"].conflicts == ()
    # Without on_prem the same range is never reached through the VPN.
    plain = build_audit(
        [prod_b],
        [ReservedCidr(cidr="192.168.0.0/16", name="corp")],
        now=T,
        connections=owner_view(LAYOUTS["prod_dev"]),
    )
    assert plain.overlap_groups[0].severity == "latent"


def test_a_shared_peer_makes_its_two_neighbours_conflict() -> None:
    hub = make_vpc("vpc-0f00000000000f000", "10.0.0.0/16", owner=NETWORK)
    b = make_vpc("vpc-0b00000000000b040", "10.40.0.0/16", owner="222222222222")
    c = make_vpc("vpc-0c00000000000c040", "10.40.0.0/16", owner="333333333333", region="eu-west-1")
    pending = make_vpc("vpc-0d00000000000d050", "10.40.0.0/20", owner="444444444444")
    conns = owner_view({"attachments": [], "route_tables": []}, LAYOUTS["peering"])
    audit = build_audit([hub, b, c, pending], [], now=T, connections=conns)
    (group,) = audit.overlap_groups
    assert group.severity == "conflict"
    # The pending-acceptance peering connects nothing: only b <-> c, at the hub.
    assert [(x.a.vpc.VpcId, x.b.vpc.VpcId, x.at, x.via) for x in group.conflicts] == [  # type: ignore[union-attr]
        (
            "vpc-0b00000000000b040",
            "vpc-0c00000000000c040",
            "vpc-0f00000000000f000",
            ("pcx-0a00000000000a001", "pcx-0a00000000000a002"),
        )
    ]


def test_stale_route_tables_are_ignored() -> None:
    layout = LAYOUTS["one_table"]
    conn, tables = to_connectivity(
        NETWORK, "us-east-1", [], layout["attachments"], layout["route_tables"], now=T
    )
    # A later scan of the owner no longer lists the table (deleted): its item may linger.
    later = conn.model_copy(
        update={"RouteTables": (), "LastSeen": datetime(2026, 11, 27, tzinfo=UTC)}
    )
    assert routing_domains(Connections.of([conn, later], tables)) == []


# ---------------------------------------------------------------------------------------------
# Properties

CIDRS = ["10.0.0.0/16", "10.0.0.0/20", "10.0.128.0/17", "10.1.0.0/16", "10.0.16.0/20"]


def _peering(n: int, a: int, b: int, vpcs: list[Any]) -> Peering:
    va, vb = vpcs[a], vpcs[b]
    return Peering(
        Id=f"pcx-{n:017x}",
        Status="active",
        Requester=PeeringSide(VpcId=va.VpcId, OwnerId=va.OwnerId, Region=va.Region),
        Accepter=PeeringSide(VpcId=vb.VpcId, OwnerId=vb.OwnerId, Region=vb.Region),
    )


def _severities(vpcs: list[Any], peerings: list[Peering]) -> dict[str, str]:
    conn = Connectivity(OwnerId="1" * 12, Region="us-east-1", Peerings=tuple(peerings), LastSeen=T)
    groups = annotate(overlap_groups(vpcs), Connections.of([conn], []))
    return {g.span + str([m.cidr for m in g.members]): g.severity for g in groups}


world = st.lists(st.sampled_from(CIDRS), min_size=2, max_size=7).flatmap(
    lambda cidrs: st.tuples(
        st.just(cidrs),
        st.lists(
            st.tuples(st.integers(0, len(cidrs) - 1), st.integers(0, len(cidrs) - 1)).filter(
                lambda p: p[0] != p[1]
            ),
            max_size=8,
        ),
        st.tuples(st.integers(0, len(cidrs) - 1), st.integers(0, len(cidrs) - 1)).filter(
            lambda p: p[0] != p[1]
        ),
    )
)


@settings(max_examples=200, deadline=None)
@given(world)
def test_adding_a_connection_never_lowers_a_severity(w: Any) -> None:
    cidrs, links, extra = w
    vpcs = [make_vpc(i + 1, c, owner=f"{i + 1:012d}") for i, c in enumerate(cidrs)]
    peerings = [_peering(n, a, b, vpcs) for n, (a, b) in enumerate(links)]
    before = _severities(vpcs, peerings)
    after = _severities(vpcs, [*peerings, _peering(999, *extra, vpcs)])
    assert before.keys() == after.keys()
    for key, sev in before.items():
        assert not (sev == "conflict" and after[key] == "latent")


@settings(max_examples=100, deadline=None)
@given(world)
def test_without_connections_every_group_is_latent(w: Any) -> None:
    cidrs, _, _ = w
    vpcs = [make_vpc(i + 1, c, owner=f"{i + 1:012d}") for i, c in enumerate(cidrs)]
    assert set(_severities(vpcs, []).values()) <= {"latent"}
