"""Job — collect, where results go: the table (leases, lifecycle marks, changes, reservations
released, the closing sweep) or memory."""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from collector.analysis import vpc_blocks
from collector.config import Config
from collector.errors import FatalError, error_code, reading_table
from collector.hub import hub_session
from collector.jobs.departed import sweep
from collector.jobs.lean import unless_published
from collector.jobs.options import RunOptions
from collector.jobs.stored import (
    Prepared,
    new_entries,
    same_connections,
    unchanged_connectivity,
    unchanged_vpc,
)
from collector.jobs.summary import RunSummary
from collector.lifecycle import changes, expires_at, plan_target
from collector.models import (
    Account,
    Connectivity,
    TargetResult,
    Vpc,
    iso,
)
from collector.store.attributes import item_key
from collector.store.changes import change_item
from collector.store.connectivity import connectivity_items, route_table_items
from collector.store.leases import release_lease, take_lease
from collector.store.registry import (
    CONNECTIONS,
    PAGE_ATTRIBUTES,
    RESERVATIONS,
    VPCS,
    Items,
    list_reservations,
    load_items,
    load_without_subnets,
    query_account,
    read_keys,
)
from collector.store.reservations import delete_reservation
from collector.store.scanned import derive, scanned_item, scanned_key
from collector.store.vpcs import shrink, vpc_items
from collector.store.writer import BatchWriter, put_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

LEASE_SECONDS = 900  # a killed run's leases free themselves after this (DynamoDB TTL + checks)


class LeaseHeld(Exception):
    """Another run is collecting this account (its error code in summaries: LeaseHeld)."""


class TableSink:
    """Where an `ok` target's records go in a normal run: the table, with lifecycle marking.

    Each account is leased before its items are read and released once its writes settled,
    so two overlapping runs never interleave writes for one account.
    """

    def __init__(self, ddb: DynamoDBClient, config: Config, opts: RunOptions) -> None:
        self.ddb = ddb
        self.config = config
        self.table = config.table.name
        self.retention = config.table.deleted_retention_days
        self.lease_wait = config.scan.lease_wait_seconds
        self.opts = opts
        workers = config.scan.max_workers
        self.writer = BatchWriter(
            ddb, self.table, threads=min(8, max(2, workers // 4)), retry=opts.retry, shrink=shrink
        )
        # Changes go to the ledger, which whole-inventory reads never read.
        self.ledger = BatchWriter(ddb, config.table.ledger, threads=2, retry=opts.retry)
        # Reservations are few; a VPC that shows up with a reserved block releases it.
        self.reservations = {
            (r.cidr, r.owner): r
            for r in opts.retry.call(list_reservations, ddb, self.table).reservations
        }
        self.to_release: set[str] = set()
        self._held: set[str] = set()  # accounts whose lease this run holds
        self._held_lock = threading.Lock()
        # (writer sequence, account): released once the writer has settled that far. An
        # account's own last write, not the writer's count when it finished: with unchanged
        # items left alone most accounts write nothing, and waiting for other accounts' items
        # in a batch not yet full held every lease (and scan time) to the run's end.
        self._settling: list[tuple[int, str]] = []
        self._last_write: dict[str, int] = {}
        # A settled account's scan times and lease release: two round trips each. Two threads
        # fell behind a 1,000-account run at 100 ms a call (the night waited 66 s for them).
        self._releaser = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lease")
        self.written: set[tuple[str, str]] | None = set() if opts.keep_written else None
        # `table.rewrite_unchanged: false`: unchanged items are left alone, and each account's
        # scan times are written once its other writes have landed (store.scanned).
        self.rewrite = config.table.rewrite_unchanged
        self._scans: dict[str, dict[str, datetime]] = {}  # this run's, by account
        self._scans_failed = 0
        self._scans_written = 0
        # Targets left unwritten because their block index entries were not (by error code).
        self._index_failed: dict[str, int] = {}
        self._settled_jobs: list[Future[None]] = []

    def existing(self, account: Account) -> Prepared:
        """Lease the account, then read its items by region (runs in a worker thread)."""
        self._lease(account.id)
        # Its connectivity items too: a target with none was never scanned (its VPCs are then
        # first seen, not created), and live updates compare their scan times.
        kinds = VPCS | {"connectivity"}
        try:
            items = self.opts.retry.call(query_account, self.ddb, self.table, account.id, kinds)
        except BaseException:
            self._release_now(account.id)
            raise
        out: dict[str, list[Vpc]] = {}
        for item in items.vpcs:
            out.setdefault(item.Region, []).append(item)
        stored = {c.Region: c for c in items.connectivity if c.OwnerId == account.id}
        return Prepared(out, items.unreadable, stored, dict(items.scanned.get(account.id, {})))

    def abandon(self, account: Account) -> None:
        """The account failed after its lease was taken: give the lease back (worker thread)."""
        self._release_now(account.id)

    def accept(self, result: TargetResult, prepared: Prepared, s: RunSummary) -> None:
        """Write one ok target: seen records, and live items it no longer returned as deleted."""
        plan = plan_target(
            result.records,
            prepared.existing.get(result.region, []),
            now=self.opts.clock(),
            retention_days=self.retention,
            invalid_ids=[i.vpc_id for i in result.invalid],
        )
        now = self.opts.clock()
        expires = expires_at(now, self.retention)
        stored = {v.VpcId: v for v in prepared.existing.get(result.region, [])}
        s.vpcs_seen += len(plan.seen)
        if not self._index_first(new_entries(plan.seen, stored, now), result):
            return  # nothing of the target written: it stands as the table held it
        for v in plan.seen:
            items = vpc_items(v, expires)
            if not self.rewrite and len(items) == 1 and unchanged_vpc(v, stored.get(v.VpcId)):
                s.items_unchanged += 1
            else:
                self._write(items, result.account_id)
        for v in plan.marked:
            self._write(vpc_items(v, expires), result.account_id)
        for n, c in enumerate(
            changes(
                plan.seen,
                prepared.existing.get(result.region, []),
                plan.marked,
                now=self.opts.clock(),
                first_scan=result.region not in prepared.connectivity,
            )
        ):
            self.ledger.add(change_item(c, n, expires))
        if result.connectivity is not None:
            self._accept_connectivity(result, result.connectivity, prepared, s, now)
        else:
            s.connectivity_changed = True  # not known: a recording reads the inventory whole
        if not s.full_org:
            # What the target held before: a block it no longer holds may have been the only
            # clash of another account's block (jobs.findings compares that account too).
            s.vpcs_before += prepared.existing.get(result.region, [])
            s.rescanned.add((result.account_id, result.region))
        s.marked_deleted += len(plan.marked)
        if self.reservations:
            for v in plan.seen:
                self.to_release.update(
                    c for c in vpc_blocks(v) if (c, v.OwnerId) in self.reservations
                )

    def _accept_connectivity(
        self,
        result: TargetResult,
        conn: Connectivity,
        prepared: Prepared,
        s: RunSummary,
        now: datetime,
    ) -> None:
        """`accept` for an ok target's connectivity: its item (unless unchanged) and route
        tables, as of `now`."""
        expires = expires_at(now, self.retention)
        items = connectivity_items(conn, expires)
        before = prepared.connectivity.get(result.region)
        if (
            not self.rewrite
            and len(items) == 1
            and unchanged_connectivity(conn, before, now, self.retention)
        ):
            s.items_unchanged += 1
        else:
            self._write(items, result.account_id)
        if not self.rewrite:
            # When the scan started (a target's connectivity carries it): what the account's
            # scan-times item will say of this region, beside what it said of the others.
            times = self._scans.setdefault(result.account_id, dict(prepared.scanned))
            times[result.region] = conn.LastSeen
        for t in result.route_tables:
            self._write(route_table_items(t, expires), result.account_id)
        if not s.full_org and not same_connections(conn, before, result.route_tables):
            s.connectivity_changed = True
        if before is not None and not s.full_org:
            # A full run's recording compares every account; a narrowed one needs whoever this
            # item connected before (what the scan no longer lists is nowhere else).
            s.connectivity_before.append(before)
            # An attachment deleted since was also taken out of its TGW owner's route tables,
            # with no call in the owner's account: that owner is followed too.
            s.note_tgw_owners(result.account_id, result.region, before.Attachments)

    def _index_first(self, entries: list[dict[str, Any]], result: TargetResult) -> bool:
        """Write the block index's new `entries` for a target before any item of it, so that no
        VPC item is in the table without them (store.blocks); False, counted as a write
        failure, if they could not all be written (then nothing of the target is)."""
        if not entries:
            return True
        try:
            self.opts.retry.call(put_items, self.ddb, self.config.table.ledger, entries)
        except (ClientError, BotoCoreError, FatalError) as exc:
            code = error_code(exc)
            log.error(
                "block index not written for %s/%s (%s): its items are left as they were",
                result.account_id,
                result.region,
                code,
            )
            with self._held_lock:
                self._index_failed[code] = self._index_failed.get(code, 0) + 1
            return False
        return True

    def _write(self, items: list[dict[str, Any]], account: str | None = None) -> None:
        if self.written is not None:
            self.written.update(item_key(i) for i in items)
        self.writer.add_all(items)
        if account is not None:
            self._last_write[account] = self.writer.added

    def account_done(self, account: Account) -> None:
        """Release the account's lease once every item queued for it has settled."""
        if account.id in self._held:
            heapq.heappush(self._settling, (self._last_write.pop(account.id, 0), account.id))
        self._release_settled()

    def finish(self, s: RunSummary, everyone: list[Account] | None) -> None:
        """Departed accounts (full runs), released reservations, and the final write stats.
        `everyone`: the organization's accounts, None when they could not all be listed."""
        inventory = None
        try:
            # A run cut short (deadline, interrupt) or a listing that stopped part-way leaves
            # the departed-account sweep to the next run.
            cut = self.opts.stop() or self.opts.interrupted()
            if s.full_org and everyone is not None and not cut:
                inventory = self._sweep(s, {a.id: a for a in everyone})
        finally:
            stats = self.writer.close()
            ledger = self.ledger.close()
            # Every write has settled: the accounts still waiting for theirs are done too (their
            # scan times written before the leases left over are released).
            self._settle_all()
            with self._held_lock:
                leftover = list(self._held)
            for acct in leftover:
                self._releaser.submit(self._release_now, acct)
            self._releaser.shutdown(wait=True)
        s.vpcs_written = stats.written_vpcs
        s.written_keys = self.written
        s.items_written = stats.written + ledger.written + self._scans_written
        unindexed = sum(self._index_failed.values())
        s.write_failures = stats.failed + ledger.failed + self._scans_failed + unindexed
        s.write_errors = dict(stats.errors)
        if self._scans_failed:
            s.write_errors["ScanTimesNotWritten"] = self._scans_failed
        for code, n in self._index_failed.items():
            s.write_errors[f"BlockIndexNotWritten:{code}"] = n
        s.incomplete_items = [
            {"VpcId": vpc, "OwnerId": owner, "reason": why} for vpc, owner, why in stats.incomplete
        ]
        for code, n in ledger.errors.items():
            s.write_errors[code] = s.write_errors.get(code, 0) + n
        for cidr in sorted(self.to_release):
            try:
                if self.opts.retry.call(delete_reservation, self.ddb, self.table, cidr):
                    s.reservations_released.append(cidr)
            except (ClientError, BotoCoreError) as exc:
                # The collection itself succeeded; the stale reservation expires by its TTL.
                # Report it with the write failures rather than losing the whole summary.
                code = error_code(exc)
                log.error("could not release reservation %s: %s", cidr, code)
                s.write_failures += 1
                s.write_errors[code] = s.write_errors.get(code, 0) + 1
        if inventory is not None and not s.write_failures:
            # Only a view every write landed in may stand for the table.
            released = set(s.reservations_released)
            inventory.reservations = [r for r in inventory.reservations if r.cidr not in released]
            s.inventory = inventory

    def _sweep(self, s: RunSummary, org: dict[str, Account]) -> Items:
        """Read the table once (without tags; without subnets too unless a page is
        published), mark the live items of departed accounts, and return the table as it
        stands after those marks (for the findings audit)."""
        # Writes for this run must be settled before we read the table back, and with them
        # the accounts' scan times, which the read derives `LastSeen` from.
        self.writer.flush()
        self._settle_all()
        started = datetime.now(UTC)
        kinds = VPCS | RESERVATIONS | CONNECTIONS
        retry = self.opts.retry

        def read_whole(keys: Sequence[tuple[str, str]]) -> list[Vpc]:
            what = "VPC items of departed accounts"
            with reading_table(self.table):
                whole = retry.call(read_keys, self.ddb, self.table, keys, what).vpcs
            # As the sweep's read said when they were last seen (a read by key has no scan
            # times), which their marks keep.
            return derive(whole, items.scanned)

        with reading_table(self.table):
            # Read everything first, then write: a retried read never double-counts. The view
            # feeds the marks, the findings and the page; only the page needs every subnet,
            # and none of them a tag. Without `report.bucket` it is read as `audit --format
            # json` reads (issue 26), with it as the page reads (no tags, no stored use); the
            # VPCs it marks are read again whole, by key, as their marks are written whole.
            how = unless_published(self.config)
            if how is None:
                items = retry.call(load_items, self.ddb, self.table, kinds, PAGE_ATTRIBUTES)
                untagged: Collection[tuple[str, str]] = {v.key for v in items.vpcs}
            else:
                items = retry.call(load_without_subnets, self.ddb, self.table, kinds, how)
                untagged = items.without_subnets
        s.inventory_read = (started, datetime.now(UTC))
        marked = sweep(
            self.opts.session or hub_session(),
            self.config,
            items.vpcs,
            org,
            now=self.opts.clock(),
            run_started=s.started_at,
            retry=retry,
            lean=untagged,
            read_whole=read_whole,
        )
        expires = expires_at(self.opts.clock(), self.retention)
        for v in marked.values():
            self._write(vpc_items(v, expires))
        items.vpcs = [marked.get(v.key, v) for v in items.vpcs]
        for key in marked:  # whole now, and deleted: no stored use stands for its subnets
            items.without_subnets.discard(key)
            items.address_use.pop(key, None)
        s.marked_deleted += len(marked)
        # As before the reads were merged: unreadable items of accounts not in the listing are
        # this run's (the others were reported by their account's own query, or by the audit).
        s.unreadable_items.extend(
            u
            for u in items.unreadable
            if u.VpcId.startswith("vpc-")
            and u.OwnerId not in {a for a, acct in org.items() if acct.status == "ACTIVE"}
            and u not in s.unreadable_items
        )
        return items

    def _lease(self, account_id: str) -> None:
        """Take the account's lease, waiting up to `lease_wait` seconds; raise LeaseHeld."""
        holder = take_lease(
            self.ddb,
            self.table,
            account_id,
            self.opts.run_id,
            hold_seconds=LEASE_SECONDS,
            wait_seconds=self.lease_wait,
            call=self.opts.retry.call,
            sleep=self.opts.sleep,
            give_up=self.opts.interrupted,
        )
        if holder is not None:
            raise LeaseHeld(
                f"another run ({holder.run_id}, started {iso(holder.started_at)}) is "
                "collecting this account; try again when it has finished"
            )
        with self._held_lock:
            self._held.add(account_id)

    def _release_settled(self) -> None:
        settled = self.writer.settled()
        while self._settling and self._settling[0][0] <= settled:
            _, acct = heapq.heappop(self._settling)
            self._settled_jobs.append(self._releaser.submit(self._settled, acct))

    def _settle_all(self) -> None:
        """Once the writer has settled: every account waiting for it done, scan times
        recorded and leases released."""
        self._release_settled()
        wait(list(self._settled_jobs))

    def _settled(self, account_id: str) -> None:
        """Every write of the account has landed: record its scan times (in the mode that
        needs them), then give its lease back."""
        try:
            self._write_scan_times(account_id)
        finally:
            self._release_now(account_id)

    def _write_scan_times(self, account_id: str) -> None:
        with self._held_lock:
            times = self._scans.pop(account_id, None)
        if self.rewrite or not times:
            return
        if self.writer.stats.failed:
            # A write that failed may be a mark of a VPC the scan no longer found: times that
            # speak for it would say it was seen. The next run records them.
            log.warning("scan times of %s not recorded: the run has write failures", account_id)
            return
        now = self.opts.clock()
        item = scanned_item(account_id, times, expires_at(now, self.retention))
        try:
            self.opts.retry.call(self.ddb.put_item, TableName=self.table, Item=item)
        except Exception as exc:  # noqa: BLE001 - reported with the run's write failures
            log.error("could not record scan times of %s: %s", account_id, error_code(exc))
            with self._held_lock:
                self._scans_failed += 1
            return
        with self._held_lock:
            self._scans_written += 1
            if self.written is not None:
                self.written.add(scanned_key(account_id))

    def _release_now(self, account_id: str) -> None:
        with self._held_lock:
            if account_id not in self._held:
                return
            self._held.discard(account_id)
        try:
            self.opts.retry.call(release_lease, self.ddb, self.table, account_id, self.opts.run_id)
        except Exception as exc:  # noqa: BLE001 - the lease's TTL frees it; the run goes on
            log.warning("could not release lease of %s: %s", account_id, error_code(exc))


class MemorySink:
    """Where records go in a `write=False` run (audit --live): memory only, nothing written."""

    def existing(self, account: Account) -> Prepared:
        """Nothing is read from a table."""
        return Prepared({}, [])

    def abandon(self, account: Account) -> None:
        """Nothing is held."""

    def accept(self, result: TargetResult, prepared: Prepared, s: RunSummary) -> None:
        """Keep the records."""
        s.records.extend(result.records)
        if result.connectivity is not None:
            s.connectivity.append(result.connectivity)
        s.route_tables.extend(result.route_tables)
        s.vpcs_seen += len(result.records)

    def account_done(self, account: Account) -> None:
        """Nothing is held."""

    def finish(self, s: RunSummary, everyone: list[Account] | None) -> None:
        """Nothing to flush."""
