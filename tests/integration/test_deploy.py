"""Issue 12: the deployment as written in the README, end to end against the moto server.

Both templates are created in moto's CloudFormation (the hub with FanOut off and on, the member
role in every member account); the zip `make package` built is unpacked into a directory and
run with `python -S` (no site-packages: boto3 and everything else come from the zip, as in
Lambda), with exactly the environment the stack gave the function. It handles a scheduled
event, a check event, a dispatch and its worker messages, and the table ends up exactly as EC2
holds it; a worker whose table is missing reports every message as failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from collector.demo import delete_default_vpc, member_clients
from tests.integration.test_package import lambda_python, make_package

ROOT = Path(__file__).parents[2]
IAM = ROOT / "iam"
REGIONS = ("us-east-1", "eu-west-1")
# The function's code, run as Lambda runs it: only the unpacked zip on the path.
RUNNER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from collector.handler import handler

class Context:
    function_name = "hub-collector"
    def get_remaining_time_in_millis(self):
        return 900000

event = json.load(open(sys.argv[2]))
result = handler(event, Context())
open(sys.argv[3], "w").write(json.dumps(result))
"""


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the zip `make package` printed, the directory it unpacks to)."""
    zip_path = make_package(tmp_path_factory.mktemp("package"))
    unpacked = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(unpacked)
    return zip_path, unpacked


def build_org(session: boto3.Session) -> dict[str, str]:
    """Management + three members; one VPC per target, and one clash between two members."""
    orgs = session.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    accounts = {"management": session.client("sts").get_caller_identity()["Account"]}
    for i in range(3):
        accounts[f"member-{i}"] = orgs.create_account(
            Email=f"m{i}@example.com", AccountName=f"member-{i}"
        )["CreateAccountStatus"]["AccountId"]
    n = 0
    for name, acct in accounts.items():
        for region in REGIONS:
            ec2 = member_clients(session, acct, region)
            if name != "member-2" or region != "us-east-1":  # one default VPC left
                delete_default_vpc(ec2)
            cidr = (
                "10.99.0.0/16"
                if (name, region)
                in {
                    ("member-0", "eu-west-1"),
                    ("member-1", "eu-west-1"),
                }
                else f"10.{n}.0.0/16"
            )
            ec2.create_vpc(CidrBlock=cidr)
            n += 1
    return accounts


def truth(session: boto3.Session, accounts: dict[str, str]) -> set[tuple[str, str, str]]:
    out = set()
    for acct in accounts.values():
        for region in REGIONS:
            for v in member_clients(session, acct, region).describe_vpcs()["Vpcs"]:
                out.add((v["VpcId"], acct, v["CidrBlock"]))
    return out


def deploy(
    session: boto3.Session, zip_path: Path, name: str, fan_out: bool, **extra: str
) -> dict[str, str]:
    """The README's deployment steps: artifact bucket, hub stack, member role per account."""
    s3 = session.client("s3")
    bucket = "vpctracker-artifacts"
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(zip_path), bucket, zip_path.name)
    cfn = session.client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=(IAM / "hub.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "CodeBucket", "ParameterValue": bucket},
            {"ParameterKey": "CodeKey", "ParameterValue": zip_path.name},
            {"ParameterKey": "Regions", "ParameterValue": ",".join(REGIONS)},
            {"ParameterKey": "MaxWorkers", "ParameterValue": "4"},
            {"ParameterKey": "FanOut", "ParameterValue": "true" if fan_out else "false"},
            {"ParameterKey": "AccountsPerMessage", "ParameterValue": "2"},
            *({"ParameterKey": k, "ParameterValue": v} for k, v in extra.items()),
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def member_cfn(session: boto3.Session, acct: str) -> Any:
    creds = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole",
        RoleSessionName="stackset",
    )["Credentials"]
    return session.client(
        "cloudformation",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def deploy_member_roles(
    session: boto3.Session, accounts: dict[str, str], hub_role: str, bus: str = ""
) -> None:
    for acct in accounts.values():
        creds = session.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole",
            RoleSessionName="stackset",
        )["Credentials"]
        cfn = session.client(
            "cloudformation",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        cfn.create_stack(
            StackName="vpctracker-member",
            TemplateBody=(IAM / "member-role.yaml").read_text(),
            Parameters=[
                {"ParameterKey": "HubRoleArn", "ParameterValue": hub_role},
                {"ParameterKey": "HubEventBusArn", "ParameterValue": bus},
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        if bus:  # the per-region rules, as the second StackSet deploys them
            member_cfn(session, acct).create_stack(
                StackName="vpctracker-member-events",
                TemplateBody=(IAM / "member-events.yaml").read_text(),
                Parameters=[{"ParameterKey": "HubEventBusArn", "ParameterValue": bus}],
            )


def function_env(session: boto3.Session, function: str) -> dict[str, str]:
    config = session.client("lambda").get_function_configuration(FunctionName=function)
    # Lambda gives strings; moto passes CloudFormation Number parameters through as ints.
    return {k: str(v) for k, v in config["Environment"]["Variables"].items()}


def invoke(
    unpacked: Path, env: dict[str, str], event: Any, tmp_path: Path, **overrides: str
) -> Any:
    """Run the packaged handler in a boto3-only interpreter with the function's environment."""
    event_file, result_file = tmp_path / "event.json", tmp_path / "result.json"
    event_file.write_text(json.dumps(event))
    base = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "MOTO_"))}
    proc = subprocess.run(
        [lambda_python(), "-S", "-c", RUNNER, str(unpacked), str(event_file), str(result_file)],
        env={**base, "AWS_REGION": "us-east-1", "PATH": os.environ["PATH"], **env, **overrides},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(result_file.read_text())


def sqs_record_of(message: dict[str, Any]) -> dict[str, Any]:
    """The Lambda SQS event record for a received message, as the event source mapping sends."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
        "awsRegion": "us-east-1",
    }


def table_state(session: boto3.Session, table: str) -> set[tuple[str, str, str]]:
    pages = session.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {
        (i["VpcId"]["S"], i["OwnerId"]["S"], i["CidrBlock"]["S"])
        for p in pages
        for i in p["Items"]
        if i["VpcId"]["S"].startswith("vpc-") and not i["Deleted"]["BOOL"]
    }


SCHEDULED = {
    "version": "0",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


@pytest.mark.slow
def test_single_invocation_stack(moto_url: str, code: tuple[Path, Path], tmp_path: Path) -> None:
    zip_path, unpacked = code
    session = boto3.Session(region_name="us-east-1")
    accounts = build_org(session)
    org_id = session.client("organizations").describe_organization()["Organization"]["Id"]
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name="vpctracker-findings")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    out = deploy(
        session,
        zip_path,
        "hub",
        fan_out=False,
        LiveUpdates="true",
        OrganizationId=org_id,
        NotifyTopicArn=topic,
    )
    deploy_member_roles(session, accounts, out["HubRoleArn"], bus=out["EventBusArn"])
    env = function_env(session, out["FunctionName"])
    assert "VPCTRACKER_EXTERNAL_ID" not in env
    assert env["VPCTRACKER_TABLE"] == out["TableName"] != "VPCTracker"  # a derived name

    night = invoke(unpacked, env, SCHEDULED, tmp_path)
    assert night["ok"] is True, night
    assert night["summary"]["targets"] == {"total": 8, "ok": 8, "skipped": 0, "failed": 0}
    assert night["audit"]["overlap_groups"] == 1 and night["audit"]["default_vpcs"] == 1
    assert table_state(session, out["TableName"]) == truth(session, accounts)

    check = invoke(unpacked, env, {"accounts": [accounts["member-1"]], "check": True}, tmp_path)
    assert (check["verdict"], check["exit_code"], check["scan_complete"]) == ("findings", 3, True)

    # Live updates: a new clashing VPC, its CloudTrail event through the stack's queue.
    def drain() -> list[dict[str, Any]]:
        msgs = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        for m in msgs:
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in msgs]

    drain()
    member = accounts["member-2"]
    clash = member_clients(session, member, "eu-west-1").create_vpc(CidrBlock="10.99.0.0/16")
    event = json.loads((ROOT / "tests/data/events/cloudtrail-createvpc.json").read_text())
    event.update(account=member, region="eu-west-1")
    event["detail"].update(recipientAccountId=member, awsRegion="eu-west-1")
    events_queue = sqs.get_queue_url(QueueName=out["EventsQueueName"])["QueueUrl"]
    sqs.send_message(QueueUrl=events_queue, MessageBody=json.dumps(event))
    (m,) = sqs.receive_message(QueueUrl=events_queue, MaxNumberOfMessages=10)["Messages"]
    record = sqs_record_of(m)
    assert invoke(unpacked, env, {"Records": [record]}, tmp_path) == {"batchItemFailures": []}
    new_vpc = (clash["Vpc"]["VpcId"], member, "10.99.0.0/16")
    assert new_vpc in table_state(session, out["TableName"])
    subjects = sorted(n["Subject"] for n in drain())
    # Issue 22: the joiner is one new finding of the group it joined, in one message.
    assert subjects == ["VPCTracker: overlap 10.99.0.0/16: 1 new (latent)"]


@pytest.mark.slow
def test_fan_out_stack(moto_url: str, code: tuple[Path, Path], tmp_path: Path) -> None:
    zip_path, unpacked = code
    session = boto3.Session(region_name="us-east-1")
    accounts = build_org(session)
    out = deploy(session, zip_path, "hubfan", fan_out=True)
    deploy_member_roles(session, accounts, out["HubRoleArn"])
    env = function_env(session, out["FunctionName"])
    queue = out["AccountQueueUrl"]
    assert env["VPCTRACKER_QUEUE_URL"] == queue

    dispatched = invoke(unpacked, env, SCHEDULED, tmp_path)
    assert (dispatched["mode"], dispatched["accounts"], dispatched["messages"]) == (
        "fan-out",
        4,
        2,
    )
    sqs = session.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    records = [sqs_record_of(m) for m in messages]
    assert len(records) == 2
    # A worker whose table is missing does none of the work: every message goes back.
    missing = invoke(
        unpacked, env, {"Records": records}, tmp_path, VPCTRACKER_TABLE="VPCTracker-gone"
    )
    assert missing == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    done = invoke(unpacked, env, {"Records": records}, tmp_path)
    assert done == {"batchItemFailures": []}
    assert table_state(session, out["TableName"]) == truth(session, accounts)
