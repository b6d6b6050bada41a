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
import bisect
import json
import random
import resource
import sys
import zlib
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

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


def _kept(req: dict[str, Any]) -> frozenset[str] | None:
    """The attribute names a `ProjectionExpression` (top-level names only) keeps; None: all."""
    if "ProjectionExpression" not in req:
        return None
    names = req.get("ExpressionAttributeNames", {})
    tokens = (t.strip() for t in req["ProjectionExpression"].split(","))
    return frozenset(names.get(t, t) for t in tokens)


def _project(item: dict[str, Any], keep: frozenset[str] | None) -> dict[str, Any]:
    """The item as a projection keeping `keep` returns it."""
    return item if keep is None else {k: v for k, v in item.items() if k in keep}


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


MAX_ITEM = 400 * 1024
PAGE = 1000  # items per Scan/Query page (DynamoDB pages by 1 MB; close enough here)


def _size(item: dict[str, Any]) -> int:
    return len(json.dumps(item))


def _error(code: str, message: str, status: int = 400) -> tuple[str, str, int]:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    return body, "application/x-amz-json-1.0", status


def _item_key(item: dict[str, Any]) -> tuple[str, str]:
    return item.get("VpcId", {}).get("S", ""), item.get("OwnerId", {}).get("S", "")


class Table:
    """One in-memory table: its items, by owner (the owner index) and by partition key (base-table
    queries), and the scan order, computed once per version of the table."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        # Scan order (keys), computed once per set of keys: sorting 100k items for every page
        # would spend the shared cores on the fake rather than on the client measured. Pages
        # resume after the last key returned, as DynamoDB's do: a scan beside writes returns
        # each item that exists throughout once (old or new), never skips or repeats one.
        self.scan_keys: dict[tuple[int, int], list[tuple[str, str]]] = {}
        self.by_owner: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.by_partition: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.query_rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # Each item's JSON, per projection, made when first read and dropped when the item is
        # written: a read page is then joined from them, where encoding 1,000 items for every
        # page put the fake on the clock (it shares the machine's cores with the client
        # measured: 3.7-4.8 s of CPU beside a 100k-item read's 4.9 s, docs/benchmarks.md).
        self.encoded: dict[tuple[str, str], dict[frozenset[str] | None, str]] = {}

    def json_of(self, item: dict[str, Any], keep: frozenset[str] | None) -> str:
        """The item, as a projection keeping `keep` returns it, as JSON."""
        known = self.encoded.setdefault(_item_key(item), {})
        text = known.get(keep)
        if text is None:
            text = known[keep] = json.dumps(_project(item, keep))
        return text

    def put(self, key: tuple[str, str], item: dict[str, Any]) -> None:
        if key not in self.items:
            self.scan_keys.clear()  # a new key: the scan order changes; an update does not
        self.items[key] = item
        self.encoded.pop(key, None)
        self.by_owner.setdefault(key[1], {})[key] = item
        self.by_partition.setdefault(key[0], {})[key] = item
        self._changed(key)

    def delete(self, key: tuple[str, str]) -> None:
        if key in self.items:
            self.scan_keys.clear()
        self.items.pop(key, None)
        self.encoded.pop(key, None)
        self.by_owner.get(key[1], {}).pop(key, None)
        self.by_partition.get(key[0], {}).pop(key, None)
        self._changed(key)

    def _changed(self, key: tuple[str, str]) -> None:
        self.query_rows.pop(("index", key[1]), None)
        self.query_rows.pop(("base", key[0]), None)

    def rows(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        values = req.get("ExpressionAttributeValues", {})
        if "IndexName" in req:
            # The owner index: per owner, sorted once per change of that owner's items
            # (filtering the whole table for every page would put the fake on the clock).
            owner = values[":o"]["S"]
            if ("index", owner) not in self.query_rows:
                self.query_rows[("index", owner)] = sorted(
                    (i for i in self.by_owner.get(owner, {}).values() if "Region" in i),
                    key=lambda i: i["Region"]["S"],
                )
            return self.query_rows[("index", owner)]
        # The base table: one partition, sorted by the sort key; `begins_with` narrows it.
        part = (values.get(":p") or values.get(":o") or {}).get("S", "")
        if ("base", part) not in self.query_rows:
            self.query_rows[("base", part)] = [
                i for _, i in sorted(self.by_partition.get(part, {}).items())
            ]
        rows = self.query_rows[("base", part)]
        prefix = values.get(":a", {}).get("S")
        if prefix is not None:
            rows = [i for i in rows if i["OwnerId"]["S"].startswith(prefix)]
        return rows

    def scan(self, total: int, seg: int) -> list[tuple[str, str]]:
        if (total, seg) not in self.scan_keys:
            keys = sorted(self.items)
            if total > 1:
                keys = [k for k in keys if zlib.crc32(k[0].encode()) % total == seg]
            self.scan_keys[(total, seg)] = keys
        return self.scan_keys[(total, seg)]


class Server:
    """The request router. EC2, STS and Organizations answers are built from the org; DynamoDB
    is real (in-memory) tables that enforce BatchWriteItem's rules, so a second run reads back
    everything the first one wrote (the steady state)."""

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
        self.unprocessed = unprocessed
        self.throttle = throttle
        self.ec2_throttle = ec2_throttle
        self.counts: Counter[str] = Counter()
        self.tables: dict[str, Table] = {}
        self.rng = random.Random(0)

    def table(self, name: str) -> Table:
        if name not in self.tables:
            self.tables[name] = Table()
        return self.tables[name]

    def dynamodb(self, op: str, req: dict[str, Any]) -> tuple[str, str, int]:
        if self.throttle and op != "DescribeTable" and self.rng.random() < self.throttle:
            return _error("ProvisionedThroughputExceededException", "Rate exceeded")
        if op == "DescribeTable":
            desc = {"Table": {**TABLE_DESC["Table"], "TableName": req.get("TableName", "")}}
            return json.dumps(desc), "application/x-amz-json-1.0", 200
        if op == "BatchWriteItem":
            return self.batch_write(req)
        if op == "BatchGetItem":
            return self.batch_get(req)
        # No UpdateItem: nothing the bench runs calls it, and a fake that answered it without
        # applying it would let a new use measure a write that never happened.
        if op in ("PutItem", "DeleteItem", "GetItem"):
            table = self.table(req.get("TableName", ""))
            key = self._key(req.get("Item") or req.get("Key") or {})
            out: dict[str, Any] = {}
            if op == "PutItem":
                if _size(req["Item"]) > MAX_ITEM:
                    return _error("ValidationException", "Item size has exceeded the maximum")
                table.put(key, req["Item"])
            elif op == "DeleteItem":
                table.delete(key)
            elif op == "GetItem" and key in table.items:
                out = {"Item": table.items[key]}
            return json.dumps(out), "application/x-amz-json-1.0", 200
        if op in ("Query", "Scan"):
            return self.read(op, req)
        return _error("UnknownOperationException", op)

    def batch_write(self, req: dict[str, Any]) -> tuple[str, str, int]:
        ((name, requests),) = req["RequestItems"].items()
        table = self.table(name)
        if not 1 <= len(requests) <= 25:
            return _error("ValidationException", "Too many items requested for the BatchWriteItem")
        keys = [
            self._key(r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])
            for r in requests
        ]
        if len(set(keys)) != len(keys):
            return _error("ValidationException", "Provided list of item keys contains duplicates")
        if any(_size(r["PutRequest"]["Item"]) > MAX_ITEM for r in requests if "PutRequest" in r):
            return _error("ValidationException", "Item size has exceeded the maximum allowed size")
        left = []
        for key, r in zip(keys, requests, strict=True):
            if self.unprocessed and self.rng.random() < self.unprocessed:
                left.append(r)
            elif "PutRequest" in r:
                table.put(key, r["PutRequest"]["Item"])
            else:
                table.delete(key)
        if left and len(left) == len(requests):
            first = requests[0]
            if "PutRequest" in first:  # some progress, always
                table.put(keys[0], first["PutRequest"]["Item"])
            else:
                table.delete(keys[0])
            left = left[1:]
        out = {"UnprocessedItems": {name: left} if left else {}}
        return json.dumps(out), "application/x-amz-json-1.0", 200

    def batch_get(self, req: dict[str, Any]) -> tuple[str, str, int]:
        ((name, spec),) = req["RequestItems"].items()
        table = self.table(name)
        if not 1 <= len(spec["Keys"]) <= 100:
            return _error("ValidationException", "Too many items requested for the BatchGetItem")
        found = [table.items[k] for k in map(self._key, spec["Keys"]) if k in table.items]
        keep = _kept(spec)
        items = ", ".join(table.json_of(i, keep) for i in found)
        body = f'{{"Responses": {{{json.dumps(name)}: [{items}]}}}}'
        return body, "application/x-amz-json-1.0", 200

    def read(self, op: str, req: dict[str, Any]) -> tuple[str, str, int]:
        table = self.table(req.get("TableName", ""))
        after = req.get("ExclusiveStartKey") or {}
        if op == "Scan":
            keys = table.scan(req.get("TotalSegments", 1), req.get("Segment", 0))
            start = bisect.bisect_right(keys, self._key(after)) if after else 0
            chunk = keys[start : start + PAGE]
            rows = [table.items[k] for k in chunk if k in table.items]
            more, last = start + PAGE < len(keys), chunk[-1] if chunk else ("", "")
            resume: dict[str, Any] = {"VpcId": {"S": last[0]}, "OwnerId": {"S": last[1]}}
        else:
            matches = table.rows(req)
            start = int(after.get("n", {}).get("N", 0))
            rows = matches[start : start + PAGE]
            more, resume = start + PAGE < len(matches), {"n": {"N": str(start + PAGE)}}
        # Pages stay as long with a projection: DynamoDB's 1 MB page limit counts the data read.
        # The page is `json.dumps` of {"Items": ..., "Count": ..., ...}, joined from each item's
        # JSON (`Table.json_of`).
        keep, n = _kept(req), len(rows)
        items = ", ".join(table.json_of(i, keep) for i in rows)
        body = f'{{"Items": [{items}], "Count": {n}, "ScannedCount": {n}'
        if more:
            body += f', "LastEvaluatedKey": {json.dumps(resume)}'
        return body + "}", "application/x-amz-json-1.0", 200

    @staticmethod
    def _key(item: dict[str, Any]) -> tuple[str, str]:
        return _item_key(item)

    def organizations(self, op: str, req: dict[str, Any]) -> tuple[str, str, int]:
        self.counts[f"organizations.{op}"] += 1
        if op == "DescribeAccount":
            acct = req.get("AccountId", "")
            if acct not in self.org.account_set:
                return _error("AccountNotFoundException", "not in the organization")
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
        """/__stats (request counts; `?reset` zeroes them), /__night (the org moves on),
        /__latency?s=SECONDS (a table filled at no latency is then read at this one;
        `&table=SECONDS`: DynamoDB's apart)."""
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
        items = {f"_items_{name}": len(tbl.items) for name, tbl in self.tables.items()}
        inventory = len(self.tables["VPCTracker"].items) if "VPCTracker" in self.tables else 0
        out = json.dumps({**self.counts, "_items": inventory, **items, "_cpu_s": cpu})
        if "reset" in path:
            self.counts.clear()
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
