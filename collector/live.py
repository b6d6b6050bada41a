"""Live inventory: a CloudTrail event for a VPC change rescans exactly that (account, region).

Member accounts forward the EC2 API calls that change what is stored (EventBridge rule →
the hub's event bus → an SQS queue, or straight to the function). A burst for one target is
one scan (events are coalesced per target within an invocation); the normal lifecycle applies
(a deleted VPC is marked, a failed scan marks nothing); no other target is touched.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from collector.config import Config, ConfigError, check_account_id, check_region_shape
from collector.errors import error_code
from collector.jobs.collect import run
from collector.jobs.findings import remember_findings
from collector.jobs.options import RunOptions
from collector.jobs.summary import RunSummary
from collector.models import Account
from collector.organization import get_ou_account_ids
from collector.safety import brief
from collector.scan import client_config

log = logging.getLogger(__name__)

CLOUDTRAIL = "AWS API Call via CloudTrail"
ACCOUNT_LOOKUPS = 16  # DescribeAccount calls in flight at once
Target = tuple[str, str]  # (account, region)


def is_cloudtrail_event(event: Any) -> bool:
    """An EventBridge event carrying a CloudTrail record."""
    return isinstance(event, dict) and event.get("detail-type") == CLOUDTRAIL


def event_target(event: Mapping[str, Any]) -> Target:
    """Pure: the (account, region) an event names; ConfigError if it names none."""
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    account = detail.get("recipientAccountId") or event.get("account")
    region = detail.get("awsRegion") or event.get("region")
    try:
        check_account_id(str(account))
        check_region_shape(str(region))
    except ValueError as exc:
        raise ConfigError(
            f"event: no account and region to rescan ({exc}; got {brief(account)}, {brief(region)})"
        ) from None
    return str(account), str(region)


@dataclass
class Rescan:
    """What rescanning a set of targets did."""

    ok: set[Target] = field(default_factory=set)
    failed: dict[Target, str] = field(default_factory=dict)  # target -> error code
    skipped: dict[Target, str] = field(default_factory=dict)  # target -> why not scanned
    summaries: list[RunSummary] = field(default_factory=list)
    notified: int = 0
    notify_failures: int = 0

    def done(self, target: Target) -> bool:
        """Scanned, or provably nothing to scan (account gone or outside the config)."""
        return target in self.ok or target in self.skipped


def rescan(
    config: Config,
    targets: Iterable[Target],
    opts: RunOptions,
    current_since: Mapping[Target, datetime] | None = None,
) -> Rescan:
    """Scan each named target once (coalesced; one run for all of them), record what that
    changed of the findings, and announce it (on `notify.topic_arn`). With `current_since`, a
    target whose stored scan started at or after that time is not scanned again (another
    invocation already saw the change)."""
    assert opts.session is not None
    by_account: dict[str, set[str]] = defaultdict(set)
    for acct, region in targets:
        by_account[acct].add(region)
    out = Rescan()
    org = opts.session.client(
        "organizations", region_name=config.table.region, config=client_config(ACCOUNT_LOOKUPS)
    )
    in_ous = (
        opts.retry.call(get_ou_account_ids, org, config.organization.include_ous)
        if config.organization.include_ous
        else None
    )
    members: list[Account] = []
    ids = sorted(by_account)
    # One DescribeAccount per account, side by side: a batch names up to 100 accounts.
    with ThreadPoolExecutor(max(1, min(len(ids), ACCOUNT_LOOKUPS))) as pool:
        looked_up = list(pool.map(lambda a: _member(org, opts, config, a, in_ous), ids))
    for account_id, (member, why) in zip(ids, looked_up, strict=True):
        if member is None:
            out.skipped.update({(account_id, r): why for r in by_account[account_id]})
        else:
            members.append(member)
    if not members:
        return out
    summary = run(
        config,
        replace(
            opts,
            account_list=members,
            regions=sorted({r for m in members for r in by_account[m.id]}),
            targets={m.id: frozenset(by_account[m.id]) for m in members},
            current_since=current_since,
        ),
    )
    out.summaries.append(summary)
    failed = {(f["account_id"], f["region"]): f["error_code"] for f in summary.failures}
    unreadable = {u.OwnerId for u in summary.unreadable_items}
    for m in members:
        for region in by_account[m.id]:
            code = failed.get((m.id, region)) or failed.get((m.id, "*"))
            if code or summary.write_failures or m.id in unreadable:
                out.failed[(m.id, region)] = code or "WriteFailed"
            else:
                out.ok.add((m.id, region))
    # Accounts this run scanned (not those whose targets were all already current: the run
    # that scanned them recorded their findings).
    scanned = [m.id for m in members if m.id in summary.ok_accounts]
    if scanned:
        record = remember_findings(config, summary, opts, accounts=scanned)
        out.notified = record.notified if record else 0
        out.notify_failures = record.notify_failures if record else 0
    return out


def _member(
    org: Any, opts: RunOptions, config: Config, account_id: str, in_ous: set[str] | None
) -> tuple[Account | None, str]:
    """The account if a normal run would scan it, else (None, why not)."""
    orgcfg = config.organization
    if account_id in orgcfg.exclude_accounts or (
        orgcfg.include_accounts and account_id not in orgcfg.include_accounts
    ):
        return None, "ExcludedByConfig"
    if in_ous is not None and account_id not in in_ous:
        return None, "ExcludedByConfig"
    try:
        raw = opts.retry.call(org.describe_account, AccountId=account_id)["Account"]
    except ClientError as exc:
        if error_code(exc) == "AccountNotFoundException":
            return None, "NotInOrganization"  # the nightly run marks its items
        raise
    status = raw.get("State") or raw.get("Status") or "ACTIVE"
    if status != "ACTIVE":
        return None, "AccountNotActive"
    return Account(account_id, raw.get("Name", ""), str(status)), ""


def target_statuses(rescan_result: Rescan) -> list[dict[str, str]]:
    """The `rescanned` list of a direct invocation's answer."""
    return [{"account": a, "region": r} for a, r in sorted(rescan_result.ok)]
