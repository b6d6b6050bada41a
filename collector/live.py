"""Live inventory: a CloudTrail event for a VPC change rescans exactly that (account, region).

Member accounts forward the EC2 API calls that change what is stored (EventBridge rule →
the hub's event bus → an SQS queue, or straight to the function). A burst for one target is
one scan (events are coalesced per target within an invocation); the normal lifecycle applies
(a deleted VPC is marked, a failed scan marks nothing); no other target is touched.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from collector.config import Config, ConfigError, check_account_id, check_region
from collector.jobs.collect import follow_tgw_owners, run, scannable
from collector.jobs.findings import remember_findings
from collector.jobs.lean import unless_published
from collector.jobs.options import RunOptions
from collector.jobs.publish import live_publisher
from collector.jobs.summary import RunSummary
from collector.jobs.views import ViewAhead
from collector.models import Account
from collector.safety import brief
from collector.store.reader import paused_gc

log = logging.getLogger(__name__)

CLOUDTRAIL = "AWS API Call via CloudTrail"
Target = tuple[str, str]  # (account, region)
# Why a target that was scanned is not done: its findings were not recorded.
NOT_RECORDED = "FindingsNotRecorded"


def is_cloudtrail_event(event: Any) -> bool:
    """An EventBridge event carrying a CloudTrail record."""
    return isinstance(event, dict) and event.get("detail-type") == CLOUDTRAIL


def event_target(event: Mapping[str, Any]) -> Target:
    """Pure: the (account, region) an event names; ConfigError if it names none, names a region
    this botocore does not know, or if its CloudTrail record names another target than the
    envelope. The envelope's `account` and `region` decide: EventBridge sets them from where the
    call was made; the record's `recipientAccountId` and `awsRegion` are the caller's data."""
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    account, region = event.get("account"), event.get("region")
    try:
        check_account_id(str(account))
        check_region(str(region))
    except ValueError as exc:
        raise ConfigError(
            f"event: no account and region to rescan ({exc}; got {brief(account)}, {brief(region)})"
        ) from None
    for key, envelope in (("recipientAccountId", account), ("awsRegion", region)):
        if key in detail and detail[key] != envelope:
            raise ConfigError(
                f"event: detail.{key} {brief(detail[key])} is not the envelope's {brief(envelope)}"
            )
    return str(account), str(region)


def changes_tgw(event: Mapping[str, Any]) -> bool:
    """Pure: the event's call changes a Transit Gateway attachment or its routing (then the
    TGW's owner, whose route tables it changed, is rescanned too)."""
    detail = event.get("detail")
    name = detail.get("eventName") if isinstance(detail, dict) else None
    return isinstance(name, str) and "TransitGateway" in name


@dataclass
class Rescan:
    """What rescanning a set of targets did."""

    ok: set[Target] = field(default_factory=set)
    failed: dict[Target, str] = field(default_factory=dict)  # target -> error code
    skipped: dict[Target, str] = field(default_factory=dict)  # target -> why not scanned
    summaries: list[RunSummary] = field(default_factory=list)
    notified: int = 0
    notify_failures: int = 0
    report_failures: int = 0

    def done(self, target: Target) -> bool:
        """Scanned, or provably nothing to scan (account gone or outside the config)."""
        return target in self.ok or target in self.skipped


def rescan(
    config: Config,
    targets: Iterable[Target],
    opts: RunOptions,
    current_since: Mapping[Target, datetime] | None = None,
    follow: Collection[Target] = (),
) -> Rescan:
    """Scan each named target once (coalesced; one run for all of them), record what that
    changed of the findings, and announce it (on `notify.topic_arn`). With `current_since`, a
    target whose stored scan started at or after that time is not scanned again (another
    invocation already saw the change). The targets in `follow` (their event changed a TGW
    attachment) also have the owners of their attachments' TGWs rescanned."""
    assert opts.session is not None
    by_account: dict[str, set[str]] = defaultdict(set)
    for acct, region in targets:
        by_account[acct].add(region)
    out = Rescan()
    # One DescribeAccount per account, side by side: a batch names up to 100 accounts.
    members, why = scannable(opts.session, config, sorted(by_account), opts.retry)
    for account_id, reason in why.items():
        out.skipped.update({(account_id, r): reason for r in by_account[account_id]})
    if not members:
        return out
    # The cyclic collector stays off until the inventory is gone, as for the CLI's reports:
    # turned back on while the view and its analysis were still held, its first passes
    # walked all of them (0.33-0.84 s of an event's 7 s of CPU at 100k VPCs, measured in
    # docs/benchmarks.md); once `_record` returns, reference counting has freed them.
    batch = _Batch(config, members, by_account, out, current_since, follow)
    with paused_gc():
        _record(batch, opts)
    return out


@dataclass(frozen=True)
class _Batch:
    """What one `rescan` scans and records: the members it may scan, the regions named for
    each, the answer it fills, and `rescan`'s `current_since` and `follow`."""

    config: Config
    members: list[Account]
    by_account: Mapping[str, set[str]]
    out: Rescan
    current_since: Mapping[Target, datetime] | None
    follow: Collection[Target]


def _record(batch: _Batch, opts: RunOptions) -> None:
    """Rescan the batch's targets beside the read of the inventory, then record and announce
    what that changed of the findings (`rescan`); fills `batch.out`."""
    config, out = batch.config, batch.out
    # The inventory the findings are compared with is read while the targets are rescanned;
    # what the rescan writes is then read back into it by key (see jobs.views). With every
    # subnet only for the page a recording may publish; else as `audit --format json`.
    without = unless_published(config)
    with ViewAhead(config, opts, without, may_narrow=True) as ahead:
        summary, scanned = _rescan(batch, ahead.options)
        if not scanned:
            # Every target was already current: nothing to record, and no table read for it.
            return
        # The published report's latest/ follows what this announces (debounced).
        record = remember_findings(
            config,
            summary,
            ahead.options,
            accounts=scanned,
            # Awaited under the recording's lease, beside its first round trips.
            later=functools.partial(ahead.view, summary),
            report=live_publisher(config, ahead.options),
        )
    if record is None:
        # Not recorded (the ledger failed, another recording held it past the wait, the run
        # was interrupted): what the rescan wrote is in the table, but nothing compared it with
        # the known findings. No target is done: each message goes back to the queue, and its
        # redelivery is scanned and recorded (the handler scans a redelivered message even
        # when a scan stored since it was sent, this one, would stand for it).
        for target in sorted(out.ok):
            out.failed[target] = NOT_RECORDED
        out.ok.clear()
        return
    out.notified = record.notified
    out.notify_failures = record.notify_failures
    out.report_failures = record.report_failures


def _rescan(batch: _Batch, opts: RunOptions) -> tuple[RunSummary, list[str]]:
    """One run over the batch's targets (and the TGW owners they lead to); fills `batch.out`'s
    summaries, ok and failed targets; returns the run's summary and the accounts it scanned."""
    config, members, by_account, out = batch.config, batch.members, batch.by_account, batch.out
    summary = run(
        config,
        replace(
            opts,
            account_list=members,
            regions=sorted({r for m in members for r in by_account[m.id]}),
            targets={m.id: frozenset(by_account[m.id]) for m in members},
            current_since=batch.current_since,
        ),
    )
    out.summaries.append(summary)
    asked = {(m.id, region) for m in members for region in by_account[m.id]}
    _settle(out, summary, asked)
    # Accounts this run scanned (not those whose targets were all already current: the run
    # that scanned them recorded their findings).
    scanned = [m.id for m in members if m.id in summary.ok_accounts]
    followed = [t for t in batch.follow if t in out.ok]
    owners = follow_tgw_owners(config, summary, followed, opts)
    if owners is not None:
        out.summaries.append(owners)
        # The owners' targets it rescanned are in the answer too; not failed ones (the event's
        # own target stands or falls by its own scan).
        theirs = {
            (owner, region)
            for account, region in followed
            for owner in summary.tgw_owners.get((account, region), ())
            if owner in owners.ok_accounts
        }
        _settle(out, owners, theirs - asked, failures=False)
        summary.absorb(owners)
        scanned += sorted(owners.ok_accounts - set(scanned))
    return summary, scanned


def _settle(
    out: Rescan, summary: RunSummary, targets: Iterable[Target], *, failures: bool = True
) -> None:
    """Put each of `targets` in `out.ok` if `summary`'s run scanned it whole and wrote it all,
    else (with `failures`) in `out.failed` with why."""
    failed = {(f["account_id"], f["region"]): f["error_code"] for f in summary.failures}
    unreadable = {u.OwnerId for u in summary.unreadable_items}
    for account, region in targets:
        code = failed.get((account, region)) or failed.get((account, "*"))
        if code or summary.write_failures or account in unreadable:
            if failures:
                out.failed[(account, region)] = code or "WriteFailed"
        else:
            out.ok.add((account, region))


def target_statuses(rescan_result: Rescan) -> list[dict[str, str]]:
    """The `rescanned` list of a direct invocation's answer."""
    return [{"account": a, "region": r} for a, r in sorted(rescan_result.ok)]
