"""Jobs — the summary of a collection run: what `collect --format json` prints and the Lambda
returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from collector.models import (
    Connectivity,
    TargetResult,
    TargetStatus,
    TgwAttachment,
    TgwRouteTable,
    UnreadableItem,
    Vpc,
    iso,
)
from collector.store.registry import Items

if TYPE_CHECKING:
    pass


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
    # Items left as stored because nothing but `LastSeen` changed (`table.rewrite_unchanged:
    # false`); their `LastSeen` is derived from the account's scan times.
    items_unchanged: int = 0
    marked_deleted: int = 0
    shared_ignored: int = 0
    write_failures: int = 0
    write_errors: dict[str, int] = field(default_factory=dict)
    # VPC items DynamoDB refused whole (past every split), stored with their blocks only.
    incomplete_items: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    skips: list[dict[str, str]] = field(default_factory=list)
    invalid_records: list[dict[str, str | None]] = field(default_factory=list)
    duration_s: float = 0.0
    # Processes that made the fan-out's calls (1: this one alone).
    processes: int = 1
    reservations_released: list[str] = field(default_factory=list)
    unreadable_items: list[UnreadableItem] = field(default_factory=list)
    # Accounts with at least one target scanned successfully (not in the JSON summary).
    ok_accounts: set[str] = field(default_factory=set)
    # (account, region) of an ok target -> owners of the TGWs its attachments go to (a new
    # attachment changes their route tables without a call in their account).
    tgw_owners: dict[tuple[str, str], set[str]] = field(default_factory=dict)
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
    # When that read started and ended (wall clock): a findings recording compares it only if
    # no other recording compared a newer view since.
    inventory_read: tuple[datetime, datetime] | None = None
    # With `RunOptions.keep_written`: the (VpcId, OwnerId) key of every item the run wrote to
    # the inventory table, parts included (not in the JSON summary).
    written_keys: set[tuple[str, str]] | None = None
    # A run of named accounts: each ok target's connectivity as the table held it before the
    # run rewrote it (a narrowed findings recording compares whoever it connected; not in the
    # JSON summary).
    connectivity_before: list[Connectivity] = field(default_factory=list)
    # The same run: each ok target's VPCs as the table held them before it (a narrowed
    # recording compares whoever overlapped a block the scan no longer found).
    vpcs_before: list[Vpc] = field(default_factory=list)
    # The same run: the (account, region) of every target it wrote, and whether any of them
    # was found connected otherwise than the table held it (peerings, TGW attachments) or owns
    # a TGW route table: then a recording reads the inventory whole (jobs.narrow).
    rescanned: set[tuple[str, str]] = field(default_factory=set)
    connectivity_changed: bool = False

    @property
    def targets(self) -> int:
        """Targets finished so far."""
        return self.ok + self.skipped + self.failed

    @property
    def exit_code(self) -> int:
        """0 when every target was ok or skipped, every write landed whole and every item it
        needed could be read; 130 when interrupted; else 2."""
        if self.interrupted:
            return 130
        incomplete = self.write_failures or self.unreadable_items or self.incomplete_items
        return 2 if self.failed or incomplete else 0

    def absorb(self, other: RunSummary) -> None:
        """Fold a follow-up run (the TGW owners a check or an event rescanned) into this one:
        its targets, failures and writes count as this run's."""
        for key in (
            "ok",
            "skipped",
            "failed",
            "vpcs_seen",
            "vpcs_written",
            "items_written",
            "items_unchanged",
            "marked_deleted",
            "write_failures",
        ):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        for code, n in other.write_errors.items():
            self.write_errors[code] = self.write_errors.get(code, 0) + n
        self.failures += other.failures
        self.skips += other.skips
        self.unreadable_items += other.unreadable_items
        self.incomplete_items += other.incomplete_items
        self.ok_accounts |= other.ok_accounts
        self.reservations_released += other.reservations_released
        self.connectivity_before += other.connectivity_before
        self.vpcs_before += other.vpcs_before
        self.rescanned |= other.rescanned
        self.connectivity_changed = self.connectivity_changed or other.connectivity_changed
        if self.written_keys is None or other.written_keys is None:
            self.written_keys = None  # what one of them wrote is not known
        else:
            self.written_keys |= other.written_keys
        self.interrupted = self.interrupted or other.interrupted

    def note_tgw_owners(
        self, account: str, region: str, attachments: Iterable[TgwAttachment]
    ) -> None:
        """Note the owners of other accounts' TGWs these attachments of a target go to."""
        for a in attachments:
            if a.TransitGatewayOwnerId != account:
                key = (account, region)
                self.tgw_owners.setdefault(key, set()).add(a.TransitGatewayOwnerId)

    def add(self, result: TargetResult, account_name: str) -> None:
        """Count one finished target."""
        if result.status is TargetStatus.OK:
            self.ok += 1
            self.ok_accounts.add(result.account_id)
            attachments = result.connectivity.Attachments if result.connectivity else ()
            self.note_tgw_owners(result.account_id, result.region, attachments)
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
            "processes": self.processes,
            "targets": {
                "total": self.targets,
                "ok": self.ok,
                "skipped": self.skipped,
                "failed": self.failed,
            },
            "vpcs_seen": self.vpcs_seen,
            "vpcs_written": self.vpcs_written,
            "items_written": self.items_written,
            "items_unchanged": self.items_unchanged,
            "marked_deleted": self.marked_deleted,
            "invalid_records": len(self.invalid_records),
            "shared_vpcs_ignored": self.shared_ignored,
            "write_failures": self.write_failures,
            "write_errors": self.write_errors,
            "reservations_released": self.reservations_released,
            "unreadable_items": [u.to_dict() for u in self.unreadable_items],
            "incomplete_items": self.incomplete_items,
            "interrupted": self.interrupted,
            "findings": self.findings,
            "failures": sorted(self.failures, key=lambda f: (f["account_id"], f["region"])),
            "skipped": sorted(self.skips, key=lambda f: (f["account_id"], f["region"])),
            "invalid": self.invalid_records,
            "exit_code": self.exit_code,
        }
