"""Growth headroom (pure): which VPCs and subnets are running out of addresses.

Per VPC: address space (every associated IPv4 block), space carved into subnets, the largest
aligned block still free for a new subnet, usable addresses in subnets (size - 5 per subnet:
AWS reserves five in each), addresses in use (usable - available) and utilization
(in use / usable).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collector.models import Subnet, Vpc, ipv4_span

RESERVED_PER_SUBNET = 5  # network, VPC router, DNS, future use, broadcast


@dataclass(frozen=True)
class HeadroomLimits:
    """When a VPC or subnet counts as running out (config `headroom.*`)."""

    used_pct: float = 80.0
    subnet_free_pct: float = 10.0


def usable(subnet: Subnet) -> int:
    """Addresses a subnet can hand out. Its prefix length alone decides (a stored block is a
    checked, canonical one): parsing the address too took 0.8 s of the 100k-VPC page."""
    return _room(int(subnet.CidrBlock.rpartition("/")[2]))


def _room(prefix: int) -> int:
    """Addresses a subnet of this prefix length can hand out: AWS keeps five of each."""
    return max(0, (1 << (32 - prefix)) - RESERVED_PER_SUBNET)


def _in_use(subnet: Subnet, room: int) -> int:
    """Of a subnet's `room` usable addresses, those its `AvailableIpAddressCount` leaves."""
    return room - min(subnet.AvailableIpAddressCount, room)


def largest_free_block(blocks: Iterable[str], carved: Iterable[str]) -> str | None:
    """The widest aligned CIDR inside `blocks` that overlaps none of `carved` (None if full)."""
    return _largest_free(map(ipv4_span, blocks), map(ipv4_span, carved))


def _largest_free(
    blocks: Iterable[tuple[int, int]], carved: Iterable[tuple[int, int]]
) -> str | None:
    taken = sorted(carved)
    best: tuple[int, int] | None = None  # (size, first): the widest, then the lowest
    for start, end in blocks:
        cursor = start
        for lo, hi in taken:
            if hi < cursor or lo > end:
                continue
            if lo > cursor:
                best = _widest(best, cursor, lo - 1)
            cursor = max(cursor, hi + 1)
        if cursor <= end:
            best = _widest(best, cursor, end)
    if best is None:
        return None
    size, first = best
    return f"{ipaddress.IPv4Address(first)}/{32 - size.bit_length() + 1}"


def _widest(best: tuple[int, int] | None, first: int, last: int) -> tuple[int, int] | None:
    """The widest aligned block in [first, last], if wider than `best` (first found wins)."""
    while first <= last:
        # The largest power of two that `first` is aligned to and that still fits.
        size = first & -first if first else 1 << 32
        while size > last - first + 1:
            size >>= 1
        if best is None or size > best[0]:
            best = (size, first)
        first += size
    return best


def subnet_size(subnets: Iterable[Subnet]) -> int | None:
    """The VPC's most common subnet prefix length (ties: the larger subnet); None if none."""
    return _usual(Counter(int(s.CidrBlock.rpartition("/")[2]) for s in subnets))


def _usual(prefixes: Mapping[int, int]) -> int | None:
    """The most common of these prefix lengths (counted), ties to the larger subnet."""
    if not prefixes:
        return None
    return min(prefixes, key=lambda p: (-prefixes[p], p))


@dataclass(frozen=True)
class VpcHeadroom:
    """One VPC's address use."""

    vpc: Vpc
    usable: int
    used: int
    largest_free: str | None
    subnet_size: int | None
    azs: tuple[str, ...]

    @property
    def utilization_pct(self) -> float:
        """Addresses in use per usable address, in percent (0 without subnets)."""
        return percent(self.used, self.usable)

    @property
    def no_room(self) -> bool:
        """One more subnet of the usual size does not fit."""
        if self.subnet_size is None:
            return False
        if self.largest_free is None:
            return True
        return int(self.largest_free.rpartition("/")[2]) > self.subnet_size

    def reason(self, limits: HeadroomLimits) -> str | None:
        """`no-room`, `utilization`, or None when the VPC has headroom."""
        if self.no_room:
            return "no-room"
        if self.usable and self.utilization_pct >= limits.used_pct:
            return "utilization"
        return None

    def to_dict(self, reason: str) -> dict[str, Any]:
        """The audit JSON shape of a `headroom` finding (a public contract)."""
        v = self.vpc
        return {
            "VpcId": v.VpcId,
            "OwnerId": v.OwnerId,
            "AccountName": v.AccountName,
            "Region": v.Region,
            "Name": v.Name,
            "Cidrs": list(v.CidrBlocks),
            "SubnetCount": len(v.Subnets),
            "UsableAddresses": self.usable,
            "UsedAddresses": self.used,
            "UtilizationPct": self.utilization_pct,
            "LargestFreeBlock": self.largest_free,
            "Reason": reason,
        }


def subnet_use(subnet: Subnet) -> tuple[int, int]:
    """Pure: a subnet's usable addresses and those in use (what its `AvailableIpAddressCount`
    leaves; never more than usable)."""
    room = usable(subnet)
    return room, _in_use(subnet, room)


def percent(used: int, room: int) -> float:
    """Used per usable address in percent, to one decimal (0 with no usable address)."""
    return round(100 * used / room, 1) if room else 0.0


def used_pct(uses: Sequence[tuple[int, int]]) -> float | None:
    """Pure: a VPC's share of usable addresses in use from its subnets' `subnet_use`, in
    percent; None without subnets (the inventory's `UsedPct`)."""
    if not uses:
        return None
    return percent(sum(used for _, used in uses), sum(room for room, _ in uses))


def utilization_pct(vpc: Vpc) -> float | None:
    """Pure: `VpcHeadroom.utilization_pct` alone, None without subnets (the inventory's
    `UsedPct`): a fraction of `vpc_headroom`'s cost, which also looks for free blocks."""
    return used_pct([subnet_use(s) for s in vpc.Subnets])


def vpc_headroom(vpc: Vpc) -> VpcHeadroom:
    """Pure: one VPC's address use from its blocks and subnets."""
    return _headroom(vpc)[0]


def _headroom(vpc: Vpc) -> tuple[VpcHeadroom, list[int]]:
    """`vpc_headroom`, and each subnet's usable addresses (in `Subnets` order): one pass, each
    subnet's block parsed once (at 100k VPCs every subnet was read three times, its prefix
    counted through a `Counter`)."""
    rooms: list[int] = []
    carved: list[tuple[int, int]] = []
    prefixes: dict[int, int] = {}
    azs: set[str] = set()
    used = 0
    for s in vpc.Subnets:
        first, last = ipv4_span(s.CidrBlock)
        prefix = 32 - (last - first).bit_length()
        room = _room(prefix)
        rooms.append(room)
        used += _in_use(s, room)
        carved.append((first, last))
        prefixes[prefix] = prefixes.get(prefix, 0) + 1
        azs.add(s.AvailabilityZone)
    headroom = VpcHeadroom(
        vpc=vpc,
        usable=sum(rooms),
        used=used,
        largest_free=_largest_free(map(ipv4_span, vpc.CidrBlocks), carved),
        subnet_size=_usual(prefixes),
        azs=tuple(sorted(azs)),
    )
    return headroom, rooms


@dataclass(frozen=True)
class Headroom:
    """The three headroom findings of an inventory."""

    headroom: tuple[dict[str, Any], ...] = ()
    exhausted_subnets: tuple[dict[str, Any], ...] = ()
    single_az: tuple[dict[str, Any], ...] = ()

    def only(self, accounts: set[str]) -> Headroom:
        """The findings of these accounts."""
        return Headroom(
            *(
                tuple(f for f in findings if f["OwnerId"] in accounts)
                for findings in (self.headroom, self.exhausted_subnets, self.single_az)
            )
        )


def find_headroom(vpcs: Iterable[Vpc], limits: HeadroomLimits) -> Headroom:
    """Pure: VPCs short of room, nearly exhausted subnets, and single-AZ VPCs."""
    short, exhausted, single = [], [], []
    for vpc in sorted(vpcs, key=lambda v: (v.OwnerId, v.Region, v.VpcId)):
        h, rooms = _headroom(vpc)
        reason = h.reason(limits)
        if reason:
            short.append(h.to_dict(reason))
        for s, room in zip(vpc.Subnets, rooms, strict=True):
            free_pct = round(100 * min(s.AvailableIpAddressCount, room) / room, 1) if room else 0.0
            if free_pct <= limits.subnet_free_pct:
                exhausted.append(
                    {
                        "SubnetId": s.SubnetId,
                        "VpcId": vpc.VpcId,
                        "OwnerId": vpc.OwnerId,
                        "AccountName": vpc.AccountName,
                        "Region": vpc.Region,
                        "Name": vpc.Name,
                        "AvailabilityZone": s.AvailabilityZone,
                        "Cidr": s.CidrBlock,
                        "AvailableAddresses": s.AvailableIpAddressCount,
                        "FreePct": free_pct,
                    }
                )
        if len(h.azs) == 1:
            single.append(
                {
                    "VpcId": vpc.VpcId,
                    "OwnerId": vpc.OwnerId,
                    "AccountName": vpc.AccountName,
                    "Region": vpc.Region,
                    "Name": vpc.Name,
                    "AvailabilityZone": h.azs[0],
                }
            )
    return Headroom(tuple(short), tuple(exhausted), tuple(single))
