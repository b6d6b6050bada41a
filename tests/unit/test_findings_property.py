"""Issue 22, property: for random inventories and random sequences of create and delete, each
recorded the way the function records them (an event narrowed to the account it rescanned, or
the nightly run's full recording), every finding is announced once per time it appears, resolved
at most once per time it goes, and the known findings stay linear in the inventory."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analysis import Connections, build_audit
from collector.analysis.findings import compare, iter_findings, message_groups
from collector.analysis.scope import affected_accounts
from collector.models import KnownFinding, Vpc
from collector.notify import Announcement, messages
from tests.factories import make_vpc

T = datetime(2026, 11, 29, tzinfo=UTC)
ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444")
CIDRS = (
    "10.0.0.0/16",
    "10.0.0.0/20",
    "10.0.16.0/20",
    "10.0.0.0/24",
    "10.1.0.0/16",
    "100.64.0.0/16",
    "172.31.0.0/16",
)

slot = st.tuples(
    st.sampled_from(ACCOUNTS),
    st.sampled_from(("us-east-1", "eu-west-1")),
    st.lists(st.sampled_from(CIDRS), min_size=1, max_size=2, unique=True),
    st.booleans(),  # default VPC
)
step = st.tuples(st.integers(min_value=0, max_value=11), st.booleans())  # slot, full recording


def vpc_of(n: int, spec: tuple[str, str, list[str], bool]) -> Vpc:
    owner, region, cidrs, default = spec
    # A VPC's own blocks never overlap (AWS refuses it): keep the first of nested ones.
    kept: list[str] = []
    for c in cidrs:
        if not any(_nested(c, k) for k in kept):
            kept.append(c)
    if default:
        kept = ["172.31.0.0/16"]
    return make_vpc(n + 1, *kept, owner=owner, region=region, default=default)


def _nested(a: str, b: str) -> bool:
    import ipaddress

    x, y = ipaddress.ip_network(a), ipaddress.ip_network(b)
    return x.subnet_of(y) or y.subnet_of(x)  # type: ignore[arg-type]


class Ledger:
    """What the ledger holds, and every announcement made, in order."""

    def __init__(self) -> None:
        self.known: dict[str, KnownFinding] = {}
        self.log: dict[str, list[str]] = defaultdict(list)
        self.exact = True  # the known findings are exactly the inventory's before this step

    def record(self, live: list[Vpc], accounts: set[str] | None) -> None:
        audit = build_audit(live, [], now=T)
        current = list(iter_findings(audit))
        if accounts is None:
            cmp = compare(current, self.known)
        else:
            mine = [k for k in self.known.values() if k.account in accounts]
            scope = affected_accounts(accounts, audit, live, mine, Connections.of([], []))
            cmp = compare(current, self.known, in_scope=scope.__contains__)
        for f in cmp.new:
            self.log[f.id].append("new")
        for f, _ in cmp.changed:
            self.log[f.id].append("changed")
        for k in cmp.resolved:
            self.log[k.id].append("resolved")
            del self.known[k.id]
        for f in [*cmp.new, *(f for f, _ in cmp.changed)]:
            self.known[f.id] = KnownFinding(
                f.id, f.account, f.region, f.kind, f.state, f.group, f.cidr
            )
        ids = {f.id: f.state for f in current}
        if accounts is None or self.exact:
            # A full recording, or a rescan of the one account that changed since the ledger
            # was exact: whatever that change did to any account's findings is recorded.
            assert {k: v.state for k, v in self.known.items()} == ids
        else:
            # A rescan speaks exactly for the accounts it rescanned.
            assert {k for k, v in self.known.items() if v.account in accounts} == {
                fid for fid, f in zip(ids, current, strict=True) if f.account in accounts
            }
        self.exact = {k: v.state for k, v in self.known.items()} == ids
        # Linear: at most one finding per block, per default VPC and per VPC short of room.
        blocks = sum(len(v.CidrBlocks) + len(v.Ipv6CidrBlocks) for v in live)
        assert len(self.known) <= blocks + 2 * len(live)


@settings(max_examples=150, deadline=None)
@given(
    slots=st.lists(slot, min_size=12, max_size=12),
    history=st.lists(step, min_size=1, max_size=25),
)
def test_every_finding_is_announced_once_per_appearance(
    slots: list[tuple[str, str, list[str], bool]], history: list[tuple[int, bool]]
) -> None:
    vpcs = [vpc_of(n, s) for n, s in enumerate(slots)]
    alive = [False] * len(vpcs)
    ledger = Ledger()
    for n, full in history:
        alive[n] = not alive[n]
        live = [v for v, a in zip(vpcs, alive, strict=True) if a]
        ledger.record(live, None if full else {vpcs[n].OwnerId})
    live = [v for v, a in zip(vpcs, alive, strict=True) if a]
    ledger.record(live, None)  # the nightly run catches whatever the events did not touch
    for fid, transitions in ledger.log.items():
        state = "absent"
        for t in transitions:
            if t == "new":
                assert state == "absent", (fid, transitions)
                state = "present"
            elif t == "changed":
                assert state == "present", (fid, transitions)
            else:
                assert state == "present", (fid, transitions)
                state = "absent"


def test_one_message_per_group_whatever_its_size() -> None:
    # A VPC joining a group of 30 is one finding and one message; two groups are two.
    live = [make_vpc(n, "10.40.0.0/16", owner=ACCOUNTS[n % 4]) for n in range(30)]
    before = {f.id for f in iter_findings(build_audit(live, [], now=T))}
    after = [*live, make_vpc(99, "10.40.0.0/16", owner=ACCOUNTS[0]), make_vpc(98, "10.50.0.0/16")]
    after.append(make_vpc(97, "10.50.0.0/16", owner=ACCOUNTS[1]))
    current = [f for f in iter_findings(build_audit(after, [], now=T)) if f.id not in before]
    assert len(current) == 3  # the joiner, and the two blocks of the new pair
    groups = message_groups(f.group for f in current)
    announced = [
        Announcement("t", f.id, "new", f.kind, f.state, groups[f.group], f.build()) for f in current
    ]
    out = messages(announced, max_messages=10)
    assert sorted(len(m.announcements) for m in out) == [1, 2]


def test_a_block_that_left_is_announced_with_the_group_it_left() -> None:
    # The resolved block's stored span and the group's span now nest: one message key.
    assert message_groups(["10.0.0.0/16", "10.0.0.0/20", "10.9.0.0/16"]) == {
        "10.0.0.0/16": "10.0.0.0/16",
        "10.0.0.0/20": "10.0.0.0/16",
        "10.9.0.0/16": "10.9.0.0/16",
    }
