"""Builders for records in tests: one place that knows every required Vpc field."""

from __future__ import annotations

import base64
import gzip
import ipaddress
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from collector.models import Subnet, TgwAttachment, Vpc

T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def make_vpc(
    vpc_id: str | int,
    *cidrs: str,
    owner: str = "111111111111",
    region: str = "us-east-1",
    account_name: str = "",
    name: str | None = None,
    default: bool = False,
    deleted: bool = False,
    v6: tuple[str, ...] = (),
    seen: datetime = T,
) -> Vpc:
    """A valid live (or deleted) VPC record; an int id becomes vpc-<17 hex digits>."""
    blocks = cidrs or ("10.0.0.0/16",)
    return Vpc(
        VpcId=vpc_id if isinstance(vpc_id, str) else f"vpc-{vpc_id:017x}",
        OwnerId=owner,
        CidrBlock=blocks[0],
        IsDefault=default,
        State="available",
        Region=region,
        AccountName=account_name,
        CidrBlocks=blocks,
        Ipv6CidrBlocks=v6,
        Name=name,
        FirstSeen=seen,
        LastSeen=seen,
        Deleted=deleted,
        DeletedAt=seen if deleted else None,
        DeletedReason="not-found" if deleted else None,
    )


def page_data(page: str) -> dict[str, Any]:
    """The data block of an HTML report, as its script reads it (base64, gzip, JSON)."""
    start = page.index('id="report-data"')
    start = page.index(">", start) + 1
    block = page[start : page.index("</script>", start)]
    return dict(json.loads(gzip.decompress(base64.b64decode(block))))


def with_subnets(vpc: Vpc, subnets: Sequence[tuple[int, int, str]], **tags: str) -> Vpc:
    """`vpc` with these subnets ((prefix length, available addresses, AZ letter) each, /20
    apart from the start of its first block: at most 16 in a /16) and tags."""
    first = ipaddress.ip_network(vpc.CidrBlock).network_address
    return vpc.model_copy(
        update={
            "Subnets": tuple(
                Subnet(
                    SubnetId=f"subnet-{int(vpc.VpcId[4:], 16) % 2**40:010x}{k:02x}",
                    CidrBlock=f"{first + k * 4096}/{prefix}",
                    AvailabilityZone=f"{vpc.Region}{az}",
                    AvailableIpAddressCount=available,
                    Name=f"subnet-{k}",
                )
                for k, (prefix, available, az) in enumerate(subnets)
            ),
            "Tags": tags,
        }
    )


def tgw_attachment(n: int, vpc: Vpc, tgw: str, tgw_owner: str) -> TgwAttachment:
    """The `n`th attachment of TGW `tgw` (owned by `tgw_owner`): `vpc`, available."""
    return TgwAttachment(
        Id=f"tgw-attach-{n:017x}",
        TransitGatewayId=tgw,
        TransitGatewayOwnerId=tgw_owner,
        ResourceType="vpc",
        ResourceId=vpc.VpcId,
        ResourceOwnerId=vpc.OwnerId,
        State="available",
    )
