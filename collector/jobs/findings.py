"""Job — findings: record what the inventory says as known findings in the ledger, and announce
what is new, changed or resolved, once.

One recording at a time: each takes the ledger's `recording` lease, and compares an inventory
read after the newest recording's own read ended (it reads again when the view it was handed is
older), so concurrent runs (event, nightly, check) never announce a false `resolved`. Every
transition is written to the outbox before the state it announces, and an announcement leaves
the outbox only once SNS accepted its message: a failed publish, a kill or a run without a topic
leaves it for the next recording of any kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from collector.analysis import Audit, Connections
from collector.analysis.findings import (
    Comparison,
    Finding,
    compare,
    iter_findings,
)
from collector.analysis.scope import affected_accounts
from collector.config import Config
from collector.errors import FatalError, MalformedResponse, error_code
from collector.hub import hub_session
from collector.jobs.announce import announcements, baseline_announcement, send_outbox
from collector.jobs.audit import run_audit
from collector.jobs.blockindex import keep_whole
from collector.jobs.lean import for_audit
from collector.jobs.narrow import Narrowed, narrowed_view
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.publish import Publisher
from collector.jobs.summary import RunSummary
from collector.jobs.views import CLOCK_SKEW, View, read_view
from collector.lifecycle import expires_at
from collector.models import Connectivity, KnownFinding, Vpc, iso
from collector.notify import Announcement, ReportLink
from collector.scan import ALL_REGIONS
from collector.store.changes import legacy_changes
from collector.store.findings import (
    LEGACY_BASELINE_KEY,
    Marker,
    Pending,
    all_known,
    due_for_rewrite,
    finding_bodies,
    finding_item,
    finding_key,
    known_of,
    legacy_baseline,
    legacy_keys,
    marker_item,
    outbox_item,
    pending,
    read_marker,
)
from collector.store.leases import release_lease, take_lease
from collector.store.reader import paused_gc
from collector.store.registry import Items
from collector.store.table import TableMissingError
from collector.store.writer import BatchWriter, delete_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

RECORDING = "recording"  # the ledger lease every recording holds
RECORDING_SECONDS = 300  # a killed recording's lease frees itself after this
# A narrowed recording reads its scope's findings one account at a time up to this many
# accounts; past it, every known finding (one Query per shard) costs fewer calls.
SCOPE_QUERIES = 32


@dataclass
class FindingsRecord:
    """What one recording did (`summary.findings` in the run summary's JSON)."""

    known: int = 0
    new: int = 0
    changed: int = 0
    resolved: int = 0
    refreshed: int = 0  # standing findings written again so their TTL never runs out
    first_baseline: bool = False
    upgraded: bool = False
    notified: int = 0  # messages SNS accepted
    pending: int = 0  # announcements left for a later recording
    notify_failures: int = 0  # messages SNS did not accept
    report_keys: list[str] = field(default_factory=list)  # the published report's objects
    report_failures: int = 0  # uploads of the report that failed (ReportFailures)
    duration_s: float = 0.0  # from taking the lease to releasing it
    audit: Audit | None = None  # the whole organization's audit it compared

    def to_dict(self) -> dict[str, Any]:
        """The `findings` object of a run summary."""
        return {
            "known": self.known,
            "new": self.new,
            "changed": self.changed,
            "resolved": self.resolved,
            "refreshed": self.refreshed,
            "first_baseline": self.first_baseline,
            "notified": self.notified,
            "pending": self.pending,
            "notify_failures": self.notify_failures,
            "report_keys": list(self.report_keys),
            "report_failures": self.report_failures,
            "duration_s": round(self.duration_s, 3),
        }


def frozen_targets(summary: RunSummary) -> set[tuple[str, str]]:
    """(account, region) of every failed target of a run (region `*`: the whole account)."""
    return {(f["account_id"], f["region"]) for f in summary.failures}


def remember_findings(
    config: Config,
    summary: RunSummary,
    options: RunOptions,
    *,
    accounts: Sequence[str] = (),
    view: View | None = None,
    frozen: Collection[tuple[str, str]] | None = None,
    report: Publisher | None = None,
    later: Callable[[], View | None] | None = None,
) -> FindingsRecord | None:
    """After a write run: record (and, with `notify.topic_arn`, announce) its findings.

    A failure here is the run's write failure (exit 2, named), never a lost summary. Nothing is
    recorded after an interrupted run: what it saw is partial. `accounts` narrows the recording
    to what a rescan of those accounts touched; `view` is the inventory the run already read
    (the full collect's sweep); `later` gives one still being read (a live event's, beside its
    rescan), awaited once the lease is taken; `frozen` defaults to the run's failed targets;
    `report` publishes the report of the audit it compared before anything is announced (so
    each message can link it).
    """
    if summary.interrupted:
        return None
    if view is None and summary.inventory is not None and summary.inventory_read is not None:
        view = View(summary.inventory, *summary.inventory_read)
    try:
        record = record_findings(
            config,
            options,
            accounts=accounts,
            view=view,
            frozen=frozen_targets(summary) if frozen is None else frozen,
            report=report,
            before=summary.connectivity_before,
            vpcs_before=summary.vpcs_before,
            later=later,
            rescan=summary if accounts and not summary.full_org else None,
        )
    except (ClientError, BotoCoreError, FatalError, MalformedResponse, TableMissingError) as exc:
        code = error_code(exc)
        log.error("findings not recorded: %s: %s", code, exc)
        summary.write_failures += 1
        summary.write_errors[f"FindingsNotRecorded:{code}"] = 1
        return None
    summary.findings = record.to_dict()
    return record


def record_findings(
    config: Config,
    options: RunOptions,
    *,
    accounts: Sequence[str] = (),
    view: View | None = None,
    frozen: Collection[tuple[str, str]] = (),
    report: Publisher | None = None,
    before: Sequence[Connectivity] = (),
    later: Callable[[], View | None] | None = None,
    vpcs_before: Sequence[Vpc] = (),
    rescan: RunSummary | None = None,
) -> FindingsRecord:
    """Record the findings of the inventory under the recording lease; see the module.
    `before`, `vpcs_before`: the rescanned accounts' connectivity and VPCs as the table held
    them before the rescan (a narrowed recording also compares whoever they connected, and
    whoever overlapped a block they no longer hold); `later`: the view, awaited beside the
    recording's first round trips when `view` is None; `rescan`: the narrowed run a
    recording follows, whose targets alone it may compare, reading only their items, when
    nothing else can have moved (jobs.narrow) and no view was handed over."""
    opts = options
    t0 = time.monotonic()
    ddb = dynamodb_client(opts.session or hub_session(), config)
    ledger = config.table.ledger
    holder = take_lease(
        ddb,
        ledger,
        RECORDING,
        opts.run_id,
        hold_seconds=RECORDING_SECONDS,
        wait_seconds=config.scan.lease_wait_seconds,
        call=opts.retry.call,
        sleep=opts.sleep,
        give_up=opts.interrupted,
    )
    if holder is not None:
        raise FatalError(
            f"another recording ({holder.run_id}, started {iso(holder.started_at)}) holds the "
            "findings; this run's findings are left to the next one"
        )
    try:
        recording = _Recording(config, opts, ddb, accounts, frozen, report, before, vpcs_before)
        record = recording.run(view, later, rescan)
        record.duration_s = time.monotonic() - t0
        return record
    finally:
        try:
            opts.retry.call(release_lease, ddb, ledger, RECORDING, opts.run_id)
        except (ClientError, BotoCoreError) as exc:  # its TTL frees it
            log.warning("could not release the recording lease: %s", error_code(exc))


class _Recording:
    """One recording, under the lease."""

    def __init__(
        self,
        config: Config,
        opts: RunOptions,
        ddb: DynamoDBClient,
        accounts: Sequence[str],
        frozen: Collection[tuple[str, str]],
        report: Publisher | None = None,
        before: Sequence[Connectivity] = (),
        vpcs_before: Sequence[Vpc] = (),
    ) -> None:
        self.config, self.opts, self.ddb = config, opts, ddb
        self.report = report
        self.before = before
        self.vpcs_before = vpcs_before
        self.link: ReportLink | None = None
        self.ledger = config.table.ledger
        self.accounts = frozenset(accounts)
        self.frozen = set(frozen)
        self.now = opts.clock()
        self.at = iso(self.now)
        self.expires = expires_at(self.now, config.table.deleted_retention_days)
        self.out = FindingsRecord()

    def run(
        self,
        view: View | None,
        later: Callable[[], View | None] | None,
        rescan: RunSummary | None = None,
    ) -> FindingsRecord:
        retry = self.opts.retry
        # Under the lease no other recording writes these: three round trips side by side,
        # and beside them the end of a view still being read (it is compared once whole).
        with ThreadPoolExecutor(4, thread_name_prefix="recording") as pool:
            view_at = pool.submit(later) if view is None and later is not None else None
            marker_at = pool.submit(retry.call, read_marker, self.ddb, self.ledger)
            outbox_at = pool.submit(retry.call, pending, self.ddb, self.ledger)
            mine_at = (
                pool.submit(retry.call, known_of, self.ddb, self.ledger, self.accounts)
                if self.accounts
                else None
            )
            marker, outbox = marker_at.result(), outbox_at.result()
            mine = mine_at.result() if mine_at is not None else {}
            if view_at is not None:
                view = view_at.result()
        if view is None and rescan is not None:
            # Only the rescanned targets' items, when nothing else can have moved.
            narrowed = narrowed_view(self.config, self.opts, self.ddb, rescan, marker)
            if narrowed is not None:
                with paused_gc():
                    done = self._compare_narrowed(narrowed, marker, outbox, mine)
                if done is not None:
                    return done
        # The page it may publish shows every subnet and tag: then only a whole read will do.
        # Else it reads as `audit --format json` does.
        publishes = self._publishes()
        if view is None or view.outdated_by(marker) or (publishes and view.items.lean):
            # Another recording compared a newer view than ours (ours could make what it saw
            # look resolved), or ours cannot draw the page. Read again, now that no recording
            # can come between.
            view = read_view(self.config, self.opts, None if publishes else for_audit(self.config))
        # The analysis allocates by the hundred thousand beside the whole inventory it holds,
        # and the cyclic collector re-walked that inventory as it did: 0.1 s of a live event's
        # 0.8 s of CPU at 1,000 x 17 (docs/benchmarks.md). What the analysis makes has no
        # cycles to wait on; the collector is back on once the recording is done.
        with paused_gc():
            return self._compare(view, marker, outbox, mine)

    def _compare(
        self, view: View, marker: Marker, outbox: list[Pending], mine: Mapping[str, KnownFinding]
    ) -> FindingsRecord:
        """Audit `view`, compare it with the known findings, write and announce the change."""
        retry = self.opts.retry
        # Merged once, for the audit and for the scope of a narrowed recording.
        conns = Connections.of(view.items.connectivity, view.items.route_tables)
        audit, _ = run_audit(
            self.config, options=self.opts, inventory=view.items, connections=conns
        )
        self.out.audit = audit
        self._freeze_unreadable(view.items)
        current = list(iter_findings(audit, self.config.overlaps.expected))
        full = not self.accounts
        upgrading = (
            full
            and not marker.baselined
            and retry.call(legacy_baseline, self.ddb, self.config.table.name)
        )
        known, in_scope = self._known(audit, view.items, conns, full, mine)
        cmp = compare(current, known, in_scope=in_scope, frozen=self._is_frozen)
        announce = marker.baselined
        entries = self._announcements(cmp) if announce else []
        if full and not marker.baselined and not upgrading:
            entries.append(self._baseline(current))
            self.out.first_baseline = True
        # A full recording's view holds every VPC: what the block index lacks of it is added
        # (jobs.blockindex), and its marker then says the index is whole. Any other keeps
        # what the marker said: its own writes went to the index first.
        indexed = self._keep_index_whole(view) if full else marker.indexed
        self._write(
            cmp,
            entries,
            outbox,
            marker_baselined=marker.baselined or full,
            view=view,
            indexed=indexed,
        )
        if upgrading:
            self._upgrade()
            self.out.upgraded = True
        self._count(cmp)
        self._publish_report(audit)
        self._send()
        return self.out

    def _compare_narrowed(
        self,
        narrowed: Narrowed,
        marker: Marker,
        outbox: list[Pending],
        mine: Mapping[str, KnownFinding],
    ) -> FindingsRecord | None:
        """`_compare` for a narrowed view: the findings of its targets alone, against their
        known ones; None, with nothing written, when a page to publish must show a change (it
        is drawn from the whole inventory)."""
        items = narrowed.view.items
        conns = Connections.of(items.connectivity, items.route_tables)
        audit, _ = run_audit(self.config, options=self.opts, inventory=items, connections=conns)
        targets = narrowed.targets
        expected = self.config.overlaps.expected
        current = [f for f in iter_findings(audit, expected) if (f.account, f.region) in targets]
        known = {i: k for i, k in mine.items() if (k.account, k.region) in targets}
        cmp = compare(current, known, frozen=self._is_frozen)
        if self._publishes() and (cmp.new or cmp.changed or cmp.resolved):
            return None
        entries = self._announcements(cmp) if marker.baselined else []
        self._write(
            cmp,
            entries,
            outbox,
            marker_baselined=marker.baselined,
            view=narrowed.view,
            indexed=marker.indexed,
        )
        self._count(cmp)
        self._send()
        return self.out

    def _publishes(self) -> bool:
        """The recording may publish the report page (a live one: when a finding changed)."""
        return self.report is not None and self.config.report.bucket is not None

    def _send(self) -> None:
        """Send what is pending in the outbox (when the config names a topic)."""
        # Else left pending for a run that has a topic. Nothing pending (the outbox read
        # under the lease was empty, and nothing was written to it): nothing to read again.
        if self.config.notify.topic_arn and self.out.pending:
            sent = send_outbox(self.config, self.opts, self.ddb, self.link)
            self.out.notified += sent.notified
            self.out.notify_failures += sent.failures
            self.out.pending = sent.pending

    def _keep_index_whole(self, view: View) -> bool:
        return keep_whole(
            self.ddb,
            self.ledger,
            view.items,
            view.started,
            skew=CLOCK_SKEW,
            retention=timedelta(days=self.config.table.deleted_retention_days),
            now=self.now,
            retry=self.opts.retry,
        )

    def _publish_report(self, audit: Audit) -> None:
        if self.report is None:
            return
        o = self.out
        publication = self.report(audit, bool(o.new or o.changed or o.resolved or o.first_baseline))
        self.link = publication.link
        o.report_keys, o.report_failures = publication.keys, publication.failures

    # ----- what to compare ----------------------------------------------------------------

    def _is_frozen(self, account: str, region: str) -> bool:
        return (account, region) in self.frozen or (account, ALL_REGIONS) in self.frozen

    def _freeze_unreadable(self, items: Items) -> None:
        # An item the audit cannot read (a VPC, or what routes to one) might change a finding:
        # its account's findings stand as they are (the item's key names the account).
        for u in items.unreadable:
            self.frozen.add((u.OwnerId, ALL_REGIONS))

    def _known(
        self,
        audit: Audit,
        items: Items,
        conns: Connections,
        full: bool,
        mine: Mapping[str, KnownFinding],
    ) -> tuple[dict[str, KnownFinding], Callable[[str], bool]]:
        """The known findings to compare, and which accounts' findings are compared; `conns`:
        the connections of `items`; `mine`: the known findings of the rescanned accounts (a
        narrowed recording's)."""
        retry = self.opts.retry
        if full:
            return retry.call(all_known, self.ddb, self.ledger), lambda _a: True
        scope = affected_accounts(
            self.accounts,
            audit,
            items.vpcs,
            mine.values(),
            conns,
            self.before,
            self.vpcs_before,
        )
        if len(scope) > SCOPE_QUERIES:
            known = retry.call(all_known, self.ddb, self.ledger)
        else:
            known = {**mine, **retry.call(known_of, self.ddb, self.ledger, scope - self.accounts)}
        return known, scope.__contains__

    # ----- what to write -------------------------------------------------------------------

    def _announcements(self, cmp: Comparison) -> list[Announcement]:
        resolved = cmp.resolved
        bodies = (
            self.opts.retry.call(finding_bodies, self.ddb, self.ledger, resolved)
            if resolved
            else {}
        )
        return announcements(cmp, bodies, self.at)

    def _baseline(self, current: Sequence[Finding]) -> Announcement:
        return baseline_announcement(current, self.at, self._is_frozen)

    def _write(
        self,
        cmp: Comparison,
        entries: Sequence[Announcement],
        outbox: Sequence[Pending],
        *,
        marker_baselined: bool,
        view: View,
        indexed: bool,
    ) -> None:
        # The newest pending announcement of each finding: one already waiting to be made is
        # not written twice (a recording whose state writes failed is repeated by the next).
        latest: dict[str, tuple[str, str]] = {}
        for p in outbox:
            latest[p.finding_id] = (p.transition, str(p.message.get("state", "")))
        fresh = [e for e in entries if latest.get(e.id) != (e.transition, e.state)]
        self._flush([outbox_item(self.at, e.to_message(), self.expires) for e in fresh], "outbox")
        day0 = int(self.now.timestamp())
        ttl = self.config.table.deleted_retention_days * 86400
        window = (day0 + ttl // 4, day0 + ttl * 3 // 4)
        due = [self._item(f) for f, k in cmp.standing if due_for_rewrite(k, window)]
        puts = [self._item(f) for f in cmp.new]
        puts += [self._item(f) for f, _ in cmp.changed]
        self._flush([*puts, *due], "known-finding")
        self.out.refreshed = len(due)
        if cmp.resolved:
            self.opts.retry.call(
                delete_items,
                self.ddb,
                self.ledger,
                [finding_key(k.account, k.id) for k in cmp.resolved],
            )
        marker = marker_item(marker_baselined, view.ended, self.now, self.expires, indexed)
        self._flush([marker], "baseline")
        self.out.pending = len(fresh) + len(outbox)

    def _item(self, f: Finding) -> dict[str, Any]:
        known = KnownFinding(f.id, f.account, f.region, f.kind, f.state, f.group, f.cidr)
        return finding_item(known, f.build(), self.expires, self.now)

    def _flush(self, items: Iterable[dict[str, Any]], what: str) -> None:
        with BatchWriter(self.ddb, self.ledger, retry=self.opts.retry) as writer:
            writer.add_all(items)
        if writer.stats.failed:
            raise FatalError(f"{writer.stats.failed} {what} items could not be written")

    def _count(self, cmp: Comparison) -> None:
        self.out.new = len(cmp.new)
        self.out.changed = len(cmp.changed)
        self.out.resolved = len(cmp.resolved)
        self.out.known = len(cmp.new) + len(cmp.changed) + len(cmp.standing)

    def _upgrade(self) -> None:
        """The previous version's per-pair findings (and its changes) leave the inventory table:
        findings are known again above, silently; changes move to the ledger."""
        table, retry = self.config.table.name, self.opts.retry
        changes = retry.call(legacy_changes, self.ddb, table)
        self._flush(changes, "change")
        keys = [LEGACY_BASELINE_KEY, *retry.call(legacy_keys, self.ddb, table)]
        keys += [{"VpcId": c["VpcId"], "OwnerId": c["OwnerId"]} for c in changes]
        retry.call(delete_items, self.ddb, table, keys)
