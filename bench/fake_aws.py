"""A fake AWS endpoint for benchmarking only (correctness is moto's job).

Serves just what `vpctracker collect` calls, for a generated organization of A accounts x R
regions x V VPCs, with a fixed (optionally jittered) latency per request and as little CPU per
request as possible, so that the collector is what gets measured. It runs in its own process
(asyncio, one thread), so its CPU is not counted as the collector's.

    python -m bench.fake_aws --accounts 1000 --regions 17 --vpcs 1-2 --latency 0.1 --port 0

prints `READY <port>` when listening. GET /__stats returns the request counts as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import zlib
from collections import Counter
from urllib.parse import parse_qs

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
HUB = "000000000001"


class Org:
    """The generated organization: deterministic ids, CIDRs and VPC counts."""

    def __init__(self, accounts: int, regions: int, vpcs: str) -> None:
        self.accounts = [f"{100000000000 + i:012d}" for i in range(accounts)]
        self.regions = ALL_REGIONS[:regions]
        lo, _, hi = vpcs.partition("-")
        self.vpc_lo, self.vpc_hi = int(lo), int(hi or lo)

    def vpc_count(self, account: str, region: str) -> int:
        span = self.vpc_hi - self.vpc_lo + 1
        return self.vpc_lo + zlib.crc32(f"{account}{region}".encode()) % span

    def vpcs_xml(self, account: str, region: str) -> str:
        a = int(account) - 100000000000
        r = self.regions.index(region) if region in self.regions else 0
        items = []
        for n in range(self.vpc_count(account, region)):
            vid = f"vpc-{a:08x}{r:02x}{n:07x}"
            cidr = f"10.{(a * 7 + r * 3 + n) % 256}.{(a // 256 + n * 16) % 256}.0/24"
            items.append(
                f"<item><vpcId>{vid}</vpcId><ownerId>{account}</ownerId><state>available</state>"
                f"<cidrBlock>{cidr}</cidrBlock><cidrBlockAssociationSet><item>"
                f"<cidrBlock>{cidr}</cidrBlock><associationId>vpc-cidr-assoc-{vid[4:]}"
                "</associationId><cidrBlockState><state>associated</state></cidrBlockState>"
                "</item></cidrBlockAssociationSet><dhcpOptionsId>dopt-0a1b2c3d</dhcpOptionsId>"
                "<instanceTenancy>default</instanceTenancy><isDefault>false</isDefault>"
                f"<tagSet><item><key>Name</key><value>{vid}</value></item></tagSet></item>"
            )
        return (
            f'<DescribeVpcsResponse xmlns="{EC2_NS}"><requestId>r</requestId>'
            f"<vpcSet>{''.join(items)}</vpcSet></DescribeVpcsResponse>"
        )

    def regions_xml(self) -> str:
        items = "".join(
            f"<item><regionName>{r}</regionName><regionEndpoint>ec2.{r}.amazonaws.com"
            "</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>"
            for r in self.regions
        )
        return (
            f'<DescribeRegionsResponse xmlns="{EC2_NS}"><requestId>r</requestId>'
            f"<regionInfo>{items}</regionInfo></DescribeRegionsResponse>"
        )


STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
# Calls every target makes that this organization answers with an empty list.
EMPTY_EC2 = {
    "DescribeVpcPeeringConnections": "vpcPeeringConnectionSet",
    "DescribeTransitGatewayAttachments": "transitGatewayAttachments",
    "DescribeSubnets": "subnetSet",
}


def assume_role_xml(account: str) -> str:
    key = f"ASIA{account}{random.randrange(16**4):04X}"
    return (
        f'<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult><Credentials>'
        f"<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>fake-secret-key-for-bench"
        "</SecretAccessKey><SessionToken>fake-session-token</SessionToken>"
        "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser>"
        f"<AssumedRoleId>AROA:bench</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/"
        "VPCTrackerReadOnly/bench</Arn></AssumedRoleUser></AssumeRoleResult>"
        "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>"
    )


CALLER_XML = (
    f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
    f"<Arn>arn:aws:sts::{HUB}:assumed-role/hub/bench</Arn><UserId>AROA:bench</UserId>"
    f"<Account>{HUB}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r"
    "</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
)

TABLE_DESC = {
    "Table": {
        "TableName": "VPCTracker",
        "TableStatus": "ACTIVE",
        "KeySchema": [
            {"AttributeName": "VpcId", "KeyType": "HASH"},
            {"AttributeName": "OwnerId", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "OwnerRegionIndex",
                "IndexStatus": "ACTIVE",
                "KeySchema": [
                    {"AttributeName": "OwnerId", "KeyType": "HASH"},
                    {"AttributeName": "Region", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
}


class Server:
    """The request router; every answer is built from the org, nothing is stored."""

    def __init__(self, org: Org, latency: float, jitter: float) -> None:
        self.org = org
        self.latency = latency
        self.jitter = jitter
        self.counts: Counter[str] = Counter()

    def route(self, headers: dict[str, str], body: bytes) -> tuple[str, str]:
        target = headers.get("x-amz-target", "")
        if target.startswith("DynamoDB_20120810."):
            op = target.split(".", 1)[1]
            self.counts[f"dynamodb.{op}"] += 1
            out: dict[str, object] = {}
            if op == "DescribeTable":
                out = TABLE_DESC
            elif op in ("Query", "Scan"):
                out = {"Items": [], "Count": 0, "ScannedCount": 0}
            elif op == "BatchWriteItem":
                out = {"UnprocessedItems": {}}
            # PutItem (the baseline's write) answers {} like DynamoDB does.
            return json.dumps(out), "application/x-amz-json-1.0"
        if target.startswith("AWSOrganizationsV20161128."):
            self.counts["organizations.ListAccounts"] += 1
            req = json.loads(body or b"{}")
            start = int(req.get("NextToken") or 0)
            page = self.org.accounts[start : start + 20]  # 20 per page, as AWS does
            out = {
                "Accounts": [
                    {
                        "Id": a,
                        "Arn": f"arn:aws:organizations::{HUB}:account/o-x/{a}",
                        "Name": f"acct-{a[-6:]}",
                        "Email": f"{a}@example.com",
                        "Status": "ACTIVE",
                    }
                    for a in page
                ]
            }
            if start + 20 < len(self.org.accounts):
                out["NextToken"] = str(start + 20)
            return json.dumps(out), "application/x-amz-json-1.1"
        form = parse_qs(body.decode())
        action = form.get("Action", [""])[0]
        if action == "AssumeRole":
            self.counts["sts.AssumeRole"] += 1
            return assume_role_xml(form["RoleArn"][0].split(":")[4]), "text/xml"
        if action == "GetCallerIdentity":
            self.counts["sts.GetCallerIdentity"] += 1
            return CALLER_XML, "text/xml"
        auth = headers.get("authorization", "")
        cred = auth.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in auth else ""
        key, _, _, region = (cred.split("/") + ["", "", "", ""])[:4]
        account = key[4:16] if key.startswith("ASIA") else HUB
        if action == "DescribeRegions":
            self.counts["ec2.DescribeRegions"] += 1
            return self.org.regions_xml(), "text/xml"
        if action == "DescribeVpcs":
            self.counts["ec2.DescribeVpcs"] += 1
            return self.org.vpcs_xml(account, region), "text/xml"
        if action in EMPTY_EC2:
            self.counts[f"ec2.{action}"] += 1
            tag = EMPTY_EC2[action]
            return (
                f'<{action}Response xmlns="{EC2_NS}"><requestId>r</requestId><{tag}/>'
                f"</{action}Response>",
                "text/xml",
            )
        self.counts[f"unknown.{action or target}"] += 1
        return json.dumps({"__type": "UnknownOperationException"}), "application/json"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                if path.startswith("/__stats"):
                    payload, ctype = json.dumps(dict(self.counts)), "application/json"
                else:
                    payload, ctype = self.route(headers, body)
                    delay = self.latency + random.uniform(-self.jitter, self.jitter)
                    if delay > 0:
                        await asyncio.sleep(delay)
                data = payload.encode()
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}"
                    f"\r\nx-amzn-RequestId: r\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            writer.close()


async def serve(args: argparse.Namespace) -> None:
    server = Server(Org(args.accounts, args.regions, args.vpcs), args.latency, args.jitter)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", args.port, backlog=1024)
    port = srv.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    async with srv:
        await srv.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--regions", type=int, default=17)
    p.add_argument("--vpcs", default="1-2", help="VPCs per (account, region): N or LO-HI")
    p.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    p.add_argument("--jitter", type=float, default=0.0, help="+/- seconds of uniform jitter")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    random.seed(0)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
