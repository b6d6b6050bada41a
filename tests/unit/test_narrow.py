"""A narrowed recording (`jobs.narrow`): when it says a rescan's targets are alone, comparing
only their findings, from an audit of their VPCs alone, makes exactly the transitions a full
recording of the whole table makes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analysis import Connections, build_audit
from collector.analysis.findings import Finding, compare, iter_findings
from collector.config import ExpectedOverlap, ReservedCidr
from collector.jobs.narrow import alone, others_near, still_there
from collector.models import Connectivity, KnownFinding, TgwRouteTable, Vpc
from collector.store.blocks import Entry, indexed_blocks
from collector.store.registry import Items
from tests.factories import make_vpc, tgw_attachment

T = datetime(2026, 12, 4, tzinfo=UTC)
ACCOUNTS = ("111111111111", "222222222222", "333333333333")
REGIONS = ("us-east-1", "eu-west-1")
NETWORK = "999999999999"
TGW = "tgw-0123456789abcdef0"
TABLE = "tgw-rtb-0123456789abcdef0"
BLOCKS = (
    "10.0.0.0/16",
    "10.0.0.0/20",
    "10.0.16.0/24",
    "10.1.0.0/24",
    "10.2.0.0/24",
    "10.3.0.0/24",
    "100.64.0.0/16",
    "192.168.1.0/24",
)
V6 = ("2600:1f18:abcd:e000::/56", "2600:1f18:abcd:e100::/56", "2600:1f18:abcd:e000::/52")

spec = st.tuples(
    st.sampled_from(ACCOUNTS),
    st.sampled_from(REGIONS),
    st.sampled_from(BLOCKS),
    st.none() | st.sampled_from(BLOCKS),  # a secondary block it may be given
    st.none() | st.sampled_from(V6),
    st.booleans(),  # a default VPC
    st.booleans(),  # attached to the network account's TGW, its table reaching it
)


def _vpc(n: int, s: tuple[Any, ...], secondary: bool) -> Vpc:
    owner, region, primary, second, v6, default, _ = s
    if default:
        return make_vpc(n + 1, "172.31.0.0/16", owner=owner, region=region, default=True)
    blocks = [primary]
    if secondary and second is not None and not _nested(second, primary):
        blocks.append(second)
    return make_vpc(n + 1, *blocks, owner=owner, region=region, v6=(v6,) if v6 else (), seen=T)


def _nested(a: str, b: str) -> bool:
    import ipaddress

    x, y = ipaddress.ip_network(a), ipaddress.ip_network(b)
    return x.version == y.version and (x.subnet_of(y) or y.subnet_of(x))  # type: ignore[arg-type]


class World:
    """Which VPCs of the pool are alive, with which of their secondary blocks."""

    def __init__(self, pool: Sequence[tuple[Any, ...]], alive: Sequence[bool]) -> None:
        self.pool = pool
        self.alive = list(alive)
        self.secondary = [False] * len(pool)

    def vpcs(self) -> list[Vpc]:
        return [_vpc(n, s, self.secondary[n]) for n, s in enumerate(self.pool) if self.alive[n]]

    def connections(self) -> Connections:
        """Every attached VPC alive, its attachment listed by both ends, the one table
        reaching them all."""
        attached = [
            tgw_attachment(n, _vpc(n, s, False), TGW, NETWORK)
            for n, s in enumerate(self.pool)
            if s[6] and self.alive[n] and not s[5]
        ]
        items = [
            Connectivity(OwnerId=NETWORK, Region=r, Attachments=tuple(attached), LastSeen=T)
            for r in REGIONS
        ]
        items[0] = items[0].model_copy(update={"RouteTables": (TABLE,)})
        table = TgwRouteTable(
            Id=TABLE,
            TransitGatewayId=TGW,
            OwnerId=NETWORK,
            Region=REGIONS[0],
            Associations=tuple(a.Id for a in attached),
            LastSeen=T,
        )
        return Connections.of(items, [table])


def _findings(
    vpcs: list[Vpc],
    conns: Connections,
    reserved: list[ReservedCidr],
    expected: list[ExpectedOverlap],
) -> list[Finding]:
    audit = build_audit(vpcs, reserved, now=T, connections=conns, expected=expected)
    return list(iter_findings(audit, expected))


def _known(f: Finding) -> KnownFinding:
    return KnownFinding(f.id, f.account, f.region, f.kind, f.state, f.group, f.cidr)


def _transitions(cmp: Any) -> set[tuple[str, str, str]]:
    return (
        {(f.id, "new", f.state) for f in cmp.new}
        | {(f.id, "changed", f.state) for f, _ in cmp.changed}
        | {(k.id, "resolved", k.state) for k in cmp.resolved}
    )


@settings(max_examples=1500, deadline=None)
@given(
    pool=st.lists(spec, min_size=3, max_size=9),
    alive=st.lists(st.booleans(), min_size=9, max_size=9),
    change=st.tuples(st.integers(0, 8), st.booleans()),  # which VPC; its life or its block
    reserved=st.sampled_from([[], ["192.168.0.0/16"], ["10.2.0.0/23"]]),
    expected=st.sampled_from([[], ["100.64.0.0/10"], ["10.0.0.0/20"]]),
)
def test_a_narrowed_recording_makes_the_transitions_of_a_full_one(
    pool: list[tuple[Any, ...]],
    alive: list[bool],
    change: tuple[int, bool],
    reserved: list[str],
    expected: list[str],
) -> None:
    replay(pool, alive[: len(pool)], change, reserved, expected)


def replay(
    pool: list[tuple[Any, ...]],
    alive: list[bool],
    change: tuple[int, bool],
    reserved: Sequence[str] = (),
    expected: Sequence[str] = (),
) -> bool:
    """One change to the world (VPC `change[0]` born or gone, or its secondary block given or
    taken), its target rescanned: when the narrowed read would narrow, its transitions are the
    full recording's. Returns whether it narrowed."""
    n, life = change[0] % len(pool), change[1]
    ranges = [ReservedCidr(cidr=c, name=f"r{i}") for i, c in enumerate(reserved)]
    reuse = [ExpectedOverlap(cidr=c, reason="reuse") for c in expected]
    world = World(pool, alive)
    before, conns_before = world.vpcs(), world.connections()
    if life:
        world.alive[n] = not world.alive[n]
    else:
        world.secondary[n] = not world.secondary[n]
    after, conns = world.vpcs(), world.connections()
    # The rescan found its target connected as before, or the recording reads whole.
    if conns.attachments != conns_before.attachments:
        return False
    known = {f.id: _known(f) for f in _findings(before, conns_before, ranges, reuse)}
    full = compare(_findings(after, conns, ranges, reuse), known)
    targets = {(pool[n][0], pool[n][1])}
    mine_before = [v for v in before if (v.OwnerId, v.Region) in targets]
    mine = [v for v in after if (v.OwnerId, v.Region) in targets]
    blocks = alone(mine_before, mine, targets, [r.cidr for r in ranges])
    if blocks is None:
        return False
    # The index as the store holds it: every live block now, and entries left by VPCs gone.
    entries = [
        Entry(c, v.VpcId, v.OwnerId, v.Region, "")
        for v in [*after, *before]
        for c in indexed_blocks(v)
    ]
    others = others_near(entries, blocks, targets)
    near = {e.vpc_key for e in others}
    if still_there(others, Items(vpcs=[v for v in after if v.key in near])):
        return False
    current = _findings(mine, Connections(), ranges, reuse)
    narrowed = compare(
        [f for f in current if (f.account, f.region) in targets],
        {i: k for i, k in known.items() if (k.account, k.region) in targets},
    )
    assert _transitions(narrowed) == _transitions(full), (targets, sorted(blocks))
    return True


A, B = ACCOUNTS[0], ACCOUNTS[1]


def test_a_vpc_that_overlaps_nothing_is_narrowed_and_one_that_does_is_not() -> None:
    pool = [
        (A, "us-east-1", "10.0.0.0/16", None, None, False, True),
        (B, "us-east-1", "10.1.0.0/24", None, V6[0], False, False),
        (B, "eu-west-1", "10.0.16.0/24", None, None, False, False),
    ]
    # B's new 10.1.0.0/24 overlaps nothing: narrowed (a default VPC alike).
    assert replay(pool, [True, False, False], (1, True))
    assert replay(
        [*pool, (B, "us-east-1", "10.3.0.0/24", None, None, True, False)],
        [True, False, False, False],
        (3, True),
    )
    # B's 10.0.16.0/24 lies in A's 10.0.0.0/16 (the TGW reaches A's): read whole.
    assert not replay(pool, [True, False, False], (2, True))
    # Gone, it still touched A's block before: read whole, A's finding resolves.
    assert not replay(pool, [True, False, True], (2, True))
    # Inside a reserved range: read whole.
    assert not replay(pool, [True, False, False], (1, True), reserved=["10.1.0.0/16"])
