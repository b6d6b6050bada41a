"""A synthetic inventory of n VPCs in the table's real shape (tags, subnets, IPv6 on every
other VPC), shared by the read-path and the report benchmarks: the worst case every earlier
round measured (`synthetic_vpcs`: /24s of one /8, half of them in an overlap group) and a landing
zone's (`landing_zone_vpcs`: each VPC its own range, a few shared ones)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from bench.fake_org import ALL_REGIONS, ROUTE_TABLES, Org
from collector.models import (
    Connectivity,
    Peering,
    PeeringSide,
    StaticRoute,
    Subnet,
    TgwAttachment,
    TgwRouteTable,
    Vpc,
)

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


# The synthetic landing zone's shared ranges, as `bench.fake_org` has them: every default VPC's,
# and the pod range EKS accounts reuse as a secondary block.
DEFAULT_RANGE = "172.31.0.0/16"
PODS = "100.64.0.0/16"


def landing_zone_vpcs(n: int, accounts: int = 1000) -> list[Vpc]:
    """n VPCs of `accounts` accounts in the shape of the bench's landing zone (`bench.fake_org`
    with `landing-zone`): each account's workloads in 1-3 of the 17 regions, its VPCs there
    each given its own /25 of 10.0.0.0/8 (as an IPAM pool hands them out; unique up to
    131,072); every 10th account's default VPC left in each other region; the network
    account's two VPCs in every region; a few shared ranges: the pod range on the first VPC of
    every 10th account (from the 6th) and, on every 25th account's (from the 8th and 10th), the
    network account's range in that region copied from its template. Most VPCs are in no
    overlap group, where `synthetic_vpcs` puts half of them in one."""
    org = Org(accounts, len(REGIONS), "1", "landing-zone")
    network = org.network()
    out: list[Vpc] = []
    homes: list[tuple[int, str]] = []
    for a, account in enumerate(org.accounts):
        for r, region in enumerate(REGIONS):
            if account == network:
                for k, name in enumerate(("shared-services", "inspection")):
                    out.append(_vpc(len(out), a, region, f"172.16.{r * 2 + k}.0/24", name=name))
            elif org.home(account, region):
                homes.append((a, region))
            elif org.vpc_count(account, region):  # the default VPC it kept
                out.append(_vpc(len(out), a, region, DEFAULT_RANGE, default=True))
    workloads = n - len(out)
    assert 0 < workloads <= 131_072, "the landing zone's /25s are unique up to 131,072"
    for i in range(workloads):
        a, region = homes[i % len(homes)]
        first = i < len(homes)  # the target's first VPC
        cidr = f"10.{i // 512 % 256}.{i // 2 % 256}.{i % 2 * 128}/25"
        if first and a % 25 in (7, 9) and network is not None:
            cidr = f"172.16.{REGIONS.index(region) * 2}.0/24"
        pods = (PODS,) if first and a % 10 == 5 else ()
        ipv6 = (f"2600:{0x1F18 + i // 65536:x}:{i % 65536:x}:ff00::/56",) if i % 2 else ()
        out.append(_vpc(len(out), a, region, cidr, secondary=pods, ipv6=ipv6, name=f"app-{i}"))
    return out


def _vpc(
    i: int,
    a: int,
    region: str,
    cidr: str,
    *,
    default: bool = False,
    secondary: tuple[str, ...] = (),
    ipv6: tuple[str, ...] = (),
    name: str = "",
) -> Vpc:
    """The synthetic landing zone's `i`th VPC, of account `a`: two subnets in two zones, each a
    quarter of its primary range (a default VPC's two of its /20s)."""
    net = ipaddress.IPv4Network(cidr)
    size = 20 if default else net.prefixlen + 2
    subnets = list(net.subnets(new_prefix=size))[:2]
    return Vpc(
        VpcId=f"vpc-{i:017x}",
        OwnerId=_account(a),
        CidrBlock=cidr,
        IsDefault=default,
        State="available",
        Region=region,
        AccountName=f"acct-{a}",
        CidrBlocks=(cidr, *secondary),
        Ipv6CidrBlocks=ipv6,
        Name=name,
        Tags={} if default else {"Name": name, "env": "prod", "team": f"team-{a % 40}"},
        Subnets=tuple(
            Subnet(
                SubnetId=f"subnet-{i:015x}{k:02x}",
                CidrBlock=str(sub),
                AvailabilityZone=f"{region}{'ab'[k]}",
                AvailabilityZoneId=f"az{k + 1}",
                AvailableIpAddressCount=sub.num_addresses // 2,
                Name=f"private-{k}",
            )
            for k, sub in enumerate(subnets)
        ),
        FirstSeen=AT,
        LastSeen=AT,
    )


def landing_zone_connectivity(
    vpcs: list[Vpc], accounts: int = 1000
) -> tuple[list[Connectivity], list[TgwRouteTable]]:
    """The connectivity items of `landing_zone_vpcs`' organization, and its TGW route tables,
    as `bench.fake_org`'s network account has them: in each region a TGW with a spoke table
    (every spoke associated, a static default route to the inspection VPC) and an inspection
    table (the inspection VPC associated, every spoke propagated). The spokes are the
    shared-services VPC and every workload VPC of an account that is not a sandbox (where the
    night's fake attaches each target's first: at 100,000 VPCs the hub routes to most of them);
    the first VPC of every 10th account (from the 4th) peers with its region's shared-services
    VPC, every 20th's (from the 14th) deleted. One item per (account, region), as a night
    leaves: the network account's lists every attachment of its TGWs, a spoke's its own."""
    org = Org(accounts, len(REGIONS), "1", "landing-zone")
    network = org.network()
    assert network is not None
    by_target: dict[tuple[str, str], Connectivity] = {
        (a, region): Connectivity(OwnerId=a, Region=region, LastSeen=AT)
        for a in org.accounts
        for region in REGIONS
    }
    tables: list[TgwRouteTable] = []
    by_region: dict[str, list[Vpc]] = {}
    for v in vpcs:
        by_region.setdefault(v.Region, []).append(v)
    for r, region in enumerate(REGIONS):
        tgw = f"tgw-{r:017x}"
        # The ids bench.fake_org gives the region's two route tables.
        spoke_table, inspection_table = (
            f"tgw-rtb-{r:015x}{ROUTE_TABLES.index(name):02x}" for name in ("spoke", "inspection")
        )
        here = by_region.get(region, [])
        hub = next(v for v in here if v.OwnerId == network and v.Name == "shared-services")
        inspection = next(v for v in here if v.OwnerId == network and v.Name == "inspection")
        spokes = [hub] + [
            v
            for v in here
            if v.OwnerId != network and not v.IsDefault and not org.sandbox(v.OwnerId)
        ]
        attachments = [_attachment(v, tgw, network, spoke_table) for v in spokes]
        to_inspection = _attachment(inspection, tgw, network, inspection_table)
        firsts: dict[str, Vpc] = {}
        for v in spokes[1:]:
            firsts.setdefault(v.OwnerId, v)
        peerings = [
            Peering(
                Id=f"pcx-{int(v.OwnerId) - 100000000000:08x}{r:02x}0000000",
                Status="deleted" if (int(v.OwnerId) - 100000000000) % 20 == 13 else "active",
                Requester=PeeringSide(VpcId=v.VpcId, OwnerId=v.OwnerId, Region=region),
                Accepter=PeeringSide(VpcId=hub.VpcId, OwnerId=network, Region=region),
            )
            for v in firsts.values()
            if (int(v.OwnerId) - 100000000000) % 10 == 3
        ]
        mine: dict[str, list[TgwAttachment]] = {}
        for att in attachments:
            mine.setdefault(att.ResourceOwnerId, []).append(att)
        theirs: dict[str, list[Peering]] = {p.Requester.OwnerId: [p] for p in peerings}
        for owner in {*mine, *theirs} - {network}:
            by_target[(owner, region)] = Connectivity(
                OwnerId=owner,
                Region=region,
                Attachments=tuple(mine.get(owner, ())),
                Peerings=tuple(theirs.get(owner, ())),
                LastSeen=AT,
            )
        ids = tuple(a.Id for a in attachments)
        by_target[(network, region)] = Connectivity(
            OwnerId=network,
            Region=region,
            Attachments=(*attachments, to_inspection),
            Peerings=tuple(peerings),
            RouteTables=(spoke_table, inspection_table),
            LastSeen=AT,
        )
        tables += [
            TgwRouteTable(
                Id=spoke_table,
                TransitGatewayId=tgw,
                OwnerId=network,
                Region=region,
                Associations=ids,
                StaticRoutes=(StaticRoute(Cidr="0.0.0.0/0", Attachments=(to_inspection.Id,)),),
                LastSeen=AT,
            ),
            TgwRouteTable(
                Id=inspection_table,
                TransitGatewayId=tgw,
                OwnerId=network,
                Region=region,
                Associations=(to_inspection.Id,),
                Propagations=ids,
                LastSeen=AT,
            ),
        ]
    return list(by_target.values()), tables


def _attachment(vpc: Vpc, tgw: str, owner: str, table: str) -> TgwAttachment:
    """The VPC's attachment to `owner`'s TGW, associated with `table`."""
    return TgwAttachment(
        Id=f"tgw-attach-{vpc.VpcId[4:]}",
        TransitGatewayId=tgw,
        TransitGatewayOwnerId=owner,
        ResourceType="vpc",
        ResourceId=vpc.VpcId,
        ResourceOwnerId=vpc.OwnerId,
        State="available",
        RouteTableId=table,
    )
