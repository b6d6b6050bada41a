"""Issue 26 (a live event's time): the inventory an event's findings are compared with is read
beside the rescan, and what the rescan wrote is read back into it by key. The view must then
hold exactly what a read after the rescan holds."""

from __future__ import annotations

import gc
import ipaddress
import json
import threading
import time
import weakref
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from collector.handler import handler
from collector.jobs.allocate import allocate
from collector.jobs.audit import run_audit
from collector.jobs.check import run_check
from collector.jobs.collect import run
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.summary import RunSummary
from collector.jobs.views import View, ViewAhead, merge, read_view, take_up, written_items
from collector.models import Reservation, UnreadableItem, utc_now
from collector.store.findings import all_known, recorder_id
from collector.store.reader import SCAN_SEGMENTS
from collector.store.registry import Items
from tests.conftest import load_data
from tests.factories import make_vpc
from tests.integration.conftest import FAST_RETRY, Org, scanned_attributes
from tests.integration.test_handler import Context, env, sqs_record  # noqa: F401
from tests.integration.test_live import event_for


def _opts(org: Org, **kw: Any) -> RunOptions:
    return RunOptions(session=org.session, retry=FAST_RETRY, **kw)


def _contents(items: Items) -> dict[str, Any]:
    return {
        "vpcs": sorted(v.model_dump_json() for v in items.vpcs),
        "reservations": sorted(r.cidr for r in items.reservations),
        "connectivity": sorted(c.model_dump_json() for c in items.connectivity),
        "route_tables": sorted(t.model_dump_json() for t in items.route_tables),
        "unreadable": sorted(u.to_dict().values() for u in items.unreadable),
    }


def _sandbox_copy_event(org: Org) -> dict[str, Any]:
    """The sandbox copies the workloads' 10.1.0.0/16; the function's answer to the event."""
    org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    return handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)


def _sandbox_copy_clash_known(org: Org) -> bool:
    """Whether the ledger knows the clash of the sandbox's copy of 10.1.0.0/16: the event that
    made it was recorded."""
    ledger = dynamodb_client(org.session, org.config())
    known = all_known(ledger, "VPCTracker-ledger").values()
    clash = (org.accounts["sandbox"], "overlap", "10.1.0.0/16")
    return clash in {(k.account, k.kind, k.cidr) for k in known}


def test_a_view_read_before_the_rescan_takes_up_everything_it_wrote(org: Org) -> None:
    cfg = org.config()
    org.run(cfg)
    sandbox, a = org.accounts["sandbox"], org.accounts["workload-a"]
    ddb = dynamodb_client(org.session, cfg)
    # A reservation the rescan releases (its owner's VPC shows up in it).
    allocate(
        ddb,
        "VPCTracker",
        pool=ipaddress.ip_network("10.202.0.0/16"),
        prefix_length=16,
        reserved=[],
        now=utc_now,
        reserve_for=sandbox,
    )
    before = read_view(cfg, _opts(org))
    # What the events were about: a new clash, a reserved range taken, a VPC deleted.
    clash = org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    taken = org.create_vpc("sandbox", "us-east-1", "10.202.0.0/16", "the-reserved-one")
    gone = next(
        v["VpcId"]
        for v in org.api_vpcs("workload-a", "us-east-1")
        if v["CidrBlock"] == "10.2.0.0/20"
    )
    org.ec2("workload-a", "us-east-1").delete_vpc(VpcId=gone)
    summary = run(
        cfg,
        _opts(
            org,
            accounts=[sandbox, a],
            regions=["us-east-1"],
            targets={sandbox: frozenset({"us-east-1"}), a: frozenset({"us-east-1"})},
            keep_written=True,
        ),
    )
    assert summary.reservations_released == ["10.202.0.0/16"]
    assert summary.written_keys and (clash, sandbox) in summary.written_keys
    fresh = written_items(summary, cfg, _opts(org), ddb)
    got = None if fresh is None else take_up(before, fresh, summary)
    assert got is not None and got.started == before.started
    after = read_view(cfg, _opts(org))
    assert _contents(got.items) == _contents(after.items)
    # ...and the view read before the rescan did differ: the test can fail.
    assert _contents(before.items) != _contents(after.items)
    keys = {v.key: v for v in got.items.vpcs}
    assert (clash, sandbox) in keys and (taken, sandbox) in keys and keys[(gone, a)].Deleted


def test_an_event_does_not_read_the_table_again_after_its_rescan(
    org: Org,
    env: None,  # noqa: F811 - the function's environment
) -> None:
    # Right after the nightly run: a view that started within the clock skew of the nightly
    # recording's read would have to be read again (jobs.findings), so the read beside the
    # rescan waits out the skew first (the rescan takes longer anyway in a real batch).
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    calls: list[str] = []
    for op in ("Scan", "BatchWriteItem"):
        org.session.events.register(
            f"before-call.dynamodb.{op}", lambda op=op, **_: calls.append(op)
        )
    result = _sandbox_copy_event(org)
    assert result["ok"] is True
    # The new clash is known, from the view read beside the rescan...
    assert _sandbox_copy_clash_known(org)
    # ...and the table was read once (one page per segment, this table is small), not again
    # after the rescan: the early read waited out the clock skew past the nightly read.
    assert calls.count("Scan") == SCAN_SEGMENTS


def test_a_batch_whose_targets_were_all_current_reads_no_table(
    org: Org,
    env: None,  # noqa: F811 - the function's environment
) -> None:
    # Sent well before the nightly scan: that scan already holds the change it reports.
    sent = time.time() - 60
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    scans: list[str] = []
    org.session.events.register("before-call.dynamodb.Scan", lambda **_: scans.append("Scan"))
    body = json.dumps(event_for(org, "sandbox", "us-east-1"))
    answer = handler({"Records": [sqs_record("m", body, sent)]}, Context(), session=org.session)
    assert answer == {"batchItemFailures": []}
    # The read beside the rescan waits for a target to scan; there was none: it never read.
    assert scans == []


def test_a_view_is_not_patched_when_the_rescan_s_writes_are_not_known() -> None:
    at = datetime(2026, 11, 30, tzinfo=UTC)
    view = View(Items(), at, at)

    def patched(summary: RunSummary) -> View | None:
        fresh = written_items(summary, None, RunOptions(), None)  # type: ignore[arg-type]
        return None if fresh is None else take_up(view, fresh, summary)

    assert patched(RunSummary(at)) is None
    failed = RunSummary(at, written_keys=set(), write_failures=1)
    assert patched(failed) is None
    nothing = RunSummary(at, written_keys=set())
    assert patched(nothing) is view


def test_merge_replaces_exactly_the_written_keys() -> None:
    old_a = make_vpc("vpc-0000000a", "10.1.0.0/16", name="old")
    new_a = make_vpc("vpc-0000000a", "10.1.0.0/16", name="new")
    other = make_vpc("vpc-0000000b", "10.1.0.0/16", owner="222222222222")
    bad = UnreadableItem("vpc-0000000c", "111111111111", "damaged")
    at = datetime(2026, 11, 30, tzinfo=UTC)
    kept = Reservation("10.9.0.0/16", "333333333333", at, 2**40)
    released = Reservation("10.8.0.0/16", "111111111111", at, 2**40)
    old = Items(vpcs=[old_a, other], reservations=[kept, released], unreadable=[bad])
    fresh = Items(vpcs=[new_a])
    written = {("vpc-0000000a", "111111111111"), ("vpc-0000000c", "111111111111")}
    out = merge(old, fresh, written, ["10.8.0.0/16"])
    assert [v.Name for v in out.vpcs] == [None, "new"] and out.vpcs[0] is other
    assert out.reservations == [kept]
    assert out.unreadable == []  # rewritten whole by the rescan: readable now


def test_a_check_reads_the_table_beside_its_scan_and_judges_what_it_wrote(org: Org) -> None:
    cfg = org.config()
    org.run(cfg)
    calls: list[str] = []
    for op in ("Scan", "BatchWriteItem"):
        org.session.events.register(
            f"before-call.dynamodb.{op}", lambda op=op, **_: calls.append(op)
        )
    clash = org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    result = run_check(cfg, [org.accounts["sandbox"]], _opts(org))
    # The verdict sees the VPC the check's own scan wrote: a new clash with the workloads.
    groups = result.to_dict()["audit"]["overlap_groups"]
    assert any(m.get("VpcId") == clash for g in groups for m in g["members"])
    # The read began before the scan's first write, and was the only one: a read afresh after
    # the writes would be as many segments again. (Each segment's own first page may come
    # after a write on a loaded machine: the items written are read back by key anyway.)
    assert "Scan" in calls[: calls.index("BatchWriteItem")]
    assert calls.count("Scan") == SCAN_SEGMENTS


def test_leaving_the_block_stops_the_read_however_it_is_left(org: Org) -> None:
    """A rescan that fails, or finds nothing to scan, leaves no read behind (a Lambda would carry
    it into its next invocation)."""
    cfg = org.config()

    def readers() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name == "view-ahead" and t.is_alive()]

    class Boom(Exception):
        pass

    try:
        with ViewAhead(cfg, _opts(org)) as ahead:
            assert ahead.options.keep_written and ahead.options.will_scan is not None
            assert readers() == ["view-ahead"]
            raise Boom
    except Boom:
        pass
    assert readers() == []
    with ViewAhead(cfg, _opts(org)) as ahead:
        pass
    assert readers() == []
    assert ahead.result() is None  # never told to go: nothing was read


def test_a_check_reads_its_view_without_subnets_and_judges_the_subnets_its_scan_wrote(
    org: Org,
) -> None:
    """Issue 26: a check read the whole table, every subnet and tag, beside its scan. It now
    reads it as `audit --format json` does (each VPC's stored `AddressUse`), and what its scan
    wrote is read back whole: a VPC's stored use from before the scan must not stand for the
    subnets the scan found."""
    cfg = org.config()
    sandbox = org.accounts["sandbox"]
    lab = org.create_vpc("sandbox", "us-east-1", "192.168.4.0/22", "lab")
    ec2 = org.ec2("sandbox", "us-east-1")
    ec2.create_subnet(VpcId=lab, CidrBlock="192.168.4.0/24", AvailabilityZone="us-east-1a")
    org.run(cfg)  # stored: the lab VPC in one AZ
    ec2.create_subnet(VpcId=lab, CidrBlock="192.168.5.0/24", AvailabilityZone="us-east-1b")
    scans: list[dict[str, Any]] = []
    org.session.events.register(
        "provide-client-params.dynamodb.Scan", lambda params, **_: scans.append(params)
    )
    result = run_check(cfg, [sandbox], _opts(org))
    made = scans[:]
    read = scanned_attributes(made)
    assert made and all("ProjectionExpression" in s for s in made)
    assert "AddressUse" in read and not read & {"Subnets", "Tags"}
    # Two AZs now, as the check's own scan found: not single-AZ.
    checked = result.to_dict()["audit"]
    assert lab not in {f["VpcId"] for f in checked["single_az"]}
    # The check's audit is the one a whole read of the table gives now.
    whole, _ = run_audit(cfg, accounts=[sandbox], options=_opts(org))
    assert {**checked, "generated_at": None} == {**whole.to_dict(), "generated_at": None}


def test_an_event_after_a_damaged_marker_time_reads_again_and_records(
    org: Org,
    env: None,  # noqa: F811 - the function's environment
) -> None:
    """The ledger's marker says when the latest recording's read ended. Edited by hand without
    its zone (or garbled), it read as a naive time: the comparison with the view's start raised
    TypeError, every event's recording failed, and each message went back to the queue. A time
    that cannot be read is not known, so the recording reads the table again (always safe)."""
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    ledger = dynamodb_client(org.session, org.config())
    for damaged in ("2026-12-01T10:00:00", "yesterday"):
        _damage(ledger, damaged)
        # The night's recording compares the view its run read...
        night = handler(load_data("events/scheduled.json"), Context(), session=org.session)
        assert night["ok"] is True, damaged
        _damage(ledger, damaged)  # (the night wrote its own)
        scans: list[str] = []
        org.session.events.register(
            "before-call.dynamodb.Scan", lambda seen=scans, **_: seen.append("S"), unique_id="scans"
        )
        # ...and an event's, the view read beside its rescan.
        cidr = "10.1.0.0/16" if damaged.startswith("2026") else "10.2.0.0/20"
        org.create_vpc("sandbox", "us-east-1", cidr, f"copy-{len(cidr)}")
        result = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
        assert result["ok"] is True, damaged
        known = all_known(ledger, "VPCTracker-ledger").values()
        assert (org.accounts["sandbox"], "overlap", cidr) in {
            (k.account, k.kind, k.cidr) for k in known
        }, damaged
        # Read again after the rescan: the view read beside it cannot be shown newer.
        assert len(scans) == 2 * SCAN_SEGMENTS, damaged
        org.session.events.unregister("before-call.dynamodb.Scan", unique_id="scans")


def read_whole(org: Org) -> None:
    """The marker no longer says the block index is whole (as an older version's, or before
    the first night of this one): an event's view is read beside its rescan, as these tests
    look at, not narrowed to its targets (jobs.narrow; tests/integration/test_narrow.py)."""
    dynamodb_client(org.session, org.config()).update_item(
        TableName="VPCTracker-ledger",
        Key={"VpcId": {"S": "baseline"}, "OwnerId": {"S": "findings"}},
        UpdateExpression="REMOVE IndexedBlocks",
    )


def _damage(ledger: Any, read_end: str) -> None:
    """The marker's `ReadEnd` set to `read_end`; a garbled one comes with a garbled `ExpiresAt`
    (its number read as 0, not a KeyError). Edited by hand, it no longer says the block index
    is whole either (`IndexedBlocks`), as an older version's marker: an event's view is then read
    beside its rescan, not narrowed (jobs.narrow)."""
    garbled = not read_end.startswith("2026")
    ledger.update_item(
        TableName="VPCTracker-ledger",
        Key={"VpcId": {"S": "baseline"}, "OwnerId": {"S": "findings"}},
        UpdateExpression="SET ReadEnd = :t"
        + (", ExpiresAt = :e" if garbled else "")
        + " REMOVE IndexedBlocks",
        ExpressionAttributeValues={":t": {"S": read_end}}
        | ({":e": {"S": "never"}} if garbled else {}),
    )


def _calls(org: Org, *ops: str) -> list[tuple[str, str]]:
    """(operation, thread name) of each DynamoDB call of `ops` from now on, as it is made."""
    seen: list[tuple[str, str]] = []
    for op in ops:
        org.session.events.register(
            f"before-call.dynamodb.{op}",
            lambda op=op, **_: seen.append((op, threading.current_thread().name)),
        )
    return seen


def test_the_early_read_knows_the_latest_read_before_the_rescan_finds_a_target(org: Org) -> None:
    """Issue 26 (a live event's time): the early read asked the ledger's marker when the latest
    recording's read ended only once the rescan had found a target, then described the table
    again (the run's first round trips had already checked it): two round trips, 0.2 s at
    100 ms a call, between the go and the read's first page. The marker is now read as the
    rescan starts, and the table is not described again."""
    cfg = org.config()
    org.run(cfg)
    seen = _calls(org, "GetItem", "DescribeTable", "Scan")
    with ViewAhead(cfg, _opts(org)) as ahead:
        deadline = time.monotonic() + 10
        while ("GetItem", "view-ahead") not in seen and time.monotonic() < deadline:
            time.sleep(0.01)
        # Told nothing yet: the marker is read, the table is not.
        assert seen == [("GetItem", "view-ahead")]
        ahead.go()
        view = ahead.result()
    assert view is not None and view.items.vpcs
    assert [c for c in seen if c[1] == "view-ahead"] == [("GetItem", "view-ahead")]
    assert [op for op, _ in seen].count("Scan") == SCAN_SEGMENTS


def test_what_the_rescan_wrote_is_read_back_while_the_table_is_still_read(org: Org) -> None:
    """Issue 26 (a live event's time): the items the rescan wrote were read back by key only once
    the whole read had ended, one more round trip after it. They are read back as soon as the
    rescan is done, beside the read; the view is the same (the read-back replaces what the read
    holds under those keys, whenever either ends)."""
    cfg = org.config()
    org.run(cfg)
    sandbox = org.accounts["sandbox"]
    clash = org.create_vpc("sandbox", "us-east-1", "10.1.0.0/16", "sandbox-copy")
    rescanned, read_back = threading.Event(), threading.Event()
    held: list[bool] = []

    def hold(**_: Any) -> None:
        # Each page of the read waits for the read-back (at most 10 s: then it is late).
        held.append(read_back.wait(10))

    def back(**_: Any) -> None:
        if rescanned.is_set():
            read_back.set()

    org.session.events.register("before-call.dynamodb.Scan", hold)
    org.session.events.register("before-call.dynamodb.BatchGetItem", back)
    with ViewAhead(cfg, _opts(org)) as ahead:
        summary = run(
            cfg,
            replace(
                ahead.options,
                accounts=[sandbox],
                regions=["us-east-1"],
                targets={sandbox: frozenset({"us-east-1"})},
            ),
        )
        rescanned.set()
        got = ahead.view(summary)
    assert held and all(held)
    assert got is not None
    after = read_view(cfg, _opts(org))
    assert _contents(got.items) == _contents(after.items)
    assert (clash, sandbox) in {v.key for v in got.items.vpcs}


def test_an_event_s_recording_takes_its_lease_while_the_table_is_still_read(
    org: Org,
    env: None,  # noqa: F811 - the function's environment
) -> None:
    """Issue 26 (a live event's time): the recording took its lease, then read the ledger's
    marker, outbox and the rescanned accounts' findings, only once the view was whole: two
    round trips after the read. They are made beside the end of the read; the findings are
    the same (a recording compares the view once it is whole)."""
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    leased, held = threading.Event(), []

    def hold(**_: Any) -> None:
        held.append(leased.wait(10))  # each page waits for the recording's lease

    def lease(params: dict[str, Any], **_: Any) -> None:
        if params["Item"]["VpcId"]["S"].endswith("recording"):
            leased.set()

    org.session.events.register("before-call.dynamodb.Scan", hold)
    org.session.events.register("provide-client-params.dynamodb.PutItem", lease)
    result = _sandbox_copy_event(org)
    assert result["ok"] is True
    assert held and all(held)
    assert _sandbox_copy_clash_known(org)


def test_the_early_read_waits_out_no_skew_past_a_marker_that_names_its_recorder(
    org: Org,
    env: None,  # noqa: F811 - the function's environment
    monkeypatch: Any,
) -> None:
    """Issue 26 (a live event's time): the early read waited out the 2 s clock skew past the
    latest recording's read even when this very process had made that recording, on the same
    clock: a burst's batches, handled back to back by one function, each waited up to 2 s.
    The marker now names its recorder (`RecordedBy`): past this process's own read there is
    no skew to wait out. Nor past another recorder's (another instance of the function, a
    laptop's `collect`), which still waited: the view's read begins after that marker was
    read, and a recording writes its marker once its read has ended, so if the marker is
    unchanged when the recording compares, the view is newer on any clocks. Past a marker an
    older version wrote (no `RecordedBy`) the wait stays. The view is read once each time."""
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    read_whole(org)
    ledger = dynamodb_client(org.session, org.config())
    key = {"VpcId": {"S": "baseline"}, "OwnerId": {"S": "findings"}}
    marker = ledger.get_item(TableName="VPCTracker-ledger", Key=key)["Item"]
    assert marker["RecordedBy"] == {"S": recorder_id()}
    waits: list[float] = []
    wait = threading.Event.wait

    def timed(self: threading.Event, timeout: float | None = None) -> bool:
        if threading.current_thread().name == "view-ahead" and timeout:
            waits.append(timeout)
        return wait(self, timeout)

    monkeypatch.setattr(threading.Event, "wait", timed)
    for n, by in enumerate((None, "another-recorder", "")):
        # The latest read ended just now, as in a burst.
        if by is None:
            update, values = "SET ReadEnd = :t", {":t": {"S": datetime.now(UTC).isoformat()}}
        elif by:
            update = "SET ReadEnd = :t, RecordedBy = :b"
            values = {":t": {"S": datetime.now(UTC).isoformat()}, ":b": {"S": by}}
        else:
            update, values = (
                "SET ReadEnd = :t REMOVE RecordedBy",
                {":t": {"S": datetime.now(UTC).isoformat()}},
            )
        ledger.update_item(
            TableName="VPCTracker-ledger",
            Key=key,
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )
        scans: list[str] = []
        org.session.events.register(
            "before-call.dynamodb.Scan", lambda seen=scans, **_: seen.append("S"), unique_id="s"
        )
        waits.clear()
        org.create_vpc("sandbox", "us-east-1", f"10.{50 + n}.0.0/16", f"copy-{n}")
        result = handler(event_for(org, "sandbox", "us-east-1"), Context(), session=org.session)
        org.session.events.unregister("before-call.dynamodb.Scan", unique_id="s")
        assert result["ok"] is True, by
        if by == "":
            assert waits and 0 < max(waits) <= 2, (by, waits)  # an older version's marker
        else:
            assert waits == [], (by, waits)  # its own read, or another recorder's
        assert len(scans) == SCAN_SEGMENTS, by  # read once, not again by its recording


def test_a_recording_made_during_the_early_read_still_has_the_view_read_again(
    org: Org,
    env: None,  # noqa: F811 - the function's environment
) -> None:
    """The view follows the marker it read first only while no other recording writes one:
    another recorder's recording whose read ended during the rescan makes the event's
    recording read the view again (else it could compare an older read after a newer one)."""
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    read_whole(org)
    ledger = dynamodb_client(org.session, org.config())
    key = {"VpcId": {"S": "baseline"}, "OwnerId": {"S": "findings"}}
    scans: list[str] = []

    def another_recording(**_: Any) -> None:
        if not scans:  # once, as the rescan scans (after the early read asked the marker)
            ledger.update_item(
                TableName="VPCTracker-ledger",
                Key=key,
                UpdateExpression="SET ReadEnd = :t, RecordedBy = :b",
                ExpressionAttributeValues={
                    ":t": {"S": datetime.now(UTC).isoformat()},
                    ":b": {"S": "another-recorder"},
                },
            )
        scans.append("V")

    org.session.events.register("before-call.ec2.DescribeVpcs", another_recording)
    segments: list[str] = []
    org.session.events.register("before-call.dynamodb.Scan", lambda **_: segments.append("S"))
    result = _sandbox_copy_event(org)
    assert result["ok"] is True and scans
    assert len(segments) == 2 * SCAN_SEGMENTS  # the early read, then the recording's own
    assert _sandbox_copy_clash_known(org)


def _watched_views(monkeypatch: Any) -> list[weakref.ref[View]]:
    """A weak reference to each view an event's `ViewAhead` gives from now on."""
    views: list[weakref.ref[View]] = []
    result = ViewAhead.result

    def kept(self: ViewAhead) -> View | None:
        view = result(self)
        if view is not None:
            views.append(weakref.ref(view))
        return view

    monkeypatch.setattr(ViewAhead, "result", kept)
    return views


def test_an_event_s_inventory_goes_as_the_event_ends(
    org: Org,
    env: None,  # noqa: F811 - the function's environment
    monkeypatch: Any,
) -> None:
    """Issue 26 (an event's memory and CPU): the inventory read beside the rescan was held by
    the `ViewAhead`, which its own thread and options hold in reference cycles, so it waited
    for the cyclic collector (54,000 objects an event at 1,000 × 17, measured), sitting beside
    the next event's and walked by every full collection meanwhile. It now goes as the event
    ends, by reference counting alone."""
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    read_whole(org)
    views = _watched_views(monkeypatch)
    gc.disable()
    try:
        answer = _sandbox_copy_event(org)
        assert answer["ok"] is True
        assert views and all(ref() is None for ref in views)
    finally:
        gc.enable()


def test_no_cyclic_collection_walks_an_event_s_inventory(
    org: Org,
    env: None,  # noqa: F811 - the function's environment
    monkeypatch: Any,
) -> None:
    """Issue 26 (an event's CPU at 100k VPCs): the cyclic collector was turned back on once the
    view was read, while it and its analysis were still held, and its first passes walked
    every object of them (0.33-0.84 s of an event's 7 s of CPU at 100,000 VPCs, measured). It
    stays off until the event's inventory is gone: no collection runs while a view is held."""
    assert handler(load_data("events/scheduled.json"), Context(), session=org.session)["ok"]
    read_whole(org)
    views = _watched_views(monkeypatch)
    walked: list[int] = []

    def collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and any(ref() is not None for ref in views):
            walked.append(info["generation"])

    assert gc.isenabled()
    gc.callbacks.append(collection)
    try:
        answer = _sandbox_copy_event(org)
    finally:
        gc.callbacks.remove(collection)
    assert answer["ok"] is True and views
    assert walked == []
    # And it is back on once the event is done.
    assert gc.isenabled()
