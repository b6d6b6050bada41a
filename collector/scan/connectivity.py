"""What one target can route to: VPC peering connections, Transit Gateway attachments, and the
route tables of the Transit Gateways the account owns.

`get_*` only call AWS (paginated, errors raise); `to_*` are pure transforms of raw API items.
A TGW shared through AWS RAM is read in its owner's account: that is where every account's
attachments to it, and its route tables, are listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from collector.errors import MalformedResponse
from collector.models import (
    Connectivity,
    Peering,
    PeeringSide,
    StaticRoute,
    TgwAttachment,
    TgwRouteTable,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def _pages(ec2: EC2Client, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in ec2.get_paginator(operation).paginate(**kwargs):  # type: ignore[call-overload]
        if key not in page:  # see MalformedResponse: never read a proxy's page as "none"
            raise MalformedResponse(f"{operation} answer has no {key} list")
        out.extend(page[key])
    return out


def get_peerings(ec2: EC2Client) -> list[dict[str, Any]]:
    """Peering connections where one of the account's VPCs is requester or accepter."""
    return _pages(ec2, "describe_vpc_peering_connections", "VpcPeeringConnections")


def get_attachments(ec2: EC2Client) -> list[dict[str, Any]]:
    """TGW attachments the account owns, and every attachment to TGWs it owns."""
    return _pages(ec2, "describe_transit_gateway_attachments", "TransitGatewayAttachments")


def get_route_tables(ec2: EC2Client, tgw_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Route tables of the given TGWs (owned by the account), each with its associations,
    propagations and static routes under the keys `Associations`, `Propagations`, `Static`."""
    ids = sorted(set(tgw_ids))
    if not ids:
        return []
    tables = _pages(
        ec2,
        "describe_transit_gateway_route_tables",
        "TransitGatewayRouteTables",
        Filters=[{"Name": "transit-gateway-id", "Values": ids}],
    )
    out = []
    for table in tables:
        rtb = table["TransitGatewayRouteTableId"]
        static = ec2.search_transit_gateway_routes(
            TransitGatewayRouteTableId=rtb, Filters=[{"Name": "type", "Values": ["static"]}]
        )
        if static.get("AdditionalRoutesAvailable"):
            # The API returns at most 1,000 routes and cannot page: a partial answer could
            # hide a conflict, so the target fails rather than guess.
            raise MalformedResponse(f"{rtb} has more static routes than one search returns")
        out.append(
            {
                **table,
                "Associations": _pages(
                    ec2,
                    "get_transit_gateway_route_table_associations",
                    "Associations",
                    TransitGatewayRouteTableId=rtb,
                ),
                "Propagations": _pages(
                    ec2,
                    "get_transit_gateway_route_table_propagations",
                    "TransitGatewayRouteTablePropagations",
                    TransitGatewayRouteTableId=rtb,
                ),
                "Static": static.get("Routes", []),
            }
        )
    return out


def owned_tgws(account_id: str, raw_attachments: Iterable[Mapping[str, Any]]) -> set[str]:
    """Pure: ids of the TGWs this account owns that have attachments (others route nothing)."""
    return {
        a["TransitGatewayId"]
        for a in raw_attachments
        if a.get("TransitGatewayOwnerId") == account_id and a.get("TransitGatewayId")
    }


def _side(raw: Mapping[str, Any]) -> PeeringSide:
    return PeeringSide(VpcId=raw["VpcId"], OwnerId=raw["OwnerId"], Region=raw["Region"])


def to_connectivity(
    account_id: str,
    region: str,
    raw_peerings: Iterable[Mapping[str, Any]],
    raw_attachments: Iterable[Mapping[str, Any]],
    raw_route_tables: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
) -> tuple[Connectivity, list[TgwRouteTable]]:
    """Pure: the target's connectivity record and its TGWs' route tables from raw API items."""
    peerings = [
        Peering(
            Id=p["VpcPeeringConnectionId"],
            Status=(p.get("Status") or {}).get("Code", "unknown"),
            Requester=_side(p["RequesterVpcInfo"]),
            Accepter=_side(p["AccepterVpcInfo"]),
        )
        for p in raw_peerings
    ]
    attachments = [
        TgwAttachment(
            Id=a["TransitGatewayAttachmentId"],
            TransitGatewayId=a["TransitGatewayId"],
            TransitGatewayOwnerId=a["TransitGatewayOwnerId"],
            ResourceType=a.get("ResourceType", "unknown"),
            ResourceId=a.get("ResourceId", ""),
            ResourceOwnerId=a.get("ResourceOwnerId", ""),
            State=a.get("State", "unknown"),
            RouteTableId=(a.get("Association") or {}).get("TransitGatewayRouteTableId"),
        )
        for a in raw_attachments
    ]
    tables = [
        TgwRouteTable(
            Id=t["TransitGatewayRouteTableId"],
            TransitGatewayId=t["TransitGatewayId"],
            OwnerId=account_id,
            Region=region,
            Associations=tuple(
                x["TransitGatewayAttachmentId"]
                for x in t.get("Associations", [])
                if x.get("State", "associated") == "associated"
            ),
            Propagations=tuple(
                x["TransitGatewayAttachmentId"]
                for x in t.get("Propagations", [])
                if x.get("State", "enabled") == "enabled"
            ),
            StaticRoutes=tuple(
                StaticRoute(
                    Cidr=r["DestinationCidrBlock"],
                    Attachments=tuple(
                        x["TransitGatewayAttachmentId"]
                        for x in r.get("TransitGatewayAttachments", [])
                    ),
                    State=r.get("State", "active"),
                )
                for r in t.get("Static", [])
                if r.get("DestinationCidrBlock")
            ),
            LastSeen=now,
        )
        for t in raw_route_tables
    ]
    conn = Connectivity(
        OwnerId=account_id,
        Region=region,
        Peerings=tuple(peerings),
        Attachments=tuple(attachments),
        RouteTables=tuple(t.Id for t in tables),
        LastSeen=now,
    )
    return conn, tables
