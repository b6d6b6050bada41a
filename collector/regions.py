"""Stage 4 — regions: which regions to scan in each account, and which are provably off."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from collector.errors import MalformedResponse

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# OptInStatus values of DescribeRegions(AllRegions=True):
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Region.html
# Only "not-opted-in" proves a region holds nothing of the account's. "opting-in" and
# "opting-out" are in transition (a region being disabled may still hold VPCs), so they are
# scanned, and a scan that fails there is a failure, never a skip.
NOT_ENABLED = "not-opted-in"

SKIP_NOT_ENABLED = "RegionNotEnabled"
SKIP_NOT_OFFERED = "RegionNotOffered"


def get_region_status(ec2: EC2Client) -> dict[str, str]:
    """Every region offered to the signing account, with its OptInStatus (AWS call only)."""
    resp = ec2.describe_regions(AllRegions=True)
    if not resp.get("Regions"):  # every account is offered some region: see MalformedResponse
        raise MalformedResponse("DescribeRegions answer lists no regions")
    return {
        r["RegionName"]: r.get("OptInStatus", "opt-in-not-required")
        for r in resp["Regions"]
        if "RegionName" in r
    }


@dataclass(frozen=True)
class RegionPlan:
    """One account's regions: those to scan, and those skipped with the proof for skipping."""

    scan: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (region, reason code)


def plan_regions(
    configured: Literal["all"] | Sequence[str],
    cli: Sequence[str],
    status: Mapping[str, str],
) -> RegionPlan:
    """Pure: the regions to scan in one account, from its own DescribeRegions answer.

    `--region` on the command line replaces the configured set; `regions: all` means every
    region enabled for the account. A named region is skipped only when the account's answer
    proves it holds nothing: not opted in, or not offered to the account at all. Anything
    else is scanned, so an error there (AuthFailure included) is a failed target.
    """
    if cli:
        wanted: list[str] = list(dict.fromkeys(cli))
    elif configured == "all":
        wanted = sorted(r for r, s in status.items() if s != NOT_ENABLED)
    else:
        wanted = list(dict.fromkeys(configured))
    plan = RegionPlan()
    for region in wanted:
        state = status.get(region)
        if state is None:
            plan.skipped.append((region, SKIP_NOT_OFFERED))
        elif state == NOT_ENABLED:
            plan.skipped.append((region, SKIP_NOT_ENABLED))
        else:
            plan.scan.append(region)
    return plan


# The regions every account has enabled unless it opts in to more: those AWS launched before
# 2019-03-20 (https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html).
DEFAULT_ENABLED_REGIONS = 17


def targets_per_account(
    configured: Literal["all"] | Sequence[str],
    cli: Sequence[str],
    targets: Mapping[str, Collection[str]] | None,
) -> int:
    """Pure: about how many regions an account's plan scans, before any is planned: those a
    live update names, `--region`, the configured list, or, for `regions: all`, the regions
    enabled by default. The fan-out bounds the accounts it prepares at once by it."""
    if targets is not None:
        return max((len(set(r)) for r in targets.values()), default=1) or 1
    if cli:
        return len(set(cli))
    if configured != "all":
        return len(set(configured)) or 1
    return DEFAULT_ENABLED_REGIONS
