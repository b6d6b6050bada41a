"""Overlap groups (pure): which blocks share an address, in O(n log n)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from collector.cidrs import IPNetwork, Span, block_span, network_span
from collector.config import ReservedCidr
from collector.models import Vpc

RESERVED_OWNER = ("reserved",)  # all reserved ranges share one owner: they never clash together


def span_cidr(span: Span) -> str:
    """Pure: the block a span covers, as `ipaddress` prints it (a span is always one aligned
    block here: a parsed CIDR's), printed by the C library; an IPv6 address the C library
    prints with a dotted quad goes through `ipaddress`, which prints it in hex."""
    version, first, last = span
    width = 32 if version == 4 else 128
    prefix = width - (last - first).bit_length()
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    address = socket.inet_ntop(family, first.to_bytes(width // 8, "big"))
    if version == 6 and "." in address:
        address = str(ipaddress.IPv6Address(first))
    return f"{address}/{prefix}"


def find_overlap_groups(blocks: Sequence[tuple[IPNetwork, Hashable]]) -> list[list[int]]:
    """`find_span_groups` over `(network, owner)` blocks given as `ipaddress` networks."""
    return find_span_groups([(network_span(net), owner) for net, owner in blocks])


def find_span_groups(blocks: Sequence[tuple[Span, Hashable]]) -> list[list[int]]:
    """Connected components of the "clashes with" relation over `(span, owner)` blocks.

    Two blocks clash when they share an address (same IP version) and have different owners
    (blocks of one VPC, or two reserved ranges, never clash with each other). Returns the
    components with at least two blocks, as sorted lists of indexes into `blocks`.

    O(n log n): CIDR blocks form a laminar family (two blocks overlap only if one contains the
    other), so after sorting by (version, first address, widest first) each block overlaps
    exactly the blocks on a stack of its ancestors. Each stack frame records whether the chain
    below it already has two owners (then the chain is one component) and whether the chain is
    known to be one component, so linking a block to "every ancestor with another owner" costs
    amortised near-constant time instead of walking the stack every time.
    """
    owner_ids: dict[Hashable, int] = {}
    keys: list[tuple[int, int, int, int, int]] = []
    for i, ((version, start, end), owner) in enumerate(blocks):
        oid = owner_ids.setdefault(owner, len(owner_ids))
        keys.append((version, start, -end, oid, i))
    keys.sort()
    sets = _DisjointSets(len(blocks))
    stack: list[_Frame] = []
    for version, start, neg_end, oid, i in keys:
        while stack and (stack[-1].version != version or stack[-1].end < start):
            stack.pop()
        multi, unified = _link(stack, sets, i, oid)
        stack.append(_Frame(i, version, -neg_end, oid, multi, unified))
    return sets.groups()


@dataclass
class _Frame:
    index: int
    version: int
    end: int  # last address
    owner: int
    multi: bool  # the chain up to here has two or more owners (so it is one component)
    unified: bool  # the chain up to here is known to be one component


def _link(stack: list[_Frame], sets: _DisjointSets, i: int, owner: int) -> tuple[bool, bool]:
    """Union block `i` with its clashing ancestors; return its frame's (multi, unified)."""
    if not stack:
        return False, True
    top = stack[-1]
    if top.multi:  # the chain is one component with another owner in it: join it
        sets.union(top.index, i)
        return True, True
    if top.owner == owner:  # single-owner chain of the same owner: clashes with none of it
        return False, False
    # Single-owner chain of another owner: clashes with every frame. Walk down only to the
    # first frame already known to be unified with everything below it (amortised O(1)).
    for frame in reversed(stack):
        sets.union(frame.index, i)
        if frame.unified:
            break
        frame.unified = True
    return True, True


class _DisjointSets:
    """Union-find with path compression."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        # Members ever joined to another: only these can be in a group of two or more (in a
        # landing zone, few of the blocks), so `groups` walks them, not every block.
        self.joined: set[int] = set()

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.joined.add(a)
            self.joined.add(b)

    def groups(self) -> list[list[int]]:
        """Sets of two or more members, each sorted, ordered by smallest member."""
        out: dict[int, list[int]] = {}
        for i in sorted(self.joined):
            out.setdefault(self.find(i), []).append(i)
        return list(out.values())


@dataclass(frozen=True)
class Member:
    """One block in an overlap group: a VPC's block or a reserved range."""

    cidr: str
    vpc: Vpc | None = None
    reserved: str | None = None

    @cached_property
    def network(self) -> IPNetwork:
        """The block as an ipaddress network (parsed once: sorting asks for it repeatedly)."""
        return ipaddress.ip_network(self.cidr)

    @cached_property
    def span(self) -> Span:
        """The block's (version, first, last) as integers: what sorting and spans need, at a
        tenth of an `ipaddress` network's cost."""
        return block_span(self.cidr)

    @cached_property
    def owner(self) -> tuple[str, str] | None:
        """The key (VpcId, OwnerId) of the member's VPC (None for a reserved range): what the
        analysis matches members by, for 100,000 members an audit, without a tuple made for
        each ask."""
        return self.vpc.key if self.vpc is not None else None

    @classmethod
    def parsed(
        cls,
        cidr: str,
        span: Span,
        *,
        vpc: Vpc | None = None,
        reserved: str | None = None,
        owner: Hashable = None,
    ) -> Member:
        """A member whose block was parsed already: its `span` is this one, not parsed again
        (an audit's 155,000 members at 100k VPCs were each parsed twice).

        Its fields are set straight into its `__dict__`, where the dataclass's `__init__` sets
        each through `object.__setattr__` (it is frozen): half the cost, for 100,000 members an
        audit (docs/benchmarks.md). One key at a time, in the fields' order, so the dict shares
        its keys with every other member's as `__init__`'s does (one `update` made each dict
        72 bytes larger)."""
        member = object.__new__(cls)
        values = member.__dict__
        values["cidr"] = cidr
        values["vpc"] = vpc
        values["reserved"] = reserved
        values["span"] = span  # where `cached_property` keeps what it computed
        if vpc is not None and owner is not None:
            values["owner"] = owner  # the VPC's key, as the caller made it once for its blocks
        return member

    def to_dict(self) -> dict[str, str]:
        """The audit JSON shape of a member (a public contract)."""
        if self.vpc is None:
            return {"Reserved": self.reserved or "", "Cidr": self.cidr}
        return {
            "VpcId": self.vpc.VpcId,
            "OwnerId": self.vpc.OwnerId,
            "AccountName": self.vpc.AccountName,
            "Region": self.vpc.Region,
            "Cidr": self.cidr,
        }


@dataclass(frozen=True)
class OverlapGroup:
    """Blocks connected by overlaps, and the widest block they span."""

    span: str
    members: tuple[Member, ...]
    # "conflict" when some network routes to two overlapping members (see analysis.conflicts).
    severity: str = "latent"
    conflicts: tuple[Conflict, ...] = ()

    @property
    def owners(self) -> set[str]:
        """Account ids of the VPCs in the group."""
        return {m.vpc.OwnerId for m in self.members if m.vpc is not None}

    def severity_for(self, accounts: Collection[str]) -> str:
        """The group's severity as these accounts see it: `conflict` only when a VPC of theirs
        is a side of a conflict (a group whose conflict is between two other accounts is
        latent for them), else `latent`; with no accounts, the group's own severity."""
        if not accounts:
            return self.severity
        for c in self.conflicts:
            for side in (c.a, c.b):
                if side.vpc is not None and side.vpc.OwnerId in accounts:
                    return "conflict"
        return "latent"

    def to_dict(self) -> dict[str, Any]:
        """The audit JSON shape of a group."""
        return {
            "span": self.span,
            "members": [m.to_dict() for m in self.members],
            "severity": self.severity,
            "conflicts": [c.to_dict() for c in self.conflicts],
        }


@dataclass(frozen=True)
class Network:
    """Who a network belongs to, for people: `at` alone is a bare id."""

    owner: str = ""  # account id
    account_name: str = ""
    name: str = ""  # a VPC's Name, or for a TGW route table its TGW's id

    def describe(self, at: str) -> str:
        """`at` with its name and account, e.g. `vpc-1 "shared" in 111122223333 (network)`."""
        name = f' "{self.name}"' if self.name else ""
        account = f" in {self.owner}" if self.owner else ""
        label = f" ({self.account_name})" if self.account_name else ""
        return f"{at}{name}{account}{label}"


@dataclass(frozen=True)
class Conflict:
    """Two overlapping members some network reaches both of: `at` that network (a VPC whose
    peers are the two, or a TGW route table), `via` every connection on the two paths."""

    a: Member
    b: Member
    at: str
    via: tuple[str, ...]
    network: Network = Network()

    def to_dict(self) -> dict[str, Any]:
        """The audit JSON shape of a conflict (`at_owner`, `at_account_name`, `at_name` name the
        network's account and what it is called)."""
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "at": self.at,
            "via": list(self.via),
            "at_owner": self.network.owner,
            "at_account_name": self.network.account_name,
            "at_name": self.network.name,
        }


def by_pair(conflicts: Iterable[Conflict]) -> list[tuple[Member, Member, list[Conflict]]]:
    """Pure: conflicts grouped by their overlapping pair, in first-seen order — a pair two route
    tables (or a hub and a TGW) reach is one entry listing both places."""
    pairs: dict[tuple[str, str, str, str], tuple[Member, Member, list[Conflict]]] = {}
    for c in conflicts:
        key = (_ident(c.a), c.a.cidr, _ident(c.b), c.b.cidr)
        pairs.setdefault(key, (c.a, c.b, []))[2].append(c)
    return list(pairs.values())


def _ident(m: Member) -> str:
    return m.vpc.VpcId if m.vpc else f"reserved:{m.reserved}"


def _member_sort_key(m: Member) -> tuple[int, int, int, str, str]:
    # (version, first address, widest first): -last orders as the prefix length does.
    version, first, last = m.span
    vpc_key = m.vpc.VpcId if m.vpc else ""
    return (version, first, -last, vpc_key, m.reserved or "")


def vpc_blocks(vpc: Vpc) -> list[str]:
    """Every associated block of a VPC, IPv4 then IPv6."""
    return [*vpc.CidrBlocks, *vpc.Ipv6CidrBlocks]


def overlap_groups(
    vpcs: Iterable[Vpc],
    reserved: Iterable[ReservedCidr] = (),
    *,
    include_default: bool = False,
) -> list[OverlapGroup]:
    """Overlap groups among live VPC blocks and reserved ranges, sorted by span."""
    # Each block is parsed once, here: members carry their span, and a group's span is printed
    # from its widest member's. A member is made only for a block in a group (in a landing zone
    # most blocks are in none), from each block's text and VPC kept by index in lists of
    # references (a tuple each cost more than the members saved); reserved names by index.
    cidrs: list[str] = []
    of: list[Vpc | None] = []
    names: dict[int, str] = {}
    blocks: list[tuple[Span, Hashable]] = []
    for vpc in vpcs:
        if vpc.Deleted or (vpc.IsDefault and not include_default):
            continue
        owner = (vpc.VpcId, vpc.OwnerId)
        for cidr in vpc_blocks(vpc):
            cidrs.append(cidr)
            of.append(vpc)
            blocks.append((block_span(cidr), owner))
    for r in reserved:
        names[len(cidrs)] = r.name
        cidrs.append(r.cidr)
        of.append(None)
        blocks.append((block_span(r.cidr), RESERVED_OWNER))
    keyed = []
    for idx in find_span_groups(blocks):
        members = [
            Member.parsed(
                cidrs[i], blocks[i][0], vpc=of[i], reserved=names.get(i), owner=blocks[i][1]
            )
            for i in idx
        ]
        group = sorted(members, key=_member_sort_key)
        # The first member is the group's span: blocks overlap only by nesting, so the blocks a
        # chain of overlaps connects all lie in its widest one, which sorts first (lowest first
        # address, widest first at an equal one).
        span = group[0].span
        keyed.append(((span[0], span[1], -span[2]), OverlapGroup(span_cidr(span), tuple(group))))
    keyed.sort(key=lambda k: k[0])
    return [g for _, g in keyed]
