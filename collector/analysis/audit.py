"""The audit (pure): overlap groups, default VPCs and what they rest on, as one object."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collector.address_use import AddressUse
from collector.analysis.conflicts import Connections, annotate, name_networks
from collector.analysis.headroom import Headroom, HeadroomLimits, find_headroom
from collector.analysis.lookup import BlockIndex
from collector.analysis.overlaps import OverlapGroup, overlap_groups
from collector.analysis.space import default_vpcs, reservation_overlaps
from collector.analysis.stale import Scope, partition, stale_dict
from collector.config import ExpectedOverlap, ReservedCidr
from collector.models import Reservation, UnreadableItem, Vpc, iso


@dataclass(frozen=True)
class ExpectedGroup:
    """An overlap group every VPC block of which lies in an `overlaps.expected` range and that
    no network reaches twice: reuse by design, not a finding."""

    group: OverlapGroup
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The audit JSON shape (`expected_overlaps`): collapsed to counts."""
        return {
            "span": self.group.span,
            "reason": self.reason,
            "blocks": sum(m.vpc is not None for m in self.group.members),
            "accounts": len(self.group.owners),
        }


def expected_group(group: OverlapGroup, expected: list[ExpectedOverlap]) -> ExpectedGroup | None:
    """The group as expected reuse, or None when it is a finding (a block outside every expected
    range, or a conflict)."""
    if group.severity == "conflict" or not expected:
        return None
    reason = None
    for m in group.members:
        if m.vpc is None:
            continue
        net = m.network
        hit = next(
            (
                e
                for e in expected
                if (r := ipaddress.ip_network(e.cidr)).version == net.version and net.subnet_of(r)  # type: ignore[arg-type]
            ),
            None,
        )
        if hit is None:
            return None
        reason = reason or hit.reason
    return ExpectedGroup(group, reason) if reason is not None else None


@dataclass
class Audit:
    """The audit of an inventory; `to_dict()` is the public JSON shape."""

    generated_at: datetime
    vpc_count: int
    account_count: int
    overlap_groups: list[OverlapGroup] = field(default_factory=list)
    default_vpcs: list[Vpc] = field(default_factory=list)
    # What the audit looked at (for the HTML report's map and tables; not in the JSON shape).
    vpcs: list[Vpc] = field(default_factory=list)
    reserved: list[ReservedCidr] = field(default_factory=list)
    # Table items that could not be read: the audit cannot speak for them.
    unreadable: list[UnreadableItem] = field(default_factory=list)
    # Active reservations (the HTML map draws them: `free` must mean free for `allocate`).
    reservations: list[Reservation] = field(default_factory=list)
    headroom: Headroom = field(default_factory=Headroom)
    # Groups of expected reuse (config `overlaps.expected`): listed apart, not findings.
    expected: list[ExpectedGroup] = field(default_factory=list)
    # VPC blocks inside another account's active reservation.
    reservation_overlaps: list[dict[str, Any]] = field(default_factory=list)
    # Live items the configuration no longer covers, or no scan has seen for a while: listed
    # apart, in no other list.
    stale: list[dict[str, Any]] = field(default_factory=list)

    @property
    def conflicts(self) -> int:
        """Overlap groups with severity `conflict`."""
        return sum(g.severity == "conflict" for g in self.overlap_groups)

    @property
    def vpcs_in_overlaps(self) -> int:
        """Distinct VPCs that are members of some overlap group."""
        return len({m.owner for g in self.overlap_groups for m in g.members if m.vpc})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready audit (keys are a public contract)."""
        return {
            "generated_at": iso(self.generated_at),
            "vpc_count": self.vpc_count,
            "account_count": self.account_count,
            "overlap_groups": [g.to_dict() for g in self.overlap_groups],
            "default_vpcs": [
                {
                    "VpcId": v.VpcId,
                    "OwnerId": v.OwnerId,
                    "AccountName": v.AccountName,
                    "Region": v.Region,
                    "CidrBlock": v.CidrBlock,
                }
                for v in self.default_vpcs
            ],
            "unreadable_items": [u.to_dict() for u in self.unreadable],
            "headroom": list(self.headroom.headroom),
            "exhausted_subnets": list(self.headroom.exhausted_subnets),
            "single_az": list(self.headroom.single_az),
            "expected_overlaps": [e.to_dict() for e in self.expected],
            "reservation_overlaps": list(self.reservation_overlaps),
            "stale": list(self.stale),
            "summary": self.summary(),
        }

    def summary(self) -> dict[str, int]:
        """The audit JSON's `summary` (counts), without building the rest of it."""
        return {
            "overlap_groups": len(self.overlap_groups),
            "vpcs_in_overlaps": self.vpcs_in_overlaps,
            "default_vpcs": len(self.default_vpcs),
            "unreadable_items": len(self.unreadable),
            "conflicts": self.conflicts,
            "headroom": len(self.headroom.headroom),
            "exhausted_subnets": len(self.headroom.exhausted_subnets),
            "single_az": len(self.headroom.single_az),
            "expected_overlaps": len(self.expected),
            "reservation_overlaps": len(self.reservation_overlaps),
            "stale": len(self.stale),
        }


def build_audit(
    vpcs: Iterable[Vpc],
    reserved: Iterable[ReservedCidr],
    *,
    now: datetime,
    include_default: bool = False,
    accounts: Iterable[str] = (),
    unreadable: Iterable[UnreadableItem] = (),
    reservations: Iterable[Reservation] = (),
    connections: Connections | None = None,
    severity: str | None = None,
    limits: HeadroomLimits | None = None,
    expected: Iterable[ExpectedOverlap] = (),
    scope: Scope | None = None,
    address_use: Mapping[tuple[str, str], AddressUse] | None = None,
) -> Audit:
    """Audit live VPCs; with `accounts`, keep only findings that involve those accounts.

    `unreadable` table items are carried into the audit so every output names them;
    `address_use` is the stored address use of VPCs read without their subnets (by key)."""
    # Stale items are listed apart and analysed nowhere else (their ranges stay taken: allocate
    # reads every live item itself).
    live, old = partition(vpcs, scope)
    reserved = list(reserved)
    conns = connections or Connections()
    groups = name_networks(
        annotate(overlap_groups(live, reserved, include_default=include_default), conns, reserved),
        live,
        conns,
    )
    ranges = list(expected)
    reuse: list[ExpectedGroup] = []
    if ranges:
        kept = []
        for g in groups:
            e = expected_group(g, ranges)
            if e is None:
                kept.append(g)
            else:
                reuse.append(e)
        groups = kept
    wanted = set(accounts)
    if severity is not None:
        # As the accounts asked about see it: a conflict between two other accounts in a group
        # is latent for them.
        groups = [g for g in groups if g.severity_for(wanted) == severity]
    defaults = default_vpcs(live)
    active = [r for r in reservations if r.active(now)]
    taken = reservation_overlaps(BlockIndex(live), active, now) if active else []
    headroom = find_headroom(live, limits or HeadroomLimits(), address_use)
    if wanted:
        headroom = headroom.only(wanted)
        groups = [g for g in groups if g.owners & wanted]
        reuse = [e for e in reuse if e.group.owners & wanted]
        taken = [t for t in taken if t["OwnerId"] in wanted or t["ReservedFor"] in wanted]
        old = [(v, why) for v, why in old if v.OwnerId in wanted]
        defaults = [v for v in defaults if v.OwnerId in wanted]
    return Audit(
        generated_at=now,
        vpc_count=len(live),
        account_count=len({v.OwnerId for v in live}),
        overlap_groups=groups,
        default_vpcs=defaults,
        # Every live VPC, stale ones too: the map must not show a range allocate won't give.
        vpcs=[*live, *(v for v, _ in old)],
        reserved=reserved,
        unreadable=list(unreadable),
        reservations=active,
        headroom=headroom,
        expected=reuse,
        reservation_overlaps=taken,
        stale=[stale_dict(v, why) for v, why in sorted(old, key=lambda s: _order(s[0]))],
    )


def _order(v: Vpc) -> tuple[str, str, str]:
    return v.OwnerId, v.Region, v.VpcId
