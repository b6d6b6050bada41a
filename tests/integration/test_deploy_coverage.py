"""Issue 25: what moto's CloudFormation cannot check, checked from the code.

- Every failure metric the code emits, in every Mode that emits it (found by running each kind of
  invocation, not from a list), is alarmed on every stack shape; so is every dead-letter queue.
- Every EC2 call that changes what a scan reads (found by running a scan) is forwarded by the
  member accounts' event rule.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest

from collector.handler import handler
from collector.scan.writers import CHANGED_BY, TAGS, forwarded_events
from collector.telemetry import FAILURE_METRICS, INFORMATION_METRICS
from tests.conftest import load_data
from tests.integration.conftest import Org
from tests.integration.test_handler import (  # noqa: F401 - restore_logging: autouse
    Context,
    emf_lines,
    message,
    restore_logging,
    sqs_record,
)
from tests.integration.test_live import event_for
from tests.integration.test_no_vpc_hidden import network_account
from tests.unit.test_iam import IAM, load_template


@pytest.fixture
def env(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPCTRACKER_TABLE", "VPCTracker")
    monkeypatch.setenv("VPCTRACKER_REGIONS", "us-east-1,eu-west-1")
    monkeypatch.setenv("VPCTRACKER_EXCLUDE_ACCOUNTS", org.accounts["excluded"])
    # With a report bucket (whose metrics exist only then), the nightly and live runs publish.
    monkeypatch.setenv("VPCTRACKER_REPORT_BUCKET", "reports")
    org.session.client("s3").create_bucket(Bucket="reports")


def emitted(
    org: Org, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> set[tuple[str, str]]:
    """(metric, Mode) of every EMF record each kind of invocation prints."""
    sqs = org.session.client("sqs")
    calls: list[Any] = [
        load_data("events/scheduled.json"),  # the nightly run
        {**load_data("events/direct-check.json"), "accounts": [org.accounts["sandbox"]]},
        {"accounts": [org.accounts["sandbox"]]},  # a direct invocation
        event_for(org, "sandbox", "us-east-1"),  # a live update, invoked directly
        {"Records": [sqs_record("e1", json.dumps(event_for(org, "sandbox", "eu-west-1")))]},
        {"Records": [sqs_record("w1", message(org.accounts["sandbox"]))]},  # a fan-out worker
        {"accounts": ["nope"]},  # a bad event
    ]
    for event in calls:
        handler(event, Context(), session=org.session)
    # The fan-out dispatcher, and a worker that fails its message.
    url = sqs.create_queue(QueueName="accounts")["QueueUrl"]
    monkeypatch.setenv("VPCTRACKER_QUEUE_URL", url)
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    monkeypatch.setenv("VPCTRACKER_TABLE", "VPCTracker-missing")
    handler(
        {"Records": [sqs_record("w2", message(org.accounts["sandbox"]))]},
        Context(),
        session=org.session,
    )
    out = capsys.readouterr().out
    pairs = set()
    for record in emf_lines(out):
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "VPCTracker"
        for m in directive["Metrics"]:
            pairs.add((m["Name"], record["Mode"]))
    return pairs


# ----- a tiny CloudFormation condition evaluator (the template's own logic) -------------


def conditions(tpl: dict[str, Any], params: dict[str, str]) -> dict[str, bool]:
    values: dict[str, Any] = {k: str(v.get("Default", "")) for k, v in tpl["Parameters"].items()}
    values.update(params)
    for k, v in tpl["Parameters"].items():
        if v["Type"] == "CommaDelimitedList":
            values[k] = values[k].split(",")
    out: dict[str, bool] = {}

    def cond(name: str) -> bool:
        if name not in out:
            out[name] = bool(ev(tpl["Conditions"][name]))
        return out[name]

    ops = {
        "Ref": lambda a: values[a],
        "Condition": cond,
        "Fn::Condition": cond,
        "Fn::Equals": lambda a: ev(a[0]) == ev(a[1]),
        "Fn::Not": lambda a: not ev(a[0]),
        "Fn::Or": lambda a: any(ev(x) for x in a),
        "Fn::And": lambda a: all(ev(x) for x in a),
        "Fn::Join": lambda a: a[0].join(ev(a[1])),
    }

    def ev(node: Any) -> Any:
        if isinstance(node, dict):
            ((fn, arg),) = node.items()
            return ops[fn](arg)
        return node

    for name in tpl["Conditions"]:
        cond(name)
    return out


SHAPES = [
    {"FanOut": fan_out, "LiveUpdates": live, "NotifyTopicArn": topic, "ReportBucket": bucket}
    for fan_out, live, topic, bucket in itertools.product(
        ("true", "false"),
        ("true", "false"),
        ("", "arn:aws:sns:us-east-1:111122223333:t"),
        ("", "create", "my-reports"),
    )
]
# Metrics the code emits only where a report is published (a stack with a ReportBucket).
REPORT_ONLY = {"ReportFailures"}


def resources(tpl: dict[str, Any], shape: dict[str, str]) -> dict[str, Any]:
    on = conditions(tpl, shape)
    return {n: r for n, r in tpl["Resources"].items() if on.get(r.get("Condition", ""), True)}


def alarmed(res: dict[str, Any]) -> tuple[set[tuple[str, str]], set[str]]:
    """(VPCTracker metric, Mode) pairs and queue resources the alarms of a stack watch."""
    metrics: set[tuple[str, str]] = set()
    queues: set[str] = set()

    def watch(namespace: str, name: str, dims: list[dict[str, Any]]) -> None:
        by = {d["Name"]: d["Value"] for d in dims}
        if namespace == "VPCTracker":
            metrics.add((name, by["Mode"]))
        elif namespace == "AWS/SQS" and name == "ApproximateNumberOfMessagesVisible":
            value = by["QueueName"]
            assert value["Fn::GetAtt"][1] == "QueueName"
            queues.add(value["Fn::GetAtt"][0])

    for r in res.values():
        if r["Type"] != "AWS::CloudWatch::Alarm":
            continue
        p = r["Properties"]
        assert p["Threshold"] == 0 and p["ComparisonOperator"] == "GreaterThanThreshold"
        assert p["TreatMissingData"] == "notBreaching"
        if "MetricName" in p:
            watch(p["Namespace"], p["MetricName"], p["Dimensions"])
        for m in p.get("Metrics", []):
            if "MetricStat" in m:
                metric = m["MetricStat"]["Metric"]
                watch(metric["Namespace"], metric["MetricName"], metric["Dimensions"])
    return metrics, queues


def dead_letter_queues(res: dict[str, Any]) -> set[str]:
    out = set()
    for r in res.values():
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]:
            target = r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"]
            out.add(target[0])
    return out


def test_every_failure_the_code_can_report_raises_an_alarm_on_every_stack_shape(
    org: Org, env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = emitted(org, capsys, monkeypatch)
    names = {name for name, _ in pairs}
    # Every metric is classified: a new one cannot slip in unalarmed and unnoticed.
    assert names <= FAILURE_METRICS | INFORMATION_METRICS, names - FAILURE_METRICS
    failures = {(n, mode) for n, mode in pairs if n in FAILURE_METRICS}
    # The runs exercised what they should (the derivation sees what it must).
    assert {("TargetsFailed", m) for m in ("scheduled", "check", "direct", "event", "worker")} <= (
        failures
    )
    assert ("MessagesFailed", "worker") in failures and ("RunErrors", "any") in failures
    tpl = load_template(IAM / "hub.yaml")
    assert ("ReportFailures", "scheduled") in failures
    for shape in SHAPES:
        res = resources(tpl, shape)
        metrics, queues = alarmed(res)
        expected = {p for p in failures if shape["ReportBucket"] or p[0] not in REPORT_ONLY}
        assert expected <= metrics, (shape, expected - metrics)
        assert dead_letter_queues(res) <= queues, (shape, dead_letter_queues(res) - queues)
    # Before: the live-update DLQ had no alarm, MessagesFailed only with FanOut=true.
    live_only = resources(tpl, {"FanOut": "false", "LiveUpdates": "true"})
    assert "EventsDeadLetterQueue" in alarmed(live_only)[1]
    assert ("MessagesFailed", "worker") in alarmed(live_only)[0]


# ----- events -----------------------------------------------------------------------------


def scan_operations(org: Org) -> set[str]:
    """The EC2 operations a full scan makes, a TGW owner's route tables included."""
    ops: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        ops.add(model.name)

    network_account(org)
    org.create_vpc("sandbox", "us-east-1", "10.70.0.0/16", "peer-me")
    org.session.events.register("before-call.ec2", record)  # the scan's calls only
    org.run()
    return ops


def rule_events(tpl: dict[str, Any]) -> tuple[set[str], set[str]]:
    rules = {n: r for n, r in tpl["Resources"].items() if r["Type"] == "AWS::Events::Rule"}
    change = set(rules["ChangeRule"]["Properties"]["EventPattern"]["detail"]["eventName"])
    tags = set(rules["TagRule"]["Properties"]["EventPattern"]["detail"]["eventName"])
    return change, tags


def test_every_call_that_changes_what_a_scan_reads_is_forwarded(org: Org) -> None:
    ops = scan_operations(org)
    # Each read the scanner makes declares the calls that change its answer (a new read
    # cannot ship without them), and nothing is declared for a read the scanner no longer makes.
    assert ops <= set(CHANGED_BY), ops - set(CHANGED_BY)
    assert set(CHANGED_BY) - ops <= {"DescribeRegions"}
    assert "SearchTransitGatewayRoutes" in ops  # the TGW owner's tables were read
    change, tags = rule_events(load_template(IAM / "member-events.yaml"))
    assert change | tags == forwarded_events()
    assert tags == set(TAGS)
    # The calls the issue named, each forwarded now.
    for name in (
        "CreateDefaultVpc",
        "CreateDefaultSubnet",
        "RejectVpcPeeringConnection",
        "CreateTransitGatewayVpcAttachment",
        "AcceptTransitGatewayVpcAttachment",
        "DeleteTransitGatewayVpcAttachment",
        "AssociateTransitGatewayRouteTable",
        "EnableTransitGatewayRouteTablePropagation",
    ):
        assert name in change, name


def test_a_forwarded_event_of_each_kind_rescans_its_target(
    org: Org, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each forwarded call, as an event, is one rescan of its target (none is ignored)."""
    # Back to back, each event's early read would wait out the clock skew past the last
    # recording's read (1.7 s of each event here, a minute in all). Without the wait, the
    # recording reads afresh instead, as it does for any view that started too soon.
    monkeypatch.setattr("collector.jobs.views.CLOCK_SKEW", timedelta(0))
    org.run()
    for name in sorted(forwarded_events()):
        result = handler(
            event_for(org, "sandbox", "eu-west-1", name), Context(), session=org.session
        )
        assert result["ok"] is True and result["rescanned"] == [
            {"account": org.accounts["sandbox"], "region": "eu-west-1"}
        ], name


def test_a_region_without_vpcs_costs_only_the_calls_that_can_find_something(org: Org) -> None:
    """Issue 26: subnets and peering connections need a VPC the account can see in the
    region; TGW attachments do not (a network account's TGW can be where it has no VPC)."""
    calls: list[tuple[str, str]] = []

    def record(model: Any, context: Any, **_: Any) -> None:
        calls.append((model.name, context.get("client_region", "")))

    org.session.events.register("before-call.ec2", record)
    org.run()
    by_op: dict[str, int] = {}
    for op, _ in calls:
        by_op[op] = by_op.get(op, 0) + 1
    # Targets with a VPC: workload-a in both regions, workload-b (its kept default VPC and
    # b-clash) and the management account in us-east-1, sandbox in eu-west-1.
    targets = 8  # four scanned accounts x two regions
    with_vpcs = 5
    assert by_op["DescribeVpcs"] == targets
    assert by_op["DescribeTransitGatewayAttachments"] == targets
    assert by_op["DescribeSubnets"] == by_op["DescribeVpcPeeringConnections"] == with_vpcs
