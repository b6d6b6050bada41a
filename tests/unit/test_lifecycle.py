"""Lifecycle decisions: what a successful scan writes and what it marks deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.lifecycle import departed_reason, expires_at, mark_deleted, plan_target
from collector.models import Account, Vpc
from tests.factories import make_vpc

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 11, 26, tzinfo=UTC)


def vpc(
    vid: str, *, seen: datetime = T1, deleted: bool = False, owner: str = "111111111111"
) -> Vpc:
    return make_vpc(vid, owner=owner, seen=seen, deleted=deleted)


def test_first_seen_survives_and_new_vpc_starts_now() -> None:
    old = vpc("vpc-000000000000000a1", seen=T0)
    plan = plan_target(
        [vpc("vpc-000000000000000a1"), vpc("vpc-000000000000000a2")],
        [old],
        now=T1,
        retention_days=90,
    )
    assert [(v.VpcId, v.FirstSeen, v.LastSeen) for v in plan.seen] == [
        ("vpc-000000000000000a1", T0, T1),
        ("vpc-000000000000000a2", T1, T1),
    ]
    assert plan.marked == []


def test_missing_live_vpc_is_marked_with_ttl() -> None:
    gone = vpc("vpc-000000000000000b1", seen=T0)
    plan = plan_target([], [gone], now=T1, retention_days=30)
    (m,) = plan.marked
    assert m.Deleted and m.DeletedAt == T1 and m.DeletedReason == "not-found"
    assert m.ExpiresAt == int((T1 + timedelta(days=30)).timestamp())
    assert m.FirstSeen == T0 and m.LastSeen == T0  # last seen stays the last time it existed


def test_already_deleted_item_is_left_alone() -> None:
    plan = plan_target(
        [], [vpc("vpc-000000000000000c1", seen=T0, deleted=True)], now=T1, retention_days=90
    )
    assert plan.marked == [] and plan.seen == []


def test_reappearing_vpc_comes_back_to_life() -> None:
    old = vpc("vpc-000000000000000d1", seen=T0, deleted=True)
    plan = plan_target([vpc("vpc-000000000000000d1")], [old], now=T1, retention_days=90)
    (v,) = plan.seen
    assert not v.Deleted and v.DeletedAt is None and v.FirstSeen == T0


def test_departed_reasons() -> None:
    org = {
        "111111111111": Account("111111111111", "a"),
        "222222222222": Account("222222222222", "b", status="SUSPENDED"),
    }
    assert departed_reason("111111111111", org) is None
    assert departed_reason("222222222222", org) == "account-suspended"
    assert departed_reason("333333333333", org) == "account-left-org"


def test_mark_deleted_keeps_identity() -> None:
    m = mark_deleted(
        vpc("vpc-000000000000000e1"), now=T1, reason="account-left-org", retention_days=1
    )
    assert m.key == ("vpc-000000000000000e1", "111111111111")
    assert m.ExpiresAt == expires_at(T1, 1)


def test_unreadable_vpc_is_not_marked_deleted() -> None:
    a, b = vpc("vpc-000000000000000f1", seen=T0), vpc("vpc-000000000000000f2", seen=T0)
    # The API returned f1, but malformed: it exists, so it must not be marked.
    plan = plan_target([], [a, b], now=T1, retention_days=90, invalid_ids=[a.VpcId])
    assert [m.VpcId for m in plan.marked] == [b.VpcId]
    # A malformed item without a VpcId could be either: mark nothing.
    plan = plan_target([], [a, b], now=T1, retention_days=90, invalid_ids=[None])
    assert plan.marked == []
