"""Job — findings: record what a write run saw as known, and announce what is new or resolved."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.analysis import Audit
from collector.analysis.findings import iter_findings
from collector.config import Config
from collector.errors import FatalError, error_code
from collector.jobs.audit import run_audit
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.summary import RunSummary
from collector.lifecycle import expires_at
from collector.models import iso
from collector.notify import publish, publish_baseline
from collector.store.findings import (
    KnownFindings,
    baseline_item,
    finding_bodies,
    finding_item,
    finding_key,
    known_findings,
)
from collector.store.table import TableMissingError
from collector.store.writer import BatchWriter, delete_items

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


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
