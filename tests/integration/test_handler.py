"""The Lambda handler under moto, with real-shaped events from tests/data/events."""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from collector.handler import config_from_env, handler, parse_event
from collector.jobs.audit import run_audit
from collector.jobs.options import RunOptions
from tests.conftest import load_data
from tests.faults import Faults
from tests.integration.conftest import Org, scanned_attributes


class Context:
    """A Lambda context whose remaining time we control."""

    def __init__(self, remaining_ms: list[int] | None = None) -> None:
        self.remaining = remaining_ms or [900_000]
        self.function_name = "vpctracker"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The handler takes over the root logger, as it should in Lambda; undo that per test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level


@pytest.fixture
def env(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPCTRACKER_TABLE", "VPCTracker")
    monkeypatch.setenv("VPCTRACKER_REGIONS", "us-east-1,eu-west-1")
    monkeypatch.setenv("VPCTRACKER_EXCLUDE_ACCOUNTS", org.accounts["excluded"])
    monkeypatch.setenv("VPCTRACKER_MAX_WORKERS", "4")
    monkeypatch.setenv("VPCTRACKER_RESERVED_CIDRS", "corporate-network=192.168.0.0/16")


def emf_lines(out: str) -> list[dict[str, Any]]:
    """EMF records printed by Powertools Metrics, each value summed (EMF allows lists)."""
    out_records = []
    for line in out.splitlines():
        if line.startswith('{"_aws"'):
            record = json.loads(line)
            names = [m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
            for name in names:
                value = record[name]
                record[name] = sum(value) if isinstance(value, list) else value
            out_records.append(record)
    return out_records


def test_scheduled_event_runs_the_org(
    org: Org, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    result = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert result["ok"] is True
    assert result["summary"]["targets"] == {"total": 8, "ok": 8, "skipped": 0, "failed": 0}
    assert result["audit"] == {
        "overlap_groups": 1,
        "vpcs_in_overlaps": 2,
        "default_vpcs": 1,
        "unreadable_items": 0,
        "conflicts": 0,
        "headroom": 0,
        "exhausted_subnets": 0,
        "single_az": 0,
        "expected_overlaps": 0,
        "reservation_overlaps": 0,
        "stale": 0,
    }
    (metrics,) = emf_lines(capsys.readouterr().out)
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "VPCTracker"
    assert metrics["Mode"] == "scheduled"
    assert (
        metrics["VpcsCollected"],
        metrics["TargetsFailed"],
        metrics["OverlapGroups"],
        metrics["DefaultVpcs"],
    ) == (13, 0, 1, 1)
    json.dumps(result)  # the result is JSON-serialisable as Lambda requires


def test_logs_are_json(org: Org, env: None, capsys: pytest.CaptureFixture[str]) -> None:
    faults = Faults(org.session).install()
    faults.error("sts", "AssumeRole", "AccessDenied", status=403, account=org.accounts["sandbox"])
    result = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert result["ok"] is False and result["summary"]["exit_code"] == 2
    logged = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"level"')
    ]
    assert any(r["level"] == "WARNING" and "AccessDenied" in r["message"] for r in logged)
    assert all(r["service"] == "vpctracker" for r in logged)


def test_direct_invoke_check(org: Org, env: None) -> None:
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    event = {**load_data("events/direct-check.json"), "accounts": [org.accounts["workload-b"]]}
    result = handler(event, Context(), session=org.session)
    # A check that finds something ran fine: ok, with its verdict (ok false is for a bad event
    # or a failed run, with an error).
    assert result["ok"] is True and "error" not in result
    assert result["verdict"] == "findings" and result["exit_code"] == 3
    plain = handler(
        {"accounts": [org.accounts["sandbox"]], "regions": ["eu-west-1"]},
        Context(),
        session=org.session,
    )
    assert plain["ok"] is True and plain["summary"]["targets"]["total"] == 1


def test_deadline_cut_off_reports_the_rest_as_failed(org: Org, env: None) -> None:
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    gone = org.api_vpcs("sandbox", "eu-west-1")[0]["VpcId"]
    org.ec2("sandbox", "eu-west-1").delete_vpc(VpcId=gone)
    # Plenty of time for the first checks, then under the safety margin.
    ctx = Context([900_000] * 3 + [30_000])
    result = handler(load_data("events/scheduled.json"), ctx, session=org.session)
    s = result["summary"]
    assert result["ok"] is False
    late = [f for f in s["failures"] if f["error_code"] == "DeadlineExceeded"]
    assert late and s["exit_code"] == 2
    # Every account is accounted for: scanned, or named as cut off (region "*" = all of it).
    reached = s["targets"]["ok"] + sum(2 if f["region"] == "*" else 1 for f in late)
    assert reached == 8
    # The accounts not reached include sandbox, whose deleted VPC must not be marked.
    assert org.accounts["sandbox"] in {f["account_id"] for f in late}
    assert not org.table()[(gone, org.accounts["sandbox"])].Deleted
    assert s["marked_deleted"] == 0


def test_sqs_fan_out_end_to_end(org: Org, env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = org.session.client("sqs")
    url = sqs.create_queue(QueueName="vpctracker-accounts")["QueueUrl"]
    monkeypatch.setenv("VPCTRACKER_QUEUE_URL", url)
    monkeypatch.setenv("VPCTRACKER_ACCOUNTS_PER_MESSAGE", "3")

    def night() -> list[dict[str, Any]]:
        dispatched = handler(load_data("events/scheduled.json"), Context(), session=org.session)
        assert dispatched["mode"] == "fan-out" and dispatched["accounts"] == 4
        assert dispatched["messages"] == 2
        template = load_data("events/sqs.json")["Records"][0]
        results = []
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            records = []
            for m in msgs:
                r = copy.deepcopy(template)
                r.update(messageId=m["MessageId"], receiptHandle=m["ReceiptHandle"], body=m["Body"])
                records.append(r)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            results.append(handler({"Records": records}, Context(), session=org.session))
        return [dispatched, *results]

    first = night()
    assert all(r == {"batchItemFailures": []} for r in first[1:])
    # Same table as a single full run would write.
    full = {k: v.CidrBlocks for k, v in org.table().items()}
    assert len(full) == 13
    # Deletion marking stays right across workers, and departed accounts are swept.
    gone = org.api_vpcs("sandbox", "eu-west-1")[0]["VpcId"]
    org.ec2("sandbox", "eu-west-1").delete_vpc(VpcId=gone)
    org.session.client("organizations").close_account(AccountId=org.accounts["workload-b"])
    # Times are whole seconds: an item scanned in the second the sweep starts counts as seen by
    # a later scan and is left for the next night (fail closed). Start the next night later.
    time.sleep(1.1)
    dispatched = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert dispatched["accounts"] == 3 and dispatched["marked_deleted"] == 2
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    template = load_data("events/sqs.json")["Records"][0]
    records = [{**template, "messageId": m["MessageId"], "body": m["Body"]} for m in msgs]
    assert handler({"Records": records}, Context(), session=org.session) == {
        "batchItemFailures": []
    }
    table = org.table()
    deleted = {k[0]: v.DeletedReason for k, v in table.items() if v.Deleted}
    assert deleted[gone] == "not-found"
    assert sorted(deleted.values()) == ["account-suspended", "account-suspended", "not-found"]


def test_the_dispatcher_reads_whole_only_the_items_it_marks(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: the dispatcher read the whole table twice, every item whole (subnets and
    tags): once to find the items of departed accounts, once for its answer's audit summary.
    At 100k VPCs that is most of a Lambda's memory for a few marks and counts."""
    # A night's table (subnets and all), then an account leaves, then the fan-out's dispatcher.
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    leaving = org.accounts["workload-b"]
    theirs = sorted(k for k, v in org.table().items() if v.OwnerId == leaving)
    assert theirs
    org.session.client("organizations").close_account(AccountId=leaving)
    time.sleep(1.1)  # stored times are whole seconds: the sweep must start after that night
    sqs = org.session.client("sqs")
    url = sqs.create_queue(QueueName="vpctracker-accounts")["QueueUrl"]
    monkeypatch.setenv("VPCTRACKER_QUEUE_URL", url)
    scans: list[dict[str, Any]] = []
    gets: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    org.session.events.register(
        "provide-client-params.dynamodb.BatchGetItem", lambda params, **_: gets.append(params)
    )
    dispatched = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    made = {"Scan": scans[:], "BatchGetItem": gets[:]}  # the dispatcher's, not the test's
    assert dispatched["mode"] == "fan-out" and dispatched["marked_deleted"] == len(theirs)
    assert all(v.Deleted for k, v in org.table().items() if k in theirs)
    # Every scan projected; none reads a subnet or a tag.
    assert made["Scan"] and all("ProjectionExpression" in s for s in made["Scan"])
    read = scanned_attributes(made["Scan"])
    assert not read & {"Subnets", "Tags"}
    # Whole, by key: the departed account's items only (to mark them), with its scan times
    # (a mark keeps when the VPC was last seen).
    keys = {
        (k["VpcId"]["S"], k["OwnerId"]["S"])
        for g in made["BatchGetItem"]
        for r in g["RequestItems"].values()
        for k in r["Keys"]
    }
    gone = {owner for _, owner in theirs}
    assert keys == set(theirs) | {(f"scanned#{owner}", owner) for owner in gone}
    # And the answer's audit summary is the one a whole read gives.
    whole, _ = run_audit(config_from_env(os.environ), options=RunOptions(session=org.session))
    assert dispatched["audit"] == whole.to_dict()["summary"]


def test_sqs_bad_message_is_reported_for_retry(org: Org, env: None) -> None:
    template = load_data("events/sqs.json")["Records"][0]
    good = {
        **template,
        "messageId": "good",
        "body": json.dumps({"accounts": [org.accounts["sandbox"]]}),
    }
    bad = {**template, "messageId": "bad", "body": '{"accounts": ["nope"]}'}
    assert handler({"Records": [good, bad]}, Context(), session=org.session) == {
        "batchItemFailures": [{"itemIdentifier": "bad"}]
    }


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"accounts": ["12345"]}, "event.accounts[0]: not a 12-digit AWS account id (got '12345')"),
        (
            {"accounts": "111111111111"},
            "event.accounts: must be a list of strings (got '111111111111')",
        ),
        ({"accounts": []}, "event.accounts: must name at least one account"),
        (
            {"accounts": ["111111111111"], "regions": ["moon-1"]},
            "event.regions[0]: not an AWS region name",
        ),
        (
            {"accounts": ["111111111111"], "check": "yes"},
            "event.check: must be true or false (got 'yes')",
        ),
        ({"acounts": ["111111111111"]}, "event: unknown key 'acounts'"),
        ({}, "event.accounts: required for a direct invocation"),
        (["111111111111"], "event: must be a JSON object"),
        # Issue 11: a huge payload gives a short error, not megabytes.
        (
            {"accounts": ["111111111111"] * 200_000 + [5]},
            "event.accounts: must be a list of strings (got a list of 200001 items)",
        ),
        (
            {"accounts": ["111111111111"] * 200_000 + ["x" * 100_000]},
            "event.accounts[200000]: not a 12-digit AWS account id (got 'xxxx",
        ),
        ({"accounts": ["\x1b[2J\u202eevil"]}, "(got '\\x1b[2J\\u202eevil')"),
        # Issue 23, observation 7: only the documented shapes start a run; this one started a
        # whole-organization run.
        (
            {"source": "aws.events", "accounts": ["111111111111"]},
            "event: unknown key 'source'",
        ),
        (
            {"detail-type": "Scheduled Event", "source": "aws.events", "accounts": ["1"]},
            "event: not a scheduled event (unknown key 'accounts')",
        ),
        # `$` took a final newline: an id with one passed.
        ({"accounts": ["111111111111\n"]}, "event.accounts[0]: not a 12-digit AWS account id"),
    ],
)
def test_bad_event_payloads(event: Any, error: str, org: Org, env: None) -> None:
    result = handler(event, Context(), session=org.session)
    assert result["ok"] is False
    assert error in result["error"] and "\n" not in result["error"]
    assert len(result["error"]) <= 300


@pytest.mark.parametrize(
    ("var", "value", "error"),
    [
        (
            "VPCTRACKER_MAX_WORKERS",
            "lots",
            "VPCTRACKER_MAX_WORKERS: Input should be a valid integer (got 'lots')",
        ),
        (
            "VPCTRACKER_MAX_WORKERS",
            "0",
            "VPCTRACKER_MAX_WORKERS: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            "VPCTRACKER_REGIONS",
            "us-east-1,useast2",
            "VPCTRACKER_REGIONS[1]: not an AWS region name",
        ),
        (
            "VPCTRACKER_INCLUDE_ACCOUNTS",
            "1234",
            "VPCTRACKER_INCLUDE_ACCOUNTS[0]: not a 12-digit AWS account id (got '1234')",
        ),
        ("VPCTRACKER_TABLE", "x", "VPCTRACKER_TABLE: not a valid DynamoDB table name (got 'x')"),
        ("VPCTRACKER_RESERVED_CIDRS", "corp", "VPCTRACKER_RESERVED_CIDRS: 'corp' is not name=cidr"),
        (
            "VPCTRACKER_RESERVED_CIDRS",
            "corp=10.0.0.1/8",
            "VPCTRACKER_RESERVED_CIDRS[0].cidr: not a valid CIDR block",
        ),
        ("VPCTRACKER_TABLE_REGION", "Virginia", "VPCTRACKER_TABLE_REGION: not an AWS region name"),
        # Issue 11: what is wrong with the external id, never what it is.
        (
            "VPCTRACKER_EXTERNAL_ID",
            "SECRET value with spaces",
            "VPCTRACKER_EXTERNAL_ID: not a valid external id",
        ),
        ("VPCTRACKER_EXTERNAL_ID", "S", "VPCTRACKER_EXTERNAL_ID: not a valid external id"),
        # Issue 23, observation 5: the handler raised instead of answering.
        (
            "VPCTRACKER_MAX_WORKERS",
            "9" * 5_000,
            "VPCTRACKER_MAX_WORKERS: Input should be a valid integer",
        ),
        ("VPCTRACKER_MAX_WORKERS", "²", "VPCTRACKER_MAX_WORKERS: Input should be a valid integer"),
    ],
)
def test_bad_environment(
    var: str,
    value: str,
    error: str,
    org: Org,
    env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(var, value)
    result = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert result == {"ok": False, "error": result["error"]}
    assert error in result["error"] and "\n" not in result["error"]
    if var == "VPCTRACKER_EXTERNAL_ID":
        logs = capsys.readouterr()
        for text in (json.dumps(result), logs.out, logs.err):
            assert value not in text


def test_env_config_mapping() -> None:
    cfg = config_from_env(
        {
            "VPCTRACKER_TABLE": "Inv",
            "AWS_REGION": "eu-west-1",
            "VPCTRACKER_REGIONS": "all",
            "VPCTRACKER_EXTERNAL_ID": "abc-123",
        }
    )
    assert (cfg.table.name, cfg.table.region, cfg.regions) == ("Inv", "eu-west-1", "all")
    assert cfg.organization.external_id == "abc-123"
    assert parse_event(load_data("events/sqs.json")).kind == "sqs"
    assert parse_event(load_data("events/scheduled.json")).kind == "scheduled"


# ---------------------------------------------------------------------------------------------
# Issue 12: lossless fan-out, failures every alarm sees, fresh metrics


def sqs_record(message_id: str, body: Any, sent_at: float | None = None) -> dict[str, Any]:
    """An SQS record as the event source mapping delivers it, sent now (or at `sent_at`)."""
    record = load_data("events/sqs.json")["Records"][0]
    sent = str(int((time.time() if sent_at is None else sent_at) * 1000))
    attributes = {**record["attributes"], "SentTimestamp": sent}
    return {**record, "messageId": message_id, "body": body, "attributes": attributes}


def message(*accounts: str, names: bool = True) -> str:
    return json.dumps({"accounts": [{"id": a, "name": f"n-{a}"} if names else a for a in accounts]})


@pytest.mark.parametrize(
    ("var", "value"),
    [("VPCTRACKER_TABLE", "VPCTracker-missing"), ("VPCTRACKER_MAX_WORKERS", "lots")],
)
def test_a_worker_that_cannot_start_fails_every_message(
    org: Org,
    env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    var: str,
    value: str,
) -> None:
    """Observation 1: `{"ok": false}` without batchItemFailures deleted every message."""
    monkeypatch.setenv(var, value)
    records = [sqs_record(f"m{i}", message(org.accounts["sandbox"])) for i in range(3)]
    assert handler({"Records": records}, Context(), session=org.session) == {
        "batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in range(3)]
    }
    metrics = {m["Mode"]: m for m in emf_lines(capsys.readouterr().out)}
    assert metrics["worker"]["MessagesFailed"] == 3 and metrics["any"]["RunErrors"] == 1
    assert org.table() == {}


@pytest.mark.parametrize(
    "body",
    [
        {"accounts": ["111111111111"]},  # not a string: SQS bodies always are
        '{"accounts": []}',  # would mean "the whole organization"
        "",
        "[1, 2]",
        '{"accounts": [{"name": "x"}]}',
    ],
)
def test_malformed_messages_fail_and_run_nothing(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch, body: Any
) -> None:
    calls: list[str] = []
    org.session.events.register("before-call.ec2.DescribeVpcs", lambda **_: calls.append("x"))
    good = sqs_record("good", message(org.accounts["sandbox"]))
    result = handler({"Records": [sqs_record("bad", body), good]}, Context(), session=org.session)
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert len(calls) == 2  # only the good message's two targets were scanned


def test_workers_do_not_list_the_organization(
    org: Org, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    listed: list[str] = []
    org.session.events.register(
        "before-call.organizations.ListAccounts", lambda **_: listed.append("x")
    )
    records = [sqs_record("m1", message(org.accounts["sandbox"], org.accounts["workload-a"]))]
    assert handler({"Records": records}, Context(), session=org.session) == {
        "batchItemFailures": []
    }
    assert listed == []
    assert {v.AccountName for v in org.table().values()} == {
        f"n-{org.accounts['sandbox']}",
        f"n-{org.accounts['workload-a']}",
    }


def test_an_account_gone_since_dispatch_is_marked_not_retried(org: Org, env: None) -> None:
    """Observation 2: one suspended account used to fail its whole message, forever."""
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    orgs = org.session.client("organizations")
    gone = org.accounts["workload-b"]
    orgs.close_account(AccountId=gone)
    faults = Faults(org.session).install()
    faults.error("sts", "AssumeRole", "AccessDenied", status=403, account=gone)
    records = [sqs_record("m1", message(gone, org.accounts["sandbox"]))]
    assert handler({"Records": records}, Context(), session=org.session) == {
        "batchItemFailures": []
    }
    reasons = {v.DeletedReason for k, v in org.table().items() if k[1] == gone}
    assert reasons == {"account-suspended"}


def test_a_failing_account_fails_its_message_and_the_metric_says_so(
    org: Org, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = Faults(org.session).install()
    faults.error("sts", "AssumeRole", "AccessDenied", status=403, account=org.accounts["sandbox"])
    records = [
        sqs_record("bad", message(org.accounts["sandbox"])),
        sqs_record("good", message(org.accounts["workload-a"])),
    ]
    assert handler({"Records": records}, Context(), session=org.session) == {
        "batchItemFailures": [{"itemIdentifier": "bad"}]
    }
    (worker,) = [m for m in emf_lines(capsys.readouterr().out) if m["Mode"] == "worker"]
    assert worker["MessagesFailed"] == 1 and worker["TargetsFailed"] == 1


def test_the_last_worker_publishes_the_night_s_fresh_audit(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Observation 5: the dispatcher audited before any worker ran (0 groups on night one)."""
    sqs = org.session.client("sqs")
    url = sqs.create_queue(QueueName="vpctracker-accounts")["QueueUrl"]
    monkeypatch.setenv("VPCTRACKER_QUEUE_URL", url)
    monkeypatch.setenv("VPCTRACKER_ACCOUNTS_PER_MESSAGE", "1")
    dispatched = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert dispatched["messages"] == 4
    out = capsys.readouterr().out
    assert not [m for m in emf_lines(out) if "OverlapGroups" in m]
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    published = []
    for n, m in enumerate(msgs):
        handler(
            {"Records": [sqs_record(m["MessageId"], m["Body"])]}, Context(), session=org.session
        )
        if n == 0:  # a redelivered message counts once
            handler(
                {"Records": [sqs_record(m["MessageId"], m["Body"])]}, Context(), session=org.session
            )
        published.append([x for x in emf_lines(capsys.readouterr().out) if "OverlapGroups" in x])
    assert published[:-1] == [[]] * (len(msgs) - 1)
    (night,) = published[-1]
    assert (night["Mode"], night["OverlapGroups"], night["DefaultVpcs"]) == ("scheduled", 1, 1)


def test_the_external_id_comes_from_a_secure_parameter_once_per_container(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Observation 8: the external id was a plaintext environment variable."""
    from collector import function_config as module

    secret = "ext-id-from-ssm-4242"
    ssm = org.session.client("ssm")
    ssm.put_parameter(Name="/vpctracker/external-id", Value=secret, Type="SecureString")
    monkeypatch.setenv("VPCTRACKER_EXTERNAL_ID_PARAMETER", "/vpctracker/external-id")
    monkeypatch.setattr(module, "_cold", {})
    reads: list[str] = []
    org.session.events.register("before-call.ssm.GetParameter", lambda **_: reads.append("x"))
    presented: list[str] = []
    org.session.events.register(
        "before-parameter-build.sts.AssumeRole",
        lambda params, **_: presented.append(params.get("ExternalId", "")),
    )
    for _ in range(2):
        result = handler({"accounts": [org.accounts["sandbox"]]}, Context(), session=org.session)
        assert result["ok"] is True
    assert reads == ["x"]  # read at cold start only
    assert set(presented) == {secret}
    out = capsys.readouterr()
    assert secret not in out.out + out.err + json.dumps(result)
    monkeypatch.setenv("VPCTRACKER_EXTERNAL_ID", "also-set")
    both = handler({"accounts": [org.accounts["sandbox"]]}, Context(), session=org.session)
    assert both == {
        "ok": False,
        "error": "set VPCTRACKER_EXTERNAL_ID or VPCTRACKER_EXTERNAL_ID_PARAMETER, not both",
    }


def test_a_warm_function_reads_its_service_models_once(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lambda keeps the process between invocations. Each made a new session, whose clients
    # read and parsed every service model again (DynamoDB, STS, Organizations, SNS, EC2 and
    # the endpoints: about a quarter of a second of CPU before an event's first call).
    from tests.unit.test_credentials import model_loads

    event = {"accounts": [org.accounts["sandbox"]], "regions": ["eu-west-1"]}
    assert handler(event, Context())["ok"] is True
    loaded = model_loads(monkeypatch)
    assert handler(event, Context())["ok"] is True
    assert loaded == []


def fan_out_queue(org: Org, monkeypatch: pytest.MonkeyPatch, per_message: int) -> str:
    url = org.session.client("sqs").create_queue(QueueName="vpctracker-accounts")["QueueUrl"]
    monkeypatch.setenv("VPCTRACKER_QUEUE_URL", url)
    monkeypatch.setenv("VPCTRACKER_ACCOUNTS_PER_MESSAGE", str(per_message))
    return url


def parts_done_as_queued(org: Org) -> list[Any]:
    """Make every part of a night finished as soon as the dispatcher queues it (workers faster
    than its listing); returns where the night stood after each, as the parts were done."""
    from collector.store.dispatch import part_done

    sent: list[dict[str, Any]] = []
    progress: list[Any] = []
    ddb = org.session.client("dynamodb")

    def finished_at_once(**_: Any) -> None:
        for entry in sent.pop()["Entries"]:
            body = json.loads(entry["MessageBody"])
            progress.append(part_done(ddb, "VPCTracker", body["dispatch"], body["part"]))

    events = org.session.events
    events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: sent.append(params)
    )
    events.register("after-call.sqs.SendMessageBatch", finished_at_once)
    return progress


def refuse_ledger_queries(org: Org, on: bool = True) -> dict[str, bool]:
    """Make the ledger refuse every Query (`AccessDeniedException`) while the returned
    switch's `on` is true: a recording then fails after what it compares was written."""
    from botocore.exceptions import ClientError

    switch = {"on": on}

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if switch["on"] and params.get("TableName") == "VPCTracker-ledger":
            error = {"Code": "AccessDeniedException", "Message": "injected"}
            raise ClientError({"Error": error}, "Query")

    org.session.events.register("before-parameter-build.dynamodb.Query", refuse)
    return switch


def queued(org: Org, url: str) -> list[Any]:
    """Every message on the queue, taken off it."""
    sqs, out = org.session.client("sqs"), []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        out.extend(msgs)
    return out


def test_the_dispatcher_queues_accounts_from_the_first_page_of_the_listing(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: the dispatcher listed the whole organization (50 pages, ≈ 5 s at 1,000
    accounts) before it queued any account, and every worker waited for that."""
    org.add_accounts(40)
    url = fan_out_queue(org, monkeypatch, per_message=7)
    calls: list[str] = []
    events = org.session.events
    events.register("before-call.organizations.ListAccounts", lambda **_: calls.append("list"))
    events.register("before-call.sqs.SendMessageBatch", lambda **_: calls.append("send"))
    dispatched = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert dispatched["ok"] is True and dispatched["accounts"] == 44  # all ACTIVE but excluded
    assert calls.count("list") == 3
    last_list = len(calls) - 1 - calls[::-1].index("list")
    assert calls.index("send") < last_list
    # Every account queued once, in messages of at most 7, parts numbered 0..n-1.
    bodies = [json.loads(m["Body"]) for m in queued(org, url)]
    accounts = [a["id"] for b in bodies for a in b["accounts"]]
    assert len(accounts) == len(set(accounts)) == 44
    assert max(len(b["accounts"]) for b in bodies) == 7
    assert sorted(b["part"] for b in bodies) == list(range(dispatched["messages"]))


def test_a_night_whose_parts_all_finish_before_the_listing_ends_is_recorded(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Workers start while the dispatcher still lists: they can finish every part before it
    knows how many there are. The night is then the dispatcher's to record."""
    fan_out_queue(org, monkeypatch, per_message=10)
    progress = parts_done_as_queued(org)
    capsys.readouterr()
    dispatched = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert dispatched["ok"] is True and dispatched["messages"] == 1
    assert progress and not any(p.complete for p in progress)  # the count was not known yet
    (night,) = [m for m in emf_lines(capsys.readouterr().out) if "OverlapGroups" in m]
    assert night["Mode"] == "scheduled"


def test_a_night_the_dispatcher_could_not_record_is_its_failed_answer(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fail closed: a night the dispatcher records (its parts all finished while it listed)
    whose recording failed was answered `ok` with no metric counting the failure. Its answer
    now says so and `WriteFailures` is published (the stack alarms on it); no message is left
    to retry it, so the next night records what this one found."""
    fan_out_queue(org, monkeypatch, per_message=10)
    parts_done_as_queued(org)
    refuse_ledger_queries(org)
    capsys.readouterr()
    dispatched = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert dispatched["ok"] is False and dispatched["messages"] == 1
    assert dispatched["error"] == (
        "the night's findings not recorded: FindingsNotRecorded:AccessDeniedException"
    )
    (night,) = [m for m in emf_lines(capsys.readouterr().out) if "OverlapGroups" in m]
    assert (night["Mode"], night["WriteFailures"]) == ("scheduled", 1)


def test_a_listing_that_fails_part_way_queues_what_it_listed_and_ends_no_night(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    org.add_accounts(40)
    url = fan_out_queue(org, monkeypatch, per_message=4)
    org.fail_listing_after_first_page()
    capsys.readouterr()
    dispatched = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert dispatched["ok"] is False
    assert dispatched["error"].startswith("cannot list organization accounts: ServiceException")
    (alarm,) = [m for m in emf_lines(capsys.readouterr().out) if "RunErrors" in m]
    assert alarm["RunErrors"] == 1  # the stack alarms on it
    # The first page's accounts were queued; their workers finish, and the night is not
    # recorded: nothing is concluded from a partial listing.
    msgs = queued(org, url)
    listed = {a["id"] for m in msgs for a in json.loads(m["Body"])["accounts"]}
    assert 0 < len(listed) <= 20
    capsys.readouterr()
    for m in msgs:
        result = handler(
            {"Records": [sqs_record(m["MessageId"], m["Body"])]}, Context(), session=org.session
        )
        assert result == {"batchItemFailures": []}
    assert not [m for m in emf_lines(capsys.readouterr().out) if "OverlapGroups" in m]
