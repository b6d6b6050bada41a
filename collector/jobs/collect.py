"""Job — collect: list the organization, fan out over (account, region) targets, hand each
result to a sink (the table, or memory for `--live`). The one `run(...)` behind every adapter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import Config, ConfigError
from collector.credentials import AssumedRoles, member_session, partition_of
from collector.errors import FatalError, RetryPolicy, error_code, error_message
from collector.hub import hub_session
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.sinks import MemorySink, TableSink
from collector.jobs.stored import Prepared
from collector.jobs.summary import RunSummary
from collector.models import Account, TargetResult, TargetStatus
from collector.organization import (
    AccountListing,
    account_pages,
    describe_account,
    get_ou_account_ids,
    select_accounts,
)
from collector.regions import RegionPlan, targets_per_account
from collector.scan import RegionalClients, Scanner, client_config, fan_out
from collector.scan.processes import RemoteScan, available_cpus, process_count, worker_pool
from collector.store.table import check_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sts import STSClient

ACCOUNT_LOOKUPS = 16  # DescribeAccount calls in flight at once


def scannable(
    session: boto3.Session, config: Config, account_ids: Sequence[str], retry: RetryPolicy
) -> tuple[list[Account], dict[str, str]]:
    """Of these accounts, those a normal run would scan (asked of Organizations one by one, 16
    at a time: no listing of the whole organization), and why each other one is not:
    `ExcludedByConfig`, `NotInOrganization` or `AccountNotActive`."""
    orgcfg = config.organization
    org = session.client(
        "organizations", region_name=config.table.region, config=client_config(ACCOUNT_LOOKUPS)
    )
    in_ous = retry.call(get_ou_account_ids, org, orgcfg.include_ous) if orgcfg.include_ous else None
    why: dict[str, str] = {}
    ask = []
    for a in sorted(set(account_ids)):
        if (
            a in orgcfg.exclude_accounts
            or (orgcfg.include_accounts and a not in orgcfg.include_accounts)
            or in_ous is not None
            and a not in in_ous
        ):
            why[a] = "ExcludedByConfig"
        else:
            ask.append(a)
    members = []
    with ThreadPoolExecutor(max(1, min(len(ask), ACCOUNT_LOOKUPS))) as pool:
        found = list(pool.map(lambda a: retry.call(describe_account, org, a), ask))
    for a, account in zip(ask, found, strict=True):
        if account is None:
            why[a] = "NotInOrganization"  # the nightly run marks its items
        elif account.status != "ACTIVE":
            why[a] = "AccountNotActive"
        else:
            members.append(account)
    return members, why


def follow_tgw_owners(
    config: Config,
    summary: RunSummary,
    targets: Iterable[tuple[str, str]],
    opts: RunOptions,
) -> RunSummary | None:
    """Rescan the TGW owners of these targets' attachments in the same region (their route
    tables change when a new attachment is associated and propagated, with no call in their
    account), so conflicts through the TGW are current; None when there is none to rescan."""
    rescanned = {a for a, _ in targets}
    wanted: dict[str, set[str]] = {}
    for account, region in targets:
        for owner in summary.tgw_owners.get((account, region), ()):
            if owner not in rescanned:
                wanted.setdefault(owner, set()).add(region)
    if not wanted:
        return None
    assert opts.session is not None
    members, _ = scannable(opts.session, config, sorted(wanted), opts.retry)
    if not members:
        return None
    return run(
        config,
        replace(
            opts,
            accounts=(),
            account_list=members,
            regions=sorted({r for m in members for r in wanted[m.id]}),
            targets={m.id: frozenset(wanted[m.id]) for m in members},
            current_since=None,
        ),
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
        # Each page through the retry policy, as a full run's streamed listing reads them.
        everyone = [a for page in account_pages(org, retry.call) for a in page]
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
    hub = opts.session or hub_session()
    summary = RunSummary(
        started_at=opts.clock(),
        full_org=not opts.accounts and not opts.regions and opts.account_list is None,
    )
    workers = config.scan.max_workers
    boto_cfg = client_config(workers)
    ddb = dynamodb_client(hub, config)
    try:
        sts = hub.client("sts", region_name=config.table.region, config=boto_cfg)
        partition = partition_of(_preflight(ddb, sts, config, opts))
        sink: TableSink | MemorySink = TableSink(ddb, config, opts) if opts.write else MemorySink()
    except (ClientError, BotoCoreError) as exc:
        raise FatalError(f"{error_code(exc)}: {error_message(exc)}") from None
    listing = account_listing(hub, config, opts)
    # Known before the scan starts: enough accounts to size the pool (one process per
    # `accounts_per_process`, at most one per CPU wanted), not necessarily all of them.
    wanted = config.scan.processes or available_cpus()
    summary.accounts = listing.prefetch(config.scan.accounts_per_process * wanted)
    if listing.error is not None:
        raise listing.error
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

    # An account's table work (its lease, the read of its stored items) runs beside its member
    # calls (AssumeRole, DescribeRegions), on threads of its own: the scan slots
    # `scan.max_workers` caps then hold only calls the scan needs, not two table round trips
    # an account before them (issue 26: 3 s of a 1,000-account night at 100 ms).
    table_work = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare")

    def prepare(account: Account) -> tuple[Prepared, RegionPlan]:
        stored = table_work.submit(sink.existing, account)
        try:
            planned = scanner.regions_for(account)
        except BaseException:
            # The table's error first (a lease held elsewhere says more than a denied role),
            # and a lease taken is given back.
            stored.result()
            sink.abandon(account)
            raise
        state = stored.result()
        try:
            plan = narrowed(planned, account.id, state, opts)
        except BaseException:
            sink.abandon(account)
            raise
        if plan.scan and opts.will_scan is not None:
            opts.will_scan()
        return state, plan

    # A live update names its targets (an SQS batch: at most 100, one region each), which one
    # process scans in about a second of CPU, less than starting two workers costs.
    sized_by = summary.accounts if opts.targets is None else 0
    summary.processes = process_count(
        config.scan.processes, sized_by, config.scan.accounts_per_process, available_cpus()
    )
    # Workers make their own clients; they sign as the member accounts with the credentials
    # each target is sent with, and take the rest (endpoint, CA bundle) from the profile.
    profile = hub.profile_name if hub.profile_name != "default" else None
    fanned_out = False
    try:
        try:
            with worker_pool(summary.processes, workers, profile, opts.retry) as processes:
                summary.processes = len(processes) if processes is not None else 1
                scan: Callable[[Account, str], TargetResult] = scanner.scan_target
                if processes is not None:
                    scan = RemoteScan(
                        processes, roles.get, roles.invalidate, opts.clock
                    ).scan_target
                fanned_out = True
                per_account = targets_per_account(config.regions, opts.regions, opts.targets)
                _fan_out(listing, prepare, scan, opts, workers, per_account, summary, sink, roles)
        finally:
            # Once the workers have left: the end of the run reads the whole table (the
            # sweep, the findings), the coordinator's largest allocation, and idle workers
            # would hold their memory beside it (docs/benchmarks.md).
            if fanned_out:
                sink.finish(summary, listing.everyone)
    finally:
        table_work.shutdown(wait=not summary.interrupted, cancel_futures=True)
    summary.accounts = listing.selected
    summary.duration_s = time.monotonic() - t0
    if listing.error is not None:
        # What was scanned is written; nothing is concluded from a partial list (no departed
        # accounts, no findings: the caller records none after an error).
        raise listing.error
    return summary


def _preflight(ddb: DynamoDBClient, sts: STSClient, config: Config, opts: RunOptions) -> str:
    """The ARN the run signs as, once both tables are known to be there (a run that writes:
    the ledger holds its changes and findings). Three round trips side by side: a live
    update's whole run is a few dozen. A failure is raised as the checks in sequence would
    raise it: the table's, then the ledger's, then the identity's."""
    tables = (config.table.name, config.table.ledger) if opts.write else ()
    with ThreadPoolExecutor(len(tables) + 1, thread_name_prefix="preflight") as pool:
        checks = [pool.submit(opts.retry.call, check_table, ddb, t) for t in tables]
        identity = pool.submit(opts.retry.call, sts.get_caller_identity)
        for check in checks:
            check.result()
        return str(identity.result()["Arn"])


def account_listing(hub: boto3.Session, config: Config, opts: RunOptions) -> AccountListing:
    """The accounts to scan: page by page for a full run of the organization; read whole
    first when an `--account`, `include_ous` or given account list needs all of them."""
    if opts.account_list is not None:
        given = list(opts.account_list)
        return AccountListing.of(given, given)
    if opts.accounts or config.organization.include_ous:
        return AccountListing.of(*list_target_accounts(hub, config, opts.accounts, opts.retry))
    org = hub.client("organizations", region_name=config.table.region, config=client_config(4))
    return AccountListing(
        account_pages(org, opts.retry.call),
        include=config.organization.include_accounts,
        exclude=config.organization.exclude_accounts,
        interrupted=opts.interrupted,
    )


def _fan_out(
    listing: AccountListing,
    prepare: Callable[[Account], tuple[Prepared, RegionPlan]],
    scan: Callable[[Account, str], TargetResult],
    opts: RunOptions,
    workers: int,
    per_account: int,
    summary: RunSummary,
    sink: TableSink | MemorySink,
    roles: AssumedRoles,
) -> None:
    """Scan every target and hand each result to the sink (`run` finishes it). `per_account`:
    about how many targets an account brings (`regions.targets_per_account`)."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan")
    pending = workers * 4
    # Accounts prepared at once: enough to bring `pending` targets. Without this bound a
    # night's first second prepared `pending` accounts, 17 targets each (4,352 at 64 workers),
    # and held their stored items at once: 4 MB of the coordinator's memory beside the
    # workers' (docs/benchmarks.md). A live update's accounts bring one target each: as before.
    try:
        for ev in fan_out(
            listing,
            prepare=prepare,
            scan=scan,
            executor=pool,
            max_pending=pending,
            max_preparing=max(1, pending // per_account),
            stop=opts.stop,
            interrupted=opts.interrupted,
        ):
            res = ev.result
            summary.add(res, listing.names.get(res.account_id, ""))
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
        after, scanned = since.get((account_id, region)), state.scanned_at(region)
        if after is not None and scanned is not None and scanned >= after:
            out.skipped.append((region, SKIP_CURRENT))
        else:
            out.scan.append(region)
    return out
