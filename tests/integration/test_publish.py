"""Issue 27: the report published where people look, linked from every notification (moto S3)."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.config import load_config
from collector.handler import config_from_env, handler
from collector.jobs.audit import run_audit
from collector.jobs.collect import run
from collector.jobs.findings import remember_findings
from collector.jobs.lean import for_audit
from collector.jobs.options import RunOptions
from collector.jobs.publish import live_publisher
from collector.jobs.views import read_view
from collector.report import render_html
from tests.conftest import load_data
from tests.factories import page_data
from tests.integration.conftest import Org, cli, scanned_attributes
from tests.integration.test_handler import (  # noqa: F401 - restore_logging: autouse
    Context,
    emf_lines,
    restore_logging,
)
from tests.integration.test_live import event_for, topic  # noqa: F401 - a fixture
from tests.unit.test_iam import IAM, load_template

BUCKET = "vpctracker-reports"
FILES = {
    "report.html": "text/html; charset=utf-8",
    "inventory.csv": "text/csv; charset=utf-8",
    "inventory.json": "application/json",
    "audit.json": "application/json",
}


@pytest.fixture
def env(org: Org, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """The function's environment with a report bucket; returns the topic's inbox."""
    monkeypatch.setenv("VPCTRACKER_TABLE", "VPCTracker")
    monkeypatch.setenv("VPCTRACKER_REGIONS", "us-east-1,eu-west-1")
    monkeypatch.setenv("VPCTRACKER_EXCLUDE_ACCOUNTS", org.accounts["excluded"])
    monkeypatch.setenv("VPCTRACKER_REPORT_BUCKET", BUCKET)
    monkeypatch.setenv("VPCTRACKER_NOTIFY_PRESIGN_HOURS", "12")
    org.session.client("s3").create_bucket(Bucket=BUCKET)
    return request.getfixturevalue("topic")  # test_live's: the topic, subscribed


def keys(org: Org) -> dict[str, dict[str, Any]]:
    s3 = org.session.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.head_object(Bucket=BUCKET, Key=o["Key"]) for o in listed}


def test_the_nightly_run_publishes_latest_and_a_dated_copy(org: Org, env: Any) -> None:
    night = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert night["ok"] is True
    found = keys(org)
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    assert set(found) == {f"{p}/{name}" for p in ("latest", day) for name in FILES}
    s3 = org.session.client("s3")
    for key, head in found.items():
        assert head["ContentType"] == FILES[key.rsplit("/", 1)[1]]
        assert head["ServerSideEncryption"] == "AES256"
        tags = s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
        # Dated copies are tagged for the lifecycle rule; latest/ never expires.
        assert tags == (
            [] if key.startswith("latest/") else [{"Key": "vpctracker-copy", "Value": "dated"}]
        )
    stored = s3.get_object(Bucket=BUCKET, Key="latest/report.html")
    assert stored["ContentEncoding"] == "gzip"  # browsers inflate it; the wire carries ~1/10
    page = gzip.decompress(stored["Body"].read()).decode()
    assert "VPC address-space audit" in page
    # The group the links point at (`#group-<span>`), drawn by the page's script.
    assert "10.1.0.0/16" in [g[1] for g in page_data(page)["groups"]]
    inventory = json.loads(s3.get_object(Bucket=BUCKET, Key="latest/inventory.json")["Body"].read())
    live = [v for v in org.table().values() if not v.Deleted]
    assert sorted(r["VpcId"] for r in inventory["vpcs"]) == sorted(v.VpcId for v in live)
    audit = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{day}/audit.json")["Body"].read())
    assert audit["summary"]["overlap_groups"] == night["audit"]["overlap_groups"]
    csv_text = s3.get_object(Bucket=BUCKET, Key="latest/inventory.csv")["Body"].read().decode()
    assert csv_text.splitlines()[0].startswith('"VpcId","OwnerId"')


def test_every_notification_links_the_report_that_exists(org: Org, env: Any) -> None:
    inbox = env
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    (baseline,) = inbox()
    s3 = org.session.client("s3")

    def linked(message: dict[str, Any]) -> dict[str, str]:
        body = message["Message"]
        url = re.search(r"^Report: (\S+)$", body, re.MULTILINE)
        console = re.search(r"^In the S3 console: (\S+)$", body, re.MULTILINE)
        assert url and console, body[:500]
        data = json.loads(body.split(" (JSON) ---\n", 1)[1])
        assert data["report"] == {"console": console.group(1), "url": url.group(1)}
        key = re.search(r"prefix=([^&]+)", console.group(1))
        assert key
        return {"url": url.group(1), "key": key.group(1).replace("%2F", "/")}

    night = linked(baseline)
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    assert night["key"] == f"{day}/report.html"  # that night's copy
    s3.head_object(Bucket=BUCKET, Key=night["key"])  # it exists
    assert "X-Amz-Signature=" in night["url"] and "X-Amz-Expires=43200" in night["url"]
    # A live update's message links latest/, refreshed, at the finding (its group's row).
    clash = org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "copy")
    handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    (m,) = inbox()
    live = linked(m)
    assert live["key"] == "latest/report.html"
    assert live["url"].endswith("#group-10.1.0.0/16")
    page = gzip.decompress(s3.get_object(Bucket=BUCKET, Key="latest/report.html")["Body"].read())
    # The page shows the state the message announces.
    assert clash in page_data(page.decode())["vpcs"]["VpcId"]


def test_a_failed_upload_is_a_metric_never_a_failed_run(
    org: Org, env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VPCTRACKER_REPORT_BUCKET", "no-such-bucket-here")
    night = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert night["ok"] is True and night["summary"]["exit_code"] == 0
    records = emf_lines(capsys.readouterr().out)
    scheduled = [r for r in records if r["Mode"] == "scheduled"]
    assert scheduled and scheduled[-1]["ReportFailures"] == 1
    # Nothing links an object that does not exist.
    (baseline,) = env()
    assert "Report:" not in baseline["Message"]


def test_live_refreshes_are_debounced(org: Org, env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    uploads: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == "latest/report.html":
            uploads.append(params["Key"])

    org.session.events.register("before-parameter-build.s3.PutObject", count)
    for i in range(5):  # a burst: five changes, five events, five invocations
        org.create_vpc("sandbox", "us-east-1", f"10.{2 + i}.0.0/16", f"burst-{i}")
        out = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
        assert out["ok"] is True
    assert len(uploads) == 1
    monkeypatch.setenv("VPCTRACKER_REPORT_MIN_INTERVAL_MINUTES", "0")
    org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "another-change")
    handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    assert len(uploads) == 2
    # An event that changes no finding does not refresh it.
    handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    assert len(uploads) == 2


def test_an_event_reads_its_view_whole_only_for_the_page_it_publishes(
    org: Org, env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: an event read its view whole (every subnet and tag) whether or not it would
    publish a page; only the page shows subnets. Without `report.bucket` it now reads as
    `audit --format json` does; with it, as the page reads."""
    # Back to back, each event's early read would wait out the clock skew (jobs.views).
    monkeypatch.setattr("collector.jobs.views.CLOCK_SKEW", timedelta(0))
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    scans: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    org.create_vpc("sandbox", "us-east-1", "10.2.0.0/16", "change-1")
    assert handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)["ok"]
    assert scans and all(_page_s_read(s) for s in scans)
    monkeypatch.delenv("VPCTRACKER_REPORT_BUCKET")
    scans.clear()
    org.create_vpc("sandbox", "us-east-1", "10.3.0.0/16", "change-2")
    assert handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)["ok"]
    assert scans and all("ProjectionExpression" in s for s in scans)
    read = scanned_attributes(scans)
    assert "AddressUse" in read and not read & {"Subnets", "Tags"}


def test_an_event_alone_that_changes_a_finding_reads_the_table_for_its_page(
    org: Org, env: Any
) -> None:
    """A recording narrowed to its targets (jobs.narrow) holds too little to draw the page:
    with `report.bucket` set, one that finds a finding changed reads the inventory as the page
    reads and publishes it; one that finds nothing changed reads none of it and publishes
    nothing."""
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    scans: list[dict[str, Any]] = []
    uploads: list[str] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    org.session.events.register(
        "before-parameter-build.s3.PutObject",
        lambda params, **_: uploads.append(params["Key"]),
    )
    # A default VPC made again: a new finding of the sandbox's target alone.
    made = org.ec2("sandbox", "us-east-1").create_default_vpc()["Vpc"]["VpcId"]
    assert handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)["ok"]
    assert scans and all(_page_s_read(s) for s in scans)
    assert "latest/report.html" in uploads
    page = org.session.client("s3").get_object(Bucket=BUCKET, Key="latest/report.html")
    assert made.encode() in gzip.decompress(page["Body"].read())
    scans.clear()
    uploads.clear()
    # The same event again: nothing changed, narrowed, nothing read whole or published.
    assert handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)["ok"]
    assert scans == [] and uploads == []


def test_a_recording_that_may_publish_never_draws_its_page_from_a_lean_view(
    org: Org, env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A view read without subnets and tags, handed to a recording that may publish the page,
    is read again as the page reads (`test_the_page_s_read_leaves_out_tags_and_stored_use`):
    the page shows every subnet."""
    monkeypatch.setattr("collector.jobs.views.CLOCK_SKEW", timedelta(0))
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    cfg = config_from_env(os.environ)
    opts = RunOptions(session=org.session)
    sandbox = org.accounts["sandbox"]
    org.create_vpc("sandbox", "us-east-1", "10.2.0.0/16", "change")
    summary = run(cfg, replace(opts, accounts=[sandbox], write=True))
    lean = read_view(cfg, opts, for_audit(cfg))
    assert lean.items.lean
    scans: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    remember_findings(
        cfg, summary, opts, accounts=[sandbox], view=lean, report=live_publisher(cfg, opts)
    )
    assert scans and all(_page_s_read(s) for s in scans)


def _page_s_read(scan: dict[str, Any]) -> bool:
    """A `Scan` the page's read made: every subnet, no tags, no stored use."""
    read = scanned_attributes([scan])
    return "Subnets" in read and not read & {"Tags", "AddressUse"}


def test_the_cli_writes_to_s3_as_the_function_does(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = org.session.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    for argv, key, ctype in (
        (["audit", "--format", "html"], "reports/now.html", "text/html; charset=utf-8"),
        (["inventory", "--format", "csv"], "reports/vpcs.csv", "text/csv; charset=utf-8"),
        (["audit", "--format", "json"], "reports/audit.json", "application/json"),
    ):
        code, out, err = cli(
            org,
            capsys,
            argv[0],
            "--config",
            str(cfg),
            *argv[1:],
            "--output",
            f"s3://{BUCKET}/{key}",
        )
        assert code == 0 and out == "" and f"wrote s3://{BUCKET}/{key}" in err
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentType"] == ctype and head["ServerSideEncryption"] == "AES256"
    code, _, err = cli(
        org, capsys, "audit", "--config", str(cfg), "--output", "s3://no-such-bucket-x/r.txt"
    )
    assert code == 1 and "cannot write: NoSuchBucket" in err


def test_a_session_still_makes_s3_clients_after_a_run(org: Org) -> None:
    """The member session registered boto3's handlers on the hub's emitter a second time:
    every S3 client created after a collection failed (the report could never be published)."""
    org.run()
    org.session.client("s3").list_buckets()


def test_the_report_bucket_is_private(org: Org) -> None:
    tpl = load_template(IAM / "hub.yaml")
    res = tpl["Resources"]
    bucket = res["ReportBucketStore"]
    assert bucket["Condition"] == "CreateReportBucket" and bucket["DeletionPolicy"] == "Retain"
    p = bucket["Properties"]
    assert all(p["PublicAccessBlockConfiguration"].values())
    assert len(p["PublicAccessBlockConfiguration"]) == 4
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = p["LifecycleConfiguration"]["Rules"]
    assert rule["TagFilters"] == [{"Key": "vpctracker-copy", "Value": "dated"}]
    assert rule["ExpirationInDays"] == {"Ref": "ReportRetentionDays"}
    assert tpl["Parameters"]["ReportRetentionDays"]["Default"] == 90
    sse = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["Fn::If"][0] == "HasKmsKey"
    statements = res["ReportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    tls = statements[0]
    assert tls["Effect"] == "Deny" and tls["Principal"] == "*" and tls["Action"] == "s3:*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    readers = statements[1]["Fn::If"]
    assert readers[0] == "HasReportReaders"
    assert readers[1]["Action"] == "s3:GetObject" and readers[2] == {"Ref": "AWS::NoValue"}
    assert res["ReportFailuresAlarm"]["Condition"] == "HasReport"


def test_a_night_reads_its_sweep_whole_only_for_the_page_it_publishes(
    org: Org, env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: a full run read the whole table after its scan (every subnet and tag) for its
    sweep, its findings and its page. Only the page shows subnets, and nothing shows tags:
    without `report.bucket` the night now reads as `audit --format json` does, with it as the
    page reads."""
    scans: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    assert scans and all(_page_s_read(s) for s in scans)
    monkeypatch.delenv("VPCTRACKER_REPORT_BUCKET")
    scans.clear()
    night = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert night["ok"] is True
    assert scans and all("ProjectionExpression" in s for s in scans)
    read = scanned_attributes(scans)
    assert "AddressUse" in read and not read & {"Subnets", "Tags"}
    # The night's audit is the one a whole read gives.
    whole, _ = run_audit(config_from_env(os.environ), options=RunOptions(session=org.session))
    assert night["audit"] == whole.to_dict()["summary"]


@pytest.mark.parametrize("bucket", [None, BUCKET])
def test_a_lean_night_marks_departed_vpcs_with_their_subnets_and_tags(
    org: Org, bucket: str | None
) -> None:
    """The sweep's marks are written back whole: read without subnets and tags (or, when it
    may publish the page, as the page reads: without tags), a departed account's VPC is read
    again by key before it is marked."""
    config = org.config(report={"bucket": bucket}) if bucket else org.config()
    if bucket:
        org.session.client("s3").create_bucket(Bucket=bucket)
    ec2 = org.ec2("workload-b", "us-east-1")
    vpc_id = org.create_vpc("workload-b", "us-east-1", "10.77.0.0/16", "leaving")
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.77.1.0/24", AvailabilityZone="us-east-1a")
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "team", "Value": "payments"}])
    assert org.run(config).exit_code == 0
    before = org.table()[vpc_id, org.accounts["workload-b"]]
    assert before.Subnets and before.Tags.get("team") == "payments"
    org.session.client("organizations").close_account(AccountId=org.accounts["workload-b"])
    time.sleep(1.1)  # stored times are whole seconds: the sweep must start after that night
    scans: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    summary = org.run(config)
    assert summary.marked_deleted >= 1 and scans
    assert all("ProjectionExpression" in s for s in scans)
    assert not scanned_attributes(scans) & {"Tags"}
    after = org.table()[vpc_id, org.accounts["workload-b"]]
    assert after.Deleted and after.DeletedReason == "account-suspended"
    assert after.Subnets == before.Subnets and after.Tags == before.Tags


def test_the_page_s_read_leaves_out_tags_and_stored_use(
    org: Org, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: `audit --format html` (and a recording that may publish the page) read every
    VPC item whole: its tags, which no page or report shows, and its stored `AddressUse`,
    which a reader with the subnets never uses (18 % of the bytes of a 100,000-VPC read). The
    page's read now asks for neither, and the page is the one a whole read draws."""
    ec2 = org.ec2("workload-a", "us-east-1")
    vpc_id = org.create_vpc("workload-a", "us-east-1", "10.61.0.0/16", "tagged")
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.61.1.0/24", AvailabilityZone="us-east-1a")
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "team", "Value": "payments"}])
    assert org.run().exit_code == 0
    config = load_config(str(cfg))
    at = datetime(2026, 12, 4, tzinfo=UTC)
    opts = RunOptions(session=org.session, clock=lambda: at)
    scans: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    page, _ = run_audit(config, options=opts)
    read = scanned_attributes(scans)
    assert scans and all("ProjectionExpression" in s for s in scans)
    assert "Subnets" in read and not read & {"Tags", "AddressUse"}
    # The same page and findings as from every attribute of every item.
    monkeypatch.setattr("collector.jobs.audit.PAGE_ATTRIBUTES", ())
    whole, _ = run_audit(config, options=opts)
    assert any(v.Tags for v in whole.vpcs) and not any(v.Tags for v in page.vpcs)
    assert any(v.Subnets for v in page.vpcs)
    assert render_html(page) == render_html(whole)
    assert page.to_dict() == whole.to_dict()
