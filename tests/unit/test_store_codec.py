"""DynamoDB item codec round-trips every attribute, with the public attribute names."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.lifecycle import mark_deleted
from collector.models import Account, to_records
from collector.store.table import table_definition
from collector.store.vpcs import from_item, to_item
from tests.conftest import load_data

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def records():  # type: ignore[no-untyped-def]
    return to_records(
        load_data("describe_vpcs_mixed.json")["Vpcs"],
        account=Account("111111111111", "payments"),
        region="us-east-1",
        now=NOW,
    ).records


def test_item_shape_and_round_trip() -> None:
    vpc = records()[0]
    item = to_item(vpc)
    assert item["VpcId"] == {"S": "vpc-0a1b2c3d4e5f60718"}
    assert item["OwnerId"] == {"S": "111111111111"}
    assert item["CidrBlock"] == {"S": "10.10.0.0/16"}
    assert item["IsDefault"] == {"BOOL": False}
    assert item["State"] == {"S": "available"}
    assert item["CidrBlocks"] == {"L": [{"S": "10.10.0.0/16"}, {"S": "100.64.0.0/20"}]}
    assert item["FirstSeen"] == {"S": "2026-11-26T12:00:00Z"}
    assert item["Deleted"] == {"BOOL": False}
    assert "ExpiresAt" not in item and "DeletedAt" not in item
    assert from_item(item) == vpc


def test_deleted_round_trip_and_untagged() -> None:
    default = records()[1]
    assert "Name" not in to_item(default)
    assert to_item(default)["Tags"] == {"M": {}}
    gone = mark_deleted(default, now=NOW, reason="account-suspended", retention_days=90)
    item = to_item(gone)
    assert item["ExpiresAt"]["N"].isdigit()
    assert item["DeletedReason"] == {"S": "account-suspended"}
    assert from_item(item) == gone


def test_table_schema_is_the_public_contract() -> None:
    d = table_definition("VPCTracker")
    assert d["KeySchema"] == [
        {"AttributeName": "VpcId", "KeyType": "HASH"},
        {"AttributeName": "OwnerId", "KeyType": "RANGE"},
    ]
    assert d["BillingMode"] == "PAY_PER_REQUEST"
    (gsi,) = d["GlobalSecondaryIndexes"]
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["OwnerId", "Region"]


def test_standing_findings_are_rewritten_over_a_window_not_all_on_one_night() -> None:
    from collector.store.findings import _due

    window = (1_000, 2_000)
    assert _due("0" * 24, window) == 1_000
    assert 1_999 <= _due("f" * 24, window) <= 2_000
    dues = [_due(f"{n * 2654435761 % 2**32:08x}" + "0" * 16, window) for n in range(1_000)]
    assert all(1_000 <= d <= 2_000 for d in dues)
    # Spread over the whole window: each tenth of it holds some of them.
    assert {(d - 1_000) // 100 for d in dues} >= set(range(10))
    assert _due("not-hex", window) == 2_000  # never earlier than the latest point
