"""Issue 22: findings and notifications that never flood, never lose and never lie.

Each test is one observation of the issue (or one capability it asks for), on the moto
organization with an SNS topic whose SQS subscription is what a subscriber receives.
"""

from __future__ import annotations

import gc
import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.analysis.findings import current_findings
from collector.cli import main
from collector.config import Config
from collector.handler import handler
from collector.jobs.audit import run_audit
from collector.jobs.collect import run
from collector.jobs.findings import FindingsRecord, record_findings, remember_findings
from collector.jobs.options import RunOptions, dynamodb_client
from collector.store.changes import change_item
from collector.store.findings import all_known
from collector.store.reader import scan_items
from tests.conftest import load_data
from tests.faults import Faults
from tests.integration.conftest import FAST_RETRY, REGIONS, Org, now
from tests.integration.test_handler import Context, sqs_record
from tests.integration.test_live import event_for

LEDGER = "VPCTracker-ledger"


@pytest.fixture
def inbox(org: Org) -> Any:
    """An SNS topic with an SQS subscription; returns (topic ARN, read-and-empty the inbox)."""
    sns, sqs = org.session.client("sns"), org.session.client("sqs")
    arn = sns.create_topic(Name="vpctracker-findings")["TopicArn"]
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)

    def read() -> list[dict[str, Any]]:
        out = []
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    return arn, read


def config(org: Org, topic: str | None = None, **notify: Any) -> Config:
    data: dict[str, Any] = {"notify": {"topic_arn": topic, **notify}}
    return org.config(**data)


def opts(org: Org, at: datetime | None = None) -> RunOptions:
    o = RunOptions(session=org.session, retry=FAST_RETRY)
    if at is not None:
        o.clock = lambda: at
    return o


def nightly(org: Org, cfg: Config, at: datetime | None = None) -> FindingsRecord:
    """A full collect and its recording, as the nightly run does them."""
    o = opts(org, at)
    summary = run(cfg, o)
    record = remember_findings(cfg, summary, o)
    assert record is not None, summary.write_errors
    return record


def rescan(org: Org, cfg: Config, who: str, region: str = "us-east-1") -> FindingsRecord:
    """One account rescanned and its recording narrowed to it, as an event does."""
    o = opts(org)
    acct = org.accounts.get(who, who)
    summary = run(cfg, replace(o, accounts=[acct], regions=[region]))
    record = remember_findings(cfg, summary, o, accounts=[acct])
    assert record is not None, summary.write_errors
    return record


def findings_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every announcement in the messages: {id, transition, at} from the attribute."""
    out = []
    for m in messages:
        out += json.loads(m["MessageAttributes"]["findings"]["Value"])
    return out


def ledger_items(org: Org) -> list[dict[str, Any]]:
    ddb = dynamodb_client(org.session, org.config())
    return list(scan_items(ddb, LEDGER))


def known_items(org: Org) -> int:
    return sum(i["VpcId"]["S"].startswith("finding#") for i in ledger_items(org))


# ---------------------------------------------------------------------------------------------
# 1. Quadratic identity


def test_a_vpc_joining_a_group_of_n_is_one_finding_and_one_message(org: Org, inbox: Any) -> None:
    # Before: one finding per overlapping pair. 30 VPCs on one range were 435 findings; one
    # more sent 30 messages, and deleting it 30 more.
    topic, read = inbox
    cfg = config(org, topic)
    shared = []
    for n in range(30):
        who = ("workload-a", "workload-b", "sandbox", "management")[n % 4]
        shared.append(org.create_vpc(who, REGIONS[n % 2], "10.40.0.0/16", f"copy-{n}"))
    first = nightly(org, cfg)
    assert first.first_baseline
    assert [m["Subject"] for m in read()] == ["VPCTracker: baseline recorded"]
    # Known findings grow with the blocks, not with their pairs.
    audit, _ = run_audit(cfg, options=opts(org))
    blocks = sum(len(g.members) for g in audit.overlap_groups)
    assert known_items(org) == first.known <= blocks + len(audit.default_vpcs)
    assert first.known < 30 * 29 // 2
    joiner = org.create_vpc("sandbox", "us-east-1", "10.40.0.0/16", "joiner")
    joined = rescan(org, cfg, "sandbox")
    assert (joined.new, joined.changed, joined.resolved, joined.notified) == (1, 0, 0, 1)
    (m,) = read()
    (announced,) = json.loads(m["Message"].split("--- findings (JSON) ---\n", 1)[1])["findings"]
    assert announced["finding"]["VpcId"] == joiner
    assert announced["finding"]["clashes"] == 30 and len(announced["finding"]["with"]) == 5
    org.ec2("sandbox", "us-east-1").delete_vpc(VpcId=joiner)
    left = rescan(org, cfg, "sandbox")
    assert (left.new, left.resolved, left.notified) == (0, 1, 1)
    assert [f["transition"] for f in findings_of(read())] == ["resolved"]


def test_two_vpcs_that_start_to_overlap_are_one_message_and_a_severity_change_is_changed(
    org: Org, inbox: Any
) -> None:
    topic, read = inbox
    cfg = config(org, topic)
    nightly(org, cfg)
    read()
    hub = org.create_vpc("management", "us-east-1", "10.90.0.0/16", "hub")
    a = org.create_vpc("workload-a", "us-east-1", "10.91.0.0/16", "a")
    b = org.create_vpc("workload-b", "us-east-1", "10.91.0.0/16", "b")
    rescan(org, cfg, "workload-a")  # a alone: no clash yet
    assert read() == []
    started = rescan(org, cfg, "workload-b")
    assert (started.new, started.notified) == (2, 1)  # both blocks, one message
    (m,) = read()
    assert m["Subject"] == "VPCTracker: overlap 10.91.0.0/16: 2 new (latent)"
    # A hub peered with both makes the clash reachable: both blocks change severity.
    hub_ec2 = org.ec2("management", "us-east-1")
    for vpc, who in ((a, "workload-a"), (b, "workload-b")):
        pcx = hub_ec2.create_vpc_peering_connection(
            VpcId=hub, PeerVpcId=vpc, PeerOwnerId=org.accounts[who]
        )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        org.ec2(who, "us-east-1").accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    reachable = rescan(org, cfg, "management")
    assert (reachable.new, reachable.changed, reachable.notified) == (0, 2, 1)
    (m,) = read()
    assert "2 changed" in m["Subject"] and "(conflict)" in m["Subject"]
    data = json.loads(m["Message"].split("--- findings (JSON) ---\n", 1)[1])
    assert {(f["previous"], f["state"]) for f in data["findings"]} == {("latent", "conflict")}


# ---------------------------------------------------------------------------------------------
# 2. Lost announcements


def test_a_failed_publish_is_made_by_the_next_recording_of_any_kind(org: Org, inbox: Any) -> None:
    # Before: the finding was written as known, then the publish failed: it was never announced.
    topic, read = inbox
    cfg = config(org, topic)
    nightly(org, cfg)
    read()
    faults = Faults(org.session).install()
    faults.error("sns", "Publish", "KMSAccessDeniedException", status=400)
    clash = org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "copy")
    failed = rescan(org, cfg, "sandbox")
    assert (failed.new, failed.notified, failed.notify_failures, failed.pending) == (1, 0, 1, 1)
    assert read() == []
    faults.enabled = False
    # The next recording, for another account and with nothing new of its own, makes it.
    later = rescan(org, cfg, "workload-a", "eu-west-1")
    assert (later.new, later.notified, later.pending) == (0, 1, 0)
    (m,) = read()
    assert clash in m["Message"] and findings_of([m])[0]["transition"] == "new"
    assert rescan(org, cfg, "workload-a", "eu-west-1").notified == 0  # made once


def test_announcements_wait_in_the_outbox_for_a_run_with_a_topic(
    org: Org, inbox: Any, cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    # A recorder without a topic (the CLI without notify.topic_arn) leaves what it saw pending;
    # the function's next run announces it: a kill between the write and the publish is the
    # same case.
    topic, read = inbox
    nightly(org, config(org, topic))
    read()
    org.create_vpc("sandbox", "eu-west-1", "10.3.0.0/16", "copy-of-a")
    assert main(["collect", "--config", str(cfg), "--format", "json"], session=org.session) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["findings"]["new"] == 2 and summary["findings"]["pending"] == 2
    assert read() == []
    monkeypatch.setenv("VPCTRACKER_TABLE", "VPCTracker")
    monkeypatch.setenv("VPCTRACKER_REGIONS", "us-east-1,eu-west-1")
    monkeypatch.setenv("VPCTRACKER_EXCLUDE_ACCOUNTS", org.accounts["excluded"])
    monkeypatch.setenv("VPCTRACKER_NOTIFY_TOPIC_ARN", topic)
    out = handler(event_for(org, "management", "us-east-1"), Context(), session=org.session)
    assert out["notified"] == 1
    (m,) = read()
    assert m["Subject"] == "VPCTracker: overlap 10.3.0.0/16: 2 new (latent)"


# ---------------------------------------------------------------------------------------------
# 3. Silent recorders


def test_check_announces_the_pipeline_s_own_new_clash(
    org: Org, inbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, read = inbox
    nightly(org, config(org, topic))
    read()
    path = tmp_path / "config.yaml"
    path.write_text(
        f"organization: {{exclude_accounts: ['{org.accounts['excluded']}']}}\n"
        "regions: [us-east-1, eu-west-1]\n"
        f"notify: {{topic_arn: '{topic}'}}\n"
    )
    org.create_vpc("sandbox", "us-east-1", "10.0.0.0/16", "copy-of-hub")
    code = main(
        ["check", "--config", str(path), "--account", org.accounts["sandbox"]],
        session=org.session,
    )
    assert code == 3
    (m,) = read()
    assert m["Subject"].startswith("VPCTracker: overlap 10.0.0.0/16: 2 new")


# ---------------------------------------------------------------------------------------------
# 4. One bad account


def test_an_account_that_keeps_failing_does_not_mute_the_night(
    org: Org, inbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the worker that completed every part recorded the night; one account whose
    # messages kept failing kept the whole organization's announcements back.
    topic, read = inbox
    for var, value in (
        ("VPCTRACKER_TABLE", "VPCTracker"),
        ("VPCTRACKER_REGIONS", "us-east-1,eu-west-1"),
        ("VPCTRACKER_EXCLUDE_ACCOUNTS", org.accounts["excluded"]),
        ("VPCTRACKER_NOTIFY_TOPIC_ARN", topic),
        ("VPCTRACKER_ACCOUNTS_PER_MESSAGE", "1"),
    ):
        monkeypatch.setenv(var, value)
    nightly(org, config(org, topic))
    read()
    sqs = org.session.client("sqs")
    url = sqs.create_queue(QueueName="vpctracker-accounts")["QueueUrl"]
    monkeypatch.setenv("VPCTRACKER_QUEUE_URL", url)
    clash = org.create_vpc("workload-b", "eu-west-1", "10.3.0.0/16", "copy-of-a-eu")
    org.create_vpc("sandbox", "us-east-1", "10.9.0.0/16", "would-clash")  # not seen tonight
    faults = Faults(org.session).install()
    sandbox = org.accounts["sandbox"]
    faults.error("sts", "AssumeRole", "AccessDenied", status=403, account=sandbox)
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    failed = []
    for receive in ("1", "2", "3"):  # the queue's maxReceiveCount is 3
        for m in msgs:
            if receive != "1" and sandbox not in m["Body"]:
                continue
            record = sqs_record(m["MessageId"], m["Body"])
            record["attributes"]["ApproximateReceiveCount"] = receive
            answer = handler({"Records": [record]}, Context(), session=org.session)
            failed += answer["batchItemFailures"]
    assert len(failed) == 3  # the sandbox message, on each receive
    # The night is recorded once its last part went to the dead-letter queue: the clash is
    # announced, and sandbox's findings stand as they were (neither new nor resolved).
    got = read()
    assert len(got) == 1 and clash in got[0]["Message"]
    assert "10.9.0.0/16" not in got[0]["Message"]


# ---------------------------------------------------------------------------------------------
# 5. Races


def test_a_recording_never_resolves_what_a_newer_recording_saw(org: Org, inbox: Any) -> None:
    # Before: an event recorded while the nightly run built its audit looked resolved to the
    # nightly run (new, resolved, new for one clash). Forced by ordering: the night's view is
    # read, then the event scans and records, then the night records.
    topic, read = inbox
    cfg = config(org, topic)
    nightly(org, cfg)
    read()
    o = opts(org)
    night = run(cfg, o)  # the nightly scan and its read of the table
    assert night.inventory is not None
    clash = org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "copy")
    assert rescan(org, cfg, "sandbox").new == 1
    late = remember_findings(cfg, night, o)
    assert late is not None and (late.new, late.resolved) == (0, 0)
    announced = findings_of(read())
    assert [a["transition"] for a in announced] == ["new"]
    assert clash in json.dumps(run_audit(cfg, options=o)[0].to_dict())
    assert sorted(all_known(dynamodb_client(org.session, cfg), LEDGER)) == sorted(
        current_findings(run_audit(cfg, options=o)[0])
    )


def test_concurrent_recordings_wait_for_each_other(org: Org, inbox: Any) -> None:
    topic, _ = inbox
    cfg = config(org, topic)
    nightly(org, cfg)
    ddb = dynamodb_client(org.session, cfg)
    from collector.store.leases import take_lease

    assert (
        take_lease(ddb, LEDGER, "recording", "other-run", hold_seconds=60, wait_seconds=0) is None
    )
    o = opts(org)
    o.sleep = lambda _s: None
    blocked = cfg.model_copy(update={"scan": cfg.scan.model_copy(update={"lease_wait_seconds": 0})})
    with pytest.raises(Exception, match="another recording"):
        record_findings(blocked, o)


# ---------------------------------------------------------------------------------------------
# 6. A baseline that covers the organization


def test_partial_recordings_before_the_baseline_do_not_flood_the_first_night(
    org: Org, inbox: Any
) -> None:
    # Before: a first recording by check, an event or `collect --account` set a baseline of
    # that account only; the first nightly run then announced every other finding.
    topic, read = inbox
    cfg = config(org, topic)
    rescan(org, cfg, "workload-a")
    # workload-b's 10.1.0.0/16 clashes with workload-a's (two findings), and it has a default VPC.
    first = rescan(org, cfg, "workload-b")
    assert first.new == 3 and first.notified == 0 and not first.first_baseline
    assert read() == []
    night = nightly(org, cfg)
    assert night.first_baseline and night.notified == 1
    (m,) = read()
    assert m["Subject"] == "VPCTracker: baseline recorded"
    assert "3 findings known" in m["Message"]
    # After the baseline, an account seen for the first time is announced, not baselined.
    orgs = org.session.client("organizations")
    vended = orgs.create_account(Email="new@example.com", AccountName="vended")[
        "CreateAccountStatus"
    ]["AccountId"]
    org.create_vpc(vended, "us-east-1", "10.2.0.0/20", "vended-main")
    again = nightly(org, cfg)
    got = read()
    assert again.new >= 2 and again.notified == len(got) >= 1
    assert any("vended-main" in m["Message"] for m in got)


# ---------------------------------------------------------------------------------------------
# Expected reuse, the digest, the upgrade, and what reads what


def expecting(cfg: Config, cidr: str) -> Config:
    """`cfg` with one `overlaps.expected` range (reason "pods")."""
    expected = {"overlaps": {"expected": [{"cidr": cidr, "reason": "pods"}]}}
    return cfg.model_copy(update={"overlaps": Config.model_validate(expected).overlaps})


def test_expected_reuse_is_not_a_finding_unless_reachable(org: Org, inbox: Any) -> None:
    topic, read = inbox
    cfg = expecting(config(org, topic), "100.64.0.0/10")
    pods = org.create_vpc("sandbox", "us-east-1", "100.64.0.0/20", "pods")
    nightly(org, cfg)
    read()
    audit, _ = run_audit(cfg, options=opts(org))
    shape = audit.to_dict()
    assert shape["expected_overlaps"] == [
        {"span": "100.64.0.0/20", "reason": "pods", "blocks": 2, "accounts": 2}
    ]
    assert all(g["span"] != "100.64.0.0/20" for g in shape["overlap_groups"])
    assert not any(f.get("Cidr") == "100.64.0.0/20" for f in current_findings(audit).values())
    # Reachable (a hub peered with both) is a conflict: a finding, announced.
    hub = org.create_vpc("management", "us-east-1", "10.95.0.0/16", "hub")
    a1 = org.api_vpcs("workload-a", "us-east-1")
    (a_main,) = [v["VpcId"] for v in a1 if v["CidrBlock"] == "10.1.0.0/16"]
    hub_ec2 = org.ec2("management", "us-east-1")
    for vpc, who in ((a_main, "workload-a"), (pods, "sandbox")):
        pcx = hub_ec2.create_vpc_peering_connection(
            VpcId=hub, PeerVpcId=vpc, PeerOwnerId=org.accounts[who]
        )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        org.ec2(who, "us-east-1").accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    rescan(org, cfg, "management")
    got = read()
    assert any("100.64.0.0/20" in m["Subject"] and "conflict" in m["Subject"] for m in got)


def test_a_block_that_leaves_expected_reuse_resolves_what_it_clashed_with(
    org: Org, inbox: Any
) -> None:
    # A block inside an expected range is no finding of its own (latent), but a block outside
    # it that overlaps it is: when the first leaves, a rescan of its account alone must
    # resolve the second, as a full recording would. It was left standing until the next
    # night (the rescanned account had no known finding naming the block that left).
    topic, read = inbox
    cfg = expecting(config(org, topic), "100.80.0.0/20")
    pods = org.create_vpc("sandbox", "us-east-1", "100.80.0.0/24", "pods")
    org.create_vpc("workload-b", "us-east-1", "100.80.0.0/16", "wide")
    nightly(org, cfg)
    read()
    known = all_known(dynamodb_client(org.session, cfg), LEDGER)
    (wide,) = [k for k in known.values() if k.cidr == "100.80.0.0/16"]
    assert (wide.account, wide.state) == (org.accounts["workload-b"], "latent")
    assert not any(k.cidr == "100.80.0.0/24" for k in known.values())
    org.ec2("sandbox", "us-east-1").delete_vpc(VpcId=pods)
    record = rescan(org, cfg, "sandbox")
    assert record.resolved == 1
    assert wide.id not in all_known(dynamodb_client(org.session, cfg), LEDGER)
    (m,) = read()
    assert m["Subject"] == "VPCTracker: overlap 100.80.0.0/16: 1 resolved (latent)"


def test_past_the_message_limit_one_digest(org: Org, inbox: Any) -> None:
    topic, read = inbox
    cfg = config(org, topic, max_messages=2)
    nightly(org, cfg)
    read()
    for n in range(4):  # four new groups
        org.create_vpc("sandbox", "us-east-1", f"10.{60 + n}.0.0/16", f"x{n}")
        org.create_vpc("workload-b", "eu-west-1", f"10.{60 + n}.0.0/16", f"y{n}")
    record = nightly(org, cfg)
    assert record.new == 8 and record.notified == 3 and record.pending == 0
    got = read()
    digest = [m for m in got if "digest" in m["Subject"]]
    assert len(got) == 3 and len(digest) == 1
    assert "4 new overlap latent" in digest[0]["Message"]
    assert len(findings_of(got)) == 8  # every announcement carries its id and transition


def test_the_upgrade_from_per_pair_findings_is_silent(org: Org, inbox: Any) -> None:
    topic, read = inbox
    cfg = config(org, topic)
    ddb = dynamodb_client(org.session, cfg)
    # What the previous version left in the inventory table.
    org.run()
    legacy = [
        {"VpcId": {"S": "finding#baseline"}, "OwnerId": {"S": "finding"}},
        {
            "VpcId": {"S": "finding#0123"},
            "OwnerId": {"S": "finding"},
            "Region": {"S": "known"},
            "Finding": {"S": "{}"},
            "FindingAccounts": {"L": []},
        },
        change_item(
            {
                "time": "2026-11-01T03:00:00Z",
                "change": "created",
                "VpcId": "vpc-0123456789abcdef0",
                "OwnerId": org.accounts["sandbox"],
                "AccountName": "sandbox",
                "Region": "us-east-1",
                "Cidr": "10.9.0.0/16",
            },
            0,
            2_000_000_000,
        ),
    ]
    for item in legacy:
        ddb.put_item(TableName="VPCTracker", Item=item)
    upgraded = nightly(org, cfg)
    assert upgraded.known > 0 and upgraded.notified == 0 and not upgraded.first_baseline
    assert read() == []
    left = [i["VpcId"]["S"] for i in scan_items(ddb, "VPCTracker")]
    assert not [k for k in left if k.startswith(("finding#", "change#"))]
    moved = [i for i in ledger_items(org) if i["VpcId"]["S"].startswith("change#2026-11-01")]
    assert len(moved) == 1
    # From then on, announced as usual.
    org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "copy")
    assert nightly(org, cfg).notified == 1


def test_inventory_reads_never_read_findings_or_changes_and_a_rescan_reads_its_accounts(
    org: Org, inbox: Any
) -> None:
    topic, _ = inbox
    cfg = config(org, topic)
    nightly(org, cfg, at=now(1))
    nightly(org, cfg, at=now(2))
    ddb = dynamodb_client(org.session, cfg)
    kinds = {i["VpcId"]["S"].split("#")[0].split("-")[0] for i in scan_items(ddb, "VPCTracker")}
    assert "finding" not in kinds and "change" not in kinds and "vpc" in kinds
    queries: list[dict[str, Any]] = []
    org.session.events.register(
        "before-parameter-build.dynamodb.Query",
        lambda params, **_: queries.append(params) if params["TableName"] == LEDGER else None,
    )
    org.create_vpc("sandbox", "us-east-1", "10.77.0.0/16", "alone")
    rescan(org, cfg, "sandbox")
    known = [q for q in queries if "finding#" in json.dumps(q.get("ExpressionAttributeValues"))]
    # One Query, on the rescanned account's own findings, never every known finding.
    assert len(known) == 1 and "begins_with" in known[0]["KeyConditionExpression"]


def test_a_standing_finding_is_announced_once_however_long_it_stands(org: Org, inbox: Any) -> None:
    topic, read = inbox
    cfg = config(org, topic)
    first = nightly(org, cfg, at=now(1))
    read()
    ddb = dynamodb_client(org.session, cfg)
    # The next night rewrites none of them: their TTL is far off.
    assert nightly(org, cfg, at=now(2)).refreshed == 0
    later = now(1) + timedelta(days=70)
    record = nightly(org, cfg, at=later)
    assert record.notified == 0
    # Past three quarters of the retention every standing finding is due: each is rewritten,
    # and the summary counts them.
    assert record.refreshed == record.known == first.known > 0
    assert record.to_dict()["refreshed"] == record.refreshed
    horizon = (later + timedelta(days=45)).timestamp()
    items = [i for i in scan_items(ddb, LEDGER) if i["VpcId"]["S"].startswith("finding#")]
    assert items and all(int(i["ExpiresAt"]["N"]) > horizon for i in items)
    assert read() == []


def test_a_recording_reads_its_marker_outbox_and_own_findings_side_by_side(org: Org) -> None:
    """Issue 26 (an event's time): three reads a narrowed recording makes under its lease, each
    a round trip, go out together. Each waits here until the other two are in flight: made one
    after another they never meet, the barrier times out and the recording fails."""
    cfg = config(org)
    nightly(org, cfg, at=now(1))
    meet = threading.Barrier(3, timeout=10)
    met: set[str] = set()

    def hold(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") != LEDGER:
            return
        text = json.dumps(params)
        what = (
            "marker"
            if "Key" in params and "baseline" in text
            else "outbox"
            if '"outbox"' in text
            else "mine"
            if "begins_with" in text
            else None
        )
        if what is not None and what not in met:
            met.add(what)
            meet.wait()

    for op in ("GetItem", "Query"):
        org.session.events.register(f"before-parameter-build.dynamodb.{op}", hold)
    rescan(org, cfg, "sandbox")
    assert met == {"marker", "outbox", "mine"}


def test_the_next_message_is_published_while_the_last_one_leaves_the_outbox(
    org: Org, inbox: Any
) -> None:
    """Issue 26: each message was published, then its outbox entries deleted, one round trip
    after the other (ten messages: two seconds of a night at 100 ms). The delete of a message's
    entries now overlaps the next publish: each delete here waits until the next publish has
    started, which one after the other it never does (it waits out the timeout)."""
    topic, read = inbox
    cfg = config(org, topic)
    nightly(org, cfg)
    read()
    for n in range(3):  # three new groups: three messages
        org.create_vpc("sandbox", "us-east-1", f"10.{60 + n}.0.0/16", f"x{n}")
        org.create_vpc("workload-b", "eu-west-1", f"10.{60 + n}.0.0/16", f"y{n}")
    seen = threading.Condition()
    published: list[int] = []
    overlapped: list[bool] = []

    def on_publish(**_: Any) -> None:
        with seen:
            published.append(1)
            seen.notify_all()

    def on_delete(params: dict[str, Any], **_: Any) -> None:
        requests = params.get("RequestItems", {}).get(LEDGER, [])
        if requests and '"outbox' in json.dumps(requests) and "DeleteRequest" in requests[0]:
            with seen:
                following = len(overlapped) + 2  # the message after this delete's
                overlapped.append(seen.wait_for(lambda: len(published) >= following, timeout=3))

    org.session.events.register("before-call.sns.Publish", on_publish)
    org.session.events.register("provide-client-params.dynamodb.BatchWriteItem", on_delete)
    try:
        record = nightly(org, cfg)
    finally:
        org.session.events.unregister("before-call.sns.Publish", on_publish)
        org.session.events.unregister("provide-client-params.dynamodb.BatchWriteItem", on_delete)
    assert record.new == 6 and record.notified == 3 and record.pending == 0
    assert len(read()) == 3
    # Every delete but the last (no message follows it) met the next publish under way.
    assert overlapped == [True, True, False], overlapped


def test_the_recording_analyses_with_the_cyclic_collector_paused(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26 (an event's CPU): the cyclic collector re-walked the whole inventory the
    recording holds while its analysis allocated; it is paused for the audit and the
    comparison, night and event alike, and on again once the recording is done."""
    import collector.jobs.findings as findings_job

    seen: list[bool] = []

    def audit(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return run_audit(*args, **kwargs)

    monkeypatch.setattr(findings_job, "run_audit", audit)
    cfg = config(org)
    assert gc.isenabled()
    nightly(org, cfg, at=now(1))
    rescan(org, cfg, "sandbox")
    assert seen == [False, False]
    assert gc.isenabled()


def test_a_recording_merges_the_connections_once(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 26 (an event's CPU): a narrowed recording merged the inventory's connections twice
    (≈ 0.025 s each at 1,000 × 17 with a network account's TGWs): once for its audit, once for
    the accounts its rescan can affect. It merges them once, for both, night and event alike;
    what it finds is unchanged (the rest of this file)."""
    from collector.analysis import Connections

    merged: list[int] = []
    original = Connections.of.__func__  # type: ignore[attr-defined]

    def of(cls: type[Connections], *args: Any, **kwargs: Any) -> Connections:
        merged.append(1)
        out: Connections = original(cls, *args, **kwargs)
        return out

    monkeypatch.setattr(Connections, "of", classmethod(of))
    cfg = config(org)
    nightly(org, cfg, at=now(1))
    assert len(merged) == 1
    merged.clear()
    rescan(org, cfg, "sandbox")
    assert len(merged) == 1
