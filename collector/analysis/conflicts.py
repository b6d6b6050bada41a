"""Effective conflicts (pure): which overlaps some network can route to both sides of.

A **routing domain** is a set of blocks one network can route to:

- a VPC together with its active peers (its peering neighbourhood): a shared-services VPC peered
  with two accounts that chose one range cannot reach both;
- a Transit Gateway route table: the attachments it has routes to (propagations and static
  routes) plus the attachments associated with it; a VPN or Direct Connect attachment in it
  brings in every reserved range marked `on_prem`.

An overlap group is a `conflict` when some domain holds two overlapping blocks of different VPCs
(or a VPC block and an on-prem range); otherwise it is `latent`. Out of scope: security groups,
network ACLs, VPC route tables and TGW peering/Connect attachments (documented limits).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from collector.analysis.overlaps import Conflict, Member, Network, OverlapGroup
from collector.config import ReservedCidr
from collector.models import Connectivity, Peering, TgwAttachment, TgwRouteTable, Vpc

VpcKey = tuple[str, str]  # (VpcId, OwnerId)
ON_PREM_TYPES = frozenset({"vpn", "direct-connect-gateway"})
# Attachment states that carry traffic.
LIVE_ATTACHMENT = frozenset({"available", "modifying"})


@dataclass(frozen=True)
class Connections:
    """The organization's connections, de-duplicated (each is seen from both of its ends)."""

    peerings: tuple[Peering, ...] = ()
    attachments: dict[str, TgwAttachment] = field(default_factory=dict)
    route_tables: tuple[TgwRouteTable, ...] = ()

    @classmethod
    def of(
        cls, connectivity: Iterable[Connectivity], route_tables: Iterable[TgwRouteTable]
    ) -> Connections:
        """From stored items: the newest view of each connection; only route tables that a
        current connectivity item still lists (a deleted one may linger until its TTL)."""
        latest = {(c.OwnerId, c.Region): c for c in sorted(connectivity, key=lambda c: c.LastSeen)}
        conns = sorted(latest.values(), key=lambda c: c.LastSeen)
        peerings = {p.Id: p for c in conns for p in c.Peerings}
        attachments = {a.Id: a for c in conns for a in c.Attachments}
        listed = {r for c in conns for r in c.RouteTables}
        tables = {t.Id: t for t in sorted(route_tables, key=lambda t: t.LastSeen) if t.Id in listed}
        return cls(tuple(peerings.values()), attachments, tuple(tables.values()))


@dataclass(frozen=True)
class Domain:
    """One network and what it reaches: VPCs (with the connection ids on the way to each) and,
    when it has a VPN/Direct Connect attachment, the on-prem ranges (with that path)."""

    at: str
    vpcs: dict[VpcKey, tuple[str, ...]]
    on_prem: tuple[str, ...] | None = None


def routing_domains(connections: Connections) -> list[Domain]:
    """Every peering neighbourhood and every TGW route table, as domains."""
    neighbours: dict[VpcKey, dict[VpcKey, str]] = defaultdict(dict)
    for p in connections.peerings:
        if not p.active:
            continue
        a = (p.Requester.VpcId, p.Requester.OwnerId)
        b = (p.Accepter.VpcId, p.Accepter.OwnerId)
        neighbours[a][b] = p.Id
        neighbours[b][a] = p.Id
    out = [
        Domain(at=x[0], vpcs={x: (), **{peer: (pcx,) for peer, pcx in peers.items()}})
        for x, peers in sorted(neighbours.items())
    ]
    for table in connections.route_tables:
        reached = {*table.Associations, *table.Propagations}
        reached.update(a for r in table.StaticRoutes for a in r.Attachments)
        vpcs: dict[VpcKey, tuple[str, ...]] = {}
        on_prem: tuple[str, ...] | None = None
        for att_id in sorted(reached):
            att = connections.attachments.get(att_id)
            if att is None or att.State not in LIVE_ATTACHMENT:
                continue
            path = (table.TransitGatewayId, table.Id, att.Id)
            if att.ResourceType == "vpc":
                vpcs[(att.ResourceId, att.ResourceOwnerId)] = path
            elif att.ResourceType in ON_PREM_TYPES and on_prem is None:
                on_prem = path
        out.append(Domain(at=table.Id, vpcs=vpcs, on_prem=on_prem))
    return out


def annotate(
    groups: Sequence[OverlapGroup],
    connections: Connections,
    reserved: Iterable[ReservedCidr] = (),
) -> list[OverlapGroup]:
    """The groups with `severity` and `conflicts` filled in."""
    domains = routing_domains(connections)
    by_vpc: dict[VpcKey, list[Domain]] = defaultdict(list)
    for d in domains:
        for key in d.vpcs:
            by_vpc[key].append(d)
    on_prem_domains = [d for d in domains if d.on_prem is not None]
    on_prem = {(r.name, r.cidr) for r in reserved if r.on_prem}
    out = []
    for g in groups:
        conflicts = _group_conflicts(g, by_vpc, on_prem_domains, on_prem)
        if not conflicts and g.severity == "latent" and not g.conflicts:
            out.append(g)  # already what it would become: no copy of most of 50,000 groups
            continue
        out.append(
            replace(g, severity="conflict" if conflicts else "latent", conflicts=tuple(conflicts))
        )
    return out


def name_networks(
    groups: Sequence[OverlapGroup], vpcs: Iterable[Vpc], connections: Connections
) -> list[OverlapGroup]:
    """Pure: each conflict's network with its account and name (a hub VPC's Name; a TGW route
    table's TGW), so people read who to call, not a bare id."""
    if not any(g.conflicts for g in groups):
        return list(groups)  # nothing to name: no index of 100,000 VPCs built for nothing
    live = list(vpcs)
    by_id = {v.VpcId: v for v in live}
    account_names = {v.OwnerId: v.AccountName for v in live if v.AccountName}
    tables = {t.Id: t for t in connections.route_tables}

    def network(at: str) -> Network:
        if at in by_id:
            hub = by_id[at]
            return Network(hub.OwnerId, hub.AccountName, hub.Name or "")
        if at in tables:
            owner = tables[at].OwnerId
            return Network(owner, account_names.get(owner, ""), tables[at].TransitGatewayId)
        return Network()

    return [
        replace(g, conflicts=tuple(replace(c, network=network(c.at)) for c in g.conflicts))
        if g.conflicts
        else g
        for g in groups
    ]


def domain_blocks(
    network: str, connections: Connections, vpc_blocks: dict[VpcKey, list[str]]
) -> tuple[set[VpcKey], bool] | None:
    """The VPCs a new VPC connected to `network` (a VPC id or a TGW route table id) would share a
    routing domain with, and whether on-prem ranges are among them; None if unknown."""
    domains = routing_domains(connections)
    if network.startswith("tgw-rtb-"):
        hit = [d for d in domains if d.at == network]
        if not hit and network not in {t.Id for t in connections.route_tables}:
            return None
    else:
        keys = [k for k in vpc_blocks if k[0] == network]
        if not keys:
            return None
        # Peering with it makes a new VPC part of its neighbourhood; and whatever it reaches
        # through a TGW may reach the new VPC through it.
        hit = [d for d in domains if any(k in d.vpcs for k in keys)]
        hit.append(Domain(at=network, vpcs=dict.fromkeys(keys, ())))
    vpcs = {k for d in hit for k in d.vpcs}
    return vpcs, any(d.on_prem is not None for d in hit)


def _group_conflicts(
    group: OverlapGroup,
    by_vpc: dict[VpcKey, list[Domain]],
    on_prem_domains: list[Domain],
    on_prem: set[tuple[str, str]],
) -> list[Conflict]:
    has_on_prem = any((m.reserved, m.cidr) in on_prem for m in group.members if m.vpc is None)
    candidates = {
        d.at: d for m in group.members if (own := m.owner) is not None for d in by_vpc.get(own, ())
    }
    if has_on_prem:
        candidates.update((d.at, d) for d in on_prem_domains)
    found: dict[tuple[str, str, str], Conflict] = {}
    for at in sorted(candidates):
        d = candidates[at]
        inside: list[tuple[Member, tuple[str, ...]]] = []
        for m in group.members:
            if (own := m.owner) is not None and own in d.vpcs:
                inside.append((m, d.vpcs[own]))
            elif m.vpc is None and d.on_prem is not None and (m.reserved, m.cidr) in on_prem:
                inside.append((m, d.on_prem))
        for (a, pa), (b, pb) in _overlapping_pairs(inside):
            first, second = sorted((_ident(a), _ident(b)))
            key = (at, first, second)
            if key not in found:
                via = tuple(dict.fromkeys((*pa, *pb)))
                found[key] = Conflict(a=a, b=b, at=at, via=via)
    return [found[k] for k in sorted(found)]


def _ident(m: Member) -> str:
    return f"{m.vpc.VpcId}|{m.vpc.OwnerId}|{m.cidr}" if m.vpc else f"reserved|{m.reserved}|{m.cidr}"


def _owner(m: Member) -> tuple[str, str]:
    return m.owner or ("reserved", "")


def _overlapping_pairs(
    inside: list[tuple[Member, tuple[str, ...]]],
) -> Iterable[tuple[tuple[Member, tuple[str, ...]], tuple[Member, tuple[str, ...]]]]:
    """Pairs of different owners whose blocks overlap, by a containment sweep (CIDR blocks
    overlap only when one contains the other): each block against its chain of ancestors."""
    keyed = []
    for item in inside:
        version, start, end = item[0].span  # parsed once, by `overlap_groups`
        keyed.append((version, start, -end, item))
    keyed.sort(key=lambda k: (k[0], k[1], k[2], _ident(k[3][0])))
    stack: list[tuple[int, int, tuple[Member, tuple[str, ...]]]] = []
    for version, start, neg_end, item in keyed:
        while stack and (stack[-1][0] != version or stack[-1][1] < start):
            stack.pop()
        for _, _, other in stack:
            if _owner(other[0]) != _owner(item[0]):
                yield other, item
        stack.append((version, -neg_end, item))
