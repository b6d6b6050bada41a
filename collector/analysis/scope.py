"""Analysis — which accounts' findings a rescan can change (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Sequence

from collector.analysis.audit import Audit
from collector.analysis.conflicts import Connections, routing_domains
from collector.analysis.lookup import BlockIndex
from collector.models import Connectivity, KnownFinding, Vpc
from collector.store.blocks import indexed_blocks


def affected_accounts(
    accounts: Collection[str],
    audit: Audit,
    vpcs: Sequence[Vpc],
    known: Iterable[KnownFinding],
    conns: Connections,
    before: Iterable[Connectivity] = (),
    vpcs_before: Iterable[Vpc] = (),
) -> set[str]:
    """Pure: the accounts whose findings a rescan of `accounts` can change: theirs; those in an
    overlap group with one of their blocks; those whose blocks overlap a block of theirs that
    was known to clash (it may have left, resolving the others); those that share a routing
    domain with one of their VPCs or one they own (a new peering or TGW route can make a clash
    of two other accounts reachable); and those at the far end of their peerings or attached to
    their TGWs, now or in `before`, the connectivity the table held for them before the rescan
    (a removed peering, attachment or route can make such a clash unreachable); and those whose
    blocks overlap a block the table held for them before the rescan (`vpcs_before`) that they
    no longer hold (it may have been no finding of theirs: a block inside an expected range)."""
    rescanned = set(accounts)
    scope = set(rescanned)
    for g in audit.overlap_groups:
        if g.owners & scope:
            scope |= g.owners
    for e in audit.expected:
        if e.group.owners & rescanned:
            scope |= e.group.owners
    old = {k.cidr for k in known if k.kind == "overlap" and k.cidr}
    # A block they no longer hold clashed with others, whose findings it may have been the
    # only reason for: known or not (a block inside an expected range is no finding of its
    # own, the one outside it that it overlapped is). Only blocks that can be in an overlap
    # group count: a live VPC's, not a default VPC's (as the block index holds them).
    held = {c for v in vpcs if v.OwnerId in rescanned for c in indexed_blocks(v)}
    old |= {c for v in vpcs_before for c in indexed_blocks(v)} - held
    if old:
        index = BlockIndex(vpcs)
        for cidr in sorted(old):
            scope |= {v.OwnerId for _, v in index.overlapping(ipaddress.ip_network(cidr))}
    owned = {t.Id for t in conns.route_tables if t.OwnerId in rescanned}
    for d in routing_domains(conns):
        owners = {owner for _, owner in d.vpcs}
        if owners & rescanned or d.at in owned:
            scope |= owners
    # What a rescan finds no longer connected is in no domain above, yet its clashes may have
    # been reachable only that way. The far end of every peering of theirs, active or not (AWS
    # lists a deleted one for a while), and every VPC attached to a TGW they own (its route
    # tables are theirs: one may no longer reach it, or be gone) are compared too.
    # What the rescan no longer lists at all (an attachment its VPC's owner deleted, a peering
    # AWS stopped listing) is only in what the table held before it.
    old_conns = [c for c in before if c.OwnerId in rescanned]
    peerings = [*conns.peerings, *(p for c in old_conns for p in c.Peerings)]
    attachments = [*conns.attachments.values(), *(a for c in old_conns for a in c.Attachments)]
    for p in peerings:
        ends = {p.Requester.OwnerId, p.Accepter.OwnerId}
        if ends & rescanned:
            scope |= ends
    scope |= {
        a.ResourceOwnerId
        for a in attachments
        if a.TransitGatewayOwnerId in rescanned and a.ResourceType == "vpc"
    }
    return scope
