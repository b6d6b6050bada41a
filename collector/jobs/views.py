"""Job — views: the inventory a findings recording compares, and when it was read.

A live update rescans a few targets and then compares the whole inventory. Reading it after
the rescan put the read (about a second and a half at 1,000 accounts) after the rescan's own
round trips; `ViewAhead` reads it beside the rescan instead, and `take_up` then swaps in the
items the rescan wrote, read back by key (strongly consistent) while the read goes on, so the
view holds what a read after the rescan would have held for those targets. The view counts
from when its read started: a recording whose view started before another recording's read
ended reads again (see `jobs.findings`), whatever the view's origin. Whether it did is known
without clocks when the view's read began after the marker that names the latest recording
was read, and the marker is unchanged since (`View.outdated_by`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from collector.config import Config
from collector.errors import FatalError, MalformedResponse, error_code
from collector.hub import hub_session
from collector.jobs.audit import read_inventory, read_table
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.summary import RunSummary
from collector.store.connectivity import connectivity_key, route_table_key
from collector.store.findings import Marker, read_marker
from collector.store.reader import BATCH_GET_SIZE
from collector.store.registry import PAGE_ATTRIBUTES, Items, WithoutSubnets, read_keys
from collector.store.scanned import derive

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

# Clocks of two recorders (a laptop, the function) may differ by this much.
CLOCK_SKEW = timedelta(seconds=2)


@dataclass
class View:
    """An inventory and when it was read (the read's start and end, wall clock)."""

    items: Items
    started: datetime
    ended: datetime
    # The findings marker as read before this read started (None: not read first).
    after: Marker | None = None

    def outdated_by(self, marker: Marker) -> bool:
        """Whether the latest recording, which `marker` names, may have compared a read newer
        than this one: then this one must not be compared after it.

        Not when this read began after that very marker was read: a recording writes its
        marker once its own read has ended, so that read ended before this one started, on
        any clocks (a marker names its recorder and its read's end, so an unchanged one is
        the same recording's). Else by the clocks, `CLOCK_SKEW` apart (none past this
        process's own recording)."""
        if self.after is not None and _same_recording(self.after, marker):
            return False
        return marker.may_be_newer(self.started, CLOCK_SKEW)


def _same_recording(a: Marker, b: Marker) -> bool:
    """Pure: two reads of the marker name the same recording (an older version's marker names
    no recorder: its read's end alone could be another recording's)."""
    return (
        a.recorded_by is not None
        and a.read_end is not None
        and not (a.read_end_unknown or b.read_end_unknown)
        and (a.recorded_by, a.read_end) == (b.recorded_by, b.read_end)
    )


def now_utc() -> datetime:
    """Wall-clock time: reads are compared across recorders, never with a run's injected clock."""
    return datetime.now(UTC)


def read_view(config: Config, options: RunOptions, without: WithoutSubnets | None = None) -> View:
    """The whole inventory, with when it was read (VPCs without their subnets as `without`
    says, as in `read_table`)."""
    started = now_utc()
    items = read_inventory(config, options.session, options.retry, without=without)
    return View(items, started, now_utc())


class ViewAhead:
    """The whole inventory, read in a thread while the caller rescans some targets: from when
    the rescan finds a target to scan (`go`) until read, or `cancel`led.

    Used as a context manager around the rescan and its recording: the rescan runs with
    `options` (which keep the written keys and say `go`), `view` then gives the read with what
    the rescan wrote taken up, and leaving the block, however it is left, stops a read still
    running (never one left running into the next invocation).
    """

    def __init__(
        self,
        config: Config,
        options: RunOptions,
        without: WithoutSubnets | None = None,
        *,
        may_narrow: bool = False,
    ) -> None:
        self._view: View | None = None
        # `may_narrow`: its recording may read only the rescanned targets' items (jobs.narrow),
        # which it can when the marker says the block index is whole: then nothing is read
        # here (the whole read would take the process's CPU from the rescan and the narrowed
        # read for nothing); a recording that cannot narrow after all reads itself.
        self._may_narrow = may_narrow
        self._narrows = threading.Event()
        self._decided = threading.Event()
        self._config = config
        self._without = without  # as in `read_table`: a report drawn from it needs None
        self.options = replace(options, keep_written=True, will_scan=self.go)
        self._go = threading.Event()
        self._stop = threading.Event()
        # Made here, not in the thread: a boto3 session is not thread-safe, and the caller
        # goes on making clients from it while the thread reads. A client is: the read's
        # segments share it, and so does the read-back, which may run in a recording's thread.
        self._ddb = dynamodb_client(options.session or hub_session(), config)
        self._thread = threading.Thread(
            target=self._read, args=(self._ddb, config, options), name="view-ahead", daemon=True
        )
        self._thread.start()

    def _read(self, ddb: DynamoDBClient, config: Config, options: RunOptions) -> None:
        try:
            # Asked as the rescan starts, not once it has found a target: one round trip less
            # between that and the read's first page (docs/benchmarks.md).
            marker = self._marker(ddb, config, options)
            if self._may_narrow and marker is not None and marker.indexed:
                self._narrows.set()
            self._decided.set()
            if self._narrows.is_set():
                return
            self._go.wait()  # the rescan found something to scan (or it is all over)
            if self._stop.is_set():
                return
            self._after(_free_at(marker))
            if self._stop.is_set():
                return
            started = now_utc()
            # Not described again: the run checked both tables before it found a target (and
            # a table gone since fails the read, which the recording then makes itself).
            items = read_table(
                ddb,
                config,
                options.retry,
                stop=self._stop.is_set,
                without=self._without,
                checked=True,
            )
            if not self._stop.is_set():
                self._view = View(items, started, now_utc(), after=marker)
        except Exception as exc:  # noqa: BLE001 - the recording reads again and reports it
            log.warning("inventory read beside the rescan failed: %s", type(exc).__name__)
        finally:
            self._decided.set()

    def _marker(self, ddb: DynamoDBClient, config: Config, options: RunOptions) -> Marker | None:
        """The findings marker, read before the view's read starts; None when it cannot be
        read (the recording then goes by the clocks)."""
        try:
            return options.retry.call(read_marker, ddb, config.table.ledger)
        except (ClientError, BotoCoreError, MalformedResponse) as exc:
            log.warning("marker not read before the early read: %s", error_code(exc))
            return None

    def _after(self, free_at: datetime | None) -> None:
        """Wait until `free_at` (`_free_at`): a view that starts sooner is read again by its
        recording. The rescan beside it takes longer. A recording that ended after the marker
        was read is not waited for: its recording reads again, as for any view (never a wrong
        one)."""
        if free_at is not None:
            wait = (free_at - now_utc()).total_seconds()
            # Never longer than the skew: a recorder whose clock runs far ahead is read again.
            self._stop.wait(min(max(wait, 0.0), CLOCK_SKEW.total_seconds()))

    def go(self) -> None:
        """Start reading: the rescan has a target to scan (`RunOptions.will_scan`)."""
        self._go.set()

    def cancel(self) -> None:
        """No view is wanted (nothing was rescanned, or the rescan failed): stop reading, now."""
        self._stop.set()
        self._go.set()
        self._thread.join()

    def result(self) -> View | None:
        """The view once read; None if the read failed (the recording then reads itself)."""
        self._go.set()  # a rescan that never said so still gets its view
        self._thread.join()
        return self._view

    def view(self, summary: RunSummary) -> View | None:
        """The view with what the rescan `summary` reports on wrote taken up (`take_up`); None
        when the caller must read afresh (no view, or the items just written not read back).
        A few items (one `BatchGetItem`, a single event's) are read back first, while the
        table is still being read: they replace what the view holds under their keys whichever
        ends first, and waiting for the read first cost a round trip after it. More (a
        batch's hundreds of whole items) are read back after the read, as before: decoded
        beside its pages they raised the process's peak by 4-10 MB (docs/benchmarks.md), for
        one round trip in a batch of seconds. None at once when nothing is read here because
        the recording may narrow (`may_narrow`)."""
        self._decided.wait()
        if self._narrows.is_set():
            return None
        if len(summary.written_keys or ()) > BATCH_GET_SIZE:
            view = self.result()
            fresh = read_back(summary, self._config, self.options, self._ddb)
        else:
            fresh = read_back(summary, self._config, self.options, self._ddb)
            if fresh is None:
                self.cancel()  # the recording reads afresh: this read is not wanted any more
                return None
            view = self.result()
        return None if view is None or fresh is None else take_up(view, fresh, summary)

    def __enter__(self) -> ViewAhead:
        return self

    def __exit__(self, *_: object) -> None:
        self.cancel()  # a no-op once the view was read
        # This object is in reference cycles (its thread's target, the options' `will_scan`
        # are its own methods): the inventory it holds would wait for the cyclic collector,
        # beside the next event's, instead of going as the event ends.
        self._view = None


def _free_at(marker: Marker | None) -> datetime | None:
    """Pure: when a view read after `marker` may start without its recording reading again.
    At once (None) past a marker that names its recorder: the view follows it
    (`View.outdated_by`), whoever recorded it. Past an older version's marker, which names
    none (so no clock of this process), the clock skew past its read (never a damaged or
    absent one's: nothing to wait for)."""
    if marker is None or marker.read_end is None or marker.recorded_by is not None:
        return None
    return marker.read_end + CLOCK_SKEW


def written_items(
    summary: RunSummary, config: Config, opts: RunOptions, ddb: DynamoDBClient
) -> Items | None:
    """Every item the rescan `summary` reports on wrote, read back by key through `ddb`
    (strongly consistent) as the page's read reads them (each VPC with its subnets, without
    its tags and stored use: right for a view read either way); None when the rescan's writes
    are not all known to have landed (the recording then reads afresh)."""
    written = summary.written_keys
    if written is None or summary.write_failures or summary.interrupted:
        return None
    if not written:
        return Items()
    return opts.retry.call(
        read_keys, ddb, config.table.name, sorted(written), "items just written", PAGE_ATTRIBUTES
    )


def take_up(view: View, fresh: Items, summary: RunSummary) -> View:
    """Pure: the view read beside the rescan `summary` reports on, with what that rescan wrote
    (`fresh`, read back by key) in place of what the view held under those keys."""
    written = summary.written_keys or set()
    if not written:
        return view
    items = merge(view.items, fresh, written, summary.reservations_released)
    return replace(view, items=items)


def read_back(
    summary: RunSummary, config: Config, opts: RunOptions, ddb: DynamoDBClient
) -> Items | None:
    """`written_items`, or None (the caller then reads afresh) when they cannot be read back."""
    try:
        return written_items(summary, config, opts, ddb)
    except (ClientError, BotoCoreError, FatalError, MalformedResponse) as exc:
        log.warning("items just written not read back (%s): reading afresh", error_code(exc))
        return None


def merge(
    old: Items, fresh: Items, written: Collection[tuple[str, str]], released: Collection[str]
) -> Items:
    """Pure: `old` with every item under a `written` key replaced by `fresh` (which holds what
    those keys hold now), and without the reservations the rescan `released`."""
    keys = set(written)
    gone = set(released)
    # Scan times recorded by the rescan move the `LastSeen` of the VPCs it left unwritten.
    scanned = {**old.scanned, **fresh.scanned}
    kept = [v for v in old.vpcs if v.key not in keys]
    return Items(
        vpcs=(derive(kept, fresh.scanned) if fresh.scanned else kept) + fresh.vpcs,
        reservations=[r for r in old.reservations if r.cidr not in gone],
        connectivity=[c for c in old.connectivity if connectivity_key(c) not in keys]
        + fresh.connectivity,
        route_tables=[t for t in old.route_tables if route_table_key(t) not in keys]
        + fresh.route_tables,
        unreadable=[u for u in old.unreadable if (u.VpcId, u.OwnerId) not in keys]
        + fresh.unreadable,
        # What was read back is whole: a stored use from before the rescan must not stand
        # for the subnets it found.
        address_use={k: u for k, u in old.address_use.items() if k not in keys},
        without_subnets=old.without_subnets - keys,
        lean=old.lean,
        scanned=scanned,
    )
