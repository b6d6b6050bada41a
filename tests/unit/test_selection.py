"""Pure selection logic: which accounts and which regions a run scans."""

from __future__ import annotations

import pytest

from collector.models import Account
from collector.organization import select_accounts
from collector.regions import needs_discovery, plan_regions

A = Account("111111111111", "a")
B = Account("222222222222", "b")
C = Account("333333333333", "c", status="SUSPENDED")
D = Account("444444444444", "d", status="PENDING_CLOSURE")


def ids(accts: list[Account]) -> list[str]:
    return [a.id for a in accts]


def test_only_active_accounts() -> None:
    assert ids(select_accounts([A, B, C, D])) == [A.id, B.id]


def test_include_exclude_and_ous() -> None:
    assert ids(select_accounts([A, B, C], include=[B.id, C.id])) == [B.id]
    assert ids(select_accounts([A, B], exclude=[A.id])) == [B.id]
    assert ids(select_accounts([A, B], in_ous={A.id})) == [A.id]
    assert ids(select_accounts([A, B], include=[A.id], exclude=[A.id])) == []


def test_regions_all_uses_enabled_regions() -> None:
    assert needs_discovery("all", [])
    assert plan_regions("all", [], ["eu-west-1", "us-east-1"]) == ["eu-west-1", "us-east-1"]
    with pytest.raises(ValueError):
        plan_regions("all", [], None)


def test_explicit_and_cli_regions() -> None:
    assert not needs_discovery(["us-east-1"], [])
    assert not needs_discovery("all", ["eu-west-1"])
    assert plan_regions(["us-east-1", "us-east-1", "eu-west-1"], [], None) == [
        "us-east-1",
        "eu-west-1",
    ]
    assert plan_regions("all", ["ap-south-1"], None) == ["ap-south-1"]
    assert plan_regions(["us-east-1"], ["eu-west-1"], None) == ["eu-west-1"]
