"""Known findings over time: each finding announced once however long it stands, and items from
the previous version (no `FindingAccounts`) read as before."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from collector.analysis.findings import current_findings, iter_findings
from collector.jobs.audit import run_audit
from collector.jobs.findings import record_findings
from collector.jobs.options import RunOptions, dynamodb_client
from collector.store.findings import OWNER as FINDING_OWNER
from collector.store.table import OWNER_INDEX
from tests.integration.conftest import FAST_RETRY, Org, now
from tests.integration.test_live import topic  # noqa: F401


def involving(findings: dict[str, dict[str, Any]], accounts: list[str]) -> dict[str, Any]:
    """The reference: findings whose `accounts` meet these (what a narrowed recording compares)."""
    return {k: f for k, f in findings.items() if set(accounts) & set(f.get("accounts", []))}


def options(org: Org, at: datetime) -> RunOptions:
    return RunOptions(session=org.session, retry=FAST_RETRY, clock=lambda: at)


def record(org: Org, at: datetime, topic_arn: str | None = None, **kwargs: Any) -> Any:
    audit, _ = run_audit(org.config(), options=options(org, at))
    return record_findings(org.config(), audit, options(org, at), topic=topic_arn, **kwargs)


def finding_items(org: Org) -> list[dict[str, Any]]:
    """Every `finding#` item, the baseline marker included, as stored."""
    ddb = dynamodb_client(org.session, org.config())
    pages = ddb.get_paginator("scan").paginate(TableName="VPCTracker")
    return [
        item for page in pages for item in page["Items"] if item["OwnerId"]["S"] == FINDING_OWNER
    ]


def expire(org: Org, at: datetime) -> int:
    """What DynamoDB's TTL does (neither moto nor dynalite does it): delete every item whose
    ExpiresAt has passed."""
    ddb = dynamodb_client(org.session, org.config())
    gone = 0
    for item in finding_items(org):
        if int(item["ExpiresAt"]["N"]) < at.timestamp():
            ddb.delete_item(TableName="VPCTracker", Key={k: item[k] for k in ("VpcId", "OwnerId")})
            gone += 1
    return gone


def topic_arn(org: Org) -> str:
    sns = org.session.client("sns")
    return str(sns.list_topics()["Topics"][0]["TopicArn"])


def test_a_standing_finding_is_announced_once_however_long_it_stands(
    org: Org,
    topic: Any,  # noqa: F811
) -> None:
    # The known-finding items and the baseline marker carry the retention TTL (90 days). They
    # were written once, so DynamoDB deleted them 90 days later while the findings still stood:
    # the next run saw no baseline and every finding as unknown, and announced again.
    org.run(at=now(1))
    first = record(org, now(1), topic_arn(org))
    assert first.first_baseline and first.known > 0
    assert len(topic()) == 1  # the baseline message
    # Rewritten once a quarter to three quarters of the TTL has passed (spread by id).
    later = now(1) + timedelta(days=70)
    org.run(at=later)
    assert record(org, later, topic_arn(org)).notified == 0
    # Every item still standing now expires a full retention after the latest run that saw it.
    horizon = (later + timedelta(days=45)).timestamp()
    assert all(int(i["ExpiresAt"]["N"]) > horizon for i in finding_items(org))
    much_later = now(1) + timedelta(days=100)
    expire(org, much_later)
    org.run(at=much_later)
    again = record(org, much_later, topic_arn(org))
    assert not again.first_baseline
    assert (again.notified, again.new, again.resolved) == (0, [], [])
    assert topic() == []


def strip_accounts(org: Org) -> int:
    """Make every known-finding item look as the previous version wrote it."""
    ddb = dynamodb_client(org.session, org.config())
    n = 0
    for item in finding_items(org):
        if "FindingAccounts" in item:
            ddb.update_item(
                TableName="VPCTracker",
                Key={k: item[k] for k in ("VpcId", "OwnerId")},
                UpdateExpression="REMOVE FindingAccounts",
            )
            n += 1
    return n


def test_findings_recorded_by_the_previous_version_are_read_as_before(org: Org) -> None:
    org.run(at=now(1))
    record(org, now(1))
    stored = {i["VpcId"]["S"]: i["Finding"]["S"] for i in finding_items(org) if "Finding" in i}
    assert strip_accounts(org) == len(stored) > 0
    # A narrowed recording (an event rescan of the sandbox) resolves nothing of the others'.
    sandbox = org.accounts["sandbox"]
    narrowed = record(org, now(2), accounts=[sandbox])
    assert (narrowed.new, narrowed.resolved) == ([], [])
    # Removing workload-b's clashing VPC resolves its findings, announced from what was stored.
    b = org.accounts["workload-b"]
    ec2 = org.ec2("workload-b", "us-east-1")
    (clash,) = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.1.0.0/16"]
    before, _ = run_audit(org.config(), options=options(org, now(2)))
    gone = involving(current_findings(before), [b])
    ec2.delete_vpc(VpcId=clash)
    org.run(at=now(3))
    full = record(org, now(3))
    assert full.new == []
    as_text = partial(json.dumps, sort_keys=True)
    assert sorted(map(as_text, full.resolved)) == sorted(
        as_text(f) for f in gone.values() if f["kind"] == "overlap"
    )
    # Each item still known is rewritten in this version's shape (with its accounts) once.
    assert all("FindingAccounts" in i for i in finding_items(org) if "Finding" in i)


def test_findings_of_some_accounts_are_those_that_involve_them(org: Org) -> None:
    org.run(at=now(1))
    audit, _ = run_audit(org.config(), options=options(org, now(1)))
    everything = current_findings(audit)
    assert {fid: build() for fid, build, _ in iter_findings(audit)} == everything
    for name in ("workload-a", "workload-b", "sandbox", "management"):
        acct = org.accounts[name]
        mine = {fid: build() for fid, build, _ in iter_findings(audit, accounts={acct})}
        assert mine == involving(everything, [acct])
    assert any(involving(everything, [org.accounts["workload-b"]]))


def test_known_findings_are_read_without_their_bodies(org: Org) -> None:
    # At scale the bodies are most of the bytes: a night only needs the ids (and, narrowed,
    # the accounts); a body is fetched only for a finding that resolves.
    org.run(at=now(1))
    record(org, now(1))
    queries: list[dict[str, Any]] = []
    org.session.events.register(
        "before-parameter-build.dynamodb.Query", lambda params, **_: queries.append(params)
    )
    record(org, now(2))
    known = [q for q in queries if q.get("IndexName") == OWNER_INDEX]
    projected = [q.get("ProjectionExpression", "Finding").split(", ") for q in known]
    assert projected and all("Finding" not in names for names in projected)
