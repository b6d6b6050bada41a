"""Stage 8 — analysis (pure, no AWS): overlap groups, default VPCs, free address space."""

from __future__ import annotations

from collector.analysis.audit import Audit, build_audit
from collector.analysis.conflicts import (
    Connections,
    Domain,
    annotate,
    domain_blocks,
    routing_domains,
)
from collector.analysis.headroom import Headroom, HeadroomLimits, find_headroom, vpc_headroom
from collector.analysis.overlaps import (
    RESERVED_OWNER,
    Conflict,
    Member,
    OverlapGroup,
    find_overlap_groups,
    overlap_groups,
    vpc_blocks,
)
from collector.analysis.space import default_vpcs, first_free
from collector.cidrs import IPNetwork

__all__ = [
    "RESERVED_OWNER",
    "Audit",
    "Conflict",
    "Connections",
    "Domain",
    "Headroom",
    "HeadroomLimits",
    "find_headroom",
    "vpc_headroom",
    "annotate",
    "domain_blocks",
    "routing_domains",
    "IPNetwork",
    "Member",
    "OverlapGroup",
    "build_audit",
    "default_vpcs",
    "find_overlap_groups",
    "first_free",
    "overlap_groups",
    "vpc_blocks",
]
