"""The collectors VPCTracker is measured against, on the same fake organization: the seed-style
sequential one it replaced, and the competent naive threaded one (`bench.client baseline`,
`bench.client threaded`)."""

from __future__ import annotations

import time
from typing import Any

import boto3

from bench.measure import cpu


def _member_session(sts: Any, account: str, name: str, region: str | None = None) -> boto3.Session:
    """A session in `account`, through the role the collector assumes, as each baseline makes
    one per account."""
    c = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/VPCTrackerReadOnly", RoleSessionName=name
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=region,
    )


def baseline() -> dict[str, Any]:
    """A seed-style collector: sequential, a boto3.Session per account, a client per region,
    put_item per VPC. What VPCTracker replaced; measured on the same fake org."""
    cpu0, t0 = cpu(), time.perf_counter()
    hub = boto3.Session(region_name="us-east-1")
    orgs = hub.client("organizations")
    sts = hub.client("sts")
    ddb = hub.client("dynamodb")
    vpcs = 0
    for page in orgs.get_paginator("list_accounts").paginate():
        for acct in page["Accounts"]:
            session = _member_session(sts, acct["Id"], "seed", region="us-east-1")
            regions = [r["RegionName"] for r in session.client("ec2").describe_regions()["Regions"]]
            for region in regions:
                for v in session.client("ec2", region_name=region).describe_vpcs()["Vpcs"]:
                    ddb.put_item(
                        TableName="VPCTracker",
                        Item={
                            "VpcId": {"S": v["VpcId"]},
                            "OwnerId": {"S": v["OwnerId"]},
                            "CidrBlock": {"S": v["CidrBlock"]},
                            "IsDefault": {"BOOL": v["IsDefault"]},
                            "State": {"S": v["State"]},
                        },
                    )
                    vpcs += 1
    return {
        "exit_code": 0,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": cpu() - cpu0,
        "vpcs": vpcs,
    }


def threaded(workers: int = 32) -> dict[str, Any]:
    """The competent naive collector: 32 threads, one boto3 session per account and one client
    per region (sessions and clients are the expensive part of boto3), the same calls per target
    as VPCTracker made before it skipped empty regions (and the route tables of the TGWs an
    account owns), a put_item per VPC. What "just add threads" gives a careful author."""
    from concurrent.futures import ThreadPoolExecutor

    cpu0, t0 = cpu(), time.perf_counter()
    hub = boto3.Session(region_name="us-east-1")
    orgs, sts, ddb = hub.client("organizations"), hub.client("sts"), hub.client("dynamodb")
    accounts = [
        a["Id"] for p in orgs.get_paginator("list_accounts").paginate() for a in p["Accounts"]
    ]

    def one_account(acct: str) -> int:
        session = _member_session(sts, acct, "naive")
        regions = session.client("ec2", region_name="us-east-1").describe_regions(AllRegions=True)[
            "Regions"
        ]
        n = 0
        for r in regions:
            if r.get("OptInStatus") == "not-opted-in":
                continue
            ec2 = session.client("ec2", region_name=r["RegionName"])
            vpcs = [v for p in ec2.get_paginator("describe_vpcs").paginate() for v in p["Vpcs"]]
            for _ in ec2.get_paginator("describe_subnets").paginate():
                pass
            ec2.describe_vpc_peering_connections()
            atts = ec2.describe_transit_gateway_attachments()["TransitGatewayAttachments"]
            # The route tables of the TGWs the account owns (the network account's).
            owned = sorted(
                {a["TransitGatewayId"] for a in atts if a.get("TransitGatewayOwnerId") == acct}
            )
            tables = (
                ec2.describe_transit_gateway_route_tables(
                    Filters=[{"Name": "transit-gateway-id", "Values": owned}]
                )["TransitGatewayRouteTables"]
                if owned
                else []
            )
            for t in tables:
                rtb = t["TransitGatewayRouteTableId"]
                ec2.search_transit_gateway_routes(
                    TransitGatewayRouteTableId=rtb,
                    Filters=[{"Name": "type", "Values": ["static"]}],
                )
                ec2.get_transit_gateway_route_table_associations(TransitGatewayRouteTableId=rtb)
                ec2.get_transit_gateway_route_table_propagations(TransitGatewayRouteTableId=rtb)
            for v in vpcs:
                ddb.put_item(
                    TableName="VPCTracker",
                    Item={"VpcId": {"S": v["VpcId"]}, "OwnerId": {"S": v["OwnerId"]}},
                )
                n += 1
        return n

    with ThreadPoolExecutor(workers) as pool:
        vpcs = sum(pool.map(one_account, accounts))
    return {
        "exit_code": 0,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": cpu() - cpu0,
        "vpcs": vpcs,
    }
