"""Jobs — how the audit reads VPC items without their subnets and tags: shared by every job
that reads the table for an audit (`audit`, `check`, live events, a night's sweep, the
findings recording)."""

from __future__ import annotations

from collector.address_use import AddressUse
from collector.config import Config
from collector.store.registry import WithoutSubnets


def for_audit(config: Config) -> WithoutSubnets:
    """How the audit reads VPCs without their subnets: it still needs those of a VPC with a
    subnet at or under `headroom.subnet_free_pct` (the exhausted-subnet finding names it)."""
    limit = config.headroom.subnet_free_pct

    def needs_subnets(use: AddressUse) -> bool:
        return use.tightest_free_pct is not None and use.tightest_free_pct <= limit

    return WithoutSubnets(needs_subnets)


def unless_published(config: Config) -> WithoutSubnets | None:
    """How a read whose view may draw the published page reads: whole (None) when
    `report.bucket` is set, since the page shows every subnet and tag; else as the audit."""
    return None if config.report.bucket else for_audit(config)
