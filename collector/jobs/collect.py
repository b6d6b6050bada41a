"""Job — collect: list the organization, fan out over (account, region) targets, hand each
result to a sink (the table, or memory for `--live`). The one `run(...)` behind every adapter."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import Config, ConfigError
from collector.credentials import AssumedRoles, member_session, partition_of
from collector.errors import FatalError, RetryPolicy, error_code, error_message
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.sinks import MemorySink, Prepared, TableSink
from collector.jobs.summary import RunSummary
from collector.models import Account, TargetStatus
from collector.organization import get_accounts, get_ou_account_ids, select_accounts
from collector.regions import RegionPlan
from collector.scan import RegionalClients, Scanner, client_config, fan_out
from collector.store.table import check_table

if TYPE_CHECKING:
    pass


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
            # The ledger too: changes and findings are written there.
            opts.retry.call(check_table, ddb, config.table.name)
            opts.retry.call(check_table, ddb, config.table.ledger)
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
