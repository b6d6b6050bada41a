"""A synthetic inventory of n VPCs in the table's real shape (tags, subnets, IPv6 on every
other VPC), shared by the read-path and the report benchmarks."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.fake_org import ALL_REGIONS
from collector.models import Connectivity, Subnet, Vpc

AT = datetime(2026, 11, 27, tzinfo=UTC)


# The regions a night scans: AWS's 17 enabled by default, as in the bench's fake organization.
REGIONS = ALL_REGIONS[:17]


def _account(n: int) -> str:
    """The id of the synthetic organization's `n`th account."""
    return f"{100000000000 + n:012d}"


def synthetic_connectivity(accounts: int = 1000) -> list[Connectivity]:
    """The connectivity item of each (account, region) a night scans: one per target, listing
    nothing (the synthetic VPCs are neither peered nor attached)."""
    return [
        Connectivity(OwnerId=_account(a), Region=region, LastSeen=AT)
        for a in range(accounts)
        for region in REGIONS
    ]


def synthetic_vpcs(n: int, accounts: int = 1000) -> list[Vpc]:
    """n VPCs over `accounts` accounts: /24s of 10.0.0.0/8 (so they overlap past 65,536)."""
    out = []
    for i in range(n):
        cidr = f"10.{i // 256 % 256}.{i % 256}.0/24"
        net = cidr.rsplit(".", 1)[0]
        out.append(
            Vpc(
                VpcId=f"vpc-{i:017x}",
                OwnerId=_account(i % accounts),
                CidrBlock=cidr,
                IsDefault=False,
                State="available",
                Region="eu-west-1",
                AccountName=f"acct-{i % accounts}",
                CidrBlocks=(cidr,),
                Ipv6CidrBlocks=(f"2600:1f18:{i % 65536:x}:ff00::/56",) if i % 2 else (),
                Name=f"vpc-{i}",
                Tags={"Name": f"vpc-{i}", "env": "prod", "team": f"team-{i % 40}"},
                Subnets=tuple(
                    Subnet(
                        SubnetId=f"subnet-{i:015x}{k:02x}",
                        CidrBlock=f"{net}.{k * 64}/26",
                        AvailabilityZone=f"eu-west-1{'ab'[k]}",
                        AvailabilityZoneId=f"euw1-az{k + 1}",
                        AvailableIpAddressCount=100 + k,
                        Name=f"private-{k}",
                    )
                    for k in range(2)
                ),
                FirstSeen=AT,
                LastSeen=AT,
            )
        )
    return out
