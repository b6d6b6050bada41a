"""VPCs and subnets of one target (AWS calls only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collector.errors import MalformedResponse

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def get_vpcs(ec2: EC2Client) -> list[dict[str, Any]]:
    """Every VPC the signing account can see in the client's region (AWS call only)."""
    out: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_vpcs").paginate():
        if "Vpcs" not in page:  # EC2 always sends <vpcSet/>, even empty: see MalformedResponse
            raise MalformedResponse("DescribeVpcs answer has no Vpcs list")
        out.extend(page["Vpcs"])  # type: ignore[arg-type]
    return out


def get_subnets(ec2: EC2Client) -> list[dict[str, Any]]:
    """Every subnet the signing account can see in the client's region (AWS call only)."""
    out: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_subnets").paginate():
        if "Subnets" not in page:  # see MalformedResponse
            raise MalformedResponse("DescribeSubnets answer has no Subnets list")
        out.extend(page["Subnets"])  # type: ignore[arg-type]
    return out
