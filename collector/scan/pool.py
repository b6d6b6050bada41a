"""Stage 5 — fan-out: one task per (account, region) in a bounded thread pool."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from collector.errors import error_code, error_message
from collector.models import Account, TargetResult, TargetStatus
from collector.regions import RegionPlan

log = logging.getLogger(__name__)

ALL_REGIONS = "*"  # region of a failed target that stands for a whole account
P = TypeVar("P")


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
    max_preparing: int | None = None,
    stop: Callable[[], bool] = lambda: False,
    interrupted: Callable[[], bool] = lambda: False,
) -> Iterator[ScanEvent[P]]:
    """Run `prepare` per account, then `scan` per (account, region), yielding as tasks finish.

    At most about `max_pending` futures are outstanding, so memory does not grow with the size
    of the organization: results stream to the caller, which writes them as they come. At
    most `max_preparing` (default `max_pending`) of them are accounts being prepared: each
    brings a future per region when it is, so `max_pending` prepares at once could bring
    that many times as many targets, and hold their accounts' prepared state, at once.
    Once `stop()` is true no new work starts and work under way finishes; everything not
    reached is yielded as a failed `DeadlineExceeded` target (an account not reached: one
    target with region `*`). Once `interrupted()` is true (Ctrl-C, SIGTERM) nothing more is
    waited for: every target not finished is yielded at once as failed `Interrupted`.
    """
    return _FanOut(
        accounts,
        prepare,
        scan,
        executor,
        max_pending,
        max_preparing or max_pending,
        stop,
        interrupted,
    ).events()


class _FanOut(Generic[P]):
    """The state of one `fan_out`: futures in flight and accounts part-way through."""

    def __init__(
        self,
        accounts: Iterable[Account],
        prepare: Callable[[Account], tuple[P, RegionPlan]],
        scan: Callable[[Account, str], TargetResult],
        executor: Executor,
        max_pending: int,
        max_preparing: int,
        stop: Callable[[], bool],
        interrupted: Callable[[], bool],
    ) -> None:
        self.accounts = iter(accounts)
        self.prepare, self.scan, self.executor = prepare, scan, executor
        self.max_pending, self.max_preparing = max_pending, max_preparing
        self.stop, self.interrupted = stop, interrupted
        self.preparing = 0  # of `pending`, the accounts being prepared
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
                self.preparing -= 1
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
        while (
            len(self.pending) < self.max_pending
            and self.preparing < self.max_preparing
            and not self.stop()
            and not self.interrupted()
        ):
            account = next(self.accounts, None)
            if account is None:
                return
            self.pending[self._submit(self.prepare, account)] = (account, None)
            self.preparing += 1

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
