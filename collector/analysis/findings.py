"""Findings as stable, comparable facts (pure): what an audit says, one finding per thing a person
acts on, keyed so that the same finding seen again has the same id.

- **overlap**: one per VPC block that overlaps a block of another VPC or a reserved range. Its
  state is the block's own severity (`conflict` when some network reaches it and a block it
  overlaps, else `latent`). A VPC joining a group of N is one new finding, not N; a block whose
  severity changes is one finding changed. What it clashes with is a count and the most relevant
  blocks (conflict partners first), never every pair: the number of findings grows with the
  inventory, not with its square. A block inside an `overlaps.expected` range is a finding only
  while it is a conflict.
- **default-vpc**: one per default VPC left.
- **headroom**: one per VPC short of room or addresses; its state is the reason.
- **reservation**: one per VPC block inside another account's active reservation.

`compare` is the recording's decision (which findings are new, changed, resolved); it is pure,
so the property tests drive it over random histories.
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from collector.analysis.audit import Audit
from collector.analysis.overlaps import Conflict, Member, OverlapGroup
from collector.config import ExpectedOverlap
from collector.models import KnownFinding, Vpc

# How many of the blocks a block clashes with a finding names (conflict partners first).
MOST_RELEVANT = 5

KINDS = ("overlap", "default-vpc", "headroom", "reservation")


def finding_id(*identity: str) -> str:
    """The stable id of a finding: only what makes it the same finding (ids, blocks), never
    names, figures or its state, which change from night to night."""
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Finding:
    """One current finding: its identity, its state, whose it is, and its body on demand.

    Bodies are built lazily: where many VPCs share a range a night has findings by the ten
    thousand and only the new and changed ones need a body."""

    id: str
    kind: str
    state: str  # overlap: severity; headroom: reason; default-vpc: ""
    account: str
    region: str
    group: str  # overlap: the group's span (messages are per group); else ""
    cidr: str  # overlap: the block; default-vpc: the VPC's primary block; else ""
    build: Callable[[], dict[str, Any]] = field(compare=False, repr=False)


def expected_reason(cidr: str, expected: Iterable[ExpectedOverlap]) -> str | None:
    """The reason of the first expected range that holds `cidr`, or None."""
    net = ipaddress.ip_network(cidr)
    for e in expected:
        rng = ipaddress.ip_network(e.cidr)
        if rng.version == net.version and net.subnet_of(rng):  # type: ignore[arg-type]
            return e.reason
    return None


@dataclass(frozen=True)
class BlockFacts:
    """What one VPC block of an overlap group clashes with."""

    member: Member
    clashes: int  # blocks of other owners it overlaps
    related: tuple[Member, ...]  # the most relevant of them, conflict partners first
    conflicts: tuple[Conflict, ...]  # conflicts it is a side of

    @property
    def severity(self) -> str:
        """The block's own severity: `conflict` when it is a side of some conflict."""
        return "conflict" if self.conflicts else "latent"


def _ident(m: Member) -> str:
    return f"{m.vpc.VpcId}|{m.vpc.OwnerId}|{m.cidr}" if m.vpc else f"reserved|{m.reserved}|{m.cidr}"


def block_facts(group: OverlapGroup) -> list[BlockFacts]:
    """Pure: for each VPC block of the group, how many blocks of other owners it overlaps and the
    most relevant of them, in O(n log n) whatever the group's size.

    CIDR blocks are nested or disjoint. Sorted by (version, first address, widest first), the
    blocks a block overlaps are its ancestors (those on the containment stack when it is
    reached, equal blocks before it included) and its descendants (the run right after it whose
    first address is inside it). A VPC's blocks never overlap each other, so every block counted
    belongs to another owner.
    """
    members = sorted(group.members, key=_span_key)
    spans = [m.span for m in members]
    starts = [(s[0], s[1]) for s in spans]  # (version, first)
    partners: dict[str, list[Conflict]] = {}
    for c in group.conflicts:
        partners.setdefault(_ident(c.a), []).append(c)
        partners.setdefault(_ident(c.b), []).append(c)
    out: list[BlockFacts] = []
    stack: list[int] = []
    for i, m in enumerate(members):
        version, first, last = spans[i]
        while stack and (spans[stack[-1]][0] != version or spans[stack[-1]][2] < first):
            stack.pop()
        end = bisect.bisect_right(starts, (version, last), lo=i + 1)
        if m.vpc is not None:
            mine = partners.get(_ident(m), [])
            related = [c.b if _ident(c.a) == _ident(m) else c.a for c in mine]
            nearest = [members[j] for j in reversed(stack)] + members[i + 1 : end]
            related += nearest[: MOST_RELEVANT + len(related)]
            unique: dict[str, Member] = {}
            for r in related:
                unique.setdefault(_ident(r), r)
            out.append(
                BlockFacts(
                    member=m,
                    clashes=len(stack) + (end - i - 1),
                    related=tuple(unique.values())[:MOST_RELEVANT],
                    conflicts=tuple(mine[:MOST_RELEVANT]),
                )
            )
        stack.append(i)
    return out


def _span_key(m: Member) -> tuple[int, int, int, str]:
    version, first, last = m.span
    return version, first, -last, _ident(m)


def iter_findings(audit: Audit, expected: Iterable[ExpectedOverlap] = ()) -> Iterator[Finding]:
    """Every finding of the audit (linear in the inventory)."""
    ranges = list(expected)
    for g in audit.overlap_groups:
        for facts in block_facts(g):
            m = facts.member
            assert m.vpc is not None
            reason = expected_reason(m.cidr, ranges) if ranges else None
            if reason is not None and facts.severity != "conflict":
                continue  # expected reuse: only a reachable clash is a finding
            yield Finding(
                id=finding_id("overlap", m.vpc.VpcId, m.vpc.OwnerId, m.cidr),
                kind="overlap",
                state=facts.severity,
                account=m.vpc.OwnerId,
                region=m.vpc.Region,
                group=g.span,
                cidr=m.cidr,
                build=partial(_overlap, facts, g.span, reason),
            )
    for v in audit.default_vpcs:
        yield Finding(
            id=finding_id("default-vpc", v.VpcId, v.OwnerId),
            kind="default-vpc",
            state="",
            account=v.OwnerId,
            region=v.Region,
            group="",
            cidr=v.CidrBlock,
            build=partial(_default, v),
        )
    for r in audit.reservation_overlaps:
        yield Finding(
            id=finding_id("reservation", r["VpcId"], r["OwnerId"], r["VpcCidr"], r["Cidr"]),
            kind="reservation",
            state="",
            account=r["OwnerId"],
            region=r["Region"],
            group="",
            cidr=r["VpcCidr"],
            build=partial(_reservation, r),
        )
    for h in audit.headroom.headroom:
        yield Finding(
            id=finding_id("headroom", h["VpcId"], h["OwnerId"]),
            kind="headroom",
            state=h["Reason"],
            account=h["OwnerId"],
            region=h["Region"],
            group="",
            cidr="",
            build=partial(_headroom, h),
        )


def current_findings(
    audit: Audit, expected: Iterable[ExpectedOverlap] = ()
) -> dict[str, dict[str, Any]]:
    """Every finding of the audit, by id, with its body."""
    return {f.id: f.build() for f in iter_findings(audit, expected)}


def _member(m: Member) -> dict[str, Any]:
    out: dict[str, Any] = m.to_dict()
    if m.vpc is not None:
        out["Name"] = m.vpc.Name
    return out


def _overlap(facts: BlockFacts, span: str, reason: str | None) -> dict[str, Any]:
    m = facts.member
    assert m.vpc is not None
    return {
        "kind": "overlap",
        "severity": facts.severity,
        **_member(m),
        "span": span,
        "clashes": facts.clashes,
        "with": [_member(r) for r in facts.related],
        "conflicts": [
            {**c.to_dict(), "a": _member(c.a), "b": _member(c.b)} for c in facts.conflicts
        ],
        "expected": reason,
        "accounts": [m.vpc.OwnerId],
    }


def _default(v: Vpc) -> dict[str, Any]:
    return {
        "kind": "default-vpc",
        "VpcId": v.VpcId,
        "OwnerId": v.OwnerId,
        "AccountName": v.AccountName,
        "Region": v.Region,
        "Cidr": v.CidrBlock,
        "accounts": [v.OwnerId],
    }


def _reservation(r: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "reservation", **r, "accounts": [r["OwnerId"]]}


def _headroom(h: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "headroom", **h, "accounts": [h["OwnerId"]]}


# ---------------------------------------------------------------------------------------------
# Recording: known state against what the audit says now.


@dataclass
class Comparison:
    """What one recording changes: current findings that are new or changed, known ones that
    resolved, and those that stand."""

    new: list[Finding] = field(default_factory=list)
    changed: list[tuple[Finding, KnownFinding]] = field(default_factory=list)
    resolved: list[KnownFinding] = field(default_factory=list)
    standing: list[tuple[Finding, KnownFinding]] = field(default_factory=list)


def compare(
    current: Iterable[Finding],
    known: Mapping[str, KnownFinding],
    *,
    in_scope: Callable[[str], bool] = lambda _account: True,
    frozen: Callable[[str, str], bool] = lambda _account, _region: False,
) -> Comparison:
    """Pure: the transitions from `known` to `current`.

    Only findings of accounts `in_scope` are compared (a rescan of one account speaks for what it
    touched, not for the whole organization); findings of a `frozen` (account, region), whose
    scan failed, are neither new, changed nor resolved: their known state stands.
    """
    out = Comparison()
    seen: set[str] = set()
    for f in current:
        if f.id in seen or not in_scope(f.account) or frozen(f.account, f.region):
            continue
        seen.add(f.id)
        k = known.get(f.id)
        if k is None:
            out.new.append(f)
        elif k.state != f.state:
            out.changed.append((f, k))
        else:
            out.standing.append((f, k))
    for fid, k in known.items():
        if fid not in seen and in_scope(k.account) and not frozen(k.account, k.region):
            out.resolved.append(k)
    return out


def message_groups(spans: Iterable[str]) -> dict[str, str]:
    """Pure: each overlap group span mapped to the widest span it overlaps among `spans`, so the
    transitions of one group of blocks (a block that left it and those that stayed, two blocks
    that started to overlap) share one message."""
    nets = sorted(
        {ipaddress.ip_network(s) for s in spans},
        key=lambda n: (n.version, int(n.network_address), -n.num_addresses),
    )
    out: dict[str, str] = {}
    top: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    for net in nets:
        if top is None or top.version != net.version or not net.subnet_of(top):  # type: ignore[arg-type]
            top = net
        out[str(net)] = str(top)
    return out
