"""The one `run(...)` behind every adapter (CLI, Lambda handler, demo): collect and store."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import Config, ConfigError
from collector.credentials import AssumedRoles, member_session, partition_of
from collector.errors import RetryPolicy, error_code, error_message
from collector.lifecycle import departed_reason, mark_deleted, plan_target
from collector.models import Account, TargetResult, TargetStatus, Vpc, iso, utc_now
from collector.organization import get_accounts, get_ou_account_ids, select_accounts
from collector.scan import RegionalClients, Scanner, client_config, fan_out
from collector.store import (
    BatchWriter,
    check_table,
    from_item,
    query_account,
    scan_items,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

ProgressFn = Callable[["RunSummary"], None]


class FatalError(Exception):
    """The run cannot start or continue (e.g. cannot list accounts); one line for the user."""


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
    marked_deleted: int = 0
    shared_ignored: int = 0
    write_failures: int = 0
    write_errors: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    skips: list[dict[str, str]] = field(default_factory=list)
    invalid_records: list[dict[str, str | None]] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def targets(self) -> int:
        """Targets finished so far."""
        return self.ok + self.skipped + self.failed

    @property
    def exit_code(self) -> int:
        """0 when every target was ok or skipped and every write landed, else 2."""
        return 2 if self.failed or self.write_failures else 0

    def add(self, result: TargetResult, account_name: str) -> None:
        """Count one finished target."""
        if result.status is TargetStatus.OK:
            self.ok += 1
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
            "marked_deleted": self.marked_deleted,
            "invalid_records": len(self.invalid_records),
            "shared_vpcs_ignored": self.shared_ignored,
            "write_failures": self.write_failures,
            "write_errors": self.write_errors,
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
    session: boto3.Session | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = utc_now
    progress: ProgressFn | None = None


def dynamodb_client(session: boto3.Session, config: Config) -> DynamoDBClient:
    """The DynamoDB client for the configured table's region."""
    return session.client(
        "dynamodb", region_name=config.table.region, config=client_config(config.scan.max_workers)
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


def run(config: Config, options: RunOptions | None = None) -> RunSummary:
    """Collect every selected (account, region), write the table, mark what disappeared."""
    opts = options or RunOptions()
    t0 = time.monotonic()
    hub = opts.session or boto3.Session()
    summary = RunSummary(started_at=opts.clock(), full_org=not opts.accounts and not opts.regions)
    ddb = dynamodb_client(hub, config)
    table = config.table.name
    workers = config.scan.max_workers
    boto_cfg = client_config(workers)
    try:
        check_table(ddb, table)
        sts = hub.client("sts", region_name=config.table.region, config=boto_cfg)
        partition = partition_of(sts.get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError) as exc:
        raise FatalError(f"{error_code(exc)}: {error_message(exc)}") from None
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
    retention = config.table.deleted_retention_days
    names = {a.id: a.name for a in everyone}

    def prepare(account: Account) -> tuple[dict[str, list[Vpc]], list[str]]:
        regions = scanner.regions_for(account)
        existing: dict[str, list[Vpc]] = {}
        for item in opts.retry.call(query_account, ddb, table, account.id):
            existing.setdefault(item.Region, []).append(item)
        return existing, regions

    writer = BatchWriter(ddb, table, threads=min(8, max(2, workers // 4)), retry=opts.retry)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan") as pool:
        try:
            for ev in fan_out(
                selected,
                prepare=prepare,
                scan=scanner.scan_target,
                executor=pool,
                max_pending=workers * 4,
            ):
                res = ev.result
                summary.add(res, names.get(res.account_id, ""))
                if res.status is TargetStatus.OK and ev.prepared is not None:
                    plan = plan_target(
                        res.records,
                        ev.prepared.get(res.region, []),
                        now=opts.clock(),
                        retention_days=retention,
                    )
                    writer.add_all(to_item(v) for v in [*plan.seen, *plan.marked])
                    summary.vpcs_seen += len(plan.seen)
                    summary.marked_deleted += len(plan.marked)
                if ev.account_done:
                    summary.accounts_done += 1
                    roles.forget(ev.account.id)
                if opts.progress:
                    opts.progress(summary)
            if summary.full_org:
                summary.marked_deleted += _mark_departed(
                    ddb, table, writer, {a.id: a for a in everyone}, opts.clock(), retention
                )
        finally:
            stats = writer.close()
    summary.vpcs_written = stats.written
    summary.write_failures = stats.failed
    summary.write_errors = dict(stats.errors)
    summary.duration_s = time.monotonic() - t0
    return summary


def _mark_departed(
    ddb: DynamoDBClient,
    table: str,
    writer: BatchWriter,
    org: dict[str, Account],
    now: datetime,
    retention_days: int,
) -> int:
    """Mark live items of accounts that left the org or are no longer ACTIVE; return count."""
    # Writes for this run must be settled before we read the table back.
    writer.flush()
    marked = 0
    try:
        for raw in scan_items(ddb, table):
            owner = raw.get("OwnerId", {}).get("S", "")
            reason = departed_reason(owner, org)
            if reason is None or raw.get("Deleted", {}).get("BOOL", False):
                continue
            vpc = mark_deleted(
                from_item(raw), now=now, reason=reason, retention_days=retention_days
            )
            writer.add(to_item(vpc))
            marked += 1
    except (ClientError, BotoCoreError) as exc:
        raise FatalError(f"cannot read table {table}: {error_code(exc)}") from None
    return marked
