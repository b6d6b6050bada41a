"""Analysis — which accounts' findings a rescan can change (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Sequence

from collector.analysis.audit import Audit
from collector.analysis.conflicts import Connections, routing_domains
from collector.analysis.lookup import BlockIndex
from collector.models import KnownFinding, Vpc


def affected_accounts(
    accounts: Collection[str],
    audit: Audit,
    vpcs: Sequence[Vpc],
    known: Iterable[KnownFinding],
    conns: Connections,
) -> set[str]:
    """Pure: the accounts whose findings a rescan of `accounts` can change: theirs; those in an
    overlap group with one of their blocks; those whose blocks overlap a block of theirs that
    was known to clash (it may have left, resolving the others); those that share a routing
    domain with one of their VPCs or one they own (a new peering or TGW route can make a clash
    of two other accounts reachable)."""
    scope = set(accounts)
    for g in audit.overlap_groups:
        if g.owners & scope:
            scope |= g.owners
    for e in audit.expected:
        if e.group.owners & set(accounts):
            scope |= e.group.owners
    old = [k.cidr for k in known if k.kind == "overlap" and k.cidr]
    if old:
        index = BlockIndex(vpcs)
        for cidr in old:
            scope |= {v.OwnerId for _, v in index.overlapping(ipaddress.ip_network(cidr))}
    owned = {t.Id for t in conns.route_tables if t.OwnerId in accounts}
    for d in routing_domains(conns):
        owners = {owner for _, owner in d.vpcs}
        if owners & set(accounts) or d.at in owned:
            scope |= owners
    return scope
