"""Growth headroom (pure): which VPCs and subnets are running out of addresses.

Per VPC: address space (every associated IPv4 block), space carved into subnets, the largest
aligned block still free for a new subnet, usable addresses in subnets (size - 5 per subnet:
AWS reserves five in each), addresses in use (usable - available) and utilization
(in use / usable).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from collector.address_use import (
    AddressUse,
    address_use,
    in_use,
    largest_free,
    room,
    usual,
)
from collector.cidrs import ipv4_span
from collector.models import Subnet, Vpc


@dataclass(frozen=True)
class HeadroomLimits:
    """When a VPC or subnet counts as running out (config `headroom.*`)."""

    used_pct: float = 80.0
    subnet_free_pct: float = 10.0


def usable(subnet: Subnet) -> int:
    """Addresses a subnet can hand out. Its prefix length alone decides (a stored block is a
    checked, canonical one): parsing the address too took 0.8 s of the 100k-VPC page."""
    return room(int(subnet.CidrBlock.rpartition("/")[2]))


def largest_free_block(blocks: Iterable[str], carved: Iterable[str]) -> str | None:
    """The widest aligned CIDR inside `blocks` that overlaps none of `carved` (None if full)."""
    return largest_free(map(ipv4_span, blocks), map(ipv4_span, carved))


def subnet_size(subnets: Iterable[Subnet]) -> int | None:
    """The VPC's most common subnet prefix length (ties: the larger subnet); None if none."""
    return usual(Counter(int(s.CidrBlock.rpartition("/")[2]) for s in subnets))


@dataclass(frozen=True)
class VpcHeadroom:
    """One VPC's address use."""

    vpc: Vpc
    use: AddressUse

    @property
    def usable(self) -> int:
        """Addresses its subnets can hand out."""
        return self.use.usable

    @property
    def used(self) -> int:
        """Of those, addresses in use."""
        return self.use.used

    @property
    def largest_free(self) -> str | None:
        """The widest block still free for a new subnet (None if full)."""
        return self.use.largest_free

    @property
    def subnet_size(self) -> int | None:
        """The usual subnet prefix length (None without subnets)."""
        return self.use.subnet_size

    @property
    def azs(self) -> tuple[str, ...]:
        """Its subnets' Availability Zones, sorted."""
        return self.use.azs

    @property
    def utilization_pct(self) -> float:
        """Addresses in use per usable address, in percent (0 without subnets)."""
        return percent(self.used, self.usable)

    @property
    def no_room(self) -> bool:
        """One more subnet of the usual size does not fit."""
        return _no_room(self.use)

    def reason(self, limits: HeadroomLimits) -> str | None:
        """`no-room`, `utilization`, or None when the VPC has headroom."""
        return _reason(self.use, limits)

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
            "SubnetCount": self.use.subnet_count,
            "UsableAddresses": self.usable,
            "UsedAddresses": self.used,
            "UtilizationPct": self.utilization_pct,
            "LargestFreeBlock": self.largest_free,
            "Reason": reason,
        }


def _no_room(use: AddressUse) -> bool:
    if use.subnet_size is None:
        return False
    if use.largest_free is None:
        return True
    return int(use.largest_free.rpartition("/")[2]) > use.subnet_size


def _reason(use: AddressUse, limits: HeadroomLimits) -> str | None:
    # Apart from `VpcHeadroom`: a VPC with headroom (most of 100k) builds none.
    if _no_room(use):
        return "no-room"
    if use.usable and percent(use.used, use.usable) >= limits.used_pct:
        return "utilization"
    return None


def subnet_use(subnet: Subnet) -> tuple[int, int]:
    """Pure: a subnet's usable addresses and those in use (what its `AvailableIpAddressCount`
    leaves; never more than usable)."""
    r = usable(subnet)
    return r, in_use(subnet.AvailableIpAddressCount, r)


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
    return VpcHeadroom(vpc, address_use(vpc)[0])


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


def find_headroom(
    vpcs: Iterable[Vpc],
    limits: HeadroomLimits,
    uses: Mapping[tuple[str, str], AddressUse] | None = None,
) -> Headroom:
    """Pure: VPCs short of room, nearly exhausted subnets, and single-AZ VPCs.

    `uses` holds the stored address use of VPCs read without their subnets (by key); the
    others' is computed from their subnets. A VPC read without subnets that has one at or under
    `limits.subnet_free_pct` is a reader's error (its subnets are findings): ValueError."""
    uses = uses or {}
    short, exhausted, single = [], [], []
    for vpc in vpcs:
        use = uses.get(vpc.key)
        frees: list[float] = []
        if use is None:
            use, frees = address_use(vpc)
        elif use.tightest_free_pct is not None and use.tightest_free_pct <= limits.subnet_free_pct:
            raise ValueError(f"{vpc.VpcId} was read without the subnets its findings name")
        reason = _reason(use, limits)
        if reason:
            short.append(VpcHeadroom(vpc, use).to_dict(reason))
        for s, free in zip(vpc.Subnets, frees, strict=True):
            if free <= limits.subnet_free_pct:
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
                        "FreePct": free,
                    }
                )
        if len(use.azs) == 1:
            single.append(
                {
                    "VpcId": vpc.VpcId,
                    "OwnerId": vpc.OwnerId,
                    "AccountName": vpc.AccountName,
                    "Region": vpc.Region,
                    "Name": vpc.Name,
                    "AvailabilityZone": use.azs[0],
                }
            )
    # Each list in (OwnerId, Region, VpcId) order, a VPC's subnets in their own: the findings
    # sorted, not the 100,000 VPCs they came from (most of which have none).
    return Headroom(*(tuple(sorted(f, key=_ORDER)) for f in (short, exhausted, single)))


_ORDER = itemgetter("OwnerId", "Region", "VpcId")
