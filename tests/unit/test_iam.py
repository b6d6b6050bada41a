"""iam/: templates pass cfn-lint, every policy passes parliament, permissions stay minimal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from parliament import analyze_policy_string

from collector.store.table import OWNER_INDEX, table_definition

IAM = Path(__file__).parents[2] / "iam"
TEMPLATES = sorted(IAM.glob("*.yaml"))
POLICIES = sorted((IAM / "policies").glob("*.json"))
# Stand-ins for what CloudFormation resolves at deploy time, so parliament sees real ARNs.
RESOLVED = {
    "${AWS::Partition}": "aws",
    "${AWS::Region}": "us-east-1",
    "${AWS::AccountId}": "111122223333",
    "${MemberRoleName}": "VPCTrackerReadOnly",
    "${ExistingTableName}": "VPCTracker",
    "${ExternalIdParameter}": "/vpctracker/external-id",
    "${ConfigParameter}": "/vpctracker/config",
    "${Path}": "my-config-bucket/vpctracker.yaml",
    "${Bucket}": "vpctracker-reports",
    "${ReportBucketStore.Arn}": "arn:aws:s3:::vpctracker-reports",
    "${Table.Arn}": "arn:aws:dynamodb:us-east-1:111122223333:table/VPCTracker",
    "${ExistingLedgerTableName}": "VPCTracker-ledger",
    "${LedgerTable.Arn}": "arn:aws:dynamodb:us-east-1:111122223333:table/VPCTracker-ledger",
    "${LogGroup.Arn}": "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/hub-collector:*",
}
GETATT = {
    "Table.Arn": RESOLVED["${Table.Arn}"],
    "LedgerTable.Arn": RESOLVED["${LedgerTable.Arn}"],
    "AccountQueue.Arn": "arn:aws:sqs:us-east-1:111122223333:hub-AccountQueue",
    "EventsQueue.Arn": "arn:aws:sqs:us-east-1:111122223333:hub-EventsQueue",
}
REFS = {
    "NotifyTopicArn": "arn:aws:sns:us-east-1:111122223333:vpctracker-findings",
    "HubEventBusArn": "arn:aws:events:us-east-1:111122223333:event-bus/hub-vpc-changes",
    "KmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/0f0e0d0c-0b0a-0908-0706-050403020100",
}


class CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation's short-form intrinsics as {"Fn::X": value}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def resolve(node: Any) -> Any:
    """Resolve the intrinsics used in policies; `Fn::If` keeps its true branch (stricter)."""
    if isinstance(node, list):
        return [r for r in (resolve(n) for n in node) if r is not _NOVALUE]
    if not isinstance(node, dict):
        return node
    if "Fn::Sub" in node:
        text = node["Fn::Sub"]
        if isinstance(text, list):  # [template, {name: value}]: the names are in RESOLVED
            text = text[0]
        for k, v in RESOLVED.items():
            text = text.replace(k, v)
        assert "${" not in text, text
        return text
    if "Fn::GetAtt" in node:
        return GETATT[".".join(node["Fn::GetAtt"])]
    if "Fn::If" in node:
        return resolve(node["Fn::If"][1])
    if node == {"Ref": "AWS::NoValue"}:
        return _NOVALUE
    if set(node) == {"Ref"} and node["Ref"] in REFS:
        return REFS[node["Ref"]]
    return {k: r for k, r in ((k, resolve(v)) for k, v in node.items()) if r is not _NOVALUE}


_NOVALUE = object()


def inline_policies() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in TEMPLATES:
        for name, res in load_template(path)["Resources"].items():
            if res["Type"] == "AWS::IAM::Role":
                for pol in res["Properties"].get("Policies", []):
                    out.append(
                        (f"{path.name}:{name}:{pol['PolicyName']}", resolve(pol["PolicyDocument"]))
                    )
    return out


def test_cfn_lint_every_template() -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), *map(str, TEMPLATES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _findings(doc: dict[str, Any]) -> list[str]:
    return [f"{f.issue}: {f.detail}" for f in analyze_policy_string(json.dumps(doc)).findings]


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_parliament_policy_files(path: Path) -> None:
    doc = json.loads(path.read_text())
    findings = _findings(doc)
    if path.name.endswith("-trust.json"):
        # parliament reads every document as an identity policy; a trust policy has no
        # Resource by design. Anything else it finds still fails the test.
        findings = [f for f in findings if "neither Resource nor NotResource" not in f]
    assert findings == []


@pytest.mark.parametrize(("name", "doc"), inline_policies(), ids=lambda x: str(x)[:40])
def test_parliament_inline_policies(name: str, doc: dict[str, Any]) -> None:
    assert _findings(doc) == [], name


def _actions(doc: dict[str, Any]) -> set[str]:
    acts: set[str] = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow"
        a = st["Action"]
        acts.update([a] if isinstance(a, str) else a)
    return acts


def test_member_role_is_describe_only_and_trust_is_scoped() -> None:
    role = load_template(IAM / "member-role.yaml")["Resources"]["ReadOnlyRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    # The event-forwarding role may only put events on the hub's bus.
    forwarder = load_template(IAM / "member-role.yaml")["Resources"]["EventForwarderRole"]
    (fwd,) = forwarder["Properties"]["Policies"]
    assert _actions(fwd["PolicyDocument"]) == {"events:PutEvents"}
    assert fwd["PolicyDocument"]["Statement"][0]["Resource"] == {"Ref": "HubEventBusArn"}
    read_only = {
        "ec2:DescribeVpcs",
        "ec2:DescribeRegions",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcPeeringConnections",
        "ec2:DescribeTransitGatewayAttachments",
        "ec2:DescribeTransitGatewayRouteTables",
        "ec2:GetTransitGatewayRouteTableAssociations",
        "ec2:GetTransitGatewayRouteTablePropagations",
        "ec2:SearchTransitGatewayRoutes",
    }
    assert _actions(policy["PolicyDocument"]) == read_only
    assert all(a.split(":")[1].startswith(("Describe", "Get", "Search")) for a in read_only)
    assert _actions(json.loads((IAM / "policies/member-permissions.json").read_text())) == (
        read_only
    )
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "HubRoleArn"}}
    assert trust["Action"] == "sts:AssumeRole"
    cond = trust["Condition"]["Fn::If"]
    assert cond[0] == "HasExternalId"
    assert cond[1] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}


def test_hub_role_is_least_privilege() -> None:
    (policy,) = [d for n, d in inline_policies() if n.startswith("hub.yaml:FunctionRole")]
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    assert by_sid["AssumeMemberRoles"]["Resource"] == "arn:aws:iam::*:role/VPCTrackerReadOnly"
    assert all(
        a.startswith("organizations:List")
        for a in _actions({"Statement": [by_sid["ListOrganization"]]})
    )
    table = by_sid["InventoryTable"]
    assert table["Resource"] == [
        *(GETATT["Table.Arn"], GETATT["Table.Arn"] + "/index/*"),
        *(GETATT["LedgerTable.Arn"], GETATT["LedgerTable.Arn"] + "/index/*"),
    ]
    assert not any(
        a in ("dynamodb:*", "dynamodb:DeleteTable", "dynamodb:CreateTable") for a in table["Action"]
    )
    assert by_sid["AccountQueue"]["Resource"] == GETATT["AccountQueue.Arn"]
    # The plain policy document says the same as the template.
    plain = json.loads((IAM / "policies/hub-permissions.json").read_text())
    assert by_sid["AssumeMemberRoles"]["Condition"] == {
        "StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}
    }
    assert (
        plain["Statement"][[s["Sid"] for s in plain["Statement"]].index("AssumeMemberRoles")][
            "Condition"
        ]
        == by_sid["AssumeMemberRoles"]["Condition"]
    )
    assert by_sid["ExternalIdParameter"] == {
        "Sid": "ExternalIdParameter",
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": "arn:aws:ssm:us-east-1:111122223333:parameter/vpctracker/external-id",
    }
    assert _actions(plain) == _actions(policy) - {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "s3:GetObject",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    # The config document and a customer-managed key: that parameter, that object, that key.
    assert by_sid["ConfigParameter"]["Resource"] == (
        "arn:aws:ssm:us-east-1:111122223333:parameter/vpctracker/config"
    )
    assert by_sid["ConfigObject"]["Resource"] == "arn:aws:s3:::my-config-bucket/vpctracker.yaml"
    assert by_sid["CustomerManagedKey"]["Resource"] == REFS["KmsKeyArn"]
    # The report bucket: its objects only (written, tagged, and read to sign links).
    assert by_sid["ReportObjects"]["Resource"] == "arn:aws:s3:::vpctracker-reports/*"
    assert _actions({"Statement": [by_sid["CustomerManagedKey"]]}) == {
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }


def test_hub_table_matches_init_table() -> None:
    props = load_template(IAM / "hub.yaml")["Resources"]["Table"]["Properties"]
    ours = table_definition("VPCTracker")
    assert props["KeySchema"] == ours["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(
        ours["AttributeDefinitions"], key=str
    )
    (gsi,) = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == OWNER_INDEX
    assert gsi["KeySchema"] == ours["GlobalSecondaryIndexes"][0]["KeySchema"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ExpiresAt", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_function_matches_the_package() -> None:
    fn = load_template(IAM / "hub.yaml")["Resources"]["Function"]["Properties"]
    assert fn["Handler"] == "collector.handler.handler"
    # Issue 25: a supported (AL2023) runtime, the one the zip is built for.
    from scripts.lambda_zip import RUNTIME

    assert fn["Runtime"] == RUNTIME == "python3.13"
    env = fn["Environment"]["Variables"]
    from collector.function_config import CONFIG_PARAMETER, CONFIG_URI, ENV_KEYS

    assert set(env) - {
        "VPCTRACKER_QUEUE_URL",
        "VPCTRACKER_ACCOUNTS_PER_MESSAGE",
        "VPCTRACKER_EXTERNAL_ID_PARAMETER",
        "VPCTRACKER_MAX_RECEIVES",
        CONFIG_PARAMETER,
        CONFIG_URI,
    } <= set(ENV_KEYS)
    # Issue 12, observation 8: no secret in the function's configuration.
    assert "VPCTRACKER_EXTERNAL_ID" not in env


def test_function_memory_sets_the_scanning_processes() -> None:
    """Issue 26: the memory size (and so the vCPUs and the processes) is the operator's."""
    from collector.scan.processes import available_cpus

    tpl = load_template(IAM / "hub.yaml")
    assert tpl["Resources"]["Function"]["Properties"]["MemorySize"] == {"Ref": "FunctionMemory"}
    param = tpl["Parameters"]["FunctionMemory"]
    assert (param["Default"], param["MinValue"], param["MaxValue"]) == (1024, 512, 10240)
    memory = {
        str(m): available_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(m)})
        for m in param.values()
        if isinstance(m, int)
    }
    assert memory == {"1024": 1, "512": 1, "10240": 6}
    assert available_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538"}) == 2


def test_the_events_batch_window_is_the_operators() -> None:
    """Issue 26: an event's recording reads the whole table once per invocation (≈ 31,000 read
    units at 100,000 VPCs, docs/benchmarks.md), so how long the queue gathers a batch is the
    operator's: 5 s by default, as before, up to SQS's 300 s."""
    tpl = load_template(IAM / "hub.yaml")
    mapping = tpl["Resources"]["EventsMapping"]["Properties"]
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "LiveUpdatesBatchWindow"}
    assert mapping["BatchSize"] == 100
    param = tpl["Parameters"]["LiveUpdatesBatchWindow"]
    assert (param["Type"], param["Default"], param["MinValue"], param["MaxValue"]) == (
        "Number",
        5,
        0,
        300,
    )


def test_hub_stack_upgrades_and_never_clashes() -> None:
    """Issue 12, observations 3, 4, 6, 8."""
    tpl = load_template(IAM / "hub.yaml")
    params, res = tpl["Parameters"], tpl["Resources"]
    # 3: a content-addressed code key, required: every new build is a stack change.
    assert "Default" not in params["CodeKey"]
    assert re.fullmatch(
        params["CodeKey"]["AllowedPattern"], "vpctracker-lambda-0123456789abcdef.zip"
    )
    assert not re.fullmatch(params["CodeKey"]["AllowedPattern"], "vpctracker-lambda.zip")
    # 4: a derived table name by default, or an adopted existing table.
    assert params["TableName"]["Default"] == ""
    assert res["Table"]["Condition"] == "CreateTable"
    assert res["Table"]["Properties"]["TableName"] == {
        "Fn::If": ["NameTable", {"Ref": "TableName"}, {"Ref": "AWS::NoValue"}]
    }
    assert "ExistingTableName" in params
    # 6: a crashed nightly run is not retried twice by Lambda.
    invoke = res["NightlyInvokeConfig"]["Properties"]
    assert invoke["MaximumRetryAttempts"] == 0 and invoke["Qualifier"] == "$LATEST"
    # 8: secrets never echoed, and the plaintext external id refused.
    assert params["ExternalId"]["NoEcho"] is True
    assert tpl["Rules"]["NoPlaintextExternalId"]["Assertions"][0]["Assert"] == {
        "Fn::Equals": [{"Ref": "ExternalId"}, ""]
    }
    member = load_template(IAM / "member-role.yaml")["Parameters"]
    assert member["ExternalId"]["NoEcho"] is True
    # 2: every failure has an alarm, the dead-letter queue's depth included.
    assert (
        res["DeadLetterAlarm"]["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    )
    assert res["WorkerFailuresAlarm"]["Properties"]["MetricName"] == "MessagesFailed"


# How the code calls each DynamoDB action (boto3 method names and paginators).
DYNAMODB_CALLS = re.compile(
    r"\.(batch_get_item|batch_write_item|query|scan|get_item|put_item|update_item|delete_item|"
    r"describe_table)\(|get_paginator\(\"(query|scan)\"\)"
)


def test_the_hub_may_make_every_dynamodb_call_the_code_makes() -> None:
    # A call the hub role does not allow fails only in AWS (moto enforces no IAM): BatchGetItem,
    # added to read stored findings, was missing from the policy.
    source = "\n".join(p.read_text() for p in (IAM.parent / "collector").rglob("*.py"))
    called = {
        "dynamodb:" + "".join(w.title() for w in (a or b).split("_"))
        for a, b in DYNAMODB_CALLS.findall(source)
    }
    assert "dynamodb:BatchGetItem" in called  # the pattern sees what it should
    (policy,) = [d for n, d in inline_policies() if n.startswith("hub.yaml:FunctionRole")]
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    plain = json.loads((IAM / "policies/hub-permissions.json").read_text())
    assert called <= set(by_sid["InventoryTable"]["Action"])
    assert called <= _actions(plain)
