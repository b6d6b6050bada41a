"""A small organization in moto (in-process), built through the real APIs."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from collector.cli import main
from collector.config import Config
from collector.demo import delete_default_vpc, member_clients
from collector.errors import RetryPolicy
from collector.jobs.collect import run
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.summary import RunSummary
from collector.models import Vpc
from collector.store.reader import scan_items
from collector.store.registry import VPCS, load_items
from collector.store.table import create_table
from tests.faults import Faults

REGIONS = ["us-east-1", "eu-west-1"]
FAST_RETRY = RetryPolicy(attempts=4, multiplier=0.001, max_wait=0.01)


def scanned_attributes(scans: Iterable[Mapping[str, Any]]) -> set[str]:
    """The attributes captured `Scan` calls projected to (none where they read whole items)."""
    return {a for s in scans for a in s.get("ExpressionAttributeNames", {}).values()}


@dataclass
class Org:
    """Handles on the simulated organization."""

    session: boto3.Session
    management: str
    accounts: dict[str, str] = field(default_factory=dict)  # name -> id
    root: str = ""
    ous: dict[str, str] = field(default_factory=dict)

    def ec2(self, name_or_id: str, region: str) -> Any:
        acct = self.accounts.get(name_or_id, name_or_id)
        return member_clients(self.session, acct, region)

    def create_vpc(self, who: str, region: str, cidr: str, name: str | None = None) -> str:
        kwargs: dict[str, Any] = {"CidrBlock": cidr}
        if name:
            kwargs["TagSpecifications"] = [
                {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}
            ]
        return str(self.ec2(who, region).create_vpc(**kwargs)["Vpc"]["VpcId"])

    def add_accounts(self, n: int) -> str:
        """`n` more ACTIVE accounts (`late-0` …): with the fixture's six, forty make three pages
        of `ListAccounts` (20 a page). The last one's id."""
        orgs = self.session.client("organizations")
        last = ""
        for i in range(n):
            made = orgs.create_account(Email=f"late-{i}@example.com", AccountName=f"late-{i}")
            last = self.accounts[f"late-{i}"] = made["CreateAccountStatus"]["AccountId"]
        return last

    def fail_listing_after_first_page(self) -> None:
        """Every `ListAccounts` page after the first fails (ServiceException)."""

        def second_page_fails(params: dict[str, Any], **_: Any) -> None:
            if "NextToken" in params:
                raise ClientError(
                    {"Error": {"Code": "ServiceException", "Message": "try again"}}, "ListAccounts"
                )

        self.session.events.register(
            "before-parameter-build.organizations.ListAccounts", second_page_fails
        )

    def api_vpcs(self, who: str, region: str) -> list[dict[str, Any]]:
        pages = self.ec2(who, region).get_paginator("describe_vpcs").paginate()
        return [v for page in pages for v in page["Vpcs"]]

    def config(self, **overrides: Any) -> Config:
        data: dict[str, Any] = {
            "organization": {"exclude_accounts": [self.accounts["excluded"]]},
            "regions": REGIONS,
            "table": {"name": "VPCTracker", "region": "us-east-1"},
            "scan": {"max_workers": 8},
        }
        data.update(overrides)
        return Config.model_validate(data)

    def run(
        self, config: Config | None = None, *, at: datetime | None = None, **kwargs: Any
    ) -> RunSummary:
        opts = RunOptions(session=self.session, retry=FAST_RETRY, **kwargs)
        if at is not None:
            opts.clock = lambda: at
        return run(config or self.config(), opts)

    def table(self, name: str = "VPCTracker") -> dict[tuple[str, str], Vpc]:
        # Through the registry, as every reader: an item too large for one is joined from parts.
        ddb = dynamodb_client(self.session, self.config())
        return {(v.VpcId, v.OwnerId): v for v in load_items(ddb, name, VPCS).vpcs}


def build_org(session: boto3.Session) -> Org:
    """Management + five members: two workloads, one sandbox, one excluded, one suspended."""
    orgs = session.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    root = orgs.list_roots()["Roots"][0]["Id"]
    mgmt = session.client("sts").get_caller_identity()["Account"]
    org = Org(session=session, management=mgmt, root=root)
    org.accounts["management"] = mgmt
    for ou in ("Workloads", "Sandbox"):
        org.ous[ou] = orgs.create_organizational_unit(ParentId=root, Name=ou)["OrganizationalUnit"][
            "Id"
        ]
    for name, ou in (
        ("workload-a", "Workloads"),
        ("workload-b", "Workloads"),
        ("sandbox", "Sandbox"),
        ("excluded", None),
        ("suspended", None),
    ):
        acct = orgs.create_account(Email=f"{name}@example.com", AccountName=name)[
            "CreateAccountStatus"
        ]["AccountId"]
        if ou:
            orgs.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=org.ous[ou])
        org.accounts[name] = acct
    orgs.close_account(AccountId=org.accounts["suspended"])
    return org


def populate(session: boto3.Session) -> Org:
    """The organization every `org` test starts from: defaults kept in some places, a
    secondary CIDR, a clash, 8 VPCs in one region (so paging is exercised when a test asks
    for small pages), and the two tables."""
    o = build_org(session)
    # Landing-zone baseline: default VPCs deleted except in workload-b/us-east-1.
    for name in ("management", "workload-a", "sandbox", "excluded", "suspended"):
        for region in REGIONS:
            delete_default_vpc(o.ec2(name, region))
    delete_default_vpc(o.ec2("workload-b", "eu-west-1"))
    a1 = o.create_vpc("workload-a", "us-east-1", "10.1.0.0/16", "a-main")
    o.ec2("workload-a", "us-east-1").associate_vpc_cidr_block(VpcId=a1, CidrBlock="100.64.0.0/20")
    for i in range(7):
        o.create_vpc("workload-a", "us-east-1", f"10.2.{i * 16}.0/20", f"a-{i}")
    o.create_vpc("workload-a", "eu-west-1", "10.3.0.0/16")
    o.create_vpc("workload-b", "us-east-1", "10.1.0.0/16", "b-clash")
    o.create_vpc("sandbox", "eu-west-1", "10.9.0.0/16")
    o.create_vpc("management", "us-east-1", "10.0.0.0/16", "hub")
    o.create_vpc("excluded", "us-east-1", "10.50.0.0/16")
    o.create_vpc("suspended", "us-east-1", "10.60.0.0/16")
    for name in ("VPCTracker", "VPCTracker-ledger"):
        create_table(dynamodb_client(session, o.config()), name)
    return o


@pytest.fixture
def org() -> Iterator[Org]:
    """`populate`d in moto, in this process."""
    with mock_aws():
        yield populate(boto3.Session(region_name="us-east-1"))


@pytest.fixture
def faults(org: Org) -> Faults:
    """Fault injection on the org's session (hub and member clients alike)."""
    return Faults(org.session, seed=1234).install()


@pytest.fixture
def cfg(org: Org, tmp_path: Path) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(
        "organization:\n"
        f"  exclude_accounts: ['{org.accounts['excluded']}']\n"
        "regions: [us-east-1, eu-west-1]\n"
        "table: {name: VPCTracker, region: us-east-1}\n"
        "scan: {max_workers: 4}\n"
        "reserved_cidrs:\n"
        "  - {cidr: 192.168.0.0/16, name: corporate-network}\n"
    )
    return p


def cli(org: Org, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), session=org.session)
    out, err = capsys.readouterr()
    return code, out, err


def check_json(
    org: Org, capsys: pytest.CaptureFixture[str], cfg: Path, account: str
) -> tuple[int, dict[str, Any]]:
    """`vpctracker check --format json --account ACCOUNT`: exit code and parsed result."""
    code, out, _ = cli(
        org, capsys, "check", "--config", str(cfg), "--format", "json", "--account", account
    )
    return code, json.loads(out)


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on 127.0.0.1, as AWS_ENDPOINT_URL. Backends live in this process and
    outlive a server, so it starts from (and leaves) an empty world."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset)
    try:
        yield url
    finally:
        urllib.request.urlopen(reset)
        server.stop()


def now(day: int) -> datetime:
    """A fixed run time (day of November 2026)."""
    return datetime(2026, 11, day, 3, 0, tzinfo=UTC)


__all__ = [
    "FAST_RETRY",
    "REGIONS",
    "Org",
    "build_org",
    "check_json",
    "cli",
    "moto_url",
    "now",
    "populate",
    "scan_items",
]
