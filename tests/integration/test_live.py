"""Issue 15: CloudTrail events rescan exactly their target; new findings are announced once."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from collector.cli import main
from collector.handler import handler
from collector.store.findings import OUTBOX
from tests.conftest import load_data
from tests.integration.conftest import Org
from tests.integration.test_handler import (  # noqa: F401 - env, restore_logging: fixtures
    Context,
    emf_lines,
    env,
    fan_out_queue,
    queued,
    refuse_ledger_queries,
    restore_logging,
    sqs_record,
)


@pytest.fixture(autouse=True)
def handler_env(request: pytest.FixtureRequest) -> None:
    """The function's environment, as in test_handler."""
    request.getfixturevalue("env")


def event_for(org: Org, who: str, region: str, name: str = "CreateVpc") -> dict[str, Any]:
    e = copy.deepcopy(load_data("events/cloudtrail-createvpc.json"))
    acct = org.accounts[who]
    e["account"] = acct
    e["region"] = region
    e["detail"].update(recipientAccountId=acct, awsRegion=region, eventName=name)
    return e


@pytest.fixture
def topic(org: Org, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An SNS topic with an SQS subscription, wired as the stack wires it."""
    sns, sqs = org.session.client("sns"), org.session.client("sqs")
    arn = sns.create_topic(Name="vpctracker-findings")["TopicArn"]
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    monkeypatch.setenv("VPCTRACKER_NOTIFY_TOPIC_ARN", arn)

    def inbox() -> list[dict[str, Any]]:
        out = []
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    return inbox


def test_an_event_rescans_its_target_and_announces_the_new_clash_once(org: Org, topic: Any) -> None:
    nightly = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert nightly["ok"] is True
    (baseline,) = topic()  # the first recording: one summary message, not one per finding
    assert baseline["Subject"] == "VPCTracker: baseline recorded"
    before = org.table()
    calls: list[Any] = []
    org.session.events.register(
        "before-call.ec2.DescribeVpcs", lambda **kw: calls.append(kw["context"])
    )
    clash = org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    result = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    assert result == {
        "ok": True,
        "rescanned": [{"account": org.accounts["sandbox"], "region": "us-east-1"}],
        # One message: the new VPC's block is one new finding of the group it joined (it
        # clashes with workload-a's and workload-b's 10.1.0.0/16, whose findings stand).
        "notified": 1,
    }
    assert len(calls) == 1  # exactly that target
    after = org.table()
    assert (clash, org.accounts["sandbox"]) in after
    untouched = {k: v.LastSeen for k, v in before.items() if k[1] != org.accounts["sandbox"]}
    assert untouched == {k: after[k].LastSeen for k in untouched}
    (m,) = topic()
    assert m["Subject"] == "VPCTracker: overlap 10.1.0.0/16: 1 new (latent)"
    body = m["Message"]
    assert clash in body and org.accounts["sandbox"] in body and "sandbox" in body
    data = json.loads(body.split("--- findings (JSON) ---\n", 1)[1])
    (new,) = data["findings"]
    assert (new["transition"], new["kind"], new["state"]) == ("new", "overlap", "latent")
    assert new["finding"]["VpcId"] == clash and new["finding"]["clashes"] == 2
    ids = json.loads(m["MessageAttributes"]["findings"]["Value"])
    assert ids == [{"id": new["id"], "transition": "new", "at": new["at"]}]
    # A replay of the same event announces nothing new.
    again = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    assert again["notified"] == 0 and topic() == []
    # Deleting it resolves its finding: one message, once.
    org.ec2("sandbox", "us-east-1").delete_vpc(VpcId=clash)
    gone = handler(
        event_for(org, "sandbox", "us-east-1", "DeleteVpc"), Context(), session=org.session
    )
    assert gone["notified"] == 1
    (m,) = topic()
    assert m["Subject"] == "VPCTracker: overlap 10.1.0.0/16: 1 resolved (latent)"
    assert json.loads(m["MessageAttributes"]["findings"]["Value"])[0]["id"] == new["id"]
    assert org.table()[(clash, org.accounts["sandbox"])].Deleted


def test_a_burst_in_one_batch_is_one_scan_per_target(org: Org, topic: Any) -> None:
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    topic()
    calls: list[Any] = []
    org.session.events.register("before-call.ec2.DescribeVpcs", lambda **kw: calls.append(1))
    records = [
        sqs_record(f"e{i}", json.dumps(event_for(org, "sandbox", "eu-west-1"))) for i in range(5)
    ] + [sqs_record("w", json.dumps(event_for(org, "workload-a", "us-east-1")))]
    assert handler({"Records": records}, Context(), session=org.session) == {
        "batchItemFailures": []
    }
    assert len(calls) == 2


def test_a_burst_over_several_batches_is_one_scan_per_target(org: Org, topic: Any) -> None:
    # The event source mapping delivers a burst in batches (BatchSize 100, several pollers):
    # coalescing within one batch left a burst of 1,000 events over 100 targets at ~600 scans
    # (measured). A target whose stored scan started after an event reached the queue already
    # holds the change it reports, whichever invocation scanned it.
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    topic()
    # LastSeen is stored to the second (floored) and a send time counts from 1 s after it,
    # so both sides keep more than a second: the nightly scan started well before the burst
    # was sent, the burst was sent 3 s before the first batch's scan.
    time.sleep(4.5)
    sent = time.time() - 3
    calls: list[Any] = []
    org.session.events.register("before-call.ec2.DescribeVpcs", lambda **kw: calls.append(1))
    stream = [("sandbox", "eu-west-1"), ("workload-a", "us-east-1")] * 6
    for start in range(0, len(stream), 4):
        records = [
            sqs_record(f"e{start + k}", json.dumps(event_for(org, who, region)), sent)
            for k, (who, region) in enumerate(stream[start : start + 4])
        ]
        answer = handler({"Records": records}, Context(), session=org.session)
        assert answer == {"batchItemFailures": []}
    assert len(calls) == 2  # three batches, two targets: one scan each
    # A change reported after that scan started is scanned again.
    later = sqs_record("late", json.dumps(event_for(org, "sandbox", "eu-west-1")), time.time() + 1)
    assert handler({"Records": [later]}, Context(), session=org.session) == {
        "batchItemFailures": []
    }
    assert len(calls) == 3


def test_an_event_whose_scan_fails_is_retried_not_acknowledged(org: Org) -> None:
    from tests.faults import Faults

    org.run()  # stored scans, started before the events were sent
    faults = Faults(org.session).install()
    faults.error(
        "ec2", "DescribeVpcs", "UnauthorizedOperation", status=403, account=org.accounts["sandbox"]
    )
    records = [
        sqs_record("bad", json.dumps(event_for(org, "sandbox", "eu-west-1"))),
        sqs_record("good", json.dumps(event_for(org, "workload-a", "us-east-1"))),
        sqs_record(
            "junk",
            json.dumps({**event_for(org, "sandbox", "eu-west-1"), "detail": {}, "account": "x"}),
        ),
    ]
    result = handler({"Records": records}, Context(), session=org.session)
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}, {"itemIdentifier": "junk"}]}
    # The retry is scanned: the failed scan stored nothing, so nothing holds that change yet.
    faults.enabled = False
    calls: list[Any] = []
    org.session.events.register("before-call.ec2.DescribeVpcs", lambda **kw: calls.append(1))
    retried = handler({"Records": records[:1]}, Context(), session=org.session)
    assert retried == {"batchItemFailures": []} and len(calls) == 1


def test_an_event_whose_findings_were_not_recorded_is_retried_and_recorded(
    org: Org, topic: Any
) -> None:
    """Fail closed: a message is acknowledged only once its change is recorded. An event's
    recording that failed (the ledger refused a read) left its message acknowledged: the scan
    had written the new VPC, so the clash it made was neither recorded nor announced until a
    later recording happened to compare that account. Its target now fails with
    `FindingsNotRecorded`, and the redelivered message is scanned and recorded, though a scan
    stored since it was sent would otherwise stand for it (that scan is this one)."""
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    topic()  # the baseline
    refused = refuse_ledger_queries(org)
    clash = org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    # Sent well before its scan starts (more than the clock skew allowed), as a queue's is.
    time.sleep(2.5)
    record = sqs_record("e1", json.dumps(event_for(org, "sandbox", "us-east-1")), time.time() - 2)
    assert handler({"Records": [record]}, Context(), session=org.session) == {
        "batchItemFailures": [{"itemIdentifier": "e1"}]
    }
    assert (clash, org.accounts["sandbox"]) in org.table()  # scanned and written, not recorded
    assert topic() == []
    # Invoked directly, the same failure is the answer's.
    direct = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    assert direct["ok"] is False and "FindingsNotRecorded" in direct["error"]
    # The queue redelivers it: scanned again, recorded, announced once.
    refused["on"] = False
    again = {**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": "2"}}
    assert handler({"Records": [again]}, Context(), session=org.session) == {
        "batchItemFailures": []
    }
    (m,) = topic()
    assert m["Subject"] == "VPCTracker: overlap 10.1.0.0/16: 1 new (latent)"


def test_events_for_accounts_the_config_excludes_touch_nothing(org: Org) -> None:
    result = handler(event_for(org, "excluded", "us-east-1"), Context(), session=org.session)
    assert result == {"ok": True, "rescanned": [], "notified": 0, "skipped": "ExcludedByConfig"}
    assert not any(k[1] == org.accounts["excluded"] for k in org.table())


def test_changes_lists_what_appeared_and_disappeared(
    org: Org, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"organization: {{exclude_accounts: ['{org.accounts['excluded']}']}}\n"
        "regions: [us-east-1, eu-west-1]\ntable: {name: VPCTracker}\n"
    )
    assert main(["collect", "--config", str(cfg)], session=org.session) == 0
    capsys.readouterr()
    vid = org.create_vpc("sandbox", "us-east-1", "10.77.0.0/16", "new-one")
    gone = org.api_vpcs("sandbox", "eu-west-1")[0]["VpcId"]
    org.ec2("sandbox", "eu-west-1").delete_vpc(VpcId=gone)
    org.ec2("workload-a", "eu-west-1").create_tags(
        Resources=[org.api_vpcs("workload-a", "eu-west-1")[0]["VpcId"]],
        Tags=[{"Key": "Name", "Value": "renamed"}],
    )
    assert main(["collect", "--config", str(cfg)], session=org.session) == 0
    capsys.readouterr()
    assert main(["changes", "--config", str(cfg), "--format", "json"], session=org.session) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"since", "until", "changes"}
    latest = {(c["change"], c["VpcId"]) for c in result["changes"]}
    assert ("created", vid) in latest and ("deleted", gone) in latest
    assert any(c["change"] == "renamed" and c["detail"] == " -> renamed" for c in result["changes"])
    with pytest.raises(SystemExit) as bad:
        main(["changes", "--config", str(cfg), "--since", "yesterday"], session=org.session)
    assert bad.value.code == 1
    assert main(["changes", "--config", str(cfg), "--format", "csv"], session=org.session) == 0
    csv_text = capsys.readouterr().out
    assert csv_text.startswith('"time","change","VpcId"') and vid in csv_text


def announced_states(topic: Any) -> dict[str, tuple[str, str, str]]:
    """VpcId -> (transition, previous state, state) of every finding announced since."""
    out = {}
    for m in topic():
        for f in json.loads(m["Message"].split("--- findings (JSON) ---\n", 1)[1])["findings"]:
            out[f["finding"]["VpcId"]] = (f["transition"], f["previous"], f["state"])
    return out


def tgw_clash(org: Org, topic: Any) -> tuple[Any, str, str, str]:
    """Two member VPCs that clash, both attached to the network account's TGW and routed by
    its table (a conflict), recorded by a nightly run: (the TGW, left, right, left's
    attachment)."""
    from tests.integration.test_no_vpc_hidden import network_account

    net = network_account(org)
    left = org.create_vpc("sandbox", "us-east-1", "10.70.0.0/16", "left")
    right = org.create_vpc("workload-a", "us-east-1", "10.70.0.0/20", "right")
    attachment = net.attach(org.accounts["sandbox"], left)
    net.attach(org.accounts["workload-a"], right)
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    (baseline,) = topic()
    assert baseline["Subject"] == "VPCTracker: baseline recorded"
    return net, left, right, attachment


def test_an_attachment_its_vpc_owner_deletes_is_recorded_by_its_event(org: Org, topic: Any) -> None:
    """Before: the member's rescan no longer listed the attachment, so the TGW's owner, whose
    route table lost it too, was not rescanned beside it; the owner's stored items still
    routed it, and both clashing VPCs stayed a conflict until the night."""
    net, left, right, deleted = tgw_clash(org, topic)
    net.detach(deleted)
    owner: list[str] = []
    org.session.events.register(
        "before-call.ec2.GetTransitGatewayRouteTableAssociations",
        lambda **_: owner.append("rescanned"),
    )
    event = event_for(org, "sandbox", "us-east-1", "DeleteTransitGatewayVpcAttachment")
    assert handler(event, Context(), session=org.session)["ok"] is True
    assert owner  # the owner's route tables were read again
    assert announced_states(topic) == {
        left: ("changed", "conflict", "latent"),
        right: ("changed", "conflict", "latent"),
    }


def test_a_direct_answer_names_the_tgw_owner_its_event_rescanned(org: Org, topic: Any) -> None:
    """Before: an attachment's event rescanned the TGW's owner in that region too, but the
    direct invocation's `rescanned` listed the event's own target only."""
    net, left, right, attachment = tgw_clash(org, topic)
    net.detach(attachment)
    event = event_for(org, "sandbox", "us-east-1", "DeleteTransitGatewayVpcAttachment")
    result = handler(event, Context(), session=org.session)
    assert result["ok"] is True
    assert result["rescanned"] == sorted(
        [
            {"account": org.accounts["sandbox"], "region": "us-east-1"},
            {"account": org.management, "region": "us-east-1"},
        ],
        key=lambda t: (t["account"], t["region"]),
    )
    # A plain VPC event follows no owner: its own target alone.
    plain = event_for(org, "sandbox", "us-east-1", "CreateVpc")
    assert handler(plain, Context(), session=org.session)["rescanned"] == [
        {"account": org.accounts["sandbox"], "region": "us-east-1"}
    ]


def test_an_attachment_the_tgw_owner_no_longer_lists_is_recorded_by_its_event(
    org: Org, topic: Any
) -> None:
    """Before: the member's own rescan had dropped the attachment already (a collect of that
    account alone), so when the owner's rescan dropped it too, nothing left in the table tied
    the member to the owner: its clash stayed a conflict while the other side turned latent."""
    net, left, right, deleted = tgw_clash(org, topic)
    net.detach(deleted)
    alone = org.run(accounts=[org.accounts["sandbox"]])  # writes; records no findings
    assert alone.exit_code == 0
    event = event_for(org, "management", "us-east-1", "DisableTransitGatewayRouteTablePropagation")
    assert handler(event, Context(), session=org.session)["ok"] is True
    assert announced_states(topic) == {
        left: ("changed", "conflict", "latent"),
        right: ("changed", "conflict", "latent"),
    }


def test_a_route_the_tgw_owner_removes_is_recorded_by_its_event(org: Org, topic: Any) -> None:
    """Before: a TGW route table that stopped reaching an attachment was seen by the nightly
    run only. The event in the owner's account compared the accounts its table still reached,
    so the unreached VPC's clash stayed a conflict while the other side turned latent."""
    net, left, right, unrouted = tgw_clash(org, topic)
    net.unroute(unrouted)
    event = event_for(org, "management", "us-east-1", "DisableTransitGatewayRouteTablePropagation")
    assert handler(event, Context(), session=org.session)["ok"] is True
    assert announced_states(topic) == {
        left: ("changed", "conflict", "latent"),
        right: ("changed", "conflict", "latent"),
    }


def test_a_message_redelivered_after_its_night_completed_announces_nothing_again(
    org: Org, topic: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQS delivers at least once: a message of a finished night may come back. Its worker
    sees the night complete again and records it again; that recording finds nothing new."""
    url = fan_out_queue(org, monkeypatch, per_message=2)

    def night() -> list[dict[str, Any]]:
        handler(load_data("events/scheduled.json"), Context(), session=org.session)
        msgs = queued(org, url)
        for m in msgs:
            handler(
                {"Records": [sqs_record(m["MessageId"], m["Body"])]}, Context(), session=org.session
            )
        return msgs

    night()
    assert [m["Subject"] for m in topic()] == ["VPCTracker: baseline recorded"]
    org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    time.sleep(1.1)
    last = night()[-1]
    assert topic()  # the new clash, announced
    capsys.readouterr()
    again = handler(
        {"Records": [sqs_record(last["MessageId"], last["Body"])]}, Context(), session=org.session
    )
    assert again == {"batchItemFailures": []}
    recorded = [m for m in emf_lines(capsys.readouterr().out) if "OverlapGroups" in m]
    assert recorded  # the night was recorded again
    assert topic() == []  # and nothing was announced twice


def test_a_night_whose_findings_were_not_recorded_keeps_its_last_message_and_alarms(
    org: Org, topic: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fail closed: the fan-out night's last message, whose worker records the night, was
    acknowledged when that recording failed (the ledger refused a read), and the failure was
    counted after the worker's metrics were published: the new clash was neither recorded nor
    announced, no alarm fired, and nothing retried it until the next night. The message now
    fails (its redelivery completes the night again and records it) and `WriteFailures` is
    published, which the stack alarms on."""
    url = fan_out_queue(org, monkeypatch, per_message=2)
    refused = refuse_ledger_queries(org, on=False)

    def night() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        handler(load_data("events/scheduled.json"), Context(), session=org.session)
        return [
            (
                m,
                handler(
                    {"Records": [sqs_record(m["MessageId"], m["Body"])]},
                    Context(),
                    session=org.session,
                ),
            )
            for m in queued(org, url)
        ]

    night()
    assert [m["Subject"] for m in topic()] == ["VPCTracker: baseline recorded"]
    org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    time.sleep(1.1)
    refused["on"] = True
    capsys.readouterr()
    answers = night()
    *done, (last, kept) = answers
    assert all(answer == {"batchItemFailures": []} for _, answer in done)
    assert kept == {"batchItemFailures": [{"itemIdentifier": last["MessageId"]}]}
    assert topic() == []
    metrics = emf_lines(capsys.readouterr().out)
    assert sum(m.get("WriteFailures", 0) for m in metrics) == 1
    assert [m["MessagesFailed"] for m in metrics if m["Mode"] == "worker"][-1] == 1
    # The queue redelivers it: the night completes again and is recorded, the clash announced.
    refused["on"] = False
    again = handler(
        {"Records": [sqs_record(last["MessageId"], last["Body"])]}, Context(), session=org.session
    )
    assert again == {"batchItemFailures": []}
    (m,) = topic()
    assert m["Subject"] == "VPCTracker: overlap 10.1.0.0/16: 1 new (latent)"


def test_an_event_with_nothing_to_announce_reads_the_outbox_once(org: Org, topic: Any) -> None:
    """Issue 26 (a live event's time): a recording reads the outbox under its lease, and read it
    again to send it although it had found it empty and written nothing to it: one round trip
    at the end of every event. Under the lease no one else writes it."""
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    topic()
    reads: list[str] = []

    def outbox(params: dict[str, Any], **_: Any) -> None:
        if params.get("ExpressionAttributeValues", {}).get(":o") == {"S": OUTBOX}:
            reads.append("outbox")

    org.session.events.register("provide-client-params.dynamodb.Query", outbox)
    quiet = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    assert quiet["ok"] is True and quiet["notified"] == 0
    assert reads == ["outbox"]
    # With something to announce, it is read again to send it.
    reads.clear()
    org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    loud = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
    assert loud["notified"] == 1 and len(topic()) == 1
    assert reads == ["outbox", "outbox"]
