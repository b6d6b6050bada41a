"""Stage 4 — regions: which regions to scan in each account."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# DescribeRegions (without AllRegions) lists only regions enabled for the calling account;
# the status filter is belt and braces for endpoints that list every region.
ENABLED_STATUSES = frozenset({"opt-in-not-required", "opted-in"})


def get_enabled_regions(ec2: EC2Client) -> list[str]:
    """Regions enabled for the account whose credentials sign the call (AWS call only)."""
    resp = ec2.describe_regions(AllRegions=False)
    return sorted(
        r["RegionName"]
        for r in resp["Regions"]
        if r.get("OptInStatus", "opt-in-not-required") in ENABLED_STATUSES
    )


def needs_discovery(configured: Literal["all"] | Sequence[str], cli: Sequence[str]) -> bool:
    """True when the account's enabled regions must be asked for (`regions: all`, no --region)."""
    return not cli and configured == "all"


def plan_regions(
    configured: Literal["all"] | Sequence[str],
    cli: Sequence[str],
    enabled: Sequence[str] | None,
) -> list[str]:
    """Pure: the regions to scan in one account.

    `--region` on the command line replaces the configured set; `regions: all` means the
    account's enabled regions; an explicit list is scanned as given (a region the account has
    not enabled then ends as a *skipped* target when it answers AuthFailure/OptInRequired).
    """
    if cli:
        return list(dict.fromkeys(cli))
    if configured == "all":
        if enabled is None:
            raise ValueError("regions: all needs the account's enabled regions")
        return list(enabled)
    return list(dict.fromkeys(configured))
