"""The bench's generated organization: its accounts, regions, VPCs, subnets and, in the
landing-zone shape, the network account's TGWs, route tables and peerings, as the EC2 query
API's XML items (`bench.fake_aws` serves them).

Everything is a pure function of (account, region, night): the same organization every run.
"""

from __future__ import annotations

import zlib

ALL_REGIONS = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
    "eu-south-1",
    "me-south-1",
    "af-south-1",
]
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

# The landing zone's network account (the second account): a TGW in every region it enabled,
# with two route tables, an inspection VPC and a shared-services VPC in each.
NETWORK_INDEX = 1
ROUTE_TABLES = ("spoke", "inspection")
CREATED = "<creationTime>2026-01-05T09:00:00.000Z</creationTime>"


def _tags(pairs: tuple[tuple[str, str], ...]) -> str:
    items = "".join(f"<item><key>{k}</key><value>{v}</value></item>" for k, v in pairs)
    return f"<tagSet>{items}</tagSet>"


def _attachment_id(vpc_id: str) -> str:
    """The id of the TGW attachment of a VPC (each attached VPC has one)."""
    return f"tgw-attach-{vpc_id[4:]}"


WORKLOAD_TAGS = (
    ("CostCentre", "cc-4711"),
    ("Environment", "production"),
    ("aws:cloudformation:stack-name", "landing-zone-network"),
)


class Org:
    """The generated organization: deterministic ids, CIDRs, tags, subnets and VPC counts.

    `night` moves the organization on: each night a few targets gain a VPC and a few lose one,
    so a second run is a steady-state run (everything stored, a little churn). In the
    landing-zone shape the network account's TGWs attach the workload VPCs and a few peer with
    its shared-services VPCs; those connections follow the VPCs from night to night.
    """

    def __init__(self, accounts: int, regions: int, vpcs: str, shape: str = "full") -> None:
        # "landing-zone": each account runs workloads in 1-3 of the regions (the others hold no
        # VPC), every 10th account kept a default VPC in each region outside those, and a
        # network account routes between them; "full": every target holds VPCs and nothing
        # connects them (the shape earlier benchmarks measured).
        self.shape = shape
        self.accounts = [f"{100000000000 + i:012d}" for i in range(accounts)]
        self.account_set = frozenset(self.accounts)
        self.regions = ALL_REGIONS[:regions]
        lo, _, hi = vpcs.partition("-")
        self.vpc_lo, self.vpc_hi = int(lo), int(hi or lo)
        self.night = 0
        # Each region's attachments and peerings, per night: the network account's answers list
        # the whole region's, and computing them per call would put the fake on the clock.
        self._spokes: dict[tuple[str, int], list[tuple[str, str]]] = {}

    def opted_out(self, account: str) -> str | None:
        """Opt-in regions differ per account: every 7th account has not enabled the last one."""
        return self.regions[-1] if int(account) % 7 == 0 and len(self.regions) > 1 else None

    def network(self) -> str | None:
        """The landing zone's network account (none in the "full" shape)."""
        if self.shape != "landing-zone" or len(self.accounts) <= NETWORK_INDEX:
            return None
        return self.accounts[NETWORK_INDEX]

    def sandbox(self, account: str) -> bool:
        """Every 5th account is a sandbox: its VPCs are attached to nothing."""
        return (int(account) - 100000000000) % 5 == 4

    def home(self, account: str, region: str) -> bool:
        """The account runs workloads in this region (every region in the "full" shape)."""
        if self.shape == "full":
            return True
        h = zlib.crc32(account.encode())
        start, k = h % len(self.regions), 1 + h % 3
        i = self.regions.index(region) if region in self.regions else 0
        return (i - start) % len(self.regions) < k

    def _default(self, account: str, region: str) -> bool:
        """The account kept its default VPC in this region (every 10th, outside its workload
        regions; the network account deleted its own)."""
        return (
            not self.home(account, region)
            and (int(account) - 100000000000) % 10 == 0
            and account != self.network()
        )

    def vpc_count(self, account: str, region: str) -> int:
        if account == self.network():
            return 2  # shared services and inspection, in every region
        if not self.home(account, region):
            # Outside its workload regions an account holds nothing, unless it kept its
            # default VPCs (one in every region).
            return 1 if self._default(account, region) else 0
        span = self.vpc_hi - self.vpc_lo + 1
        base = self.vpc_lo + zlib.crc32(f"{account}{region}".encode()) % span
        churn = zlib.crc32(f"{account}{region}{self.night}".encode()) % 100
        if self.night and churn == 0:
            return base + 1  # created tonight
        if self.night and churn == 1 and base:
            return base - 1  # deleted tonight
        return base

    def _vpc_id(self, account: str, region: str, n: int) -> str:
        a = int(account) - 100000000000
        r = self.regions.index(region) if region in self.regions else 0
        return f"vpc-{a:08x}{r:02x}{n:07x}"

    def vpc_ids(self, account: str, region: str) -> list[str]:
        """The ids of the account's VPCs in the region, tonight."""
        return [self._vpc_id(account, region, n) for n in range(self.vpc_count(account, region))]

    def _cidr(self, account: str, region: str, n: int) -> str:
        a = int(account) - 100000000000
        r = self.regions.index(region) if region in self.regions else 0
        if account == self.network():
            return f"172.16.{r * 2 + n}.0/24"  # the network account's own range
        if self._default(account, region):
            return "172.31.0.0/16"  # every default VPC's
        if self.shape == "full":  # the earlier rounds' ranges, colliding everywhere
            return f"10.{(a * 7 + r * 3 + n) % 256}.{(a // 256 + n * 16) % 256}.0/24"
        net = self.network()
        if n == 0 and a % 25 in (7, 9) and net is not None:
            # A template copied from the network account: its region's shared-services range
            # (every 25th account from the 8th, attached; from the 10th, a sandbox).
            return self._cidr(net, region, 0)
        # Each its own /24 of 10/8, as an IPAM pool hands them out (unique up to 65,536).
        i = (a * len(self.regions) + r) * (self.vpc_hi + 1) + n
        return f"10.{i // 256 % 256}.{i % 256}.0/24"

    def _pods(self, account: str, n: int) -> bool:
        """The VPC carries the pod range every EKS account reuses (the first VPC of every 10th
        account, from the 6th): 100.64.0.0/16, a secondary block."""
        return n == 0 and (int(account) - 100000000000) % 10 == 5

    def vpc_items(self, account: str, region: str) -> list[str]:
        a = int(account) - 100000000000
        r = self.regions.index(region) if region in self.regions else 0
        default = self._default(account, region)
        hub = account == self.network()
        items = []
        for n in range(self.vpc_count(account, region)):
            vid = self._vpc_id(account, region, n)
            cidr = self._cidr(account, region, n)
            plain = default or hub
            if self.shape == "full":
                pods = f"100.{64 + n % 64}.{a % 256}.0/24" if n % 3 == 0 else ""
            else:
                pods = "100.64.0.0/16" if self._pods(account, n) and not plain else ""
            second = (
                f"<item><cidrBlock>{pods}</cidrBlock><associationId>"
                f"vpc-cidr-assoc-2{vid[4:]}</associationId><cidrBlockState><state>associated"
                "</state></cidrBlockState></item>"
                if pods
                else ""
            )
            ipv6 = (
                # The region in a group of its own from the 17th on: `r * 16 + n` needs more
                # than the 8 bits a /56 leaves in the fourth group (five hex digits: invalid).
                f"<ipv6CidrBlockAssociationSet><item><ipv6CidrBlock>2600:{0x1F18 + r // 16:x}:"
                f"{a % 65536:x}:{r % 16 * 16 + n:x}00::/56</ipv6CidrBlock>"
                f"<associationId>vpc-cidr-assoc-6{vid[4:]}"
                "</associationId><ipv6CidrBlockState><state>associated</state>"
                "</ipv6CidrBlockState><networkBorderGroup>x</networkBorderGroup></item>"
                "</ipv6CidrBlockAssociationSet>"
                if n % 2 == 0 and not default
                else ""
            )
            if default:
                tags = ""  # AWS tags no default VPC
            elif hub:
                tags = _tags((("Name", ("shared-services", "inspection")[n]), *WORKLOAD_TAGS))
            else:
                tags = _tags((("Name", vid), *WORKLOAD_TAGS))
            items.append(
                f"<item><vpcId>{vid}</vpcId><ownerId>{account}</ownerId><state>available</state>"
                f"<cidrBlock>{cidr}</cidrBlock><cidrBlockAssociationSet><item>"
                f"<cidrBlock>{cidr}</cidrBlock><associationId>vpc-cidr-assoc-{vid[4:]}"
                "</associationId><cidrBlockState><state>associated</state></cidrBlockState>"
                f"</item>{second}</cidrBlockAssociationSet>{ipv6}"
                "<dhcpOptionsId>dopt-0a1b2c3d</dhcpOptionsId>"
                "<instanceTenancy>default</instanceTenancy>"
                f"<isDefault>{'true' if default else 'false'}</isDefault>{tags}</item>"
            )
        return items

    def subnet_items(self, account: str, region: str) -> list[str]:
        a = int(account) - 100000000000
        r = self.regions.index(region) if region in self.regions else 0
        default = self._default(account, region)
        items = []
        for n in range(self.vpc_count(account, region)):
            vid = self._vpc_id(account, region, n)
            net = self._cidr(account, region, n)
            for k in range(2):
                if default:  # a /20 per zone, public, as AWS makes them
                    cidr = f"{net.rsplit('.', 2)[0]}.{k * 16}.0/20"
                    free, public, tags = 4091 - k, "true", ""
                else:
                    cidr = f"{net.rsplit('.', 1)[0]}.{k * 64}/26"
                    free, public = 40 + k, "false"
                    tags = _tags((("Name", f"app-{k}"),))
                items.append(
                    f"<item><subnetId>subnet-{a:08x}{r:02x}{n:05x}{k:02x}</subnetId>"
                    f"<vpcId>{vid}</vpcId><ownerId>{account}</ownerId><state>available</state>"
                    f"<cidrBlock>{cidr}</cidrBlock>"
                    f"<availableIpAddressCount>{free}</availableIpAddressCount>"
                    f"<availabilityZone>{region}{'ab'[k]}</availabilityZone>"
                    f"<availabilityZoneId>use1-az{k + 1}</availabilityZoneId>"
                    f"<defaultForAz>{'true' if default else 'false'}</defaultForAz>"
                    f"<mapPublicIpOnLaunch>{public}</mapPublicIpOnLaunch>{tags}</item>"
                )
        return items

    # --- The network account: TGWs, route tables, peerings -----------------------------------

    def _tgw(self, region: str) -> str | None:
        """The network account's TGW in the region (none where it has not enabled it)."""
        net = self.network()
        if net is None or self.opted_out(net) == region or region not in self.regions:
            return None
        return f"tgw-{self.regions.index(region):017x}"

    def _table(self, region: str, name: str) -> str:
        r = self.regions.index(region)
        return f"tgw-rtb-{r:015x}{ROUTE_TABLES.index(name):02x}"

    def spokes(self, region: str) -> list[tuple[str, str]]:
        """(owner, VPC id) of every VPC attached to the region's TGW as a spoke: the network
        account's shared-services VPC and each workload account's first VPC there, sandboxes
        aside."""
        key = (region, self.night)
        if key not in self._spokes:
            net = self.network()
            out: list[tuple[str, str]] = []
            if net is not None and self._tgw(region) is not None:
                out.append((net, self._vpc_id(net, region, 0)))
                out.extend(
                    (a, self._vpc_id(a, region, 0))
                    for a in self.accounts
                    if a != net
                    and not self.sandbox(a)
                    and self.opted_out(a) != region
                    and self.home(a, region)
                    and self.vpc_count(a, region)
                )
            self._spokes = {k: v for k, v in self._spokes.items() if k[1] == self.night}
            self._spokes[key] = out
        return self._spokes[key]

    def peered(self, region: str) -> list[tuple[str, str]]:
        """(owner, VPC id) of every workload VPC peered with the region's shared-services VPC:
        the first VPC of every 10th account (from the fourth), where it runs workloads."""
        if self._tgw(region) is None:
            return []
        return [
            (a, vid)
            for a, vid in self.spokes(region)
            if a != self.network() and (int(a) - 100000000000) % 10 == 3
        ]

    def _attachment(self, owner: str, vid: str, region: str, table: str) -> str:
        return (
            f"<item><transitGatewayAttachmentId>{_attachment_id(vid)}"
            f"</transitGatewayAttachmentId><transitGatewayId>{self._tgw(region)}"
            f"</transitGatewayId><transitGatewayOwnerId>{self.network()}"
            f"</transitGatewayOwnerId><resourceOwnerId>{owner}</resourceOwnerId>"
            f"<resourceType>vpc</resourceType><resourceId>{vid}</resourceId>"
            "<state>available</state><association><transitGatewayRouteTableId>"
            f"{self._table(region, table)}</transitGatewayRouteTableId><state>associated"
            f"</state></association>{CREATED}<tagSet/></item>"
        )

    def attachment_items(self, account: str, region: str) -> list[str]:
        """DescribeTransitGatewayAttachments: the attachments the account owns, and every
        attachment to a TGW it owns (the network account's answer lists the whole region)."""
        net = self.network()
        if net is None or self._tgw(region) is None:
            return []
        if account == net:
            out = [self._attachment(o, v, region, "spoke") for o, v in self.spokes(region)]
            out.append(self._attachment(net, self._vpc_id(net, region, 1), region, "inspection"))
            return out
        return [
            self._attachment(o, v, region, "spoke") for o, v in self.spokes(region) if o == account
        ]

    def route_table_items(self, account: str, region: str, tgws: list[str]) -> list[str]:
        """DescribeTransitGatewayRouteTables (filtered by TGW id): the network account's two
        route tables per TGW."""
        tgw = self._tgw(region)
        if account != self.network() or tgw is None or (tgws and tgw not in tgws):
            return []
        return [
            f"<item><transitGatewayRouteTableId>{self._table(region, name)}"
            f"</transitGatewayRouteTableId><transitGatewayId>{tgw}</transitGatewayId>"
            "<state>available</state><defaultAssociationRouteTable>false"
            "</defaultAssociationRouteTable><defaultPropagationRouteTable>false"
            f"</defaultPropagationRouteTable>{CREATED}{_tags((('Name', name),))}</item>"
            for name in ROUTE_TABLES
        ]

    def _route_table(self, account: str, region: str, table: str) -> str | None:
        """Which of the region's route tables `table` is, if the account owns it."""
        if account != self.network() or self._tgw(region) is None:
            return None
        return next((n for n in ROUTE_TABLES if self._table(region, n) == table), None)

    def table_members(self, account: str, region: str, table: str, kind: str) -> list[str] | None:
        """A route table's associations or propagations (`kind`), as their XML items; None
        when the account owns no such table. Spokes associate with the spoke table, whose
        static default route leads to the inspection VPC; the inspection table is associated
        with the inspection VPC and learns every spoke's routes."""
        name = self._route_table(account, region, table)
        if name is None:
            return None
        net = self.network()
        assert net is not None
        inspection = [(net, self._vpc_id(net, region, 1))]
        if kind == "associations":
            members = self.spokes(region) if name == "spoke" else inspection
            state = "associated"
        else:
            members = self.spokes(region) if name == "inspection" else []
            state = "enabled"
        return [
            f"<item><transitGatewayAttachmentId>{_attachment_id(vid)}</transitGatewayAttachmentId>"
            f"<resourceId>{vid}</resourceId><resourceType>vpc</resourceType>"
            f"<state>{state}</state></item>"
            for _, vid in members
        ]

    def static_routes(self, account: str, region: str, table: str) -> list[str] | None:
        """SearchTransitGatewayRoutes (static): the spoke table's default route to the
        inspection VPC; None when the account owns no such table."""
        name = self._route_table(account, region, table)
        if name is None:
            return None
        if name != "spoke":
            return []
        net = self.network()
        assert net is not None
        vid = self._vpc_id(net, region, 1)
        return [
            "<item><destinationCidrBlock>0.0.0.0/0</destinationCidrBlock>"
            f"<transitGatewayAttachments><item><resourceId>{vid}</resourceId>"
            f"<transitGatewayAttachmentId>{_attachment_id(vid)}</transitGatewayAttachmentId>"
            "<resourceType>vpc</resourceType></item></transitGatewayAttachments>"
            "<type>static</type><state>active</state></item>"
        ]

    def peering_items(self, account: str, region: str) -> list[str]:
        """DescribeVpcPeeringConnections: the peerings one of the account's VPCs is in. Every
        20th account's (from the 14th) was deleted: AWS still lists it for a while."""
        net = self.network()
        if net is None or self._tgw(region) is None:
            return []
        hub = self._vpc_id(net, region, 0)
        r = self.regions.index(region)
        out = []
        for owner, vid in self.peered(region):
            if account not in (owner, net):
                continue
            deleted = (int(owner) - 100000000000) % 20 == 13
            status = (
                "<code>deleted</code><message>Deleted</message>"
                if deleted
                else "<code>active</code><message>Active</message>"
            )
            a = int(owner) - 100000000000
            out.append(
                f"<item><accepterVpcInfo><cidrBlock>{self._cidr(net, region, 0)}</cidrBlock>"
                f"<ownerId>{net}</ownerId><vpcId>{hub}</vpcId><region>{region}</region>"
                f"</accepterVpcInfo><requesterVpcInfo><cidrBlock>"
                f"{self._cidr(owner, region, 0)}</cidrBlock><ownerId>{owner}</ownerId>"
                f"<vpcId>{vid}</vpcId><region>{region}</region></requesterVpcInfo>"
                f"<status>{status}</status><tagSet/>"
                f"<vpcPeeringConnectionId>pcx-{a:08x}{r:02x}0000000</vpcPeeringConnectionId>"
                "</item>"
            )
        return out

    def regions_xml(self, account: str) -> str:
        off = self.opted_out(account)
        items = "".join(
            f"<item><regionName>{r}</regionName><regionEndpoint>ec2.{r}.amazonaws.com"
            "</regionEndpoint><optInStatus>"
            + ("not-opted-in" if r == off else "opt-in-not-required")
            + "</optInStatus></item>"
            for r in self.regions
        )
        return (
            f'<DescribeRegionsResponse xmlns="{EC2_NS}"><requestId>r</requestId>'
            f"<regionInfo>{items}</regionInfo></DescribeRegionsResponse>"
        )
