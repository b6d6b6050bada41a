"""Stage 5 — one scan worker process (started by `collector.scan.processes`, never by hand).

    python -m collector.scan.worker READ_FD WRITE_FD --workers N [--profile NAME]

It reads a `RetryPolicy`, then `ScanRequest`s, from READ_FD; scans each in its thread pool,
signing with the credentials the request carries; and writes `(request id, TargetResult)` to
WRITE_FD. `None`, or the coordinator's end closing, ends it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection

from botocore.credentials import ReadOnlyCredentials

from collector.arenas import limit_arenas
from collector.credentials import profile_member_session
from collector.errors import RetryPolicy, error_code
from collector.scan.processes import ScanRequest, failed
from collector.scan.scanner import RegionalClients, Scanner, client_config


@dataclass(frozen=True)
class Handed:
    """The credentials a request came with: a worker never assumes a role itself."""

    credentials: ReadOnlyCredentials

    def get(self, account_id: str) -> ReadOnlyCredentials:
        """The handed credentials, whatever the account."""
        return self.credentials

    def invalidate(self, account_id: str) -> None:
        """Nothing to refresh here: an expired token comes back as the target's failure, and
        the coordinator sends the target again with fresh credentials."""


def serve(recv: Connection, send: Connection, scanner: Scanner, workers: int) -> None:
    """Answer requests until told to stop or the coordinator is gone."""
    lock = threading.Lock()

    def answer(request: ScanRequest) -> None:
        try:
            result = replace(scanner, roles=Handed(request.credentials)).scan_target(
                request.account, request.region, request.now
            )
        except Exception as exc:  # noqa: BLE001 - scan_target names failures; a bug must too
            result = failed(request.account, request.region, error_code(exc), "scan failed")
        try:
            with lock:
                send.send((request.id, result))
        except (OSError, ValueError):
            pass  # the coordinator is gone: nobody is left to tell

    pool = ThreadPoolExecutor(workers, thread_name_prefix="scan")
    while True:
        try:
            request = recv.recv()
        except Exception:  # noqa: BLE001 - EOF, or a request that does not unpickle: leave, and
            break  # the coordinator fails this worker's targets
        if request is None:
            break
        pool.submit(answer, request)
    pool.shutdown(wait=False, cancel_futures=True)


def make_scanner(profile: str | None, workers: int, retry: RetryPolicy) -> Scanner:
    """The scanner a worker serves with: member clients of `profile`, signing with whatever
    credentials each request carries."""
    msession, creds = profile_member_session(profile)
    return Scanner(
        roles=Handed(ReadOnlyCredentials(None, None, None)),
        creds=creds,
        clients=RegionalClients(msession, client_config(workers)),
        # Region planning is the coordinator's: a worker only scans the targets it is sent.
        configured_regions=(),
        cli_regions=(),
        home_region="",
        clock=lambda: datetime.now(UTC),
        retry=retry,
    )


def main(argv: list[str] | None = None) -> int:
    """The worker's entry point."""
    parser = argparse.ArgumentParser(prog="python -m collector.scan.worker")
    parser.add_argument("read_fd", type=int)
    parser.add_argument("write_fd", type=int)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    limit_arenas()  # before its scan threads: see collector.arenas
    # Ctrl-C reaches the terminal's whole process group: the coordinator decides what an
    # interrupt means and closes its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="scan worker: %(levelname)s %(message)s")
    recv = Connection(args.read_fd, writable=False)
    send = Connection(args.write_fd, readable=False)
    retry: RetryPolicy = recv.recv()
    scanner = make_scanner(args.profile, args.workers, retry)
    serve(recv, send, scanner, args.workers)
    logging.shutdown()
    # Not sys.exit: a pool thread in a slow call would hold the exit for its read timeout,
    # and whatever it finds now is not wanted.
    os._exit(0)


if __name__ == "__main__":
    main()
