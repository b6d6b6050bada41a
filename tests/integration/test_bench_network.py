"""The bench's landing zone is one (issue 26: "a network account with TGWs and peerings",
"default VPCs left in some accounts", "a few shared ranges (pod networking) instead of every
range colliding"), and every VPC its fake makes is one the collector can store.

The fake endpoint runs as `make bench` runs it; its answers are read through botocore (the
collector's own paginated calls, so a misspelt XML tag reads as a missing key) and the
collector's own transforms and routing analysis, so an attachment to a VPC that does not
exist, a peering one end does not list, or a route table that reaches nothing fails here
rather than hiding in a benchmark's figures."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.parsers import create_parser

from bench.fake_aws import ec2_page
from bench.fake_org import ALL_REGIONS, Org
from bench.harness import fake_endpoint
from collector.analysis.audit import build_audit
from collector.analysis.conflicts import Connections, routing_domains
from collector.models import Account, Connectivity, TgwRouteTable, Vpc, to_records, utc_now
from collector.scan.connectivity import (
    get_attachments,
    get_peerings,
    get_route_tables,
    owned_tgws,
    to_connectivity,
)
from collector.scan.vpcs import get_subnets, get_vpcs

ACCOUNTS, REGIONS = 20, 3


@dataclass
class Seen:
    """What every target of the fake organization answers, as the collector reads it."""

    vpcs: dict[tuple[str, str], list[Vpc]] = field(default_factory=dict)
    attachments: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    peerings: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    conns: list[Connectivity] = field(default_factory=list)
    tables: list[TgwRouteTable] = field(default_factory=list)

    def vpc_keys(self) -> set[tuple[str, str, str]]:
        return {(v.VpcId, v.OwnerId, v.Region) for vs in self.vpcs.values() for v in vs}


def _read(url: str, org: Org) -> Seen:
    seen = Seen()
    session = boto3.Session()
    now = utc_now()
    for account in org.accounts:
        for region in org.regions:
            if org.opted_out(account) == region:
                continue
            ec2: Any = session.client(
                "ec2",
                region_name=region,
                endpoint_url=url,
                aws_access_key_id=f"ASIA{account}0000",
                aws_secret_access_key="bench",
                aws_session_token="bench",
                config=Config(retries={"mode": "standard", "max_attempts": 1}),
            )
            key = (account, region)
            raw = get_vpcs(ec2)
            out = to_records(
                raw,
                account=Account(account, f"acct-{account}"),
                region=region,
                now=now,
                raw_subnets=get_subnets(ec2),
            )
            assert not out.invalid, out.invalid
            seen.vpcs[key] = out.records
            seen.peerings[key] = get_peerings(ec2)
            seen.attachments[key] = get_attachments(ec2)
            owned = owned_tgws(account, seen.attachments[key])
            tables = get_route_tables(ec2, owned) if owned else []
            conn, route_tables = to_connectivity(
                account, region, seen.peerings[key], seen.attachments[key], tables, now=now
            )
            seen.conns.append(conn)
            seen.tables.extend(route_tables)
    return seen


@pytest.fixture(scope="module")
def landing_zone() -> Iterator[tuple[Seen, Org]]:
    """Every target's answers, read once from the endpoint as `make bench` starts it."""
    org = Org(ACCOUNTS, REGIONS, "1-2", "landing-zone")
    with fake_endpoint(ACCOUNTS, REGIONS, "1-2", 0.0, 0.0, "landing-zone") as url:
        yield _read(url, org), org


def _domains(seen: Seen) -> dict[str, set[tuple[str, str]]]:
    conns = Connections.of(seen.conns, seen.tables)
    return {d.at: set(d.vpcs) for d in routing_domains(conns)}


def test_default_vpcs_are_awss_defaults(landing_zone: tuple[Seen, Org]) -> None:
    """Every 10th account kept its default VPCs: EC2 says so (`isDefault`) and they hold AWS's
    default range, as every default VPC does; before, they were listed as ordinary VPCs."""
    seen, org = landing_zone
    defaults = [v for vs in seen.vpcs.values() for v in vs if v.IsDefault]
    assert {v.OwnerId for v in defaults} == {
        a
        for a in org.accounts[::10]
        if any(not org.home(a, r) and org.opted_out(a) != r for r in org.regions)
    }
    assert defaults
    assert {v.CidrBlock for v in defaults} == {"172.31.0.0/16"}
    for v in defaults:
        assert not org.home(v.OwnerId, v.Region)
        assert all(
            ipaddress.ip_network(s.CidrBlock).subnet_of(ipaddress.ip_network("172.31.0.0/16"))
            for s in v.Subnets
        )
    # The endpoint answers what the organization holds, no more: each VPC once.
    assert seen.vpc_keys() == {
        (v, a, r)
        for a in org.accounts
        for r in org.regions
        if org.opted_out(a) != r
        for v in org.vpc_ids(a, r)
    }


def test_the_network_account_attaches_every_workload_vpc(landing_zone: tuple[Seen, Org]) -> None:
    """One TGW per region in the network account: every workload account but the sandboxes
    attaches its first VPC in each region it runs workloads in; each attachment is listed by
    the VPC's owner and by the TGW's owner alike, and names a VPC that exists."""
    seen, org = landing_zone
    network = org.network()
    assert network is not None
    vpcs = seen.vpc_keys()
    tgws: dict[str, str] = {}
    for (account, region), atts in seen.attachments.items():
        for a in atts:
            assert a["TransitGatewayOwnerId"] == network
            assert tgws.setdefault(region, a["TransitGatewayId"]) == a["TransitGatewayId"]
            if a["ResourceType"] == "vpc":
                assert (a["ResourceId"], a["ResourceOwnerId"], region) in vpcs
                # Listed by both ends, the same.
                assert a in seen.attachments[(a["ResourceOwnerId"], region)]
                assert a in seen.attachments[(network, region)]
            if account != network:
                assert a["ResourceOwnerId"] == account
    assert set(tgws) == set(org.regions)  # the network account enabled every region
    attached = {
        (a["ResourceOwnerId"], region)
        for (_, region), atts in seen.attachments.items()
        for a in atts
        if a["ResourceType"] == "vpc"
    }
    for (account, region), records in seen.vpcs.items():
        workloads = [v for v in records if not v.IsDefault]
        sandbox = org.sandbox(account)
        if account == network:
            continue
        assert ((account, region) in attached) == bool(workloads and not sandbox)
    assert any(org.sandbox(a) for a, _ in seen.vpcs)
    # Every region's spoke route table routes between every VPC attached there (through the
    # inspection VPC: its static default route): the domain the audit's conflicts are read in.
    domains = _domains(seen)
    for region, tgw in tgws.items():
        in_region = {
            (a["ResourceId"], a["ResourceOwnerId"])
            for a in seen.attachments[(network, region)]
            if a["ResourceType"] == "vpc"
        }
        spoke = [t for t in seen.tables if t.TransitGatewayId == tgw and t.StaticRoutes]
        assert len(spoke) == 1 and spoke[0].StaticRoutes[0].Cidr == "0.0.0.0/0"
        assert domains[spoke[0].Id] == in_region
        assert len(in_region) > 2


def test_peerings_join_a_shared_services_vpc_from_both_ends(
    landing_zone: tuple[Seen, Org],
) -> None:
    """A few workload VPCs peer with the network account's shared-services VPC in their region:
    each peering is listed by both ends, names two VPCs that exist, and an active one puts both
    in the shared-services VPC's neighbourhood."""
    seen, org = landing_zone
    network = org.network()
    vpcs = seen.vpc_keys()
    listed = [(k, p) for k, ps in seen.peerings.items() for p in ps]
    assert listed
    domains = _domains(seen)
    for (account, region), p in listed:
        req, acc = p["RequesterVpcInfo"], p["AccepterVpcInfo"]
        assert acc["OwnerId"] == network and account in (req["OwnerId"], network)
        for side in (req, acc):
            assert side["Region"] == region
            assert (side["VpcId"], side["OwnerId"], region) in vpcs
            assert p in seen.peerings[(side["OwnerId"], region)]
        # A deleted peering is still listed for a while (AWS keeps it), but routes nothing.
        active = p["Status"]["Code"] == "active"
        assert ((req["VpcId"], req["OwnerId"]) in domains.get(acc["VpcId"], set())) == active
    assert {p["Status"]["Code"] for _, p in listed} == {"active", "deleted"}


def test_connections_follow_the_vpcs_night_after_night() -> None:
    """A workload VPC deleted at night takes its attachment and peering with it: connections
    never name a VPC the organization no longer has."""
    org = Org(200, 4, "1-2", "landing-zone")
    network = org.network()
    assert network is not None
    gone = 0
    for night in range(40):
        org.night = night
        for region in org.regions:
            vpcs = {(v, a) for a in org.accounts for v in org.vpc_ids(a, region)}
            for owner, vpc in org.spokes(region):
                assert (vpc, owner) in vpcs
            for owner, vpc in org.peered(region):
                assert (vpc, owner) in vpcs
            gone += sum(
                1
                for a in org.accounts
                if org.home(a, region) and not org.sandbox(a) and not org.vpc_ids(a, region)
            )
    assert gone  # some workload account lost its last VPC in a region on some night


def test_ranges_are_allocated_and_only_a_few_are_shared(landing_zone: tuple[Seen, Org]) -> None:
    """Issue 26: "a few shared ranges (pod networking) instead of every range colliding". Each
    workload VPC has its own range, as an IPAM pool hands them out, but a few accounts copied
    the shared-services range of their region and EKS accounts reuse 100.64.0.0/16 for pods:
    every overlap the audit finds is one of those, and the copies on the TGW are conflicts."""
    seen, org = landing_zone
    records = [v for vs in seen.vpcs.values() for v in vs]
    hub = {
        v.CidrBlock for v in records if v.OwnerId == org.network() and v.Name == "shared-services"
    }
    shared = {"100.64.0.0/16", *hub}
    audit = build_audit(
        records, [], now=utc_now(), connections=Connections.of(seen.conns, seen.tables)
    )
    assert audit.overlap_groups
    for g in audit.overlap_groups:
        assert g.span in shared, g.span
    copied = [v for v in records if v.CidrBlock in hub and v.OwnerId != org.network()]
    assert copied and {v.OwnerId for v in copied} <= {org.accounts[7], org.accounts[9]}
    pods = {v.OwnerId for v in records if "100.64.0.0/16" in v.CidrBlocks}
    assert pods == {org.accounts[5], org.accounts[15]}
    assert any(g.severity == "conflict" for g in audit.overlap_groups)


@pytest.mark.parametrize("shape", ["landing-zone", "full"])
def test_every_vpc_the_fake_makes_is_valid_in_every_region(shape: str) -> None:
    """The fake's IPv6 blocks put the region in a 16-bit group: from the 17th region on (the
    headline's sa-east-1) it overflowed to five hex digits, so every such VPC was an invalid
    record, never stored (93 VPCs a landing-zone night at 1,000 × 17). Every VPC of every
    region, parsed by botocore and validated as the collector does, is valid."""
    op = botocore.session.get_session().get_service_model("ec2").operation_model("DescribeVpcs")
    parser = create_parser("ec2")
    org = Org(30, len(ALL_REGIONS), "1-3", shape)
    seen = 0
    for account in org.accounts:
        for region in org.regions:
            body = ec2_page("DescribeVpcs", "vpcSet", org.vpc_items(account, region), {})
            raw = parser.parse(
                {"body": body.encode(), "headers": {}, "status_code": 200}, op.output_shape
            )["Vpcs"]
            out = to_records(raw, account=Account(account, "a"), region=region, now=utc_now())
            assert not out.invalid, out.invalid[:1]
            seen += len(out.records)
    assert seen > len(org.accounts)
