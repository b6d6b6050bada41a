"""Golden tests of the audit's public shapes (JSON, CSV) and the human table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from collector.analysis import build_audit
from collector.config import ReservedCidr
from collector.models import Vpc
from collector.report import render_csv, render_json, render_table
from tests.factories import make_vpc

DATA = Path(__file__).parents[1] / "data"
T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
A, B = "111111111111", "222222222222"


def v(
    vid: str, owner: str, region: str, *cidrs: str, default: bool = False, name: str | None = None
) -> Vpc:
    return make_vpc(
        vid,
        *cidrs,
        owner=owner,
        region=region,
        default=default,
        name=name,
        account_name={A: "payments", B: "data"}[owner],
    )


INVENTORY = [
    v("vpc-0000000000000000a", A, "us-east-1", "10.0.0.0/16", name="payments-prod"),
    v("vpc-0000000000000000b", B, "eu-west-1", "10.0.128.0/20", "100.64.0.0/20"),
    v("vpc-0000000000000000c", B, "us-east-1", "172.31.0.0/16", default=True),
    v("vpc-0000000000000000d", A, "us-east-1", "192.168.7.0/24", name="lab"),
    v("vpc-0000000000000000e", A, "eu-west-1", "10.1.0.0/16"),
]
RESERVED = [ReservedCidr(cidr="192.168.0.0/16", name="corporate-network")]


def audit():  # type: ignore[no-untyped-def]
    return build_audit(INVENTORY, RESERVED, now=T)


def test_json_golden() -> None:
    got = json.loads(render_json(audit()))
    assert got == json.loads((DATA / "audit_golden.json").read_text())
    # The top-level keys are a public contract.
    assert list(got) == [
        "generated_at",
        "vpc_count",
        "account_count",
        "overlap_groups",
        "default_vpcs",
        "unreadable_items",
        "headroom",
        "exhausted_subnets",
        "single_az",
        "expected_overlaps",
        "reservation_overlaps",
        "stale",
        "summary",
    ]


def test_csv_golden() -> None:
    assert render_csv(audit()) == (DATA / "audit_golden.csv").read_text()


def test_table_is_grouped_and_readable() -> None:
    text = render_table(audit())
    assert text.splitlines()[0] == "VPC audit 2026-11-26T03:00:00Z: 5 VPCs in 2 accounts"
    assert "overlap groups: 2 (0 conflicts, 3 VPCs involved)   default VPCs left: 1" in text
    assert "#1 LATENT 10.0.0.0/16 — 2 blocks" in text
    assert "#2 LATENT 192.168.0.0/16 — 2 blocks" in text
    assert "reserved: corporate-network" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_empty_audit() -> None:
    text = render_table(build_audit([], [], now=T))
    assert "No overlapping ranges." in text and "No default VPCs left." in text
    # Every cell quoted, as `changes` and `inventory` write theirs.
    assert render_csv(build_audit([], [], now=T)).strip() == (
        '"finding","group","span","VpcId","OwnerId","AccountName","Region","Cidr","Reserved",'
        '"severity","reason"'
    )
