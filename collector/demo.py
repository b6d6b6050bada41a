"""Thin demo adapter: a simulated landing-zone organization in moto, then the real pipeline.

Everything AWS here is moto, in-process: nothing leaves the machine. The organization has the
shape of a real landing zone: most default VPCs deleted but a few left behind, a few
accidental CIDR clashes, a secondary CIDR, one suspended account.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3

from collector.analysis import Audit
from collector.config import Config
from collector.hub import hub_session
from collector.jobs.allocate import Allocation, allocate
from collector.jobs.audit import run_audit
from collector.jobs.collect import run
from collector.jobs.findings import remember_findings
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.publish import publish_report
from collector.jobs.summary import RunSummary
from collector.live import event_target, rescan
from collector.models import utc_now
from collector.report import render_html, render_summary, render_table
from collector.store.table import create_table

DEMO_REGIONS = [
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "us-west-2",
    "eu-central-1",
    "ca-central-1",
]
DEMO_ROLE = "VPCTrackerReadOnly"


@dataclass
class SimulatedOrg:
    """What was built, so callers (the demo, tests) know what the scan should find."""

    management_id: str
    accounts: dict[str, str] = field(default_factory=dict)  # id -> name (ACTIVE members)
    suspended: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    # vpc id -> (account, region, cidr)
    vpcs: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    default_vpcs_left: list[tuple[str, str]] = field(default_factory=list)  # (account, region)
    clashes: list[tuple[str, str]] = field(default_factory=list)  # pairs of VPC ids
    # Clashes some network routes to (ids of the two VPCs, the network that reaches both).
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)
    # A VPC whose subnets fill its range, and one whose subnets are all in one AZ.
    no_room: str = ""
    single_az: str = ""
    live_vpc: str = ""  # created after the first collect; announced through its event


_SAFE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # moto would load thousands of AMIs into every simulated account and region.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


@contextlib.contextmanager
def isolated_aws_env() -> Iterator[None]:
    """Fake credentials and no profile/endpoint overrides for the life of the block.

    Without this, a user's AWS_ENDPOINT_URL or AWS_PROFILE could route a "simulated" call to
    a real endpoint; moto only intercepts the standard AWS hostnames.
    """
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(
            (
                "AWS_ENDPOINT_URL",
                "AWS_PROFILE",
                "AWS_CONFIG_FILE",
                "AWS_SHARED_CREDENTIALS_FILE",
                "AWS_ROLE_ARN",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_",
            )
        ):
            del os.environ[key]
    os.environ.update(_SAFE_ENV)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def member_clients(session: boto3.Session, account_id: str, region: str) -> Any:
    """An EC2 client acting inside `account_id` (moto maps assumed-role keys to accounts)."""
    c = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="simulator",
    )["Credentials"]
    return session.client(
        "ec2",
        region_name=region,
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )


def delete_default_vpc(ec2: Any) -> None:
    """Delete the region's default VPC the way a landing-zone baseline does."""
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
        vid = vpc["VpcId"]
        for sn in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vid]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=sn["SubnetId"])
        igws = ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vid]}]
        )["InternetGateways"]
        for igw in igws:
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vid)
            ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
        ec2.delete_vpc(VpcId=vid)


def build_simulated_org(session: boto3.Session, accounts: int, regions: int) -> SimulatedOrg:
    """Create a landing-zone-shaped organization in the active moto mock (deterministic)."""
    if not 1 <= regions <= len(DEMO_REGIONS):
        raise ValueError(f"regions must be 1-{len(DEMO_REGIONS)}")
    org_client = session.client("organizations")
    org_client.create_organization(FeatureSet="ALL")
    root = org_client.list_roots()["Roots"][0]["Id"]
    ous = [
        org_client.create_organizational_unit(ParentId=root, Name=n)["OrganizationalUnit"]["Id"]
        for n in ("Workloads", "Sandbox")
    ]
    mgmt = session.client("sts").get_caller_identity()["Account"]
    sim = SimulatedOrg(management_id=mgmt, regions=DEMO_REGIONS[:regions])
    sim.accounts[mgmt] = "management"
    for i in range(accounts):
        name = f"{'workload' if i % 3 else 'sandbox'}-{i:03d}"
        status = org_client.create_account(Email=f"{name}@example.com", AccountName=name)
        acct = status["CreateAccountStatus"]["AccountId"]
        org_client.move_account(
            AccountId=acct, SourceParentId=root, DestinationParentId=ous[0 if i % 3 else 1]
        )
        sim.accounts[acct] = name
    members = [a for a in sim.accounts if a != mgmt]
    # The last member is suspended (closed) — its VPCs must not be scanned.
    if len(members) > 2:
        suspended = members[-1]
        org_client.close_account(AccountId=suspended)
        sim.suspended.append(suspended)
        del sim.accounts[suspended]
    _populate(session, sim)
    _connect(session, sim)
    _subnets(session, sim)
    return sim


def _populate(session: boto3.Session, sim: SimulatedOrg) -> None:
    ids = list(sim.accounts)
    n = 0
    for ai, acct in enumerate(ids):
        for ri, region in enumerate(sim.regions):
            ec2 = member_clients(session, acct, region)
            # Every 5th account (the first member included) forgot to delete the default VPC
            # in its first region.
            if ai % 5 == 1 and ri == 0:
                sim.default_vpcs_left.append((acct, region))
            else:
                delete_default_vpc(ec2)
            if ri > 1 and ai % 2:
                continue  # sparse regions: not every account uses every region
            cidr = _cidr(n)
            n += 1
            vid = ec2.create_vpc(
                CidrBlock=cidr,
                TagSpecifications=[
                    {
                        "ResourceType": "vpc",
                        "Tags": [{"Key": "Name", "Value": f"{sim.accounts[acct]}-{region}"}],
                    }
                ],
            )["Vpc"]["VpcId"]
            sim.vpcs[vid] = (acct, region, cidr)
            if ai == 1 and ri == 0:
                # Secondary CIDR, as a team that outgrew its first range would add.
                ec2.associate_vpc_cidr_block(VpcId=vid, CidrBlock="100.64.0.0/20")
    # Accidental clashes: one account copied another's range, one carved a /20 out of
    # another's /16, and a lab VPC sits inside the corporate network (a reserved range).
    vpc_list = list(sim.vpcs.items())
    for src, dst, nested in ((0, 3, False), (2, 7, True)):
        if dst < len(ids) and src < len(vpc_list):
            src_vid, (_, _, src_cidr) = vpc_list[src]
            acct, region = ids[dst], sim.regions[0]
            cidr = src_cidr.replace(".0.0/16", ".32.0/20") if nested else src_cidr
            vid = member_clients(session, acct, region).create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            sim.vpcs[vid] = (acct, region, cidr)
            sim.clashes.append((src_vid, vid))
    lab_acct = ids[-1]
    lab = member_clients(session, lab_acct, sim.regions[0]).create_vpc(
        CidrBlock="192.168.40.0/24",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "lab"}]}],
    )["Vpc"]["VpcId"]
    sim.vpcs[lab] = (lab_acct, sim.regions[0], "192.168.40.0/24")


def _named_vpc(ec2: Any, cidr: str, name: str) -> str:
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}]
    return str(ec2.create_vpc(CidrBlock=cidr, TagSpecifications=tags)["Vpc"]["VpcId"])


def _connect(session: boto3.Session, sim: SimulatedOrg) -> None:
    """Networks that make some clashes real: a shared-services VPC peered with two accounts
    that chose the same range, and a Transit Gateway route table that two overlapping VPCs
    propagate into. (The accidental clashes above stay latent: nothing connects them.)"""
    ids = [a for a in sim.accounts if a != sim.management_id]
    if len(ids) < 2:
        return
    region = sim.regions[0]
    hub_ec2 = member_clients(session, sim.management_id, region)
    hub = _named_vpc(hub_ec2, "10.200.0.0/16", "shared-services")
    sim.vpcs[hub] = (sim.management_id, region, "10.200.0.0/16")
    spokes = []
    for acct in ids[:2]:
        ec2 = member_clients(session, acct, region)
        vid = _named_vpc(ec2, "10.201.0.0/16", f"{sim.accounts[acct]}-app")
        sim.vpcs[vid] = (acct, region, "10.201.0.0/16")
        pcx = hub_ec2.create_vpc_peering_connection(VpcId=hub, PeerVpcId=vid, PeerOwnerId=acct)
        ec2.accept_vpc_peering_connection(
            VpcPeeringConnectionId=pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        )
        spokes.append(vid)
    sim.conflicts.append((spokes[0], spokes[1], hub))
    # The network account's Transit Gateway: one route table for two VPCs whose ranges overlap.
    tgw = hub_ec2.create_transit_gateway(
        Description="network",
        Options={
            "DefaultRouteTableAssociation": "disable",
            "DefaultRouteTablePropagation": "disable",
        },
    )["TransitGateway"]["TransitGatewayId"]
    rtb = hub_ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)[
        "TransitGatewayRouteTable"
    ]["TransitGatewayRouteTableId"]
    pair = []
    for cidr, name in (("10.210.0.0/16", "egress"), ("10.210.128.0/20", "inspection")):
        vid = _named_vpc(hub_ec2, cidr, name)
        sim.vpcs[vid] = (sim.management_id, region, cidr)
        subnet = hub_ec2.create_subnet(
            VpcId=vid, CidrBlock=cidr.replace("/16", "/24").replace("/20", "/24")
        )["Subnet"]["SubnetId"]
        att = hub_ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=vid, SubnetIds=[subnet]
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        hub_ec2.associate_transit_gateway_route_table(
            TransitGatewayRouteTableId=rtb, TransitGatewayAttachmentId=att
        )
        hub_ec2.enable_transit_gateway_route_table_propagation(
            TransitGatewayRouteTableId=rtb, TransitGatewayAttachmentId=att
        )
        pair.append(vid)
    sim.conflicts.append((pair[0], pair[1], rtb))


def _subnets(session: boto3.Session, sim: SimulatedOrg) -> None:
    """A payments VPC with no room for another subnet, and a batch VPC in one AZ only."""
    acct = [a for a in sim.accounts if a != sim.management_id][-1]
    region = sim.regions[0]
    ec2 = member_clients(session, acct, region)
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    full = _named_vpc(ec2, "10.220.0.0/24", "payments")
    for i in range(4):
        ec2.create_subnet(
            VpcId=full, CidrBlock=f"10.220.0.{i * 64}/26", AvailabilityZone=zones[i % 2]
        )
    one_az = _named_vpc(ec2, "10.221.0.0/16", "batch")
    for i in range(2):
        ec2.create_subnet(VpcId=one_az, CidrBlock=f"10.221.{i}.0/24", AvailabilityZone=zones[0])
    sim.vpcs[full] = (acct, region, "10.220.0.0/24")
    sim.vpcs[one_az] = (acct, region, "10.221.0.0/16")
    sim.no_room, sim.single_az = full, one_az


def _cidr(n: int) -> str:
    # 10.0.0.0/16, 10.1.0.0/16, ... then 10.x.y.0/20 blocks once /16s run out.
    return f"10.{n}.0.0/16" if n < 256 else f"10.{n // 16 % 256}.{n % 16 * 16}.0/20"


def demo_config() -> Config:
    """The config the demo runs with (same schema as config.yaml)."""
    return Config.model_validate(
        {
            "organization": {"role_name": DEMO_ROLE},
            "regions": "all",
            "table": {"name": "VPCTracker-demo", "region": "us-east-1"},
            # One process: the simulation lives in this one (moto in-process), where a worker
            # process could not reach it.
            "scan": {"max_workers": 8, "processes": 1},
            "reserved_cidrs": [{"cidr": "192.168.0.0/16", "name": "corporate-network"}],
            # Published as the function publishes it, to a bucket of the simulation.
            "report": {"bucket": DEMO_REPORT_BUCKET},
            "notify": {"presign_hours": 24},
        }
    )


DEMO_REPORT_BUCKET = "vpctracker-demo-reports"


@dataclass
class DemoResult:
    """Everything the demo produced, for printing and for tests."""

    sim: SimulatedOrg
    summary: RunSummary
    audit: Audit
    allocation: Allocation
    report_audit: Audit
    notifications: list[dict[str, Any]] = field(default_factory=list)
    published: list[str] = field(default_factory=list)  # the report's keys in the bucket


def demo_run(accounts: int, regions: int) -> DemoResult:
    """Build the simulated org in moto; run the real init-table, collect, audit and allocate."""
    from moto import mock_aws

    with isolated_aws_env(), mock_aws():
        session = hub_session()
        sim = build_simulated_org(session, accounts, regions)
        cfg = demo_config()
        ddb = dynamodb_client(session, cfg)
        for name in (cfg.table.name, cfg.table.ledger):
            create_table(ddb, name)
        # `regions: all` is the config users run with; moto answers DescribeRegions with every
        # region, so the demo narrows to the regions it populated, like `--region` does.
        opts = RunOptions(session=session, regions=sim.regions)
        summary = run(cfg, opts)
        audit, _ = run_audit(cfg, options=opts)
        allocation = allocate(
            ddb,
            cfg.table.name,
            pool=ipaddress.ip_network("10.0.0.0/8"),
            prefix_length=16,
            reserved=list(cfg.reserved_cidrs),
            now=utc_now,
            reserve_for=[a for a in sim.accounts if a != sim.management_id][0],
            note="demo: next landing-zone account",
        )
        # The report is read after the reservation, as `vpctracker audit` would be: the
        # reserved block must show as reserved, not free.
        report_audit, _ = run_audit(cfg, options=opts)
        session.client("s3").create_bucket(Bucket=DEMO_REPORT_BUCKET)
        published = publish_report(cfg, report_audit, opts, dated=True).keys
        live = _live_update(session, sim, cfg, summary, opts)
    return DemoResult(sim, summary, audit, allocation, report_audit, live, published)


def _live_update(
    session: boto3.Session, sim: SimulatedOrg, cfg: Config, summary: RunSummary, opts: RunOptions
) -> list[dict[str, Any]]:
    """A VPC created in one account, its CloudTrail event delivered, the notification read back
    from the topic's queue subscription (what a subscriber would receive)."""
    remember_findings(cfg, summary, opts)  # the baseline, as `vpctracker collect` records it
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name="vpctracker-findings")["TopicArn"]
    inbox = sqs.create_queue(QueueName="findings-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    acct = [a for a in sim.accounts if a != sim.management_id][-2]
    region = sim.regions[0]
    vid = _named_vpc(member_clients(session, acct, region), "10.200.0.0/16", "copied-range")
    sim.live_vpc = vid  # not in sim.vpcs: those are what the first collect found
    event = {
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": acct,
        "region": region,
        "detail": {
            "eventSource": "ec2.amazonaws.com",
            "eventName": "CreateVpc",
            "awsRegion": region,
            "recipientAccountId": acct,
            "responseElements": {"vpc": {"vpcId": vid, "cidrBlock": "10.200.0.0/16"}},
        },
    }
    rescan(
        cfg.model_copy(update={"notify": cfg.notify.model_copy(update={"topic_arn": topic})}),
        [event_target(event)],
        replace(opts, regions=()),
    )
    messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def main(accounts: int = 12, regions: int = 3) -> int:
    """`vpctracker demo`: print what the real pipeline found in the simulated organization."""
    if regions > len(DEMO_REGIONS):
        sys.stderr.write(f"vpctracker: error: --regions: at most {len(DEMO_REGIONS)}\n")
        return 1
    print(
        f"SIMULATED organization (moto, in-process; no real AWS): {accounts} member accounts "
        f"+ management, {regions} regions, 1 suspended account\n"
    )
    print("$ vpctracker init-table && vpctracker collect")
    result = demo_run(accounts, regions)
    print(render_summary(result.summary))
    print("\n$ vpctracker audit")
    print(render_table(result.audit), end="")
    a = result.allocation
    print(
        f"\n$ vpctracker allocate --pool {a.pool} --prefix-length {a.prefix_length} "
        f"--reserve --owner {a.reservation.owner if a.reservation else ''}"
    )
    print(a.cidr)
    report = Path("demo-report.html").resolve()
    report.write_text(render_html(result.report_audit), encoding="utf-8")
    print(f"\n$ vpctracker audit --format html --output demo-report.html\nwrote {report}")
    print(
        "\n# The function publishes the same page (and the inventory as CSV and JSON) to the "
        "report bucket every night; here to a bucket of the simulation:\n"
        + "\n".join(f"  s3://{DEMO_REPORT_BUCKET}/{k}" for k in result.published if "report" in k)
    )
    print(
        f"\n# Live update: a VPC ({result.sim.live_vpc}, 10.200.0.0/16) is created in one "
        "account; its CloudTrail event reaches the function, which rescans that one target "
        "and publishes to the SNS topic:"
    )
    for n in result.notifications:
        print(f"\nSubject: {n['Subject']}\n{n['Message']}")
    return result.summary.exit_code
