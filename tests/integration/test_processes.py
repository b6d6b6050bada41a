"""Worker processes (issue 26): the fan-out's calls made by `scan.processes` child processes,
against the moto server (a worker is another interpreter: moto in-process cannot reach it)."""

from __future__ import annotations

import contextlib
import multiprocessing.synchronize
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from collector.credentials import AssumedRoles
from collector.jobs.sinks import TableSink
from collector.models import Account, TargetStatus
from collector.scan.processes import WORKER_EXITED, WorkerPool
from tests.integration.conftest import FAST_RETRY, Org, now, populate


@pytest.fixture
def server_org(moto_url: str) -> Iterator[Org]:
    yield populate(boto3.Session(region_name="us-east-1"))


def _stored(org: Org) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        k: v.model_dump(exclude={"LastSeen", "FirstSeen"}, mode="json")
        for k, v in org.table().items()
    }


def test_two_processes_collect_what_one_collects(
    server_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = server_org
    one = org.run(org.config(), at=now(1))
    stored_by_one = _stored(org)

    # As on AWS Lambda, where /dev/shm is missing: no POSIX semaphore may be needed.
    def no_semaphores(*_: Any, **__: Any) -> None:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(multiprocessing.synchronize.SemLock, "__init__", no_semaphores)
    two = org.run(org.config(scan={"processes": 2, "accounts_per_process": 1}), at=now(2))

    assert one.processes == 1 and two.processes == 2
    assert two.to_dict()["processes"] == 2
    assert (two.ok, two.failed, two.skipped) == (one.ok, one.failed, one.skipped)
    assert two.failed == 0 and two.ok > 0
    assert two.vpcs_seen == one.vpcs_seen > 0
    assert two.marked_deleted == 0
    assert _stored(org) == stored_by_one
    # Every item was seen again by the second run, when its scan started (the coordinator's
    # clock, handed to the workers).
    assert {v.LastSeen for v in org.table().values()} == {now(2)}


def _live_workers() -> list[int]:
    """This process's children that are scan workers."""
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    return [
        pid
        for pid in pids
        if b"collector.scan.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    ]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux's /proc")
def test_the_workers_have_left_before_the_end_of_run_read(
    server_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The end of a run reads the whole table (the sweep, the findings): the run's largest
    # allocation in the coordinator. Idle workers beside it would only hold their memory.
    org = server_org
    seen: dict[str, list[int]] = {}
    finish = TableSink.finish

    def finish_watched(self: TableSink, *args: Any) -> None:
        seen["at_finish"] = _live_workers()
        finish(self, *args)

    monkeypatch.setattr(TableSink, "finish", finish_watched)
    real_close = WorkerPool.close

    def close_watched(self: WorkerPool) -> None:
        seen["before_close"] = _live_workers()
        real_close(self)

    monkeypatch.setattr(WorkerPool, "close", close_watched)
    summary = org.run(org.config(scan={"processes": 2, "accounts_per_process": 1}), at=now(1))
    assert summary.processes == 2 and summary.failed == 0
    assert len(seen["before_close"]) == 2  # the watch sees workers when there are some
    assert seen["at_finish"] == []


def test_accounts_per_process_keeps_a_small_run_in_one_process(server_org: Org) -> None:
    org = server_org
    summary = org.run(org.config(scan={"processes": 4, "accounts_per_process": 2}), at=now(1))
    # Three scanned accounts (management, workload-a, workload-b, sandbox less the filters):
    # one process per two accounts at most.
    assert summary.accounts == 4
    assert summary.processes == 2


def test_a_live_update_stays_in_one_process(server_org: Org) -> None:
    # A burst of events over 100 accounts, one region each, measured 20 workers started over
    # ten batches: a run that names its targets never starts one.
    org = server_org
    named = {org.accounts[n]: ["us-east-1"] for n in ("workload-a", "workload-b", "sandbox")}
    config = org.config(scan={"processes": 2, "accounts_per_process": 1})
    summary = org.run(config, at=now(1), targets=named)
    assert summary.processes == 1
    assert summary.ok == 3 and summary.failed == 0


def test_workers_that_cannot_start_leave_the_scan_to_this_process(
    server_org: Org, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    org = server_org
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    summary = org.run(org.config(scan={"processes": 2, "accounts_per_process": 1}), at=now(1))
    assert summary.processes == 1
    assert summary.failed == 0 and summary.ok > 0 and summary.vpcs_seen > 0
    assert "scan workers could not start (FileNotFoundError)" in caplog.text


def _target(org: Org) -> tuple[Account, Any]:
    account = Account(org.accounts["workload-a"], "workload-a")
    sts = org.session.client("sts")
    roles = AssumedRoles(
        sts, partition="aws", role_name="VPCTrackerReadOnly", session_name="vpctracker-test"
    )
    return account, roles.get(account.id)


def test_a_worker_that_dies_fails_its_targets(server_org: Org) -> None:
    account, creds = _target(server_org)
    pool = WorkerPool(1, max_workers=2, retry=FAST_RETRY)
    try:
        ok = pool.submit(account, "us-east-1", creds, datetime.now(UTC)).result(timeout=60)
        assert ok.status is TargetStatus.OK and ok.records
        os.kill(pool.pids()[0], signal.SIGKILL)
        lost = pool.submit(account, "us-east-1", creds, datetime.now(UTC)).result(timeout=30)
    finally:
        pool.close()
    assert lost.status is TargetStatus.FAILED
    assert lost.error_code == WORKER_EXITED
    assert lost.records == ()


@pytest.fixture
def silent_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """An endpoint that accepts connections and never answers; set when one arrives."""
    called = threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            called.set()

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    yield called
    server.close()
    for conn in held:
        conn.close()


def test_closing_the_pool_fails_a_call_under_way_at_once(
    silent_endpoint: threading.Event,
) -> None:
    pool = WorkerPool(1, max_workers=2, retry=FAST_RETRY)
    creds = boto3.Session(aws_access_key_id="AKIA", aws_secret_access_key="s").get_credentials()
    assert creds is not None
    fut = pool.submit(
        Account("111111111111", "a"), "us-east-1", creds.get_frozen_credentials(), now(1)
    )
    assert silent_endpoint.wait(timeout=60)
    t0 = time.monotonic()
    pool.close()
    result = fut.result(timeout=10)
    # Not the read timeout (30 s): the worker leaves at once and its target fails closed.
    assert time.monotonic() - t0 < 10
    assert result.status is TargetStatus.FAILED
    assert result.error_code == WORKER_EXITED


def test_a_worker_that_cannot_start_leaves_no_pipe_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        WorkerPool(1, max_workers=2)
    assert set(os.listdir("/proc/self/fd")) <= before
