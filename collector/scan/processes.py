"""Stage 5 — worker processes: the fan-out's EC2 calls spread over the cores the run is given.

The collector's CPU is botocore's (building, signing and parsing four EC2 calls per target),
and threads share one interpreter lock: one process uses one core however many threads it
runs. With `scan.processes` above one, the coordinator (this process) keeps everything else —
the organization listing, AssumeRole and DescribeRegions per account, leases, table reads and
writes, the sweep, findings — and hands each (account, region) to a worker process with the
account's credentials and the time the scan counts from; the worker's threads make the
target's calls and send its `TargetResult` back.

Why a child `python -m collector.scan.worker` over two pipes, not `multiprocessing.Pool` or a
`ProcessPoolExecutor`: those need POSIX semaphores in `/dev/shm`, which AWS Lambda does not
have, and the `spawn` start method re-imports the parent's `__main__` (on Lambda, the runtime's
bootstrap). Pipes work everywhere; `multiprocessing.connection.Connection` frames the messages.
The pipes join only this process and its own children, so what crosses them is pickled.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path

from botocore.credentials import ReadOnlyCredentials

from collector.errors import EXPIRED_CODES, RetryPolicy, error_code, error_message
from collector.models import Account, TargetResult, TargetStatus

log = logging.getLogger(__name__)

WORKER_EXITED = "WorkerExited"
# How long `close` waits for a worker to leave on its own before it is killed.
CLOSE_WAIT_S = 5.0
# Lambda gives one full vCPU per 1,769 MB of memory (up to six at 10,240 MB).
LAMBDA_MB_PER_VCPU = 1769


def available_cpus(environ: dict[str, str] | None = None) -> int:
    """The CPUs this process may use: on Lambda, what its memory size buys; elsewhere the
    CPUs it is allowed to run on (a container's CPU set, not the host's count)."""
    env = os.environ if environ is None else environ
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        return max(1, min(6, round(int(memory) / LAMBDA_MB_PER_VCPU)))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def process_count(configured: int | None, accounts: int, per_process: int, cpus: int) -> int:
    """Pure: how many processes scan a run of `accounts` accounts.

    `configured` (`scan.processes`) or, unset, the CPUs available; never more than one per
    `per_process` accounts (`scan.accounts_per_process`): a worker costs about half a second
    of CPU to start, more than a live update's one account takes to scan.
    """
    wanted = configured if configured is not None else cpus
    return max(1, min(wanted, -(-accounts // per_process) if accounts else 1))


@dataclass(frozen=True)
class ScanRequest:
    """One target for a worker: whom to sign as, and when its scan counts as started."""

    id: int
    account: Account
    region: str
    # Never in a repr: a request that reaches a log line must not carry the secret with it.
    credentials: ReadOnlyCredentials = field(repr=False)
    now: datetime


def failed(account: Account, region: str, code: str, message: str) -> TargetResult:
    """A target that a worker did not answer: failed, never "no VPCs"."""
    return TargetResult(account.id, region, TargetStatus.FAILED, error_code=code, message=message)


class _Worker:
    """One worker process, its two pipe ends and the requests it has not answered."""

    def __init__(
        self, index: int, max_workers: int, profile: str | None, retry: RetryPolicy
    ) -> None:
        self.index = index
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        args = [sys.executable, "-m", "collector.scan.worker", str(to_child_r), str(from_child_w)]
        args += ["--workers", str(max_workers)]
        if profile:
            args += ["--profile", profile]
        try:
            # stdout never: the CLI's own output (JSON) must stay the coordinator's alone.
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                args,
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            os.close(to_child_w)
            os.close(from_child_r)
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        try:
            self.send_conn.send(retry)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            self.send_conn.close()
            self.recv_conn.close()
            raise
        self.send_lock = threading.Lock()
        self.pending: dict[int, tuple[Future[TargetResult], ScanRequest]] = {}
        self.lock = threading.Lock()
        self.alive = True
        self.reader = threading.Thread(target=self._read, name=f"scan-worker-{index}", daemon=True)
        self.reader.start()

    def submit(self, request: ScanRequest) -> Future[TargetResult]:
        fut: Future[TargetResult] = Future()
        with self.lock:
            if not self.alive:
                fut.set_result(self._exited(request))
                return fut
            self.pending[request.id] = (fut, request)
        try:
            with self.send_lock:
                self.send_conn.send(request)
        except (OSError, ValueError):
            self._fail_pending()
        return fut

    def outstanding(self) -> int:
        return len(self.pending) if self.alive else sys.maxsize

    def _read(self) -> None:
        while True:
            try:
                req_id, result = self.recv_conn.recv()
            except Exception:  # noqa: BLE001 - EOF, a broken pipe, an answer that does not unpickle:
                break  # the worker is lost either way, and its targets must not wait forever
            with self.lock:
                entry = self.pending.pop(req_id, None)
            if entry is not None:
                entry[0].set_result(result)
        self._fail_pending()

    def _exited(self, request: ScanRequest) -> TargetResult:
        code = self.proc.poll()
        return failed(
            request.account,
            request.region,
            WORKER_EXITED,
            f"not scanned: scan worker process {self.index} exited"
            + (f" (exit code {code})" if code is not None else ""),
        )

    def _fail_pending(self) -> None:
        """The worker is gone: every request it held is a failed target (fail closed)."""
        with self.lock:
            self.alive = False
            entries, self.pending = list(self.pending.values()), {}
        for fut, request in entries:
            if not fut.done():
                fut.set_result(self._exited(request))

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError), self.send_lock:
            self.send_conn.send(None)  # "no more work": the worker leaves
        try:
            self.proc.wait(timeout=CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # a call under way may hold its whole read timeout
            self.proc.wait()
        for conn in (self.send_conn, self.recv_conn):
            with contextlib.suppress(OSError):
                conn.close()
        self.reader.join(timeout=CLOSE_WAIT_S)
        self._fail_pending()


class WorkerPool:
    """`count` worker processes, each with a thread pool of `max_workers`; thread-safe.

    A target goes to the worker with the fewest unanswered ones. A worker that dies fails
    its unanswered targets (`WorkerExited`) and takes no more; the run carries on with the
    others and reports those targets failed, so nothing is marked deleted for them.
    """

    def __init__(
        self,
        count: int,
        max_workers: int,
        profile: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._ids = itertools.count()
        self._workers: list[_Worker] = []
        try:
            for i in range(count):
                self._workers.append(_Worker(i, max_workers, profile, retry or RetryPolicy()))
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self._workers)

    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [w.proc.pid for w in self._workers]

    def submit(
        self, account: Account, region: str, credentials: ReadOnlyCredentials, now: datetime
    ) -> Future[TargetResult]:
        """Send one target to a worker; its result (never an exception) comes in the future."""
        request = ScanRequest(next(self._ids), account, region, credentials, now)
        worker = min(self._workers, key=_Worker.outstanding)
        return worker.submit(request)

    def close(self) -> None:
        """Stop every worker (killed after `CLOSE_WAIT_S`); unanswered targets fail."""
        for w in self._workers:
            w.close()


class RemoteScan:
    """`scan_target` for the fan-out, answered by worker processes.

    Credentials stay with the coordinator's `AssumedRoles` (one AssumeRole per account, as in
    one process); a worker signs with what it is handed. A target that fails with an expired
    token is sent once more with freshly assumed credentials.
    """

    def __init__(
        self,
        pool: WorkerPool,
        credentials: Callable[[str], ReadOnlyCredentials],
        invalidate: Callable[[str], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._credentials = credentials
        self._invalidate = invalidate
        self._clock = clock

    def scan_target(self, account: Account, region: str) -> TargetResult:
        """Scan one (account, region) in a worker; never raises, it names the failure."""
        now = self._clock()
        for attempt in range(2):
            try:
                creds = self._credentials(account.id)
            except Exception as exc:  # noqa: BLE001 - isolation boundary of one target
                return failed(account, region, error_code(exc), error_message(exc))
            result = self._pool.submit(account, region, creds, now).result()
            if attempt == 0 and result.error_code in EXPIRED_CODES:
                self._invalidate(account.id)
                continue
            return result
        return result


@contextlib.contextmanager
def worker_pool(
    count: int, max_workers: int, profile: str | None, retry: RetryPolicy
) -> Iterator[WorkerPool | None]:
    """A `WorkerPool` of `count` processes, closed on the way out; None when count is one, or
    when the workers cannot be started (the run then scans in this process, as with one)."""
    if count <= 1:
        yield None
        return
    try:
        pool = WorkerPool(count, max_workers, profile, retry)
    except OSError as exc:  # no interpreter to start, no pipes or processes left
        log.warning("scan workers could not start (%s): scanning in this process", error_code(exc))
        yield None
        return
    try:
        yield pool
    finally:
        pool.close()
