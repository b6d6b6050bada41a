"""Which EC2 calls change what a target scan reads: the events live updates must forward.

Keyed by every EC2 operation a scan makes (a test runs a scan and fails when one is missing
here, so a new read cannot ship without its writers), valued by the calls that change its
answer. `iam/member-events.yaml` forwards exactly their union (a test compares the two).

Not forwarded, because no CloudTrail event announces them: `AvailableIpAddressCount` (ENIs come
and go with every instance; subnet use is refreshed by the nightly run) and region opt-in
(`account:EnableRegion`, not an EC2 call; the nightly run's `DescribeRegions` sees it).
"""

from __future__ import annotations

TAGS = ("CreateTags", "DeleteTags")  # forwarded for vpc-… and subnet-… resources only

CHANGED_BY: dict[str, tuple[str, ...]] = {
    "DescribeVpcs": (
        "CreateVpc",
        "CreateDefaultVpc",
        "DeleteVpc",
        "AssociateVpcCidrBlock",
        "DisassociateVpcCidrBlock",
        *TAGS,
    ),
    "DescribeSubnets": (
        "CreateSubnet",
        "CreateDefaultSubnet",
        "DeleteSubnet",
        "AssociateSubnetCidrBlock",
        "DisassociateSubnetCidrBlock",
        *TAGS,
    ),
    "DescribeVpcPeeringConnections": (
        "CreateVpcPeeringConnection",
        "AcceptVpcPeeringConnection",
        "RejectVpcPeeringConnection",
        "DeleteVpcPeeringConnection",
    ),
    "DescribeTransitGatewayAttachments": (
        "CreateTransitGatewayVpcAttachment",
        "AcceptTransitGatewayVpcAttachment",
        "RejectTransitGatewayVpcAttachment",
        "DeleteTransitGatewayVpcAttachment",
        "CreateTransitGatewayPeeringAttachment",
        "AcceptTransitGatewayPeeringAttachment",
        "RejectTransitGatewayPeeringAttachment",
        "DeleteTransitGatewayPeeringAttachment",
        # An attachment's answer holds its association (Association.TransitGatewayRouteTableId).
        "AssociateTransitGatewayRouteTable",
        "DisassociateTransitGatewayRouteTable",
    ),
    "DescribeTransitGatewayRouteTables": (
        "CreateTransitGatewayRouteTable",
        "DeleteTransitGatewayRouteTable",
    ),
    "GetTransitGatewayRouteTableAssociations": (
        "AssociateTransitGatewayRouteTable",
        "DisassociateTransitGatewayRouteTable",
    ),
    "GetTransitGatewayRouteTablePropagations": (
        "EnableTransitGatewayRouteTablePropagation",
        "DisableTransitGatewayRouteTablePropagation",
    ),
    "SearchTransitGatewayRoutes": (
        "CreateTransitGatewayRoute",
        "DeleteTransitGatewayRoute",
        "ReplaceTransitGatewayRoute",
    ),
    # Which regions an account has enabled: changed by the Account API, seen by the nightly run.
    "DescribeRegions": (),
}


def forwarded_events() -> frozenset[str]:
    """Every call whose event live updates need."""
    return frozenset(name for names in CHANGED_BY.values() for name in names)
