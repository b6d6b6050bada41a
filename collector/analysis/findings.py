"""Findings as stable, comparable facts (pure): what a run saw, keyed so that the same finding
seen again has the same id, and a new one (or a changed severity) has a new id.

An overlap finding is one pair of overlapping members of different owners (a group gaining a
third VPC is one new pair, not a new group); a default VPC and a VPC short of room are one
finding each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from collector.analysis.audit import Audit
from collector.analysis.conflicts import overlapping_pairs
from collector.analysis.overlaps import Member


def _finding_id(*identity: str) -> str:
    # Only what makes the finding the same finding: ids, ranges, severity, reason; never
    # names or figures that change from night to night.
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]


def _accounts(*members: Member) -> list[str]:
    return sorted({m.vpc.OwnerId for m in members if m.vpc is not None})


def current_findings(audit: Audit) -> dict[str, dict[str, Any]]:
    """Every finding of the audit, by id."""
    out: dict[str, dict[str, Any]] = {}
    for g in audit.overlap_groups:
        conflicts = {frozenset((_ident(c.a), _ident(c.b))): c for c in g.conflicts}
        for a, b in overlapping_pairs(g.members):
            hit = conflicts.get(frozenset((_ident(a), _ident(b))))
            finding: dict[str, Any] = {
                "kind": "overlap",
                "severity": "conflict" if hit else "latent",
                "a": a.to_dict(),
                "b": b.to_dict(),
                "accounts": _accounts(a, b),
            }
            if hit:
                finding.update(at=hit.at, via=list(hit.via))
            pair = sorted((_ident(a), _ident(b)))
            out[_finding_id("overlap", finding["severity"], *pair)] = finding
    for v in audit.default_vpcs:
        out[_finding_id("default-vpc", v.VpcId, v.OwnerId)] = {
            "kind": "default-vpc",
            "VpcId": v.VpcId,
            "OwnerId": v.OwnerId,
            "AccountName": v.AccountName,
            "Region": v.Region,
            "Cidr": v.CidrBlock,
            "accounts": [v.OwnerId],
        }
    for h in audit.headroom.headroom:
        fid = _finding_id("headroom", h["VpcId"], h["OwnerId"], h["Reason"])
        out[fid] = {"kind": "headroom", **h, "accounts": [h["OwnerId"]]}
    return out


def involving(findings: dict[str, dict[str, Any]], accounts: Iterable[str]) -> dict[str, Any]:
    """The findings that involve any of these accounts."""
    wanted = set(accounts)
    return {k: f for k, f in findings.items() if wanted & set(f.get("accounts", []))}


def _ident(m: Member) -> str:
    return f"{m.vpc.VpcId}|{m.vpc.OwnerId}|{m.cidr}" if m.vpc else f"reserved|{m.reserved}|{m.cidr}"
