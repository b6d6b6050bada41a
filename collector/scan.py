"""Stage 5 — fan-out: one task per (account, region) in a bounded thread pool."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from collector.credentials import AssumedRoles, MemberCredentials
from collector.errors import (
    EXPIRED_CODES,
    MalformedResponse,
    RetryPolicy,
    error_code,
    error_message,
)
from collector.models import Account, TargetResult, TargetStatus, to_records
from collector.regions import RegionPlan, get_region_status, plan_regions

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)

ALL_REGIONS = "*"  # region of a failed target that stands for a whole account
P = TypeVar("P")
T = TypeVar("T")


def client_config(max_workers: int) -> BotoConfig:
    """botocore config for every client: standard retries and a pool sized to the fan-out.

    `standard`, not `adaptive`: adaptive mode rate-limits the whole client, and one member
    EC2 client per region is shared by every account, so one account's throttling would
    slow down all the others.
    """
    return BotoConfig(
        retries={"mode": "standard", "max_attempts": 4},
        max_pool_connections=max(10, max_workers),
        connect_timeout=10,
        read_timeout=30,
    )


def get_vpcs(ec2: EC2Client) -> list[dict[str, Any]]:
    """Every VPC the signing account can see in the client's region (AWS call only)."""
    out: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_vpcs").paginate():
        if "Vpcs" not in page:  # EC2 always sends <vpcSet/>, even empty: see MalformedResponse
            raise MalformedResponse("DescribeVpcs answer has no Vpcs list")
        out.extend(page["Vpcs"])  # type: ignore[arg-type]
    return out


class RegionalClients:
    """One EC2 client per region on the member session, created once and shared by threads."""

    def __init__(self, session: boto3.Session, config: BotoConfig) -> None:
        self._session = session
        self._config = config
        self._clients: dict[str, EC2Client] = {}
        # boto3 sessions are not thread-safe; clients are, once created.
        self._lock = threading.Lock()

    def ec2(self, region: str) -> EC2Client:
        """The shared EC2 client for `region`."""
        client = self._clients.get(region)
        if client is None:
            with self._lock:
                client = self._clients.get(region)
                if client is None:
                    client = self._session.client("ec2", region_name=region, config=self._config)
                    self._clients[region] = client
        return client


@dataclass
class Scanner:
    """Scans member accounts through assumed roles; every method is safe to call from threads."""

    roles: AssumedRoles
    creds: MemberCredentials
    clients: RegionalClients
    configured_regions: Literal["all"] | Sequence[str]
    cli_regions: Sequence[str]
    home_region: str
    clock: Callable[[], datetime]
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def regions_for(self, account: Account) -> RegionPlan:
        """Assume the account's role and plan its regions from its own answer (raises)."""
        ec2 = self.clients.ec2(self.home_region)
        status = self._with_refresh(account, lambda: get_region_status(ec2))
        return plan_regions(self.configured_regions, self.cli_regions, status)

    def scan_target(self, account: Account, region: str) -> TargetResult:
        """Scan one (account, region); never raises, it names the failure instead.

        Every exception is this target's failure: a ResponseParserError (a proxy's HTML 502)
        or a bug in one account's data must not end the organization's run. An enabled region
        answering AuthFailure is a failure too: only the account's DescribeRegions answer may
        prove a region off (see `plan_regions`).
        """
        try:
            raw = self._with_refresh(account, lambda: get_vpcs(self.clients.ec2(region)))
            out = to_records(raw, account=account, region=region, now=self.clock())
        except Exception as exc:  # noqa: BLE001 - isolation boundary of one target
            code = error_code(exc)
            log.warning("target %s/%s failed: %s", account.id, region, code)
            return TargetResult(
                account.id, region, TargetStatus.FAILED, error_code=code, message=error_message(exc)
            )
        return TargetResult(
            account.id,
            region,
            TargetStatus.OK,
            records=tuple(out.records),
            invalid=tuple(out.invalid),
            shared_ignored=out.shared_ignored,
        )

    def _with_refresh(self, account: Account, call: Callable[[], T]) -> T:
        """`call()` signed as the account, retried; one re-assume after an early ExpiredToken."""

        def attempt() -> T:
            with self.creds.use(self.roles.get(account.id)):
                return call()

        try:
            return self.retry.call(attempt)
        except ClientError as exc:
            if error_code(exc) not in EXPIRED_CODES:
                raise
            # The token died early (revoked session, clock skew): refresh once, then retry.
            self.roles.invalidate(account.id)
            return self.retry.call(attempt)


@dataclass
class ScanEvent(Generic[P]):
    """One finished target, with the account's prepared state and whether it was the last."""

    account: Account
    prepared: P | None
    result: TargetResult
    account_done: bool


def failed_account(account: Account, exc: BaseException) -> TargetResult:
    """The result standing for an account that could not be prepared (e.g. AssumeRole denied)."""
    return TargetResult(
        account.id,
        ALL_REGIONS,
        TargetStatus.FAILED,
        error_code=error_code(exc),
        message=error_message(exc),
    )


DEADLINE_CODE = "DeadlineExceeded"
INTERRUPTED_CODE = "Interrupted"
_NOT_REACHED = {
    DEADLINE_CODE: "not scanned: the run stopped at its deadline",
    INTERRUPTED_CODE: "not scanned: the run was interrupted",
}
# How often the collecting loop looks at the interrupt flag while no target finishes.
POLL_S = 0.1


def not_reached(account: Account, region: str, code: str = DEADLINE_CODE) -> TargetResult:
    """A target the run did not reach (deadline, interrupt): failed, never "no VPCs"."""
    return TargetResult(
        account.id, region, TargetStatus.FAILED, error_code=code, message=_NOT_REACHED[code]
    )


def deadline_result(account: Account, region: str) -> TargetResult:
    """A target not reached before the deadline."""
    return not_reached(account, region, DEADLINE_CODE)


def _skipped(account: Account, region: str, reason: str) -> TargetResult:
    return TargetResult(account.id, region, TargetStatus.SKIPPED, error_code=reason, message=reason)


def _prepared(
    account: Account, fut: Future[Any], stop: Callable[[], bool]
) -> tuple[Any, Sequence[str], list[ScanEvent[Any]]]:
    """An account's prepare result: (state, regions to scan, events already decided)."""
    try:
        state, plan = fut.result()
    except Exception as exc:  # noqa: BLE001 - isolation boundary of one account
        log.warning("account %s failed: %s", account.id, error_code(exc))
        return None, (), [ScanEvent(account, None, failed_account(account, exc), True)]
    results = [_skipped(account, region, reason) for region, reason in plan.skipped]
    regions: Sequence[str] = plan.scan
    if regions and stop():
        results += [deadline_result(account, r) for r in regions]
        regions = ()
    if not regions and not results:
        results = [_skipped(account, ALL_REGIONS, "NoRegions")]
    events = [
        ScanEvent(account, state, r, not regions and n == len(results))
        for n, r in enumerate(results, 1)
    ]
    return state, regions, events


def fan_out(
    accounts: Iterable[Account],
    *,
    prepare: Callable[[Account], tuple[P, RegionPlan]],
    scan: Callable[[Account, str], TargetResult],
    executor: Executor,
    max_pending: int,
    stop: Callable[[], bool] = lambda: False,
    interrupted: Callable[[], bool] = lambda: False,
) -> Iterator[ScanEvent[P]]:
    """Run `prepare` per account, then `scan` per (account, region), yielding as tasks finish.

    At most about `max_pending` futures are outstanding, so memory does not grow with the size
    of the organization: results stream to the caller, which writes them as they come.
    Once `stop()` is true no new work starts and work under way finishes; everything not
    reached is yielded as a failed `DeadlineExceeded` target (an account not reached: one
    target with region `*`). Once `interrupted()` is true (Ctrl-C, SIGTERM) nothing more is
    waited for: every target not finished is yielded at once as failed `Interrupted`.
    """
    return _FanOut(accounts, prepare, scan, executor, max_pending, stop, interrupted).events()


class _FanOut(Generic[P]):
    """The state of one `fan_out`: futures in flight and accounts part-way through."""

    def __init__(
        self,
        accounts: Iterable[Account],
        prepare: Callable[[Account], tuple[P, RegionPlan]],
        scan: Callable[[Account, str], TargetResult],
        executor: Executor,
        max_pending: int,
        stop: Callable[[], bool],
        interrupted: Callable[[], bool],
    ) -> None:
        self.accounts = iter(accounts)
        self.prepare, self.scan, self.executor = prepare, scan, executor
        self.max_pending, self.stop, self.interrupted = max_pending, stop, interrupted
        self.pending: dict[Future[Any], tuple[Account, str | None]] = {}
        self.remaining: dict[str, int] = {}
        self.prepared: dict[str, P] = {}
        # Futures report completion into a queue: O(1) per finished task. (`wait()` over
        # every pending future would cost O(pending) per completion: measurable at 17,000.)
        self.finished: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()

    def events(self) -> Iterator[ScanEvent[P]]:
        self._top_up()
        while self.pending and not self.interrupted():
            try:
                # A timeout, not a blocking get: a signal must be seen even while every
                # worker waits on a slow call.
                fut = self.finished.get(timeout=POLL_S)
            except queue.Empty:
                continue
            account, region = self.pending.pop(fut)
            if region is not None:
                yield self._target_done(account, fut.result())
            else:
                state, regions, events = _prepared(account, fut, self.stop)
                yield from events
                if regions:
                    self.prepared[account.id] = state
                    self.remaining[account.id] = len(regions)
                    for r in regions:
                        self.pending[self._submit(self.scan, account, r)] = (account, r)
            self._top_up()
        yield from self._not_reached()

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut = self.executor.submit(fn, *args)
        fut.add_done_callback(self.finished.put)
        return fut

    def _top_up(self) -> None:
        while len(self.pending) < self.max_pending and not self.stop() and not self.interrupted():
            account = next(self.accounts, None)
            if account is None:
                return
            self.pending[self._submit(self.prepare, account)] = (account, None)

    def _target_done(self, account: Account, result: TargetResult) -> ScanEvent[P]:
        self.remaining[account.id] -= 1
        last = self.remaining[account.id] == 0
        state = self.prepared.pop(account.id) if last else self.prepared[account.id]
        if last:
            del self.remaining[account.id]
        return ScanEvent(account, state, result, last)

    def _not_reached(self) -> Iterator[ScanEvent[P]]:
        code = INTERRUPTED_CODE if self.interrupted() else DEADLINE_CODE
        # Interrupted: work under way is abandoned, not awaited (a slow call may take its
        # whole read timeout). Its result, if it ever comes, is ignored: nothing is written.
        for fut, (account, region) in list(self.pending.items()):
            fut.cancel()
            if region is None:
                yield ScanEvent(account, None, not_reached(account, ALL_REGIONS, code), True)
            else:
                yield self._target_done(account, not_reached(account, region, code))
        # Stopped early: every account never started is reported, not silently dropped.
        for account in self.accounts:
            yield ScanEvent(account, None, not_reached(account, ALL_REGIONS, code), True)
