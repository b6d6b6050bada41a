"""Who owns an address (pure): the VPCs, subnets, reserved ranges and reservations that
contain an address or overlap a CIDR, through an interval index built once per table read.

CIDR blocks are either disjoint or nested, so the blocks overlapping a query block Q are those
containing Q (one exact lookup per shorter prefix length) and those inside Q (a range of
network addresses per longer prefix length): O(log n) per prefix length, whatever the size of
the inventory.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from collector.cidrs import IPNetwork, block_span
from collector.config import ReservedCidr
from collector.models import Reservation, Subnet, Vpc


class BlockIndex:
    """Every block of the live VPCs, by (IP version, prefix length), sorted by address."""

    def __init__(self, vpcs: Iterable[Vpc]) -> None:
        buckets: dict[tuple[int, int], list[tuple[int, str, Vpc]]] = defaultdict(list)
        for vpc in vpcs:
            if vpc.Deleted:
                continue
            for cidr in (*vpc.CidrBlocks, *vpc.Ipv6CidrBlocks):
                # Parsed by the C library, not into an `ipaddress` network: a tenth of the
                # cost, and most of the index's at 100k VPCs.
                version, first, last = block_span(cidr)
                prefix = (32 if version == 4 else 128) - (last - first).bit_length()
                buckets[(version, prefix)].append((first, cidr, vpc))
        self._starts: dict[tuple[int, int], list[int]] = {}
        self._entries: dict[tuple[int, int], list[tuple[int, str, Vpc]]] = {}
        for key, entries in buckets.items():
            entries.sort(key=lambda e: (e[0], e[2].VpcId))
            self._entries[key] = entries
            self._starts[key] = [e[0] for e in entries]

    def overlapping(self, query: IPNetwork) -> list[tuple[str, Vpc]]:
        """(block, VPC) for every VPC block that shares an address with `query`."""
        out: list[tuple[str, Vpc]] = []
        start, end = int(query.network_address), int(query.broadcast_address)
        for (version, prefix), starts in self._starts.items():
            if version != query.version:
                continue
            if prefix <= query.prefixlen:
                # Blocks containing the query start at its address rounded down to `prefix`.
                host_bits = query.max_prefixlen - prefix
                lo = hi = (start >> host_bits) << host_bits
            else:
                lo, hi = start, end
            i = bisect.bisect_left(starts, lo)
            j = bisect.bisect_right(starts, hi)
            out.extend((cidr, vpc) for _, cidr, vpc in self._entries[(version, prefix)][i:j])
        return sorted(out, key=lambda m: (m[1].OwnerId, m[1].VpcId, m[0]))


def _subnet_blocks(subnet: Subnet) -> list[str]:
    return [subnet.CidrBlock, *subnet.Ipv6CidrBlocks]


@dataclass(frozen=True)
class LookupResult:
    """The answer to `vpctracker lookup`; `to_dict()` is its JSON shape (a public contract)."""

    query: str
    matches: tuple[dict[str, Any], ...]
    reserved: tuple[dict[str, str], ...]

    @property
    def found(self) -> bool:
        """Something holds (part of) the queried space."""
        return bool(self.matches or self.reserved)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result."""
        return {"query": self.query, "matches": list(self.matches), "reserved": list(self.reserved)}


def lookup(
    query: IPNetwork,
    index: BlockIndex,
    reserved: Iterable[ReservedCidr] = (),
    reservations: Iterable[Reservation] = (),
    stale: Mapping[tuple[str, str], str] | None = None,
) -> LookupResult:
    """Pure: which VPCs (and subnets), reserved ranges and active reservations hold `query`,
    sorted by address; a VPC in `stale` (key -> why) is marked so."""
    matches: list[dict[str, Any]] = []
    stale = stale or {}
    for cidr, vpc in sorted(index.overlapping(query), key=_by_address):
        base = {
            "VpcId": vpc.VpcId,
            "OwnerId": vpc.OwnerId,
            "AccountName": vpc.AccountName,
            "Region": vpc.Region,
            "Cidr": cidr,
            "Name": vpc.Name,
            # Stale (no longer scanned): the range may still be in use, so it is still held.
            "Stale": stale.get(vpc.key),
        }
        hits = [
            s
            for s in vpc.Subnets
            if any(_overlaps(query, ipaddress.ip_network(b)) for b in _subnet_blocks(s))
        ]
        if not hits:
            matches.append(
                {
                    **base,
                    "SubnetId": None,
                    "SubnetCidr": None,
                    "SubnetName": None,
                    "AvailabilityZone": None,
                }
            )
        for s in hits:
            matches.append(
                {
                    **base,
                    "SubnetId": s.SubnetId,
                    "SubnetCidr": s.CidrBlock,
                    "SubnetName": s.Name,
                    "AvailabilityZone": s.AvailabilityZone,
                }
            )
    held = [
        {"Reserved": r.name, "Cidr": r.cidr}
        for r in reserved
        if _overlaps(query, ipaddress.ip_network(r.cidr))
    ]
    held += [
        {"ReservedFor": r.owner, "Cidr": r.cidr}
        for r in reservations
        if _overlaps(query, ipaddress.ip_network(r.cidr))
    ]
    shown = str(query.network_address) if query.num_addresses == 1 else str(query)
    return LookupResult(shown, tuple(matches), tuple(held))


def _by_address(match: tuple[str, Vpc]) -> tuple[int, int, int, str, str]:
    net = ipaddress.ip_network(match[0])
    return net.version, int(net.network_address), net.prefixlen, match[1].OwnerId, match[1].VpcId


def _overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)


def parse_query(text: str) -> IPNetwork:
    """An address (as a /32 or /128) or a CIDR; ValueError with a short reason otherwise."""
    try:
        return ipaddress.ip_network(text.strip())  # strict: 10.0.0.5/16 is not a CIDR block
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError("is not an IP address or CIDR block") from None
    raise ValueError(f"has host bits set: the block is {loose}, the address {text.split('/')[0]}")
