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
import resource
import sys
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from bench.fake_dynamodb import FakeDynamoDB, Table, json_error
from bench.fake_org import EC2_NS, Org

HUB = "000000000001"


def _account(account: str) -> dict[str, Any]:
    return {
        "Id": account,
        "Arn": f"arn:aws:organizations::{HUB}:account/o-x/{account}",
        "Name": f"acct-{account[-6:]}",
        "Email": f"{account}@example.com",
        "Status": "ACTIVE",
    }


STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def ec2_page(
    action: str, tag: str, items: list[str], form: dict[str, list[str]], tail: str = ""
) -> str:
    """One page of a Describe* answer, as EC2 pages: everything when the caller gives no
    MaxResults (botocore's paginators do not by default), else MaxResults from NextToken on;
    `tail`: what the answer says after its list."""
    size = int(form.get("MaxResults", ["0"])[0])
    start = int(form.get("NextToken", ["0"])[0])
    token = ""
    if size:
        if start + size < len(items):
            token = f"<nextToken>{start + size}</nextToken>"
        items = items[start : start + size]
    return (
        f'<{action}Response xmlns="{EC2_NS}"><requestId>r</requestId>'
        f"<{tag}>{''.join(items)}</{tag}>{tail}{token}</{action}Response>"
    )


def ec2_error(code: str, message: str) -> str:
    """An EC2 error answer, as EC2 sends one (HTTP 400)."""
    return (
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        "</Errors><RequestID>r</RequestID></Response>"
    )


def _filter_values(form: dict[str, list[str]], name: str) -> list[str]:
    """The values of the query's `Filter.N` named `name` (EC2's query encoding)."""
    out: list[str] = []
    for key, values in form.items():
        if key.startswith("Filter.") and key.endswith(".Name") and values == [name]:
            prefix = key[: -len("Name")] + "Value."
            out.extend(v for k, vs in form.items() if k.startswith(prefix) for v in vs)
    return out


EC2_THROTTLED = ec2_error("RequestLimitExceeded", "Request limit exceeded.")


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

PUBLISH_XML = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>m</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId>"
    "</ResponseMetadata></PublishResponse>"
)


class Server:
    """The request router. EC2, STS and Organizations answers are built from the org; DynamoDB's
    calls go to a `FakeDynamoDB` (bench.fake_dynamodb)."""

    def __init__(
        self,
        org: Org,
        latency: float,
        jitter: float,
        unprocessed: float,
        throttle: float,
        ec2_throttle: float = 0.0,
    ) -> None:
        self.org = org
        self.latency = latency
        # DynamoDB's own latency when set apart (`/__latency?s=...&table=...`): a table in the
        # function's region answers in milliseconds where EC2 takes a tenth of a second.
        self.table_latency: float | None = None
        self.jitter = jitter
        self.ec2_throttle = ec2_throttle
        self.counts: Counter[str] = Counter()
        self.rng = random.Random(0)
        self.ddb = FakeDynamoDB(unprocessed, throttle, self.rng)

    def table(self, name: str) -> Table:
        """The fake DynamoDB's table of that name."""
        return self.ddb.table(name)

    def dynamodb(self, op: str, req: dict[str, Any]) -> tuple[str, str, int]:
        """The fake DynamoDB's answer to one call."""
        return self.ddb.answer(op, req)

    def organizations(self, op: str, req: dict[str, Any]) -> tuple[str, str, int]:
        self.counts[f"organizations.{op}"] += 1
        if op == "DescribeAccount":
            acct = req.get("AccountId", "")
            if acct not in self.org.account_set:
                return json_error("AccountNotFoundException", "not in the organization")
            return json.dumps({"Account": _account(acct)}), "application/x-amz-json-1.1", 200
        start = int(req.get("NextToken") or 0)
        page = self.org.accounts[start : start + 20]  # 20 per page, as AWS does
        out: dict[str, Any] = {"Accounts": [_account(a) for a in page]}
        if start + 20 < len(self.org.accounts):
            out["NextToken"] = str(start + 20)
        return json.dumps(out), "application/x-amz-json-1.1", 200

    def route(self, headers: dict[str, str], body: bytes) -> tuple[str, str, int]:
        target = headers.get("x-amz-target", "")
        if target.startswith("DynamoDB_20120810."):
            op = target.split(".", 1)[1]
            self.counts[f"dynamodb.{op}"] += 1
            return self.dynamodb(op, json.loads(body or b"{}"))
        if target.startswith("AWSOrganizationsV20161128."):
            return self.organizations(target.split(".", 1)[1], json.loads(body or b"{}"))
        form = parse_qs(body.decode())
        action = form.get("Action", [""])[0]
        if action == "AssumeRole":
            self.counts["sts.AssumeRole"] += 1
            return assume_role_xml(form["RoleArn"][0].split(":")[4]), "text/xml", 200
        if action == "Publish":
            self.counts["sns.Publish"] += 1
            return PUBLISH_XML, "text/xml", 200
        if action == "GetCallerIdentity":
            self.counts["sts.GetCallerIdentity"] += 1
            return CALLER_XML, "text/xml", 200
        auth = headers.get("authorization", "")
        cred = auth.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in auth else ""
        # Credential=KEY/DATE/REGION/SERVICE/aws4_request: the region is the third field.
        key, _, region = (cred.split("/") + ["", "", ""])[:3]
        account = key[4:16] if key.startswith("ASIA") else HUB
        if self.ec2_throttle and self.rng.random() < self.ec2_throttle:
            # EC2's account-wide request rate: the caller backs off and retries. Counted apart
            # from the calls, so that `required_requests` stays what the features need.
            self.counts["throttled.ec2"] += 1
            return EC2_THROTTLED, "text/xml", 503
        self.counts[f"ec2.{action}"] += 1
        if action == "DescribeRegions":
            return self.org.regions_xml(account), "text/xml", 200
        if action == "DescribeVpcs":
            items = self.org.vpc_items(account, region)
            return ec2_page(action, "vpcSet", items, form), "text/xml", 200
        if action == "DescribeSubnets":
            items = self.org.subnet_items(account, region)
            return ec2_page(action, "subnetSet", items, form), "text/xml", 200
        return self.connectivity(action, account, region, form)

    def connectivity(
        self, action: str, account: str, region: str, form: dict[str, list[str]]
    ) -> tuple[str, str, int]:
        """Peerings, TGW attachments and the network account's route tables."""
        org = self.org
        table = form.get("TransitGatewayRouteTableId", [""])[0]
        items: list[str] | None
        tail = ""
        if action == "DescribeVpcPeeringConnections":
            items, tag = org.peering_items(account, region), "vpcPeeringConnectionSet"
        elif action == "DescribeTransitGatewayAttachments":
            items, tag = org.attachment_items(account, region), "transitGatewayAttachments"
        elif action == "DescribeTransitGatewayRouteTables":
            tgws = _filter_values(form, "transit-gateway-id")
            items, tag = org.route_table_items(account, region, tgws), "transitGatewayRouteTables"
        elif action == "SearchTransitGatewayRoutes":
            items, tag = org.static_routes(account, region, table), "routeSet"
            tail = "<additionalRoutesAvailable>false</additionalRoutesAvailable>"  # never paged
        elif action == "GetTransitGatewayRouteTableAssociations":
            items = org.table_members(account, region, table, "associations")
            tag = "associations"
        elif action == "GetTransitGatewayRouteTablePropagations":
            items = org.table_members(account, region, table, "propagations")
            tag = "transitGatewayRouteTablePropagations"
        else:
            return json.dumps({"__type": "UnknownOperationException"}), "application/json", 400
        if items is None:
            return ec2_error("InvalidRouteTableID.NotFound", "no such route table"), "text/xml", 400
        return ec2_page(action, tag, items, form, tail), "text/xml", 200

    def delay(self, headers: dict[str, str]) -> float:
        """The latency of a request: DynamoDB's own when set apart, else every call's."""
        table = headers.get("x-amz-target", "").startswith("DynamoDB_")
        return self.table_latency if table and self.table_latency is not None else self.latency

    def control(self, path: str) -> str:
        """/__stats (request counts and DynamoDB's request units; `?reset` zeroes them),
        /__night (the org moves on), /__latency?s=SECONDS (a table filled at no latency is
        then read at this one; `&table=SECONDS`: DynamoDB's apart)."""
        if path.startswith("/__latency"):
            query = parse_qs(path.split("?", 1)[1])
            self.latency = float(query["s"][0])
            self.table_latency = float(query["table"][0]) if "table" in query else None
            return json.dumps({"latency": self.latency, "table": self.table_latency})
        if path.startswith("/__night"):
            self.org.night += 1
            return json.dumps({"night": self.org.night})
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        tables = self.ddb.tables
        items = {f"_items_{name}": len(tbl.items) for name, tbl in tables.items()}
        inventory = len(tables["VPCTracker"].items) if "VPCTracker" in tables else 0
        # The request units DynamoDB would bill for the calls counted (bench.fake_dynamodb).
        units = {f"_{kind}_units": n for kind, n in self.ddb.units.items()}
        out = json.dumps({**self.counts, "_items": inventory, **items, **units, "_cpu_s": cpu})
        if "reset" in path:
            self.counts.clear()
            self.ddb.units.clear()
        return out

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
                status = 200
                if path.startswith("/__"):
                    payload, ctype = self.control(path), "application/json"
                else:
                    payload, ctype, status = self.route(headers, body)
                    delay = self.delay(headers) + random.uniform(-self.jitter, self.jitter)
                    if delay > 0:
                        await asyncio.sleep(delay)
                data = payload.encode()
                reason = {200: "OK", 503: "Service Unavailable"}.get(status, "Bad Request")
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(data)}\r\nx-amzn-RequestId: r\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            writer.close()


async def serve(args: argparse.Namespace) -> None:
    server = Server(
        Org(args.accounts, args.regions, args.vpcs, args.shape),
        args.latency,
        args.jitter,
        args.unprocessed,
        args.throttle,
        args.ec2_throttle,
    )
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
    p.add_argument("--unprocessed", type=float, default=0.0, help="share of batch items held")
    p.add_argument("--throttle", type=float, default=0.0, help="share of DynamoDB calls throttled")
    p.add_argument("--ec2-throttle", type=float, default=0.0, help="share of EC2 calls throttled")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--shape", choices=["full", "landing-zone"], default="full")
    args = p.parse_args()
    random.seed(0)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
