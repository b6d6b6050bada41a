"""Job — check: the landing-zone gate; collect some accounts, audit what involves them, give a
verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from collector.analysis import Audit, Connections, OverlapGroup, build_audit
from collector.analysis.stale import Scope
from collector.config import Config, ConfigError
from collector.jobs.audit import limits_of
from collector.jobs.collect import follow_tgw_owners, run
from collector.jobs.findings import remember_findings
from collector.jobs.lean import for_audit
from collector.jobs.options import RunOptions
from collector.jobs.summary import RunSummary
from collector.jobs.views import ViewAhead, read_view
from collector.models import Vpc, iso
from collector.scan import ALL_REGIONS


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
            "conflict" in self.fail_on and group.severity_for(self.accounts) == "conflict"
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
    def failing_reservations(self) -> list[dict[str, Any]]:
        """VPCs inside another account's active reservation, when overlaps fail the gate."""
        return self.audit.reservation_overlaps if "overlap" in self.fail_on else []

    @property
    def findings(self) -> int:
        """Findings of the kinds in `fail_on` that involve the checked accounts."""
        return (
            len(self.failing_groups)
            + len(self.failing_defaults)
            + self.failing_headroom
            + len(self.failing_reservations)
        )

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
            "reservation_overlaps": (
                [] if "overlap" in self.fail_on else shown["reservation_overlaps"]
            ),
            **{k: [] if "headroom" in self.fail_on else shown[k] for k in HEADROOM_KEYS},
        }

    @property
    def warning_count(self) -> int:
        """Findings involving the checked accounts that the gate does not fail on."""
        return sum(len(v) for v in self.warnings().values())

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
            "warning_count": self.warning_count,
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
    # The inventory is read while the accounts are scanned; what the scan wrote is then read
    # back into it by key (jobs.views).
    # Read as `audit --format json` reads (no subnets or tags but those its findings name): the
    # check draws no page.
    without = for_audit(config)
    with ViewAhead(config, opts, without) as ahead:
        opts = ahead.options
        summary = run(config, opts)
        # The checked accounts' attachments change their TGW owners' route tables with no call
        # in those accounts: rescan them, so a conflict through the TGW is seen now, not
        # tomorrow. A failed owner rescan is this check's failure (its verdict would rest on
        # stale routes).
        attached = [k for k in summary.tgw_owners if k[0] in set(accounts)]
        owners = follow_tgw_owners(config, summary, attached, opts)
        if owners is not None:
            summary.absorb(owners)
        view = ahead.view(summary) or read_view(config, opts, without)
    items = view.items
    audit = build_audit(
        items.vpcs,
        config.reserved_cidrs,
        now=opts.clock(),
        accounts=accounts,
        unreadable=items.unreadable,
        reservations=items.reservations,
        connections=Connections.of(items.connectivity, items.route_tables),
        limits=limits_of(config),
        expected=config.overlaps.expected,
        scope=Scope.of(config),
        address_use=items.address_use,
    )
    # A write run: what the checked accounts' scan changed is recorded, and announced (now with
    # `notify.topic_arn`, else by the next run that has a topic).
    remember_findings(config, summary, opts, accounts=accounts, view=view)
    live = [v for v in items.vpcs if not v.Deleted]
    return CheckResult(
        list(accounts), summary, audit, not_scanned(summary, accounts, live), fail_on
    )
