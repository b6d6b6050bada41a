"""The fan-out streams results, bounds what is in flight, and isolates account failures."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from collector.models import Account, TargetResult, TargetStatus
from collector.regions import RegionPlan
from collector.scan import ALL_REGIONS, fan_out

ACCTS = [Account(f"{i:012d}", f"acct-{i}") for i in range(1, 31)]
REGIONS = ["us-east-1", "eu-west-1", "ap-south-1"]


def denied(op: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "AccessDenied", "Message": "not allowed"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        op,
    )


def test_every_target_once_and_account_done_last() -> None:
    def prepare(a: Account) -> tuple[str, RegionPlan]:
        return f"state-{a.id}", RegionPlan(REGIONS)

    def scan(a: Account, r: str) -> TargetResult:
        return TargetResult(a.id, r, TargetStatus.OK)

    with ThreadPoolExecutor(8) as pool:
        events = list(fan_out(ACCTS, prepare=prepare, scan=scan, executor=pool, max_pending=10))
    assert sorted((e.result.account_id, e.result.region) for e in events) == sorted(
        (a.id, r) for a in ACCTS for r in REGIONS
    )
    for a in ACCTS:
        mine = [e for e in events if e.account.id == a.id]
        assert [e.account_done for e in mine] == [False, False, True]
        assert {e.prepared for e in mine} == {f"state-{a.id}"}


def test_prepare_failure_is_one_failed_target_and_others_continue() -> None:
    def prepare(a: Account) -> tuple[None, RegionPlan]:
        if a.id == ACCTS[3].id:
            raise denied("AssumeRole")
        return None, RegionPlan(["us-east-1"])

    def scan(a: Account, r: str) -> TargetResult:
        return TargetResult(a.id, r, TargetStatus.OK)

    with ThreadPoolExecutor(4) as pool:
        events = list(fan_out(ACCTS, prepare=prepare, scan=scan, executor=pool, max_pending=4))
    failed = [e.result for e in events if e.result.status is TargetStatus.FAILED]
    assert [(f.account_id, f.region, f.error_code) for f in failed] == [
        (ACCTS[3].id, ALL_REGIONS, "AccessDenied")
    ]
    assert sum(e.result.status is TargetStatus.OK for e in events) == len(ACCTS) - 1


def test_in_flight_work_is_bounded() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0
    release = threading.Semaphore(0)

    def prepare(a: Account) -> tuple[None, RegionPlan]:
        return None, RegionPlan(["r1-west-1"])

    def scan(a: Account, r: str) -> TargetResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.acquire(timeout=0.01)
        with lock:
            running -= 1
        return TargetResult(a.id, r, TargetStatus.OK)

    submitted = 0

    def accounts():  # type: ignore[no-untyped-def]
        nonlocal submitted
        for a in ACCTS:
            submitted += 1
            yield a

    seen = 0
    with ThreadPoolExecutor(16) as pool:
        for _ in fan_out(accounts(), prepare=prepare, scan=scan, executor=pool, max_pending=5):
            seen += 1
            # Accounts are pulled lazily: never more than the pending bound ahead of results.
            assert submitted - seen <= 5 + 1
    assert seen == len(ACCTS)
    assert peak <= 5 + 1


def test_stop_reports_everything_not_reached_as_failed() -> None:
    scanned: list[str] = []
    stop_after = 4

    def prepare(a: Account) -> tuple[None, RegionPlan]:
        return None, RegionPlan(["us-east-1", "eu-west-1"])

    def scan(a: Account, r: str) -> TargetResult:
        scanned.append(a.id)
        return TargetResult(a.id, r, TargetStatus.OK)

    with ThreadPoolExecutor(1) as pool:
        events = list(
            fan_out(
                ACCTS,
                prepare=prepare,
                scan=scan,
                executor=pool,
                max_pending=2,
                stop=lambda: len(scanned) >= stop_after,
            )
        )
    ok = [e for e in events if e.result.status is TargetStatus.OK]
    late = [e.result for e in events if e.result.status is TargetStatus.FAILED]
    assert len(ok) >= stop_after
    assert {r.error_code for r in late} == {"DeadlineExceeded"}
    # Every account is accounted for exactly once: scanned, cut off per region, or as "*".
    covered = {e.account.id for e in events if e.account_done}
    assert covered == {a.id for a in ACCTS}
    assert sum(e.account_done for e in events) == len(ACCTS)
    assert any(r.region == ALL_REGIONS for r in late)


def test_accounts_prepared_at_once_are_bounded_apart_from_targets() -> None:
    """An account being prepared brings one target per region when it is: counted as one
    pending future, a run's first prepares brought 17 times `max_pending` targets at once, and
    their accounts' stored items (4,352 targets at 64 workers: docs/benchmarks.md)."""
    regions = [f"r{i}-west-1" for i in range(17)]
    lock = threading.Lock()
    preparing = queued = 0
    most_preparing = most_queued = 0
    go = threading.Event()

    def prepare(a: Account) -> tuple[None, RegionPlan]:
        nonlocal preparing, most_preparing, queued, most_queued
        with lock:
            preparing += 1
            most_preparing = max(most_preparing, preparing)
        time.sleep(0.005)  # long enough for prepares at once to overlap
        with lock:
            preparing -= 1
            queued += len(regions)
            most_queued = max(most_queued, queued)
        return None, RegionPlan(list(regions))

    def scan(a: Account, r: str) -> TargetResult:
        nonlocal queued
        go.wait(5)  # every scan waits until the first prepares are done: the burst's worst
        with lock:
            queued -= 1
        return TargetResult(a.id, r, TargetStatus.OK)

    threading.Timer(0.3, go.set).start()
    with ThreadPoolExecutor(8) as pool:
        events = list(
            fan_out(
                ACCTS,
                prepare=prepare,
                scan=scan,
                executor=pool,
                max_pending=34,
                max_preparing=2,
            )
        )
    assert len(events) == len(ACCTS) * len(regions)
    assert most_preparing <= 2
    # At most the pending bound, plus what the accounts being prepared at once bring.
    assert most_queued <= 34 + 2 * len(regions)
