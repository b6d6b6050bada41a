"""Live updates: which of an account's regions an event batch scans (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.jobs.collect import SKIP_CURRENT, narrowed
from collector.jobs.options import RunOptions
from collector.jobs.stored import Prepared
from collector.models import Connectivity
from collector.regions import RegionPlan

T = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ACCT = "111111111111"


def plan() -> RegionPlan:
    return RegionPlan(
        scan=["eu-west-1", "us-east-1", "us-west-2"], skipped=[("ap-east-1", "RegionNotEnabled")]
    )


def state(**scanned: datetime) -> Prepared:
    regions = {k.replace("_", "-"): v for k, v in scanned.items()}
    return Prepared(
        {}, [], {r: Connectivity(OwnerId=ACCT, Region=r, LastSeen=v) for r, v in regions.items()}
    )


def test_a_normal_run_keeps_the_plan() -> None:
    assert narrowed(plan(), ACCT, state(), RunOptions()) == plan()


def test_only_the_named_regions_of_the_account() -> None:
    opts = RunOptions(targets={ACCT: {"us-east-1", "ap-east-1"}, "222222222222": {"eu-west-1"}})
    assert narrowed(plan(), ACCT, state(), opts) == RegionPlan(
        scan=["us-east-1"], skipped=[("ap-east-1", "RegionNotEnabled")]
    )


def test_a_target_scanned_since_the_event_is_current() -> None:
    opts = RunOptions(
        targets={ACCT: {"eu-west-1", "us-east-1", "us-west-2"}},
        current_since={(ACCT, "eu-west-1"): T, (ACCT, "us-east-1"): T, (ACCT, "us-west-2"): T},
    )
    got = narrowed(
        plan(),
        ACCT,
        state(eu_west_1=T, us_east_1=T - timedelta(seconds=1)),  # us-west-2: never scanned
        opts,
    )
    assert got == RegionPlan(scan=["us-east-1", "us-west-2"], skipped=[("eu-west-1", SKIP_CURRENT)])


def test_without_a_send_time_a_target_is_always_scanned() -> None:
    opts = RunOptions(targets={ACCT: {"eu-west-1"}}, current_since={})
    assert narrowed(plan(), ACCT, state(eu_west_1=T), opts).scan == ["eu-west-1"]


def test_a_message_send_time_is_the_queue_s_plus_the_clock_skew() -> None:
    from collector.sqs_batch import _sent_at

    sent = _sent_at({"attributes": {"SentTimestamp": "1545082649183"}})
    assert sent == datetime(2018, 12, 17, 21, 37, 30, 183000, tzinfo=UTC)
    # Without a usable send time the target is scanned, never skipped.
    for record in ({}, {"attributes": {}}, {"attributes": {"SentTimestamp": "9" * 30}}):
        assert _sent_at(record) is None
