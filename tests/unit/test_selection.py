"""Pure selection logic: which accounts and which regions a run scans."""

from __future__ import annotations

from collector.models import Account
from collector.organization import select_accounts
from collector.regions import (
    DEFAULT_ENABLED_REGIONS,
    SKIP_NOT_ENABLED,
    SKIP_NOT_OFFERED,
    plan_regions,
    targets_per_account,
)

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


STATUS = {
    "us-east-1": "opt-in-not-required",
    "eu-west-1": "opt-in-not-required",
    "ap-south-1": "opt-in-not-required",
    "af-south-1": "opted-in",
    "me-south-1": "not-opted-in",
    "ap-east-1": "opting-out",
}


def test_regions_all_is_every_region_not_proven_off() -> None:
    plan = plan_regions("all", [], STATUS)
    assert plan.scan == ["af-south-1", "ap-east-1", "ap-south-1", "eu-west-1", "us-east-1"]
    assert plan.skipped == []


def test_explicit_and_cli_regions() -> None:
    assert plan_regions(["us-east-1", "us-east-1", "eu-west-1"], [], STATUS).scan == [
        "us-east-1",
        "eu-west-1",
    ]
    assert plan_regions("all", ["ap-south-1"], STATUS).scan == ["ap-south-1"]
    assert plan_regions(["us-east-1"], ["eu-west-1"], STATUS).scan == ["eu-west-1"]


def test_only_the_accounts_own_answer_proves_a_region_off() -> None:
    plan = plan_regions(["us-east-1", "me-south-1", "us-gov-west-1", "ap-east-1"], [], STATUS)
    # Opting out may still hold VPCs: scanned, so an error there is a failure, not a skip.
    assert plan.scan == ["us-east-1", "ap-east-1"]
    assert plan.skipped == [
        ("me-south-1", SKIP_NOT_ENABLED),
        ("us-gov-west-1", SKIP_NOT_OFFERED),
    ]


def test_targets_per_account_before_any_account_is_planned() -> None:
    # A live update's targets: the most regions it names for one account.
    assert targets_per_account("all", (), {"111111111111": ["us-east-1"]}) == 1
    assert targets_per_account("all", (), {"1": ["a-b-1", "a-b-2"], "2": ["a-b-1"]}) == 2
    assert targets_per_account("all", (), {}) == 1
    # `--region`, then the configured list, then the regions enabled by default.
    assert targets_per_account(["us-east-1"], ["eu-west-1", "eu-west-2", "eu-west-1"], None) == 2
    assert targets_per_account(["us-east-1", "us-west-2"], (), None) == 2
    assert targets_per_account("all", (), None) == DEFAULT_ENABLED_REGIONS == 17
