"""Findings as stable, comparable facts (pure): what a run saw, keyed so that the same finding
seen again has the same id, and a new one (or a changed severity) has a new id.

An overlap finding is one pair of overlapping members of different owners (a group gaining a
third VPC is one new pair, not a new group); a default VPC and a VPC short of room are one
finding each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from collector.analysis.audit import Audit
from collector.analysis.conflicts import overlapping_pairs
from collector.analysis.overlaps import Conflict, Member
from collector.models import Vpc


def _finding_id(*identity: str) -> str:
    # Only what makes the finding the same finding: ids, ranges, severity, reason; never
    # names or figures that change from night to night.
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]


def _accounts(*members: Member) -> tuple[str, ...]:
    return tuple(sorted({m.vpc.OwnerId for m in members if m.vpc is not None}))


FindingRef = tuple[str, Callable[[], dict[str, Any]], tuple[str, ...]]


def iter_findings(audit: Audit, accounts: Iterable[str] | None = None) -> Iterator[FindingRef]:
    """Every finding of the audit as (id, build its body, the accounts it involves); with
    `accounts`, only those involving one of them.

    Bodies are built on demand: where many VPCs share a range, a night has findings by the
    hundred thousand and only the new ones need a body (kept all at once they were gigabytes).
    """
    wanted = None if accounts is None else frozenset(accounts)
    for g in audit.overlap_groups:
        conflicts = {frozenset((_ident(c.a), _ident(c.b))): c for c in g.conflicts}
        for a, b in overlapping_pairs(g.members):
            involved = _accounts(a, b)
            if wanted is not None and wanted.isdisjoint(involved):
                continue
            ia, ib = _ident(a), _ident(b)
            hit = conflicts.get(frozenset((ia, ib)))
            severity = "conflict" if hit else "latent"
            yield (
                _finding_id("overlap", severity, *sorted((ia, ib))),
                partial(_overlap, a, b, severity, hit, involved),
                involved,
            )
    for v in audit.default_vpcs:
        if wanted is None or v.OwnerId in wanted:
            yield _finding_id("default-vpc", v.VpcId, v.OwnerId), partial(_default, v), (v.OwnerId,)
    for h in audit.headroom.headroom:
        if wanted is None or h["OwnerId"] in wanted:
            fid = _finding_id("headroom", h["VpcId"], h["OwnerId"], h["Reason"])
            yield fid, partial(_headroom, h), (h["OwnerId"],)


def current_findings(audit: Audit) -> dict[str, dict[str, Any]]:
    """Every finding of the audit, by id, with its body."""
    return {fid: build() for fid, build, _ in iter_findings(audit)}


def _overlap(
    a: Member, b: Member, severity: str, hit: Conflict | None, involved: tuple[str, ...]
) -> dict[str, Any]:
    finding: dict[str, Any] = {
        "kind": "overlap",
        "severity": severity,
        "a": a.to_dict(),
        "b": b.to_dict(),
        "accounts": list(involved),
    }
    if hit:
        finding.update(at=hit.at, via=list(hit.via))
    return finding


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


def _headroom(h: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "headroom", **h, "accounts": [h["OwnerId"]]}


def _ident(m: Member) -> str:
    return f"{m.vpc.VpcId}|{m.vpc.OwnerId}|{m.cidr}" if m.vpc else f"reserved|{m.reserved}|{m.cidr}"
