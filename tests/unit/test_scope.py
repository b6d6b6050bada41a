"""Which accounts' findings a rescan can change (`analysis.scope`): a narrowed recording that
compares only those must leave the ledger as a full recording would."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analysis import Connections, build_audit
from collector.analysis.findings import Finding, compare, iter_findings
from collector.analysis.scope import affected_accounts
from collector.models import (
    Connectivity,
    KnownFinding,
    Peering,
    PeeringSide,
    TgwAttachment,
    TgwRouteTable,
    Vpc,
)
from tests.factories import make_vpc

T = datetime(2026, 11, 30, tzinfo=UTC)
NETWORK = "999999999999"  # owns the TGW and its route table
MEMBERS = ("111111111111", "222222222222", "333333333333")
TGW = "tgw-0123456789abcdef0"
TABLE = "tgw-rtb-0123456789abcdef0"
REGION = "us-east-1"
# Every member VPC clashes with another member's: whether it is a conflict or latent depends
# only on whether the network account's route table reaches both.
VPCS = [
    make_vpc(1, "10.40.0.0/16", owner=MEMBERS[0], region=REGION),
    make_vpc(2, "10.40.0.0/20", owner=MEMBERS[1], region=REGION),
    make_vpc(3, "10.40.16.0/20", owner=MEMBERS[2], region=REGION),
    make_vpc(4, "10.50.0.0/16", owner=MEMBERS[1], region=REGION),
    make_vpc(5, "10.50.0.0/24", owner=MEMBERS[2], region=REGION),
]


def attachment(n: int, vpc: Vpc) -> TgwAttachment:
    return TgwAttachment(
        Id=f"tgw-attach-{n:017x}",
        TransitGatewayId=TGW,
        TransitGatewayOwnerId=NETWORK,
        ResourceType="vpc",
        ResourceId=vpc.VpcId,
        ResourceOwnerId=vpc.OwnerId,
        State="available",
        RouteTableId=None,
    )


ATTACHMENTS = [attachment(n, v) for n, v in enumerate(VPCS)]


def connections(reached: frozenset[int] | None) -> Connections:
    """Every member VPC attached to the network account's TGW; its one route table reaches
    the attachments in `reached` (associated, or propagated, the same to the analysis), or
    with None, the table was deleted."""
    members = [
        Connectivity(
            OwnerId=owner,
            Region=REGION,
            Attachments=tuple(a for a in ATTACHMENTS if a.ResourceOwnerId == owner),
            LastSeen=T,
        )
        for owner in MEMBERS
    ]
    network = Connectivity(
        OwnerId=NETWORK,
        Region=REGION,
        Attachments=tuple(ATTACHMENTS),
        RouteTables=(TABLE,) if reached is not None else (),
        LastSeen=T,
    )
    if reached is None:
        return Connections.of([*members, network], [])
    table = TgwRouteTable(
        Id=TABLE,
        TransitGatewayId=TGW,
        OwnerId=NETWORK,
        Region=REGION,
        Propagations=tuple(ATTACHMENTS[n].Id for n in sorted(reached)),
        LastSeen=T,
    )
    return Connections.of([*members, network], [table])


def known_of(f: Finding) -> KnownFinding:
    return KnownFinding(f.id, f.account, f.region, f.kind, f.state, f.group, f.cidr)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.none() | st.frozensets(st.integers(min_value=0, max_value=len(VPCS) - 1)),
        min_size=2,
        max_size=6,
    )
)
def test_a_route_table_change_in_the_network_account_is_recorded_exactly(
    reach: list[frozenset[int] | None],
) -> None:
    # The ledger starts exact; each step changes only the network account's route table, and
    # the event rescans only that account. A table that stops reaching an attachment turns
    # that VPC's conflict latent (as does a deleted table): the VPC's account must be among
    # those compared, though the table no longer reaches it.
    findings = iter_findings(build_audit(VPCS, [], now=T, connections=connections(reach[0])))
    known = {f.id: known_of(f) for f in findings}
    for reached in reach[1:]:
        conns = connections(reached)
        audit = build_audit(VPCS, [], now=T, connections=conns)
        now = list(iter_findings(audit))
        mine = [k for k in known.values() if k.account == NETWORK]
        scope = affected_accounts({NETWORK}, audit, VPCS, mine, conns)
        cmp = compare(now, known, in_scope=scope.__contains__)
        for k in cmp.resolved:
            del known[k.id]
        for f in [*cmp.new, *(f for f, _ in cmp.changed)]:
            known[f.id] = known_of(f)
        assert {k: v.state for k, v in known.items()} == {f.id: f.state for f in now}, reached


def peering(n: int, a: Vpc, b: Vpc, status: str) -> Peering:
    return Peering(
        Id=f"pcx-{n:017x}",
        Status=status,
        Requester=PeeringSide(VpcId=a.VpcId, OwnerId=a.OwnerId, Region=a.Region),
        Accepter=PeeringSide(VpcId=b.VpcId, OwnerId=b.OwnerId, Region=b.Region),
    )


def test_a_hub_that_drops_a_peering_is_recorded_exactly() -> None:
    # A hub VPC peers with two VPCs of other accounts that clash: a conflict for both. The hub
    # deletes one peering (AWS lists it as `deleted` for a while, in the hub's answer): both
    # clash latent now, though the dropped peer is in no domain of the hub any more.
    hub = make_vpc(10, "10.90.0.0/16", owner=NETWORK, region=REGION)
    left, right = VPCS[3], VPCS[4]  # 10.50.0.0/16 and 10.50.0.0/24, two member accounts

    def conns(status: str) -> Connections:
        both = (peering(1, hub, left, status), peering(2, hub, right, "active"))
        seen = [Connectivity(OwnerId=NETWORK, Region=REGION, Peerings=both, LastSeen=T)]
        return Connections.of(seen, [])

    vpcs = [hub, left, right]
    before = build_audit(vpcs, [], now=T, connections=conns("active"))
    known = {f.id: known_of(f) for f in iter_findings(before)}
    assert {k.state for k in known.values()} == {"conflict"}
    after = build_audit(vpcs, [], now=T, connections=conns("deleted"))
    now = list(iter_findings(after))
    mine = [k for k in known.values() if k.account == NETWORK]
    scope = affected_accounts({NETWORK}, after, vpcs, mine, conns("deleted"))
    cmp = compare(now, known, in_scope=scope.__contains__)
    assert {f.account for f, _ in cmp.changed} == {left.OwnerId, right.OwnerId}
    assert {f.state for f in now} == {"latent"}
