"""Stale items (pure): live VPCs the configuration no longer covers, or no scan has seen for a
while. They are listed apart and are no current finding (overlaps, default VPCs, headroom), but
their ranges stay taken (`allocate`) and `lookup` shows them, marked: the range may still be used.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector.config import Config
from collector.models import Vpc, iso

OUT_OF_SCOPE = "out-of-scope"  # its region is not configured, or its account excluded
# No successful scan of its target saw it for `scan.stale_after_days` before the newest scan the
# table holds (not before now: if the collector stops for a while, the table is old, not stale,
# and hiding every finding would be the wrong answer).
NOT_SEEN = "not-seen"


@dataclass(frozen=True)
class Scope:
    """What the configuration covers, and how long an unseen item stays current."""

    regions: frozenset[str] | None = None  # None: all (each account's enabled regions)
    include: frozenset[str] = frozenset()  # accounts; empty: every account
    exclude: frozenset[str] = frozenset()
    stale_after: timedelta = timedelta(days=7)

    @classmethod
    def of(cls, config: Config) -> Scope:
        """The scope a configuration collects."""
        org = config.organization
        return cls(
            regions=None if config.regions == "all" else frozenset(config.regions),
            include=frozenset(org.include_accounts),
            exclude=frozenset(org.exclude_accounts),
            stale_after=timedelta(days=config.scan.stale_after_days),
        )

    def reason(self, vpc: Vpc, newest: datetime) -> str | None:
        """Why a live VPC is stale, or None when it is current (`newest`: the newest scan)."""
        if (
            (self.regions is not None and vpc.Region not in self.regions)
            or vpc.OwnerId in self.exclude
            or (self.include and vpc.OwnerId not in self.include)
        ):
            return OUT_OF_SCOPE
        if newest - vpc.LastSeen > self.stale_after:
            return NOT_SEEN
        return None


def partition(vpcs: Iterable[Vpc], scope: Scope | None) -> tuple[list[Vpc], list[tuple[Vpc, str]]]:
    """The live VPCs that are current, and the stale ones with why."""
    live = [v for v in vpcs if not v.Deleted]
    if scope is None or not live:
        return live, []
    newest = max(v.LastSeen for v in live)
    current, stale = [], []
    for v in live:
        why = scope.reason(v, newest)
        if why is None:
            current.append(v)
        else:
            stale.append((v, why))
    return current, stale


def stale_dict(vpc: Vpc, reason: str) -> dict[str, Any]:
    """The audit JSON shape of a stale item (`stale`)."""
    return {
        "VpcId": vpc.VpcId,
        "OwnerId": vpc.OwnerId,
        "AccountName": vpc.AccountName,
        "Region": vpc.Region,
        "Cidrs": list(vpc.CidrBlocks),
        "LastSeen": iso(vpc.LastSeen),
        "reason": reason,
    }


def only(stale: Iterable[dict[str, Any]], accounts: Collection[str]) -> list[dict[str, Any]]:
    """The stale items of these accounts."""
    return [s for s in stale if s["OwnerId"] in accounts]
