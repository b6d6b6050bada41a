"""A VPC's address use (pure), from its blocks and subnets.

The headroom analysis reports it, and the store keeps it on each VPC item (`AddressUse`), so
an audit can read a VPC without its subnets. It needs none of the config's limits: whatever
`headroom.*` says, the audit finds the same VPCs from it as from the subnets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collector.cidrs import ipv4_span
from collector.models import Vpc

RESERVED_PER_SUBNET = 5  # network, VPC router, DNS, future use, broadcast


@dataclass(frozen=True)
class AddressUse:
    """One VPC's address use: what the audit's headroom findings need of its subnets."""

    usable: int  # addresses its subnets can hand out (AWS keeps five of each)
    used: int  # of those, in use (what `AvailableIpAddressCount` leaves)
    largest_free: str | None  # the widest aligned block no subnet holds (None if full)
    subnet_size: int | None  # the most common subnet prefix length (None without subnets)
    azs: tuple[str, ...]  # the subnets' Availability Zones, sorted
    subnet_count: int
    # The lowest free share of its subnets (as `address_use` gives them; None without subnets):
    # the audit needs the subnets themselves only when it is at or under
    # `headroom.subnet_free_pct`.
    tightest_free_pct: float | None


def room(prefix: int) -> int:
    """Addresses a subnet of this prefix length can hand out: AWS keeps five of each."""
    return max(0, (1 << (32 - prefix)) - RESERVED_PER_SUBNET)


def in_use(available: int, room: int) -> int:
    """Of a subnet's `room` usable addresses, those its `AvailableIpAddressCount` leaves."""
    return room - min(available, room)


def largest_free(
    blocks: Iterable[tuple[int, int]], carved: Iterable[tuple[int, int]]
) -> str | None:
    """The widest aligned block inside `blocks` (first, last address) that overlaps none of
    `carved`; the lowest of the widest; None if there is none."""
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


def usual(prefixes: Mapping[int, int]) -> int | None:
    """The most common of these prefix lengths (counted), ties to the larger subnet."""
    if not prefixes:
        return None
    return min(prefixes, key=lambda p: (-prefixes[p], p))


def address_use(vpc: Vpc) -> tuple[AddressUse, list[float]]:
    """Pure: a VPC's address use, and each subnet's share of usable addresses still free, in
    percent to one decimal, 0 with none (the exhausted-subnet finding's `FreePct`), in `Subnets`
    order. One pass, each subnet's block parsed once (at 100k VPCs every subnet was read three
    times)."""
    rooms: list[int] = []
    frees: list[float] = []
    carved: list[tuple[int, int]] = []
    prefixes: dict[int, int] = {}
    azs: set[str] = set()
    used = 0
    tightest: float | None = None
    for s in vpc.Subnets:
        first, last = ipv4_span(s.CidrBlock)
        prefix = 32 - (last - first).bit_length()
        r = room(prefix)
        rooms.append(r)
        available = min(s.AvailableIpAddressCount, r)
        used += r - available
        carved.append((first, last))
        prefixes[prefix] = prefixes.get(prefix, 0) + 1
        azs.add(s.AvailabilityZone)
        free = round(100 * available / r, 1) if r else 0.0
        frees.append(free)
        tightest = free if tightest is None else min(tightest, free)
    use = AddressUse(
        usable=sum(rooms),
        used=used,
        largest_free=largest_free(map(ipv4_span, vpc.CidrBlocks), carved),
        subnet_size=usual(prefixes),
        azs=tuple(sorted(azs)),
        subnet_count=len(vpc.Subnets),
        tightest_free_pct=tightest,
    )
    return use, frees
