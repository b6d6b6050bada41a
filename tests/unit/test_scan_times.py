"""Issue 26, "write only what changed" (pure): what counts as unchanged, and the `LastSeen`
readers derive from an account's scan times."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collector.jobs.collect import SKIP_CURRENT, narrowed
from collector.jobs.options import RunOptions
from collector.jobs.stored import Prepared, unchanged_connectivity, unchanged_vpc
from collector.jobs.views import merge
from collector.models import Connectivity, Peering, PeeringSide, Vpc
from collector.regions import RegionPlan
from collector.store.registry import Items
from collector.store.scanned import derive, scanned_from_item, scanned_item
from collector.store.vpcs import to_item
from tests.factories import T, make_vpc

LATER = T + timedelta(days=1)
ACCT = "111111111111"


def test_derive_moves_live_vpcs_of_a_region_scanned_later_and_nothing_else() -> None:
    live = make_vpc(1, region="us-east-1")
    other_region = make_vpc(2, region="eu-west-1")
    deleted = make_vpc(3, region="us-east-1", deleted=True)
    newer = make_vpc(4, region="us-east-1", seen=LATER + timedelta(hours=1))
    other_account = make_vpc(5, region="us-east-1", owner="222222222222")
    got = derive([live, other_region, deleted, newer, other_account], {ACCT: {"us-east-1": LATER}})
    assert [v.LastSeen for v in got] == [LATER, T, T, LATER + timedelta(hours=1), T]
    assert got[0].FirstSeen == T and got[2] is deleted


def test_a_derived_vpc_is_what_a_copy_with_its_last_seen_would_be() -> None:
    # Made without `model_copy`'s walk (100k times a read in this mode), it must still be
    # that copy, field for field, and leave the stored record as it was.
    stored = make_vpc(1, region="us-east-1", name="a", account_name="acct")
    (got,) = derive([stored], {ACCT: {"us-east-1": LATER}})
    want = stored.model_copy(update={"LastSeen": LATER})
    assert type(got) is Vpc and got == want and got.model_dump() == want.model_dump()
    assert got.model_fields_set == want.model_fields_set
    assert got.__pydantic_extra__ == want.__pydantic_extra__
    assert stored.LastSeen == T and got.__dict__ is not stored.__dict__
    # A record built with the fewest fields (as `model_construct` makes one) gains `LastSeen`.
    bare = Vpc.model_construct(_fields_set={"VpcId"}, **stored.__dict__)
    (moved,) = derive([bare], {ACCT: {"us-east-1": LATER}})
    assert "LastSeen" in moved.model_fields_set and "LastSeen" not in bare.model_fields_set


def test_scan_times_round_trip_and_a_damaged_item_is_refused() -> None:
    item = scanned_item(ACCT, {"us-east-1": T, "eu-west-1": LATER}, 123)
    assert scanned_from_item(item) == (ACCT, {"us-east-1": T, "eu-west-1": LATER})
    assert item["Region"] == {"S": "scanned"}  # in the owner index: an account's query finds it
    for damaged in (
        {**item, "Scanned": {"M": {"us-east-1": {"S": "yesterday"}}}},
        {**item, "Scanned": {"S": "x"}},
        {**item, "OwnerId": {"S": "222222222222"}},
    ):
        with pytest.raises(ValueError):
            scanned_from_item(damaged)


def test_a_read_derives_last_seen_from_the_scan_times_it_finds() -> None:
    items = Items()
    vpc = make_vpc(1)
    items.add(to_item(vpc), frozenset({"vpc"}))
    items.add(scanned_item(ACCT, {"us-east-1": LATER}, 123), frozenset({"vpc"}))
    assert [v.LastSeen for v in items.complete().vpcs] == [LATER]
    assert items.scanned == {ACCT: {"us-east-1": LATER}}


def test_only_last_seen_may_differ_for_a_vpc_to_be_left_alone() -> None:
    stored = make_vpc(1, name="a")
    assert unchanged_vpc(stored.model_copy(update={"LastSeen": LATER}), stored)
    assert not unchanged_vpc(stored.model_copy(update={"Name": "b"}), stored)
    assert not unchanged_vpc(stored, None)  # new
    assert not unchanged_vpc(stored, make_vpc(1, name="a", deleted=True))  # back again


def test_connectivity_is_left_alone_only_while_its_ttl_is_far() -> None:
    retention = 90
    fresh = int((T + timedelta(days=60)).timestamp())
    stored = Connectivity(OwnerId=ACCT, Region="us-east-1", LastSeen=T, ExpiresAt=fresh)
    now = stored.model_copy(update={"LastSeen": LATER, "ExpiresAt": None})
    assert unchanged_connectivity(now, stored, LATER, retention)
    # Less than half the retention left: written again, so the TTL never removes it.
    assert not unchanged_connectivity(now, stored, T + timedelta(days=16), retention)
    assert not unchanged_connectivity(
        now, stored.model_copy(update={"ExpiresAt": None}), LATER, retention
    )
    side = PeeringSide(VpcId="vpc-1", OwnerId=ACCT, Region="us-east-1")
    peering = Peering(Id="pcx-1", Status="active", Requester=side, Accepter=side)
    peered = now.model_copy(update={"Peerings": (peering,)})
    assert not unchanged_connectivity(peered, stored, LATER, retention)


def test_a_live_update_skips_a_target_whose_scan_times_say_it_was_scanned_since() -> None:
    opts = RunOptions(targets={ACCT: {"us-east-1"}}, current_since={(ACCT, "us-east-1"): LATER})
    old = Connectivity(OwnerId=ACCT, Region="us-east-1", LastSeen=T)
    plan = RegionPlan(scan=["us-east-1"])
    assert narrowed(plan, ACCT, Prepared({}, [], {"us-east-1": old}), opts).scan == ["us-east-1"]
    state = Prepared({}, [], {"us-east-1": old}, {"us-east-1": LATER})
    assert narrowed(plan, ACCT, state, opts).skipped == [("us-east-1", SKIP_CURRENT)]


def test_a_rescan_s_scan_times_move_the_vpcs_it_left_unwritten_in_the_view() -> None:
    old = Items(vpcs=[make_vpc(1), make_vpc(2, region="eu-west-1")])
    fresh = Items(scanned={ACCT: {"us-east-1": LATER}})
    got = merge(old, fresh, written=[("scanned#" + ACCT, ACCT)], released=[])
    assert [v.LastSeen for v in got.vpcs] == [LATER, T]
    assert got.scanned == {ACCT: {"us-east-1": LATER}}
