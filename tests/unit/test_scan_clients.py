"""The member EC2 clients a scan makes (`RegionalClients`): only the operations a scan calls,
and nothing taken from the hub session's clients. No endpoint is called."""

from __future__ import annotations

import ast
from pathlib import Path

import boto3

from collector.credentials import member_session
from collector.scan.scanner import SCAN_OPERATIONS, RegionalClients, client_config

ROOT = Path(__file__).resolve().parents[2] / "collector"
# Where the member EC2 clients are called.
CALLERS = [*sorted((ROOT / "scan").glob("*.py")), ROOT / "regions.py"]


def _every_ec2_method() -> set[str]:
    return set(boto3.Session(region_name="us-east-1").client("ec2").meta.method_to_api_mapping)


def test_a_member_ec2_client_carries_only_the_operations_a_scan_calls() -> None:
    hub = boto3.Session(region_name="us-east-1")
    session, _ = member_session(hub)
    ec2 = RegionalClients(session, client_config(4)).ec2("eu-west-1")
    for name in SCAN_OPERATIONS:
        assert callable(getattr(ec2, name)), name
    assert ec2.can_paginate("describe_vpcs")
    assert ec2.get_paginator("describe_subnets") is not None
    kept = {name for name in _every_ec2_method() if hasattr(ec2, name)}
    assert kept == SCAN_OPERATIONS
    assert not hasattr(ec2, "create_vpc")
    # From the cut model (credentials.SCAN_MODELS), not the whole one cut afterwards: the
    # whole model is what costs the memory.
    assert len(ec2.meta.service_model.operation_names) == len(SCAN_OPERATIONS)
    # Every member client, however made: the member session makes EC2 clients for the scan only.
    other = session.client("ec2", region_name="ap-south-1")
    assert {name for name in _every_ec2_method() if hasattr(other, name)} == SCAN_OPERATIONS


def test_the_hub_sessions_clients_keep_every_operation() -> None:
    hub = boto3.Session(region_name="us-east-1")
    session, _ = member_session(hub)
    RegionalClients(session, client_config(4)).ec2("us-east-1")
    ec2 = hub.client("ec2")
    assert callable(ec2.create_vpc)
    assert {name for name in _every_ec2_method() if hasattr(ec2, name)} == _every_ec2_method()
    assert len(ec2.meta.service_model.operation_names) > 500


def test_every_ec2_operation_the_scan_names_is_kept() -> None:
    """Each EC2 method a caller names (an attribute, or a string handed to a paginator) is in
    `SCAN_OPERATIONS`, and each of those is an EC2 method."""
    every = _every_ec2_method()
    assert every >= SCAN_OPERATIONS
    named: set[str] = set()
    for path in CALLERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in every:
                named.add(node.attr)
            elif isinstance(node, ast.Constant) and node.value in every:
                named.add(str(node.value))
    assert named, "the scan's callers name no EC2 operation: CALLERS is out of date"
    assert named <= SCAN_OPERATIONS, named - SCAN_OPERATIONS
