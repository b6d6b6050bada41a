"""Lifecycle decisions (pure): what to write after a scan, what to mark deleted, and why.

Only an `ok` target may mark VPCs deleted: a failed or skipped target proves nothing about
what exists, so it leaves the table as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collector.models import DeletionReason, Vpc, iso


@dataclass
class TargetWrites:
    """Records to put for one target: the VPCs seen, and the ones newly marked deleted."""

    seen: list[Vpc] = field(default_factory=list)
    marked: list[Vpc] = field(default_factory=list)


def expires_at(now: datetime, retention_days: int) -> int:
    """Epoch seconds at which DynamoDB TTL may remove a deleted item."""
    return int((now + timedelta(days=retention_days)).timestamp())


def mark_deleted(vpc: Vpc, *, now: datetime, reason: DeletionReason, retention_days: int) -> Vpc:
    """A copy of `vpc` marked deleted, kept in the table until its TTL."""
    return vpc.model_copy(
        update={
            "Deleted": True,
            "DeletedAt": now,
            "DeletedReason": reason,
            "ExpiresAt": expires_at(now, retention_days),
        }
    )


def plan_target(
    seen: Iterable[Vpc],
    existing: Iterable[Vpc],
    *,
    now: datetime,
    retention_days: int,
    invalid_ids: Iterable[str | None] = (),
) -> TargetWrites:
    """Decide the writes for one `ok` (account, region) target.

    `seen` are the records the scan returned; `existing` the table's items for the same
    account and region. Seen VPCs keep their FirstSeen (and come back to life if they were
    marked deleted); live items the scan did not return are marked deleted.

    `invalid_ids` are the VpcIds of API items that failed validation: the VPC exists, we just
    could not read it, so it is not marked deleted. An invalid item without a VpcId could be
    any VPC, so then nothing is marked at all.
    """
    protected = set(invalid_ids)
    before = {v.key: v for v in existing if v.VpcId not in protected}
    if None in protected:
        before = {}
    first_seen = {v.key: v.FirstSeen for v in existing}
    out = TargetWrites()
    for vpc in seen:
        before.pop(vpc.key, None)
        first = first_seen.get(vpc.key)
        out.seen.append(vpc if first is None else vpc.model_copy(update={"FirstSeen": first}))
    for old in before.values():
        if not old.Deleted:
            out.marked.append(
                mark_deleted(old, now=now, reason="not-found", retention_days=retention_days)
            )
    return out


def changes(
    seen: Iterable[Vpc],
    existing: Iterable[Vpc],
    marked: Iterable[Vpc],
    *,
    now: datetime,
    first_scan: bool = False,
) -> list[dict[str, Any]]:
    """Pure: what one target's writes change, in the `changes` JSON shape: VPCs created (or,
    on the target's first scan, `first-seen`: they existed before anyone looked) or deleted,
    CIDR blocks associated or disassociated, Name tags changed."""
    before = {v.key: v for v in existing if not v.Deleted}
    at = iso(now)
    out: list[dict[str, Any]] = []

    def change(kind: str, v: Vpc, cidr: str | None, detail: str | None) -> None:
        out.append(
            {
                "time": at,
                "change": kind,
                "VpcId": v.VpcId,
                "OwnerId": v.OwnerId,
                "AccountName": v.AccountName,
                "Region": v.Region,
                "Cidr": cidr,
                "detail": detail,
            }
        )

    for v in seen:
        old = before.get(v.key)
        if old is None:
            change("first-seen" if first_scan else "created", v, v.CidrBlock, None)
            continue
        blocks, old_blocks = (
            [*v.CidrBlocks, *v.Ipv6CidrBlocks],
            [
                *old.CidrBlocks,
                *old.Ipv6CidrBlocks,
            ],
        )
        for c in blocks:
            if c not in old_blocks:
                change("cidr-associated", v, c, None)
        for c in old_blocks:
            if c not in blocks:
                change("cidr-disassociated", v, c, None)
        if (old.Name or "") != (v.Name or ""):
            change("renamed", v, v.CidrBlock, f"{old.Name or ''} -> {v.Name or ''}")
    for v in marked:
        change("deleted", v, v.CidrBlock, v.DeletedReason)
    return out
