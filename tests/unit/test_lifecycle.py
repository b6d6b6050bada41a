"""Lifecycle decisions: what a successful scan writes and what it marks deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.lifecycle import expires_at, mark_deleted, plan_target
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


def test_departed_candidates_and_marks() -> None:
    """Issue 23, observation 1: the listing only names candidates; what Organizations
    confirms is marked, and never an item a scan wrote after the run started."""
    from collector.jobs.departed import candidates, departed_marks

    org = {
        "111111111111": Account("111111111111", "a"),
        "222222222222": Account("222222222222", "b", status="SUSPENDED"),
    }
    old = [make_vpc(n, owner=f"{n}" * 12, seen=T0) for n in (1, 2, 3)]
    assert candidates(old, org) == {"222222222222", "333333333333"}
    gone = {"222222222222": "account-suspended"}  # 333... turned out ACTIVE (vended mid-run)
    marks = departed_marks(old, gone, T1, 90, seen_before=T1)
    assert [v.DeletedReason for v in marks.values()] == ["account-suspended"]
    fresh = old[1].model_copy(update={"LastSeen": T1})
    assert departed_marks([fresh], gone, T1, 90, seen_before=T1) == {}


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
