"""Randomised fault schedules over a simulated organization, and the properties every run
must keep whatever the faults: nothing lost, nothing falsely deleted, every failure named."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.moto_api._internal import mock_random

from collector.config import Config
from collector.demo import member_clients
from collector.errors import RetryPolicy
from collector.jobs.collect import run
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.summary import RunSummary
from collector.models import Vpc
from collector.scan import ALL_REGIONS
from collector.store.reader import scan_items
from collector.store.table import create_table
from collector.store.vpcs import from_item, is_vpc_item
from tests.faults import ACCOUNT_LEVEL, Faults

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"]
TABLE, REFERENCE = "VPCTracker", "Reference"
# Generous but fast: faults are frequent here, and a lost write would be a (reported) failure.
SOAK_RETRY = RetryPolicy(attempts=6, multiplier=0.001, max_wait=0.005)

# Throttling codes as each service really names them, plus server errors.
THROTTLES = {
    ("sts", "*"): ["Throttling"],
    ("organizations", "*"): ["TooManyRequestsException"],
    ("ec2", "*"): ["RequestLimitExceeded"],
    ("dynamodb", "*"): ["ProvisionedThroughputExceededException", "ThrottlingException"],
}
SERVER_ERRORS = [("InternalError", 500), ("ServiceUnavailable", 503)]


@dataclass
class World:
    """A simulated organization and a fault-free view of what its APIs hold."""

    session: boto3.Session
    accounts: dict[str, str]  # id -> name
    truth_session: boto3.Session

    def config(self, table: str) -> Config:
        return Config.model_validate(
            {
                "regions": REGIONS,
                "table": {"name": table, "region": "us-east-1"},
                # One process: moto and the injected faults live in this one, where a worker
                # process could not reach them.
                "scan": {"max_workers": 8, "processes": 1},
            }
        )

    def truth(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(account, region) -> {VpcId: raw API item}, read without faults."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for acct in self.accounts:
            for region in REGIONS:
                ec2 = member_clients(self.truth_session, acct, region)
                out[(acct, region)] = {v["VpcId"]: v for v in ec2.describe_vpcs()["Vpcs"]}
        return out

    def table(self, name: str) -> dict[tuple[str, str], list[Vpc]]:
        ddb = dynamodb_client(self.truth_session, self.config(name))
        items: dict[tuple[str, str], list[Vpc]] = {}
        for raw in scan_items(ddb, name):
            if is_vpc_item(raw):
                v = from_item(raw)
                items.setdefault((v.OwnerId, v.Region), []).append(v)
        return items


def build_world(session: boto3.Session, accounts: int, seed: int) -> World:
    """`accounts` members (plus management) x 4 regions, 0-3 VPCs each, some secondary CIDRs.

    moto's id generator is seeded too, so account and VPC ids, and with them every fault
    decision keyed on them, repeat exactly for a seed.
    """
    mock_random.seed(seed)
    orgs = session.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    mgmt = session.client("sts").get_caller_identity()["Account"]
    ids = {mgmt: "management"}
    for i in range(accounts):
        acct = orgs.create_account(Email=f"a{i}@example.com", AccountName=f"acct-{i:03d}")[
            "CreateAccountStatus"
        ]["AccountId"]
        ids[acct] = f"acct-{i:03d}"
    n = 0
    for ai, acct in enumerate(ids):
        for ri, region in enumerate(REGIONS):
            ec2 = member_clients(session, acct, region)
            for _ in range((ai * 7 + ri * 3 + seed) % 4):
                vid = ec2.create_vpc(CidrBlock=f"10.{n // 16 % 256}.{n % 16 * 16}.0/20")["Vpc"][
                    "VpcId"
                ]
                if n % 9 == 0:
                    ec2.associate_vpc_cidr_block(
                        VpcId=vid, CidrBlock=f"100.{64 + n // 4096 % 64}.{n // 16 % 256}.0/24"
                    )
                n += 1
    for name in (TABLE, REFERENCE):
        config = World(session, ids, session).config(name)
        for table in (name, config.table.ledger):
            create_table(dynamodb_client(session, config), table)
    return World(session, ids, boto3.Session(region_name="us-east-1"))


def corrupt(account: str, region: str, vpcs: list[dict[str, Any]], roll: Any) -> list[str]:
    """Malformed API data: drop the CIDR, break it, or invent a state, for ~5% of items."""
    hit = []
    for v in vpcs:
        r = roll(v["VpcId"])
        if r >= 0.05:
            continue
        kind = int(r * 60) % 3
        if kind == 0:
            v.pop("CidrBlock", None)
        elif kind == 1:
            v["CidrBlock"] = "10.0.0.300/20"
        else:
            v["State"] = "vanishing"
        hit.append(v["VpcId"])
    return hit


def deny_by_scp(faults: Faults, account: str, region: str, message: str) -> None:
    """A Service Control Policy denying DescribeVpcs in one region: a permanent failure."""
    faults.error(
        "ec2",
        "DescribeVpcs",
        "UnauthorizedOperation",
        status=403,
        account=account,
        region=region,
        message=message,
    )


def schedule(faults: Faults, world: World, intensity: float = 1.0) -> None:
    """A seeded schedule of every fault kind, on every API the tool calls."""
    p = 0.08 * intensity
    for (service, op), codes in THROTTLES.items():
        for code in codes:
            faults.error(
                service, op, code, status=400, probability=p / len(codes), message="Rate exceeded"
            )
        for code, status in SERVER_ERRORS:
            faults.error(
                service,
                op,
                code,
                status=status,
                probability=p / 4,
                message="We encountered an internal error. Please try again.",
            )
        faults.network(service, op, "connection", probability=p / 4)
        faults.network(service, op, "timeout", probability=p / 8)
    ids = list(world.accounts)
    for acct in ids:
        if faults.roll("denied", acct) < 0.06:
            faults.error(
                "sts",
                "AssumeRole",
                "AccessDenied",
                status=403,
                account=acct,
                message=f"User is not authorized to perform: sts:AssumeRole on {acct}",
            )
        for region in REGIONS:
            if faults.roll("disabled", acct, region) < 0.05:
                # Really not opted in: the account's DescribeRegions says so, and the region
                # itself answers as real AWS does (it is never asked: the plan skips it).
                faults.region_status[(acct, region)] = "not-opted-in"
                faults.error(
                    "ec2", "DescribeVpcs", "OptInRequired", status=401, account=acct, region=region
                )
            elif faults.roll("authfailure", acct, region) < 0.03:
                # An enabled region answering AuthFailure proves nothing: a failed target.
                code = ["AuthFailure", "UnrecognizedClientException"][
                    int(faults.roll("which", acct, region) * 2)
                ]
                faults.error(
                    "ec2",
                    "DescribeVpcs",
                    code,
                    status=401,
                    account=acct,
                    region=region,
                    message="AWS was not able to validate the provided access credentials",
                )
    for acct in ids:
        for region in REGIONS:
            # A Service Control Policy denying the call in one region: a permanent failure.
            if faults.roll("scp", acct, region) < 0.04:
                deny_by_scp(
                    faults, acct, region, "You are not authorized to perform this operation."
                )
    faults.error(
        "ec2",
        "DescribeVpcs",
        "ExpiredToken",
        status=400,
        probability=0.1 * intensity,
        once_per_target=True,
        message="The security token included in the request is expired",
    )
    # A proxy on the way: a plain-text 502 (ResponseParserError) or a 200 login page (parses
    # as an answer without a Vpcs list).
    faults.raw(
        "ec2",
        "DescribeVpcs",
        502,
        b"upstream connect error or disconnect/reset before headers",
        name="ResponseParserError",
        content_type="text/plain",
        probability=p / 4,
    )
    faults.raw(
        "ec2",
        "DescribeVpcs",
        200,
        b"<!DOCTYPE html><html><body>Please sign in to the proxy</body></html>",
        name="MalformedResponse",
        probability=p / 4,
    )
    faults.unprocessed_fraction = 0.3 * intensity
    faults.vpc_mutator = corrupt


@dataclass
class Figures:
    """What a schedule did, for the soak report."""

    runs: int = 0
    targets: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    vpcs_checked: int = 0
    vpcs_lost: int = 0
    false_deletes: int = 0
    invalid_reported: int = 0


def run_once(world: World, table: str, at: datetime, faults: Faults, enabled: bool) -> RunSummary:
    faults.enabled = enabled
    faults.corrupted.clear()
    faults.injected_at.clear()
    opts = RunOptions(session=world.session, retry=SOAK_RETRY, clock=lambda: at)
    return run(world.config(table), opts)


def check_properties(
    world: World, s: RunSummary, faults: Faults, at: datetime, figures: Figures
) -> None:
    """Properties 1, 2, 3 and 5 for one run (property 4 is checked across runs)."""
    truth = world.truth()
    table = world.table(TABLE)
    failed = {(f["account_id"], f["region"]): f["error_code"] for f in s.failures}
    skipped = {(k["account_id"], k["region"]) for k in s.skips}
    corrupted = {(a, r, v) for a, r, v in faults.corrupted}
    # 3. Every failure is a target where that very error was injected, and the exit code says so.
    for (acct, region), code in failed.items():
        where = (acct, ACCOUNT_LEVEL) if region == ALL_REGIONS else (acct, region)
        assert faults.injected_at[where][code] > 0, (acct, region, code)
    assert s.exit_code == (2 if s.failures or s.write_failures else 0)
    assert s.write_failures == 0, s.write_errors  # retries must get every write through
    denied_accounts = {a for a, r in failed if r == ALL_REGIONS}
    for acct in world.accounts:
        for region in REGIONS:
            target = (acct, region)
            items = table.get(target, [])
            written_now = {v.VpcId: v for v in items if v.LastSeen == at and not v.Deleted}
            marked_now = {v.VpcId for v in items if v.Deleted and v.DeletedAt == at}
            ok = acct not in denied_accounts and target not in failed and target not in skipped
            bad_here = {v for a, r, v in corrupted if (a, r) == target}
            if target in skipped:
                # Skipped means the account's own DescribeRegions said "not opted in", and
                # nothing else does (an AuthFailure in an enabled region is a failure).
                assert faults.region_status.get(target) == "not-opted-in", target
            if not ok:
                # 2. A failed or skipped target writes and marks nothing.
                assert not written_now and not marked_now, target
                figures.targets["skipped" if target in skipped else "failed"] += 1
                continue
            figures.targets["ok"] += 1
            expected = {vid for vid in truth[target] if vid not in bad_here}
            # 1. Every VPC the API returned is written once, with the right attributes.
            assert set(written_now) == expected, target
            figures.vpcs_checked += len(expected)
            for vid in expected:
                raw, v = truth[target][vid], written_now[vid]
                assert (v.CidrBlock, v.IsDefault, v.State) == (
                    raw["CidrBlock"],
                    raw["IsDefault"],
                    raw["State"],
                )
                assert sum(1 for x in items if x.VpcId == vid) == 1
            # 2. Only VPCs really gone from the API are marked, never an unreadable one.
            assert marked_now.isdisjoint(truth[target]), target
            # 5. Invalid records are reported and not written.
            reported = {
                i["vpc_id"] for i in s.invalid_records if (i["account_id"], i["region"]) == target
            }
            assert reported == bad_here, target
            figures.invalid_reported += len(bad_here)
    figures.runs += 1


def comparable(items: dict[tuple[str, str], list[Vpc]]) -> dict[str, Any]:
    """Live items, every attribute but FirstSeen (which depends on when a target first
    succeeded); deleted items by key only."""
    live = {}
    deleted = set()
    for vs in items.values():
        for v in vs:
            if v.Deleted:
                deleted.add(v.key)
            else:
                live[v.key] = v.model_dump(exclude={"FirstSeen"})
    return {"live": live, "deleted": deleted}


def run_schedule(
    session: boto3.Session, *, accounts: int, seed: int, intensity: float = 1.0
) -> Figures:
    """Build a world, run faulty/fault-free histories side by side and check every property."""
    world = build_world(session, accounts, seed)
    faults = Faults(session, seed=seed).install()
    schedule(faults, world, intensity)
    figures = Figures()
    t0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    for step in range(2):
        at = t0 + timedelta(days=step)
        if step:
            # Some targets where a VPC was just deleted now fail: their items must survive.
            for acct, region in _churn(world, seed)[::2]:
                deny_by_scp(faults, acct, region, "denied by SCP")
        run_once(world, REFERENCE, at, faults, enabled=False)
        s = run_once(world, TABLE, at, faults, enabled=True)
        figures.faults.update(faults.injected)
        faults.injected.clear()
        check_properties(world, s, faults, at, figures)
    # 4. Once the faults stop, one more run converges to what fault-free runs produced.
    at = t0 + timedelta(days=2)
    run_once(world, REFERENCE, at, faults, enabled=False)
    final = run_once(world, TABLE, at, faults, enabled=False)
    assert final.exit_code == 0
    got, want = comparable(world.table(TABLE)), comparable(world.table(REFERENCE))
    assert got["live"] == want["live"]
    # Deleted: the faulty history may not have known a VPC that lived and died while its
    # target was failing, but it never marks one the reference still has alive.
    assert got["deleted"] <= want["deleted"]
    figures.vpcs_lost = len(set(want["live"]) - set(got["live"]))
    figures.false_deletes = len(got["deleted"] & set(want["live"]))
    return figures


def _churn(world: World, seed: int) -> list[tuple[str, str]]:
    """Between runs: delete some VPCs, create others (so deletion marking is exercised).
    Returns the targets where a VPC was deleted."""
    deleted = []
    for i, acct in enumerate(world.accounts):
        region = REGIONS[(i + seed) % len(REGIONS)]
        ec2 = member_clients(world.truth_session, acct, region)
        vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]]
        if vpcs and i % 2 == 0:
            ec2.delete_vpc(VpcId=vpcs[0]["VpcId"])
            deleted.append((acct, region))
        elif i % 3 == 0:
            ec2.create_vpc(CidrBlock=f"172.20.{i % 256}.0/24")
    return deleted
