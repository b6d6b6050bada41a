"""Which accounts' findings a rescan can change (`analysis.scope`): a narrowed recording that
compares only those must leave the ledger as a full recording would."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analysis import Connections, build_audit
from collector.analysis.findings import Finding, compare, iter_findings
from collector.analysis.scope import affected_accounts
from collector.config import ExpectedOverlap
from collector.models import (
    Connectivity,
    KnownFinding,
    Peering,
    PeeringSide,
    TgwAttachment,
    TgwRouteTable,
    Vpc,
)
from tests.factories import make_vpc, tgw_attachment

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
    return tgw_attachment(n, vpc, TGW, NETWORK)


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


def record_rescan(
    known: dict[str, KnownFinding],
    account: str,
    vpcs: list[Vpc],
    conns: Connections,
    expected: Sequence[ExpectedOverlap] = (),
    before: Sequence[Connectivity] = (),
    vpcs_before: Sequence[Vpc] = (),
) -> list[Finding]:
    """A narrowed recording after a rescan of `account`, as `jobs.findings` makes it: the
    current findings compared with `known` (updated in place) for the accounts in scope
    (`before`, `vpcs_before`: the account's connectivity and VPCs as the table held them
    before the rescan). Returns every current finding (what a full recording would leave)."""
    audit = build_audit(vpcs, [], now=T, connections=conns, expected=expected)
    now = list(iter_findings(audit, expected))
    mine = [k for k in known.values() if k.account == account]
    scope = affected_accounts({account}, audit, vpcs, mine, conns, before, vpcs_before)
    cmp = compare(now, known, in_scope=scope.__contains__)
    for k in cmp.resolved:
        del known[k.id]
    for f in [*cmp.new, *(f for f, _ in cmp.changed)]:
        known[f.id] = known_of(f)
    return now


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
        now = record_rescan(known, NETWORK, VPCS, connections(reached))
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


# ---------------------------------------------------------------------------------------------
# Any sequence of events: each rescans one account, whose view alone changes in the table.

POOL = [
    make_vpc(20, "10.60.0.0/16", owner=NETWORK, region=REGION),
    make_vpc(21, "10.61.0.0/16", owner=MEMBERS[0], region=REGION),
    make_vpc(22, "10.61.0.0/20", owner=MEMBERS[1], region=REGION),
    make_vpc(23, "10.61.16.0/20", owner=MEMBERS[2], region=REGION),
    make_vpc(24, "10.62.0.0/16", owner=MEMBERS[1], region=REGION),
    make_vpc(25, "10.62.0.0/24", owner=MEMBERS[2], region=REGION),
    make_vpc(26, "10.62.1.0/24", owner=MEMBERS[0], region=REGION),
]
POOL_ATTACHMENTS = [attachment(100 + n, v) for n, v in enumerate(POOL)]
PAIRS = [(a, b) for a in range(len(POOL)) for b in range(a + 1, len(POOL))]


class World:
    """What AWS holds now, and what the table holds: each account's view as of its last
    rescan (a rescan of one account leaves every other account's items as they were)."""

    def __init__(self) -> None:
        self.alive = [True] * len(POOL)
        self.secondary: dict[int, str] = {}  # VPC n -> its secondary block
        self.peerings: dict[int, str] = {}  # pair index -> status
        self.reached: set[int] = set()  # attachments N's route table reaches
        self.attached: set[int] = set()
        self.clock = 0
        self.views: dict[str, tuple[list[Vpc], Connectivity]] = {}
        self.table: TgwRouteTable | None = None
        for account in (NETWORK, *MEMBERS):
            self.rescan(account)

    def rescan(self, account: str) -> None:
        self.clock += 1
        at = T + timedelta(minutes=self.clock)
        vpcs = [
            v.model_copy(update={"CidrBlocks": (v.CidrBlock, self.secondary[n])})
            if n in self.secondary
            else v
            for n, (v, a) in enumerate(zip(POOL, self.alive, strict=True))
            if a and v.OwnerId == account
        ]
        peerings = []
        for n, status in sorted(self.peerings.items()):
            a, b = (POOL[i] for i in PAIRS[n])
            if account in (a.OwnerId, b.OwnerId):
                peerings.append(peering(200 + n, a, b, status))
        attachments = [
            POOL_ATTACHMENTS[n]
            for n in sorted(self.attached)
            if account in (NETWORK, POOL[n].OwnerId)
        ]
        conn = Connectivity(
            OwnerId=account,
            Region=REGION,
            Peerings=tuple(peerings),
            Attachments=tuple(attachments),
            RouteTables=(TABLE,) if account == NETWORK else (),
            LastSeen=at,
        )
        self.views[account] = (vpcs, conn)
        if account == NETWORK:
            self.table = TgwRouteTable(
                Id=TABLE,
                TransitGatewayId=TGW,
                OwnerId=NETWORK,
                Region=REGION,
                Associations=tuple(POOL_ATTACHMENTS[n].Id for n in sorted(self.reached)),
                LastSeen=at,
            )

    def inventory(self) -> tuple[list[Vpc], Connections]:
        vpcs = [v for vs, _ in self.views.values() for v in vs]
        conns = Connections.of(
            [c for _, c in self.views.values()], [self.table] if self.table else []
        )
        return vpcs, conns


event = st.one_of(
    st.tuples(st.just("vpc"), st.integers(0, len(POOL) - 1)),
    st.tuples(st.just("peering"), st.integers(0, len(PAIRS) - 1), st.booleans()),
    st.tuples(st.just("attach"), st.integers(0, len(POOL) - 1)),
    st.tuples(st.just("route"), st.integers(0, len(POOL) - 1)),
    st.tuples(st.just("block"), st.integers(0, len(POOL) - 1), st.integers(0, len(POOL) - 1)),
)


def secondary_block(n: int, m: int) -> str | None:
    """A secondary block for VPC `n` inside VPC `m`'s primary one (its last /25), or None when
    it would overlap `n`'s own primary block (AWS refuses such a block)."""
    net = ipaddress.ip_network(POOL[m].CidrBlock)
    block = list(net.subnets(new_prefix=25))[-1]
    return None if block.overlaps(ipaddress.ip_network(POOL[n].CidrBlock)) else str(block)


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(event, min_size=1, max_size=12),
    st.sampled_from([None, "10.62.0.0/16", "10.62.0.0/20"]),
)
def test_a_rescan_of_one_account_records_what_a_full_recording_would(
    events: list[tuple[Any, ...]], pods: str | None
) -> None:
    # Each event changes AWS, then rescans the account it happened in (the far end of a
    # peering keeps its old view). After it the ledger holds exactly what a full recording
    # of the same table would hold. With `pods`, one range is reused on purpose (a finding
    # only where some network reaches two of its blocks); a /20 of it leaves the pool's
    # 10.62.0.0/16 outside: a finding wherever it overlaps another block.
    replay(events, pods)


def replay(events: list[tuple[Any, ...]], pods: str | None = None) -> None:
    """The property above, for one sequence of events."""
    expected = [ExpectedOverlap(cidr=pods, reason="pods")] if pods else []
    world = World()
    vpcs, conns = world.inventory()
    first = build_audit(vpcs, [], now=T, connections=conns, expected=expected)
    known = {f.id: known_of(f) for f in iter_findings(first, expected)}
    for e in events:
        if e[0] == "vpc":
            world.alive[e[1]] = not world.alive[e[1]]
            account = POOL[e[1]].OwnerId
        elif e[0] == "peering":
            n, by_requester = e[1], e[2]
            status = world.peerings.get(n)
            world.peerings[n] = "deleted" if status == "active" else "active"
            a, b = (POOL[i] for i in PAIRS[n])
            account = a.OwnerId if by_requester else b.OwnerId
        elif e[0] == "attach":
            world.attached ^= {e[1]}
            world.reached -= world.reached - world.attached
            account = POOL[e[1]].OwnerId
        elif e[0] == "block":
            # A secondary block associated with VPC n (inside m's range), or disassociated.
            n, block = e[1], secondary_block(e[1], e[2])
            if world.secondary.get(n) is not None or block is None:
                world.secondary.pop(n, None)
            else:
                world.secondary[n] = block
            account = POOL[n].OwnerId
        else:
            if e[1] in world.attached:
                world.reached ^= {e[1]}
            account = NETWORK
        vpcs_before, before = world.views[account]
        world.rescan(account)
        now = record_rescan(known, account, *world.inventory(), expected, [before], vpcs_before)
        assert {k: v.state for k, v in known.items()} == {f.id: f.state for f in now}, e


def test_a_block_that_leaves_expected_reuse_resolves_what_it_clashed_with() -> None:
    # Found by the property above. The pool's 10.62.0.0/16 (a member's) overlaps two /24s
    # inside the expected /20, no findings of their own; when both leave, the rescan of the
    # last one's account must resolve the /16's finding: nothing overlaps it any more. It
    # stood (that account had no known finding naming the block that left).
    replay([("vpc", 1), ("vpc", 5), ("vpc", 6)], "10.62.0.0/20")


def test_an_attachment_the_tgw_owner_no_longer_lists_is_recorded_exactly() -> None:
    # Found by the property above. Both member VPCs attached and routed by the network
    # account's table: a conflict. One member deletes its attachment (its rescan: the network
    # account's items still list it, routed). The network account's next rescan, for anything,
    # no longer lists it and its table no longer routes it: that member's clash is latent,
    # though its account is now in no domain and attached to nothing.
    replay([("attach", 4), ("attach", 5), ("route", 4), ("route", 5), ("attach", 4), ("vpc", 0)])
    # Both members cut off by the one rescan.
    replay(
        [
            *(("attach", 4), ("attach", 5), ("route", 4), ("route", 5), ("vpc", 0)),
            *(("attach", 4), ("attach", 5), ("vpc", 0)),
        ]
    )
