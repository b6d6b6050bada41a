"""The one `run(...)` behind every adapter (CLI, Lambda handler, demo): collect and store."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.analysis import Audit, Connections, OverlapGroup, build_audit, vpc_blocks
from collector.analysis.findings import iter_findings
from collector.analysis.headroom import HeadroomLimits
from collector.analysis.lookup import BlockIndex, LookupResult, lookup
from collector.analysis.overlaps import IPNetwork
from collector.config import Config, ConfigError
from collector.credentials import AssumedRoles, member_session, partition_of
from collector.errors import FatalError, MalformedResponse, RetryPolicy, error_code, error_message
from collector.lifecycle import changes, departed_reason, expires_at, mark_deleted, plan_target
from collector.models import (
    Account,
    Connectivity,
    DeletionReason,
    TargetResult,
    TargetStatus,
    TgwRouteTable,
    UnreadableItem,
    Vpc,
    iso,
    utc_now,
)
from collector.notify import publish, publish_baseline
from collector.organization import get_accounts, get_ou_account_ids, select_accounts
from collector.regions import RegionPlan
from collector.scan import ALL_REGIONS, RegionalClients, Scanner, client_config, fan_out
from collector.store import (
    CONNECTIONS,
    RESERVATIONS,
    VPCS,
    BatchWriter,
    Items,
    KnownFindings,
    Lease,
    TableMissingError,
    acquire_lease,
    baseline_item,
    change_item,
    check_table,
    connectivity_item,
    delete_items,
    delete_reservation,
    fast_reads,
    finding_bodies,
    finding_item,
    finding_key,
    known_findings,
    list_reservations,
    load_items,
    query_account,
    query_changes,
    release_lease,
    route_table_item,
    scan_items,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

ProgressFn = Callable[["RunSummary"], None]


@dataclass
class RunSummary:
    """What a run did. `to_dict()` is the `collect --format json` output."""

    started_at: datetime
    full_org: bool = False
    accounts: int = 0
    accounts_done: int = 0
    ok: int = 0
    skipped: int = 0
    failed: int = 0
    vpcs_seen: int = 0
    vpcs_written: int = 0
    items_written: int = 0  # VPC items and connectivity items
    marked_deleted: int = 0
    shared_ignored: int = 0
    write_failures: int = 0
    write_errors: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    skips: list[dict[str, str]] = field(default_factory=list)
    invalid_records: list[dict[str, str | None]] = field(default_factory=list)
    duration_s: float = 0.0
    reservations_released: list[str] = field(default_factory=list)
    unreadable_items: list[UnreadableItem] = field(default_factory=list)
    # Accounts with at least one target scanned successfully (not in the JSON summary).
    ok_accounts: set[str] = field(default_factory=set)
    # What recording this run's findings did (new / resolved / known), when it was recorded.
    findings: dict[str, Any] | None = None
    # Ctrl-C / SIGTERM: work under way was abandoned and reported `Interrupted`.
    interrupted: bool = False
    # Only filled by write=False runs; never part of the JSON summary.
    records: list[Vpc] = field(default_factory=list)
    connectivity: list[Connectivity] = field(default_factory=list)
    route_tables: list[TgwRouteTable] = field(default_factory=list)
    # A full write run's one read of the table after its writes (departed marks and released
    # reservations applied): the findings audit uses it instead of reading the table again.
    inventory: Items | None = None

    @property
    def targets(self) -> int:
        """Targets finished so far."""
        return self.ok + self.skipped + self.failed

    @property
    def exit_code(self) -> int:
        """0 when every target was ok or skipped, every write landed and every item it needed
        could be read; 130 when interrupted; else 2."""
        if self.interrupted:
            return 130
        return 2 if self.failed or self.write_failures or self.unreadable_items else 0

    def add(self, result: TargetResult, account_name: str) -> None:
        """Count one finished target."""
        if result.status is TargetStatus.OK:
            self.ok += 1
            self.ok_accounts.add(result.account_id)
        elif result.status is TargetStatus.SKIPPED:
            self.skipped += 1
            self.skips.append(
                {
                    "account_id": result.account_id,
                    "region": result.region,
                    "reason": result.error_code or result.message or "",
                }
            )
        else:
            self.failed += 1
            self.failures.append(
                {
                    "account_id": result.account_id,
                    "account_name": account_name,
                    "region": result.region,
                    "error_code": result.error_code or "Unknown",
                    "message": result.message or "",
                }
            )
        self.shared_ignored += result.shared_ignored
        self.invalid_records.extend(
            {"account_id": i.account_id, "region": i.region, "vpc_id": i.vpc_id, "reason": i.reason}
            for i in result.invalid
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (stable keys: scripts read it)."""
        return {
            "started_at": iso(self.started_at),
            "duration_s": round(self.duration_s, 3),
            "full_org": self.full_org,
            "accounts": self.accounts,
            "targets": {
                "total": self.targets,
                "ok": self.ok,
                "skipped": self.skipped,
                "failed": self.failed,
            },
            "vpcs_seen": self.vpcs_seen,
            "vpcs_written": self.vpcs_written,
            "items_written": self.items_written,
            "marked_deleted": self.marked_deleted,
            "invalid_records": len(self.invalid_records),
            "shared_vpcs_ignored": self.shared_ignored,
            "write_failures": self.write_failures,
            "write_errors": self.write_errors,
            "reservations_released": self.reservations_released,
            "unreadable_items": [u.to_dict() for u in self.unreadable_items],
            "interrupted": self.interrupted,
            "findings": self.findings,
            "failures": sorted(self.failures, key=lambda f: (f["account_id"], f["region"])),
            "skipped": sorted(self.skips, key=lambda f: (f["account_id"], f["region"])),
            "invalid": self.invalid_records,
            "exit_code": self.exit_code,
        }


@dataclass
class RunOptions:
    """Knobs for `run` that are not user configuration; tests inject here."""

    accounts: Sequence[str] = ()
    regions: Sequence[str] = ()
    # Accounts already validated elsewhere (the fan-out dispatcher): scanned as given, without
    # listing the organization again.
    account_list: Sequence[Account] | None = None
    session: boto3.Session | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = utc_now
    progress: ProgressFn | None = None
    # False: scan into memory (`RunSummary.records`) and write nothing (audit --live).
    write: bool = True
    # True once the run must stop starting work (e.g. the Lambda deadline is near).
    stop: Callable[[], bool] = lambda: False
    # True once the user asked to stop now (Ctrl-C, SIGTERM): work under way is abandoned.
    interrupted: Callable[[], bool] = lambda: False
    # Identifies this run's account leases; a fresh one per run unless a test fixes it.
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    sleep: Callable[[float], None] = time.sleep
    # Live updates: scan only these regions of each account (narrower than `regions`, which
    # applies to every account)...
    targets: Mapping[str, Collection[str]] | None = None
    # ...and not a target whose stored scan started at or after this time (read under the
    # account's lease): the change that named it is already in the table.
    current_since: Mapping[tuple[str, str], datetime] | None = None


def dynamodb_client(session: boto3.Session, config: Config) -> DynamoDBClient:
    """The DynamoDB client for the configured table's region (reads decoded fast)."""
    return fast_reads(
        session.client(
            "dynamodb",
            region_name=config.table.region,
            config=client_config(config.scan.max_workers),
        )
    )


def list_target_accounts(
    session: boto3.Session,
    config: Config,
    cli_accounts: Sequence[str],
    retry: RetryPolicy | None = None,
) -> tuple[list[Account], list[Account]]:
    """(every org account, the ACTIVE ones to scan), after config filters and `--account`."""
    # Explicit region: a hub with no default region configured must still work, and the
    # table's region is always in the organization's partition.
    org = session.client("organizations", region_name=config.table.region, config=client_config(4))
    retry = retry or RetryPolicy()
    try:
        everyone = retry.call(get_accounts, org)
        in_ous = (
            retry.call(get_ou_account_ids, org, config.organization.include_ous)
            if config.organization.include_ous
            else None
        )
    except (ClientError, BotoCoreError) as exc:
        raise FatalError(
            f"cannot list organization accounts: {error_code(exc)}: {error_message(exc)}"
        ) from None
    selected = select_accounts(
        everyone,
        include=config.organization.include_accounts,
        exclude=config.organization.exclude_accounts,
        in_ous=in_ous,
    )
    if cli_accounts:
        by_id = {a.id: a for a in everyone}
        chosen = {a.id for a in selected}
        for acct in cli_accounts:
            if acct not in by_id:
                raise ConfigError(f"--account {acct}: not an account of this organization")
            if by_id[acct].status != "ACTIVE":
                raise ConfigError(f"--account {acct}: account is {by_id[acct].status}, not ACTIVE")
            if acct not in chosen:
                raise ConfigError(f"--account {acct}: excluded by organization filters in config")
        wanted = set(cli_accounts)
        selected = [a for a in selected if a.id in wanted]
    return everyone, selected


LEASE_SECONDS = 900  # a killed run's leases free themselves after this (DynamoDB TTL + checks)


class LeaseHeld(Exception):
    """Another run is collecting this account (its error code in summaries: LeaseHeld)."""


@dataclass
class Prepared:
    """An account's table state read before scanning it."""

    existing: dict[str, list[Vpc]]
    unreadable: list[UnreadableItem]
    # When the newest stored scan of each region started (live updates only).
    scanned_at: dict[str, datetime] = field(default_factory=dict)


class TableSink:
    """Where an `ok` target's records go in a normal run: the table, with lifecycle marking.

    Each account is leased before its items are read and released once its writes settled,
    so two overlapping runs never interleave writes for one account.
    """

    def __init__(self, ddb: DynamoDBClient, config: Config, opts: RunOptions) -> None:
        self.ddb = ddb
        self.table = config.table.name
        self.retention = config.table.deleted_retention_days
        self.lease_wait = config.scan.lease_wait_seconds
        self.opts = opts
        workers = config.scan.max_workers
        self.writer = BatchWriter(
            ddb, self.table, threads=min(8, max(2, workers // 4)), retry=opts.retry
        )
        # Reservations are few; a VPC that shows up with a reserved block releases it.
        self.reservations = {
            (r.cidr, r.owner): r
            for r in opts.retry.call(list_reservations, ddb, self.table).reservations
        }
        self.to_release: set[str] = set()
        self._held: set[str] = set()  # accounts whose lease this run holds
        self._held_lock = threading.Lock()
        self._settling: deque[tuple[int, str]] = deque()  # (writer sequence, account)
        self._releaser = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lease")

    def existing(self, account: Account) -> Prepared:
        """Lease the account, then read its items by region (runs in a worker thread)."""
        self._lease(account.id)
        kinds = VPCS | {"connectivity"} if self.opts.current_since else VPCS
        try:
            items = self.opts.retry.call(query_account, self.ddb, self.table, account.id, kinds)
        except BaseException:
            self._release_now(account.id)
            raise
        out: dict[str, list[Vpc]] = {}
        for item in items.vpcs:
            out.setdefault(item.Region, []).append(item)
        scanned = {c.Region: c.LastSeen for c in items.connectivity if c.OwnerId == account.id}
        return Prepared(out, items.unreadable, scanned)

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
        self.writer.add_all(to_item(v) for v in [*plan.seen, *plan.marked])
        expires = expires_at(self.opts.clock(), self.retention)
        for n, c in enumerate(
            changes(
                plan.seen,
                prepared.existing.get(result.region, []),
                plan.marked,
                now=self.opts.clock(),
            )
        ):
            self.writer.add(change_item(c, n, expires))
        if result.connectivity is not None:
            self.writer.add(connectivity_item(result.connectivity, expires))
            self.writer.add_all(route_table_item(t, expires) for t in result.route_tables)
        s.vpcs_seen += len(plan.seen)
        s.marked_deleted += len(plan.marked)
        if self.reservations:
            for v in plan.seen:
                self.to_release.update(
                    c for c in vpc_blocks(v) if (c, v.OwnerId) in self.reservations
                )

    def account_done(self, account: Account) -> None:
        """Release the account's lease once every item queued for it so far has settled."""
        if account.id in self._held:
            self._settling.append((self.writer.added, account.id))
        self._release_settled()

    def finish(self, s: RunSummary, everyone: list[Account]) -> None:
        """Departed accounts (full runs), released reservations, and the final write stats."""
        inventory = None
        try:
            # A run cut short (deadline, interrupt) leaves the departed-account sweep to the next.
            if s.full_org and not self.opts.stop() and not self.opts.interrupted():
                inventory = self._sweep(s, {a.id: a for a in everyone})
        finally:
            stats = self.writer.close()
            with self._held_lock:
                leftover = list(self._held)
            for acct in leftover:
                self._releaser.submit(self._release_now, acct)
            self._releaser.shutdown(wait=True)
        s.vpcs_written = stats.written_vpcs
        s.items_written = stats.written
        s.write_failures = stats.failed
        s.write_errors = dict(stats.errors)
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
        """Read the whole table once, mark the live items of departed accounts, and return the
        table as it stands after those marks (for the findings audit)."""
        # Writes for this run must be settled before we read the table back.
        self.writer.flush()
        try:
            # Read everything first, then write: a retried read never double-counts.
            items = self.opts.retry.call(
                load_items, self.ddb, self.table, VPCS | RESERVATIONS | CONNECTIONS
            )
        except (ClientError, BotoCoreError, MalformedResponse) as exc:
            raise FatalError(f"cannot read table {self.table}: {error_code(exc)}") from None
        marked = departed_marks(items.vpcs, org, self.opts.clock(), self.retention)
        self.writer.add_all(to_item(v) for v in marked.values())
        items.vpcs = [marked.get(v.key, v) for v in items.vpcs]
        s.marked_deleted += len(marked)
        # As before the reads were merged: unreadable items of departed accounts are this
        # run's (the others were reported by their account's own query, or by the audit).
        s.unreadable_items.extend(
            u
            for u in items.unreadable
            if u.VpcId.startswith("vpc-")
            and departed_reason(u.OwnerId, org) is not None
            and u not in s.unreadable_items
        )
        return items

    def _lease(self, account_id: str) -> None:
        """Take the account's lease, waiting up to `lease_wait` seconds; raise LeaseHeld."""
        deadline = time.monotonic() + self.lease_wait
        while True:
            # Wall-clock time, not the run's clock: leases are compared across runs.
            now = datetime.now(UTC).replace(microsecond=0)
            lease = Lease(
                account_id,
                self.opts.run_id,
                now,
                int((now + timedelta(seconds=LEASE_SECONDS)).timestamp()),
            )
            holder = self.opts.retry.call(
                acquire_lease, self.ddb, self.table, lease, int(now.timestamp())
            )
            if holder is None:
                with self._held_lock:
                    self._held.add(account_id)
                return
            if time.monotonic() >= deadline or self.opts.interrupted():
                raise LeaseHeld(
                    f"another run ({holder.run_id}, started {iso(holder.started_at)}) is "
                    "collecting this account; try again when it has finished"
                )
            self.opts.sleep(random.uniform(0.5, 2.0))

    def _release_settled(self) -> None:
        settled = self.writer.settled()
        while self._settling and self._settling[0][0] <= settled:
            _, acct = self._settling.popleft()
            self._releaser.submit(self._release_now, acct)

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

    def finish(self, s: RunSummary, everyone: list[Account]) -> None:
        """Nothing to flush."""


def run(config: Config, options: RunOptions | None = None) -> RunSummary:
    """Collect every selected (account, region); write the table (unless `write=False`)."""
    opts = options or RunOptions()
    t0 = time.monotonic()
    hub = opts.session or boto3.Session()
    summary = RunSummary(
        started_at=opts.clock(),
        full_org=not opts.accounts and not opts.regions and opts.account_list is None,
    )
    workers = config.scan.max_workers
    boto_cfg = client_config(workers)
    ddb = dynamodb_client(hub, config)
    try:
        if opts.write:
            opts.retry.call(check_table, ddb, config.table.name)
        sts = hub.client("sts", region_name=config.table.region, config=boto_cfg)
        partition = partition_of(opts.retry.call(sts.get_caller_identity)["Arn"])
        sink: TableSink | MemorySink = TableSink(ddb, config, opts) if opts.write else MemorySink()
    except (ClientError, BotoCoreError) as exc:
        raise FatalError(f"{error_code(exc)}: {error_message(exc)}") from None
    if opts.account_list is not None:
        everyone = selected = list(opts.account_list)
    else:
        everyone, selected = list_target_accounts(hub, config, opts.accounts, opts.retry)
    summary.accounts = len(selected)
    roles = AssumedRoles(
        sts,
        partition=partition,
        role_name=config.organization.role_name,
        session_name=config.organization.session_name,
        external_id=config.organization.external_id,
        retry=opts.retry,
    )
    msession, creds = member_session(hub)
    scanner = Scanner(
        roles=roles,
        creds=creds,
        clients=RegionalClients(msession, boto_cfg),
        configured_regions=config.regions,
        cli_regions=opts.regions,
        home_region=config.home_region,
        clock=opts.clock,
        retry=opts.retry,
    )
    names = {a.id: a.name for a in everyone}

    def prepare(account: Account) -> tuple[Prepared, RegionPlan]:
        state = sink.existing(account)
        try:
            return state, narrowed(scanner.regions_for(account), account.id, state, opts)
        except BaseException:
            sink.abandon(account)
            raise

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan")
    try:
        for ev in fan_out(
            selected,
            prepare=prepare,
            scan=scanner.scan_target,
            executor=pool,
            max_pending=workers * 4,
            stop=opts.stop,
            interrupted=opts.interrupted,
        ):
            res = ev.result
            summary.add(res, names.get(res.account_id, ""))
            if res.status is TargetStatus.OK and ev.prepared is not None:
                sink.accept(res, ev.prepared, summary)
            if ev.account_done:
                summary.accounts_done += 1
                roles.forget(ev.account.id)
                if ev.prepared is not None:
                    summary.unreadable_items.extend(ev.prepared.unreadable)
                sink.account_done(ev.account)
            if opts.progress:
                opts.progress(summary)
    finally:
        summary.interrupted = opts.interrupted()
        # Interrupted: do not wait for calls under way (a slow one may take its whole read
        # timeout); their results are ignored, and nothing they saw is written.
        pool.shutdown(wait=not summary.interrupted, cancel_futures=True)
        sink.finish(summary, everyone)
    summary.duration_s = time.monotonic() - t0
    return summary


# A target left unscanned because its stored scan started after the event that named it.
SKIP_CURRENT = "AlreadyCurrent"


def narrowed(plan: RegionPlan, account_id: str, state: Prepared, opts: RunOptions) -> RegionPlan:
    """Pure: an account's region plan cut to the targets a live update named, less those whose
    stored scan started at or after the event (`opts.current_since`)."""
    if opts.targets is None:
        return plan
    named = set(opts.targets.get(account_id, ()))
    since = opts.current_since or {}
    out = RegionPlan(skipped=[(r, why) for r, why in plan.skipped if r in named])
    for region in plan.scan:
        if region not in named:
            continue
        after, scanned = since.get((account_id, region)), state.scanned_at.get(region)
        if after is not None and scanned is not None and scanned >= after:
            out.skipped.append((region, SKIP_CURRENT))
        else:
            out.scan.append(region)
    return out


def sweep_departed(config: Config, everyone: list[Account], options: RunOptions) -> int:
    """Mark items of accounts no longer ACTIVE or gone from the org (the fan-out dispatcher's
    share of a full-org run); returns how many were marked."""
    opts = options
    ddb = dynamodb_client(opts.session or boto3.Session(), config)
    writer = BatchWriter(ddb, config.table.name, retry=opts.retry)
    try:
        marked, _ = _mark_departed(
            ddb,
            config.table.name,
            writer,
            {a.id: a for a in everyone},
            opts.clock(),
            config.table.deleted_retention_days,
            opts.retry,
        )
    finally:
        stats = writer.close()
    if stats.failed:
        raise FatalError(f"{stats.failed} departed-account items could not be written")
    return marked


def mark_accounts_gone(
    config: Config, gone: Mapping[str, DeletionReason], options: RunOptions
) -> int:
    """Mark every live item of accounts known to be suspended or gone from the organization
    (a fan-out worker's accounts); returns how many were marked."""
    opts = options
    ddb = dynamodb_client(opts.session or boto3.Session(), config)
    now = opts.clock()
    writer = BatchWriter(ddb, config.table.name, retry=opts.retry)
    marked = 0
    try:
        for account_id, reason in gone.items():
            items = opts.retry.call(query_account, ddb, config.table.name, account_id)
            for vpc in items.vpcs:
                if not vpc.Deleted:
                    writer.add(
                        to_item(
                            mark_deleted(
                                vpc,
                                now=now,
                                reason=reason,
                                retention_days=config.table.deleted_retention_days,
                            )
                        )
                    )
                    marked += 1
    finally:
        stats = writer.close()
    if stats.failed:
        raise FatalError(f"{stats.failed} items of departed accounts could not be written")
    return marked


def departed_marks(
    vpcs: Iterable[Vpc], org: Mapping[str, Account], now: datetime, retention_days: int
) -> dict[tuple[str, str], Vpc]:
    """Pure: the live VPCs of accounts that left the org or are no longer ACTIVE, marked."""
    out = {}
    for vpc in vpcs:
        reason = None if vpc.Deleted else departed_reason(vpc.OwnerId, org)
        if reason is not None:
            out[vpc.key] = mark_deleted(vpc, now=now, reason=reason, retention_days=retention_days)
    return out


def _mark_departed(
    ddb: DynamoDBClient,
    table: str,
    writer: BatchWriter,
    org: dict[str, Account],
    now: datetime,
    retention_days: int,
    retry: RetryPolicy,
) -> tuple[int, list[UnreadableItem]]:
    """Mark live items of accounts that left the org or are no longer ACTIVE.

    Returns how many were marked and the items that could not be read (left as they are).
    """
    # Writes for this run must be settled before we read the table back.
    writer.flush()

    def departed() -> tuple[list[Vpc], list[UnreadableItem]]:
        items = Items()
        for raw in scan_items(ddb, table):
            if raw.get("Deleted", {}).get("BOOL", False):
                continue
            if departed_reason(raw.get("OwnerId", {}).get("S", ""), org) is not None:
                items.add(raw, VPCS)  # reservations and bookkeeping items are passed over
        return list(departed_marks(items.vpcs, org, now, retention_days).values()), items.unreadable

    try:
        # Read everything first, then write: a retried read never double-counts.
        marked, bad = retry.call(departed)
    except (ClientError, BotoCoreError) as exc:
        raise FatalError(f"cannot read table {table}: {error_code(exc)}") from None
    writer.add_all(to_item(v) for v in marked)
    return len(marked), bad


def run_audit(
    config: Config,
    *,
    live: bool = False,
    accounts: Sequence[str] = (),
    include_default: bool = False,
    severity: str | None = None,
    options: RunOptions | None = None,
    inventory: Items | None = None,
) -> tuple[Audit, RunSummary | None]:
    """Audit the table (or, with `live`, a fresh in-memory collection that writes nothing).

    `accounts` keeps only findings involving those accounts; the whole organization is still
    read, because an overlap is always between an account and someone else.
    """
    opts = options or RunOptions()
    summary = None
    if live:
        summary = run(config, replace(opts, write=False, accounts=()))
        items = Items(
            vpcs=summary.records,
            connectivity=summary.connectivity,
            route_tables=summary.route_tables,
        )
    else:
        items = (
            inventory if inventory is not None else read_inventory(config, opts.session, opts.retry)
        )
    audit = build_audit(
        items.vpcs,
        config.reserved_cidrs,
        now=opts.clock(),
        include_default=include_default,
        accounts=accounts,
        unreadable=items.unreadable,
        reservations=items.reservations,
        connections=Connections.of(items.connectivity, items.route_tables),
        severity=severity,
        limits=limits_of(config),
    )
    return audit, summary


def limits_of(config: Config) -> HeadroomLimits:
    """The headroom thresholds of a config."""
    return HeadroomLimits(config.headroom.used_pct, config.headroom.subnet_free_pct)


def read_inventory(
    config: Config, session: boto3.Session | None = None, retry: RetryPolicy | None = None
) -> Items:
    """Every VPC and reservation item of the table, and the items that could not be read
    (reported by callers, never silently dropped), in one pass; FatalError/TableMissingError
    when the table cannot be read."""
    ddb = dynamodb_client(session or boto3.Session(), config)
    retry = retry or RetryPolicy()
    try:
        retry.call(check_table, ddb, config.table.name)
        items = retry.call(load_items, ddb, config.table.name, VPCS | RESERVATIONS | CONNECTIONS)
    except (ClientError, BotoCoreError, MalformedResponse) as exc:
        raise FatalError(f"cannot read table {config.table.name}: {error_code(exc)}") from None
    return items


@dataclass(frozen=True)
class NotScanned:
    """A target of a checked account that the live scan did not cover."""

    account_id: str
    region: str
    error_code: str
    # The newest LastSeen of the table's items there: what findings about it rest on.
    last_seen: datetime | None

    def to_dict(self) -> dict[str, str | None]:
        """JSON shape in `check`'s `not_scanned`."""
        return {
            "account_id": self.account_id,
            "region": self.region,
            "error_code": self.error_code,
            "last_seen": iso(self.last_seen) if self.last_seen else None,
        }


# Kinds of finding `check --fail-on` takes. `overlap` is any overlap group, `conflict` only
# those some network routes to both sides of.
FAIL_ON_KINDS = ("overlap", "conflict", "default-vpc", "headroom")
HEADROOM_KEYS = ("headroom", "exhausted_subnets", "single_az")
DEFAULT_FAIL_ON = frozenset({"overlap", "default-vpc"})


@dataclass
class CheckResult:
    """The landing-zone gate's verdict for some accounts."""

    accounts: list[str]
    summary: RunSummary
    audit: Audit
    not_scanned: list[NotScanned] = field(default_factory=list)
    fail_on: frozenset[str] = DEFAULT_FAIL_ON

    def _fails(self, group: OverlapGroup) -> bool:
        return "overlap" in self.fail_on or (
            "conflict" in self.fail_on and group.severity == "conflict"
        )

    @property
    def failing_groups(self) -> list[OverlapGroup]:
        """Overlap groups of the checked accounts that fail the gate."""
        return [g for g in self.audit.overlap_groups if self._fails(g)]

    @property
    def failing_defaults(self) -> list[Vpc]:
        """Default VPCs of the checked accounts that fail the gate."""
        return self.audit.default_vpcs if "default-vpc" in self.fail_on else []

    @property
    def failing_headroom(self) -> int:
        """Headroom findings (all three kinds) when `headroom` fails the gate."""
        if "headroom" not in self.fail_on:
            return 0
        h = self.audit.headroom
        return len(h.headroom) + len(h.exhausted_subnets) + len(h.single_az)

    @property
    def findings(self) -> int:
        """Findings of the kinds in `fail_on` that involve the checked accounts."""
        return len(self.failing_groups) + len(self.failing_defaults) + self.failing_headroom

    def warnings(self) -> dict[str, list[Any]]:
        """Findings the gate reports but does not fail on, in the audit's JSON shapes."""
        shown = self.audit.to_dict()
        return {
            "overlap_groups": [
                d
                for g, d in zip(self.audit.overlap_groups, shown["overlap_groups"], strict=True)
                if not self._fails(g)
            ],
            "default_vpcs": [] if "default-vpc" in self.fail_on else shown["default_vpcs"],
            **{k: [] if "headroom" in self.fail_on else shown[k] for k in HEADROOM_KEYS},
        }

    @property
    def unscanned_accounts(self) -> list[str]:
        """Checked accounts without a single target scanned successfully."""
        return [a for a in self.accounts if a not in self.summary.ok_accounts]

    @property
    def scan_complete(self) -> bool:
        """Every target of the checked accounts was scanned (or provably off) and stored."""
        return self.summary.exit_code == 0 and not self.unscanned_accounts

    @property
    def incomplete(self) -> bool:
        """The verdict cannot be backed: a target failed, an item was not stored or could not
        be read, or a checked account had no target scanned at all."""
        return not self.scan_complete or bool(self.audit.unreadable)

    @property
    def exit_code(self) -> int:
        """3 findings (a clash is certain even if the scan was partial), 2 incomplete, 0 clean."""
        if self.findings:
            return 3
        return 2 if self.incomplete else 0

    @property
    def verdict(self) -> str:
        """clean, findings or incomplete."""
        return {0: "clean", 2: "incomplete", 3: "findings"}[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result (`check --format json`)."""
        return {
            "accounts": self.accounts,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "scan_complete": self.scan_complete,
            "not_scanned": [n.to_dict() for n in self.not_scanned],
            "fail_on": sorted(self.fail_on),
            "warnings": self.warnings(),
            "scan": self.summary.to_dict(),
            "audit": self.audit.to_dict(),
        }


def not_scanned(summary: RunSummary, accounts: Sequence[str], vpcs: list[Vpc]) -> list[NotScanned]:
    """Pure: the failed targets of `accounts`, each with the LastSeen its table data has."""
    newest: dict[tuple[str, str], datetime] = {}
    for v in vpcs:
        for key in ((v.OwnerId, v.Region), (v.OwnerId, ALL_REGIONS)):
            if key not in newest or v.LastSeen > newest[key]:
                newest[key] = v.LastSeen
    wanted = set(accounts)
    out = [
        NotScanned(
            f["account_id"],
            f["region"],
            f["error_code"],
            newest.get((f["account_id"], f["region"])),
        )
        for f in summary.failures
        if f["account_id"] in wanted
    ]
    # A checked account with nothing scanned and no failure (every region skipped) is named too.
    failed = {n.account_id for n in out}
    out += [
        NotScanned(a, ALL_REGIONS, "NothingScanned", newest.get((a, ALL_REGIONS)))
        for a in accounts
        if a not in summary.ok_accounts and a not in failed
    ]
    return sorted(out, key=lambda n: (n.account_id, n.region))


def run_check(
    config: Config,
    accounts: Sequence[str],
    options: RunOptions | None = None,
    fail_on: frozenset[str] = DEFAULT_FAIL_ON,
) -> CheckResult:
    """Collect `accounts` live into the table, then audit everything they are involved in."""
    if not accounts:
        raise ConfigError("check needs at least one --account")
    opts = replace(options or RunOptions(), accounts=accounts, write=True)
    summary = run(config, opts)
    items = read_inventory(config, opts.session, opts.retry)
    audit = build_audit(
        items.vpcs,
        config.reserved_cidrs,
        now=opts.clock(),
        accounts=accounts,
        unreadable=items.unreadable,
        reservations=items.reservations,
        connections=Connections.of(items.connectivity, items.route_tables),
        limits=limits_of(config),
    )
    # A write run: the checked accounts' findings become known (announced only by the Lambda's
    # nightly and event runs).
    remember_findings(config, summary, opts, accounts=accounts, audit=audit)
    live = [v for v in items.vpcs if not v.Deleted]
    return CheckResult(
        list(accounts), summary, audit, not_scanned(summary, accounts, live), fail_on
    )


def run_lookup(
    config: Config,
    query: IPNetwork,
    *,
    live: bool = False,
    accounts: Sequence[str] = (),
    options: RunOptions | None = None,
) -> tuple[LookupResult, RunSummary | None]:
    """Who holds `query`: from one table read (or, with `live`, a fresh in-memory scan of
    `accounts`, which knows no reservations)."""
    opts = options or RunOptions()
    summary = None
    if live:
        if not accounts:
            raise ConfigError("lookup --live needs at least one --account")
        summary = run(config, replace(opts, write=False, accounts=accounts))
        items = Items(vpcs=summary.records)
    else:
        items = read_inventory(config, opts.session, opts.retry)
        if items.unreadable:
            # An unreadable item might be the owner: "free" could be wrong.
            bad = items.unreadable[0]
            raise FatalError(
                f"table item {bad} could not be read ({bad.reason}); cannot tell who holds "
                f"{query}: fix or delete the item"
            )
    now = opts.clock()
    result = lookup(
        query,
        BlockIndex(items.vpcs),
        config.reserved_cidrs,
        [r for r in items.reservations if r.active(now)],
    )
    return result, summary


@dataclass
class FindingsRecord:
    """What recording the findings of a write run did."""

    new: list[dict[str, Any]] = field(default_factory=list)  # to announce (none on a baseline)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    new_count: int = 0
    first_baseline: bool = False
    known: int = 0
    notified: int = 0


def record_findings(
    config: Config,
    audit: Audit,
    options: RunOptions,
    *,
    accounts: Sequence[str] = (),
    topic: str | None = None,
    known: KnownFindings | None = None,
) -> FindingsRecord:
    """Store the findings this write run saw as known, and (with `topic`) announce the new and
    resolved ones, once each. With `accounts`, only findings involving them are compared (an
    event rescan of one account never resolves another account's findings). The very first
    recording (no baseline marker yet) announces one baseline message instead of each finding.
    `known` is `read_known(...)` of the same accounts when the caller read it already.
    """
    opts = options
    ddb = dynamodb_client(opts.session or boto3.Session(), config)
    table = config.table.name
    now = opts.clock()
    retention = config.table.deleted_retention_days
    expires = expires_at(now, retention)
    wanted = list(accounts) or None
    if known is None:
        known = read_known(config, options, accounts)
    out = FindingsRecord(first_baseline=not known.baseline)
    unmatched = known.ids  # emptied as this run's findings are matched: what is left resolved
    matched: set[str] = set()
    with BatchWriter(ddb, table, retry=opts.retry) as writer:
        for fid, build, _ in iter_findings(audit, wanted):
            if fid in unmatched:
                unmatched.discard(fid)
                matched.add(fid)
                if fid in known.rewrite:
                    writer.add(finding_item(fid, build(), expires))
            elif fid not in matched:
                matched.add(fid)
                body = build()
                out.new_count += 1
                if known.baseline:  # the first recording announces one message, not each
                    out.new.append(body)
                writer.add(finding_item(fid, body, expires))
        if known.baseline_due:
            writer.add(baseline_item(iso(now), expires))
    if writer.stats.failed:
        raise FatalError(f"{writer.stats.failed} known-finding items could not be written")
    out.known = len(matched)
    stored = {fid: known.bodies[fid] for fid in unmatched if fid in known.bodies}
    stored.update(
        opts.retry.call(finding_bodies, ddb, table, [f for f in unmatched if f not in stored])
    )
    # One resolved meanwhile by another run is gone from the table: that run announced it.
    out.resolved = [stored[fid] for fid in sorted(unmatched) if fid in stored]
    opts.retry.call(delete_items, ddb, table, [finding_key(k) for k in unmatched])
    if topic:
        sns = (opts.session or boto3.Session()).client(
            "sns", region_name=topic.split(":")[3] or config.table.region
        )
        if out.first_baseline:
            out.notified = publish_baseline(sns, topic, out.known, opts.retry)
        else:
            out.notified = publish(sns, topic, out.new, out.resolved, opts.retry)
    return out


def read_known(config: Config, options: RunOptions, accounts: Sequence[str] = ()) -> KnownFindings:
    """The known findings a recording compares with (of `accounts`, when given)."""
    opts = options
    ddb = dynamodb_client(opts.session or boto3.Session(), config)
    day0 = int(opts.clock().timestamp())
    ttl = config.table.deleted_retention_days * 86400
    # An item still standing is written again once a quarter to three quarters of its TTL has
    # passed (spread by id; the baseline marker at half), so DynamoDB never deletes a finding
    # (or the baseline) that stands: it would be announced a second time. Safe while some run
    # records every retention / 4.
    refresh = (day0 + ttl // 4, day0 + ttl * 3 // 4)
    return opts.retry.call(
        known_findings, ddb, config.table.name, accounts=list(accounts) or None, refresh=refresh
    )


def remember_findings(
    config: Config,
    summary: RunSummary,
    options: RunOptions,
    *,
    accounts: Sequence[str] = (),
    topic: str | None = None,
    audit: Audit | None = None,
) -> FindingsRecord | None:
    """After a write run: audit the table and record (and with `topic` announce) its findings.

    A failure here is the run's write failure (exit 2, named), never a lost summary. Nothing is
    recorded after an interrupted run: what it saw is partial.
    """
    if summary.interrupted:
        return None
    try:
        # The known findings are read while the table is read and audited: both wait on the
        # network (measured: an event at 100 x 17, 100 ms a call, 6.0 -> 4.6 s).
        with ThreadPoolExecutor(1, thread_name_prefix="known") as pool:
            known = pool.submit(read_known, config, options, accounts)
            if audit is None:
                audit, _ = run_audit(
                    config, accounts=accounts, options=options, inventory=summary.inventory
                )
            record = record_findings(
                config, audit, options, accounts=accounts, topic=topic, known=known.result()
            )
    except (ClientError, BotoCoreError, FatalError, TableMissingError) as exc:
        code = error_code(exc)
        log.error("findings not recorded: %s", code)
        summary.write_failures += 1
        summary.write_errors[f"FindingsNotRecorded:{code}"] = 1
        return None
    summary.findings = {
        "known": record.known,
        "new": record.new_count,
        "resolved": len(record.resolved),
        "first_baseline": record.first_baseline,
        "notified": record.notified,
    }
    return record


def run_changes(
    config: Config, since: datetime, options: RunOptions | None = None
) -> dict[str, Any]:
    """What appeared, disappeared or changed since `since` (the `changes` JSON shape)."""
    opts = options or RunOptions()
    ddb = dynamodb_client(opts.session or boto3.Session(), config)
    until = opts.clock()
    try:
        opts.retry.call(check_table, ddb, config.table.name)
        items = opts.retry.call(query_changes, ddb, config.table.name, iso(since), iso(until))
    except (ClientError, BotoCoreError) as exc:
        raise FatalError(f"cannot read table {config.table.name}: {error_code(exc)}") from None
    return {"since": iso(since), "until": iso(until), "changes": items.changes}
