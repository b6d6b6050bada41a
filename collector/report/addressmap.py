"""Report — the address-space map's data (pure): which pools to draw, the 256 cells of each and
what occupies them, where owners really clash, and each account's colour or pattern."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collector.analysis import IPNetwork, Member, OverlapGroup
from collector.cidrs import Span, ipv4_span
from collector.config import ReservedCidr
from collector.models import Reservation, Vpc, iso

# Where VPCs usually live: the RFC 1918 ranges and the shared (CGNAT) space.
STANDARD_POOLS = [
    ipaddress.IPv4Network(c)
    for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
]
CELLS_PER_POOL_BITS = 8  # 256 cells: one /16 of a /8, one /20 of a /12, one /24 of a /16
SIDE = 16  # cells per row


# Paul Tol's "muted" qualitative scheme: nine colours told apart with every common colour-vision
# deficiency (https://personal.sron.nl/~pault/#sec:qualitative). Past nine accounts the colours
# repeat with a pattern (dots, stripes, checks), so 36 accounts look different.
PALETTE = (
    "#CC6677",
    "#332288",
    "#DDCC77",
    "#117733",
    "#88CCEE",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
)
VARIANTS = ("solid", "dots", "stripes", "checks")
FREE_FILL = "#eef0f3"
DEFAULT_FILL = "#c9ced6"


class AccountStyles:
    """The fill of each account's cells: palette colour, then a pattern once colours run out.

    Assigned in account-id order, so a report is stable for a given set of accounts.
    """

    def __init__(self, account_ids: Iterable[str]) -> None:
        self.index = {a: i for i, a in enumerate(sorted(set(account_ids)))}

    def fill(self, account_id: str) -> str:
        """An SVG/CSS fill: a colour, or `url(#a<n>)` for a patterned one."""
        i = self.index.get(account_id, 0) % (len(PALETTE) * len(VARIANTS))
        if i < len(PALETTE):
            return PALETTE[i]
        return f"url(#a{i})"

    def defs(self) -> str:
        """The SVG patterns of the patterned fills in use."""
        out = []
        seen = set()
        for i in self.index.values():
            i %= len(PALETTE) * len(VARIANTS)
            if i < len(PALETTE) or i in seen:
                continue
            seen.add(i)
            colour, variant = PALETTE[i % len(PALETTE)], VARIANTS[i // len(PALETTE)]
            mark = {
                "dots": '<circle cx="3" cy="3" r="1.6" fill="#fff"/>',
                "stripes": '<rect width="6" height="2" fill="#fff"/>',
                "checks": '<rect width="3" height="3" fill="#fff"/>'
                '<rect x="3" y="3" width="3" height="3" fill="#fff"/>',
            }[variant]
            out.append(
                f'<pattern id="a{i}" width="6" height="6" patternUnits="userSpaceOnUse">'
                f'<rect width="6" height="6" fill="{colour}"/>{mark}</pattern>'
            )
        return "".join(out)


@dataclass
class Cell:
    """One block of a pool's grid and what occupies it."""

    index: int
    cidr: str
    vpcs: list[dict[str, Any]] = field(default_factory=list)
    accounts: set[str] = field(default_factory=set)
    reserved: list[str] = field(default_factory=list)
    reservations: list[str] = field(default_factory=list)
    clash: bool = False  # two owners overlap in it
    conflict: bool = False  # and some network reaches both: the one to act on
    # How much of the cell VPC blocks fill (a /24 VPC in a /16 cell: 1/256), so a VPC smaller
    # than a cell is drawn as a sliver, not as the whole cell.
    share: float = 0.0

    @property
    def kind(self) -> str:
        """free | default (only default VPCs) | multi (several accounts) | account (one)."""
        if not self.vpcs:
            return "free"
        if all(v["Default"] for v in self.vpcs):
            # Default VPCs all use 172.31.0.0/16: they are not a clash between accounts.
            return "default"
        return "multi" if len(self.accounts) > 1 else "account"

    @property
    def size(self) -> int:
        """Addresses in the cell."""
        return int(2 ** (32 - int(self.cidr.rpartition("/")[2])))

    @property
    def free(self) -> bool:
        """Free for `allocate`: no VPC, no reserved range and no active reservation in it."""
        return not (self.vpcs or self.reserved or self.reservations)


@dataclass
class Pool:
    """A range drawn as a grid of 256 cells."""

    cidr: str
    cell_prefix: int
    cells: list[Cell]

    @property
    def used(self) -> int:
        """Cells holding at least one VPC."""
        return sum(1 for c in self.cells if c.vpcs)


def clash_blocks(groups: Iterable[OverlapGroup]) -> list[Member]:
    """The address ranges where two owners really overlap (one member per such block).

    In a group, a block clashes where it lies inside (or equals) a block of another owner; the
    widest block of a group is not itself a clash everywhere, only where others sit in it.
    A group can hold thousands of blocks (a wide reserved range over many VPCs), so this is a
    sweep over the blocks' containment chain, not a comparison of every pair; on integer spans,
    since building an `ipaddress` network per member took 6 of the page's 11 s at 100k VPCs.
    """
    out: list[Member] = []
    for g in groups:
        # Widest first among blocks that start together: (version, first, -last).
        members = sorted(g.members, key=lambda m: (m.span[0], m.span[1], -m.span[2]))
        owners_of: dict[Span, set[str]] = {}
        found: dict[Span, Member] = {}
        # Frame: (version, last address, owner of a single-owner chain, chain has 2+ owners)
        stack: list[tuple[int, int, str, bool]] = []
        for m in members:
            version, start, end = m.span
            owner = m.vpc.VpcId if m.vpc else "reserved"
            owners_of.setdefault(m.span, set()).add(owner)
            while stack and (stack[-1][0] != version or stack[-1][1] < start):
                stack.pop()
            multi = bool(stack) and (stack[-1][3] or stack[-1][2] != owner)
            if multi:
                found.setdefault(m.span, m)
            stack.append((version, end, owner, multi))
        # Identical blocks of two owners clash both ways; the sweep saw only the later one.
        # (A set per group: one rebuilt over every group so far made this quadratic.)
        for m in members:
            if len(owners_of[m.span]) > 1:
                found.setdefault(m.span, m)
        out.extend(found.values())
    return out


def _pool_for(net: IPNetwork, pools: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network | None:
    if net.version != 4:
        return None
    return next((p for p in pools if net.subnet_of(p)), None)


def _pools(vpcs: list[Vpc], reserved: list[ReservedCidr]) -> list[ipaddress.IPv4Network]:
    """The standard pools, then reserved ranges and /8s that hold VPCs outside them."""
    pools = list(STANDARD_POOLS)
    extra = [ipaddress.ip_network(r.cidr) for r in reserved]
    # The /8s first, as integers: 100k blocks fall in a few dozen of them. A stored block is
    # canonical (the store checks it), so its first number is its /8.
    slash8s = {
        int(c.partition(".")[0])
        for v in vpcs
        for c in v.CidrBlocks
        if int(c.rpartition("/")[2]) > 8
    }
    extra += [ipaddress.IPv4Network((a << 24, 8)) for a in sorted(slash8s)]
    for net in extra:
        if net.version == 4 and _pool_for(net, pools) is None:
            pools.append(net)
    return pools


class _Grids:
    """Lazily created grids, and the cells a block covers."""

    def __init__(self, pools: list[ipaddress.IPv4Network]) -> None:
        self.pools = pools
        self.spans = [
            (int(p.network_address), int(p.broadcast_address), i) for i, p in enumerate(pools)
        ]
        # By the pool's index: hashing an IPv4Network for each of 100k blocks cost 0.3 s.
        self.grids: dict[int, Pool] = {}

    def covered(self, net: IPNetwork) -> list[Cell]:
        if net.version != 4:
            return []  # IPv6: not drawn
        return self.cells(int(net.network_address), int(net.broadcast_address))

    def cells(self, first: int, last: int) -> list[Cell]:
        """The cells an IPv4 block [first, last] covers in the first pool holding it."""
        at = next((i for lo, hi, i in self.spans if lo <= first and last <= hi), None)
        if at is None:
            return []
        pool = self.pools[at]
        if at not in self.grids:
            prefix = min(32, pool.prefixlen + CELLS_PER_POOL_BITS)
            self.grids[at] = Pool(
                str(pool),
                prefix,
                [Cell(i, str(sn)) for i, sn in enumerate(pool.subnets(new_prefix=prefix))],
            )
        g = self.grids[at]
        shift = 32 - g.cell_prefix
        base = int(pool.network_address)
        return g.cells[(first - base) >> shift : ((last - base) >> shift) + 1]


def _mark_clashes(grids: _Grids, groups: list[OverlapGroup]) -> None:
    """Cells where two owners overlap, and those where a network reaches both (conflicts)."""
    for m in clash_blocks(groups):
        version, first, last = m.span
        for cell in grids.cells(first, last) if version == 4 else ():
            cell.clash = True
    for g in groups:
        for conflict in g.conflicts:
            # Where the two overlap: the smaller of two nested blocks.
            inner = max((conflict.a.network, conflict.b.network), key=lambda n: n.prefixlen)
            for cell in grids.covered(inner):
                cell.conflict = cell.clash = True


def map_pools(
    vpcs: Iterable[Vpc],
    reserved: Iterable[ReservedCidr],
    groups: Iterable[OverlapGroup],
    reservations: Iterable[Reservation] = (),
) -> list[Pool]:
    """Pure: the grids to draw, one per pool that holds a VPC block or a reserved range.

    Pools are the RFC 1918 ranges and 100.64.0.0/10, plus any reserved range outside them, plus
    the enclosing /8 of IPv4 VPC blocks outside all of those. IPv6 blocks are not drawn (they
    are in the tables).
    """
    vpcs, reserved, reservations = list(vpcs), list(reserved), list(reservations)
    grids = _Grids(_pools(vpcs, reserved))
    for v in vpcs:
        for c in v.CidrBlocks:
            # Who, not what: the page's data block carries each VPC's details once.
            info = {"VpcId": v.VpcId, "OwnerId": v.OwnerId, "Cidr": c, "Default": v.IsDefault}
            first, last = ipv4_span(c)
            for cell in grids.cells(first, last):
                cell.vpcs.append(info)
                cell.accounts.add(v.OwnerId)
                cell.share = min(1.0, cell.share + (last - first + 1) / cell.size)
    for r in reserved:
        for cell in grids.covered(ipaddress.ip_network(r.cidr)):
            cell.reserved.append(f"{r.name} ({r.cidr})")
    for res in reservations:
        until = iso(datetime.fromtimestamp(res.expires_at, UTC))
        for cell in grids.covered(ipaddress.ip_network(res.cidr)):
            cell.reservations.append(f"{res.cidr} reserved for {res.owner} until {until}")
    _mark_clashes(grids, list(groups))
    return [grids.grids[i] for i in sorted(grids.grids)]
