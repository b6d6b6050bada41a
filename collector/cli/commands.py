"""CLI adapter — one function per command: call its job, print, choose the exit code."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from collector.analysis.lookup import parse_query
from collector.cli.parser import (
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    parse_since,
)
from collector.config import Config, ConfigError
from collector.config_store import Location, check_document, read_config_bytes, write_document
from collector.errors import FatalError
from collector.jobs.allocate import PoolExhaustedError, allocate, check_pool
from collector.jobs.audit import run_audit
from collector.jobs.changes import run_changes
from collector.jobs.check import run_check
from collector.jobs.collect import run
from collector.jobs.findings import remember_findings
from collector.jobs.inventory import run_inventory
from collector.jobs.lookup import run_lookup
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.publish import write_s3
from collector.jobs.summary import RunSummary
from collector.models import UnreadableItem, iso, utc_now
from collector.report import (
    dumps,
    render,
    render_changes,
    render_inventory,
    render_lookup,
    render_summary,
    render_table,
)
from collector.safety import counted
from collector.store.reservations import delete_reservation
from collector.store.table import check_table, create_table, enable_ttl


class Progress:
    """A one-line progress display on a TTY; silent otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.enabled = stream.isatty()

    def __call__(self, s: RunSummary) -> None:
        if self.enabled:
            self._stream.write(
                f"\r  accounts {s.accounts_done}/{s.accounts}  targets {s.targets}: "
                f"{s.ok} ok, {s.skipped} skipped, {s.failed} failed  "
            )
            self._stream.flush()

    def close(self) -> None:
        """End the progress line."""
        if self.enabled:
            self._stream.write("\n")


def cmd_init_table(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker init-table`."""
    ddb = dynamodb_client(args.session, config)
    ttl = True
    for name in (config.table.name, config.table.ledger):
        created = create_table(ddb, name, ttl=False)
        state = "created" if created else "already exists"
        print(f"table {name} in {config.table.region}: {state}")
        ttl = enable_ttl(ddb, name) and ttl
    if not ttl:
        sys.stderr.write(
            "vpctracker: warning: this endpoint does not support DynamoDB TTL; items marked "
            "deleted, expired reservations and old changes will not be removed automatically\n"
        )
    return EXIT_OK


def cmd_collect(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker collect`."""
    progress = Progress(sys.stderr) if args.format == "text" else None
    opts = RunOptions(
        accounts=args.account,
        regions=args.region,
        progress=progress,
        session=args.session,
        interrupted=args.interrupted,
    )
    try:
        summary = run(config, opts)
    finally:
        if progress:
            progress.close()
    # Every write run records the findings it sees as known (announced only by the Lambda).
    remember_findings(config, summary, opts, accounts=args.account)
    if args.format == "json":
        sys.stdout.write(dumps(summary.to_dict(), args.indent))
    else:
        print(render_summary(summary))
    return summary.exit_code


def _partial_live_scan(summary: RunSummary | None) -> bool:
    """A `--live` answer over a partial scan would look cleaner than the truth: print what was
    not scanned on stderr. True when the scan was interrupted (the caller exits 130)."""
    if summary is None or not summary.exit_code:
        return False
    sys.stderr.write(render_summary(summary) + "\n")
    return summary.interrupted


def cmd_audit(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker audit`."""
    audit, summary = run_audit(
        config,
        live=args.live,
        accounts=args.account,
        include_default=args.include_default,
        severity=args.severity,
        options=RunOptions(session=args.session, interrupted=args.interrupted),
        # Only the HTML page shows every subnet.
        subnets=args.format == "html",
    )
    if _partial_live_scan(summary):
        return EXIT_INTERRUPTED
    _warn_unreadable(audit.unreadable, "audit")
    _write(render(audit, args.format, args.indent), args.output, config, args)
    if summary is not None and summary.exit_code:
        return summary.exit_code
    return EXIT_INCOMPLETE if audit.unreadable else EXIT_OK


def _write(text: str, output: str | None, config: Config, args: argparse.Namespace) -> None:
    """The report on stdout, in `--output FILE`, or in `--output s3://bucket/key` (written as
    the published report is); named on stderr."""
    if not output:
        sys.stdout.write(text)
        return
    if output.startswith("s3://"):
        write_s3(config, RunOptions(session=args.session), output, text, args.format)
        print(f"wrote {output}", file=sys.stderr)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise ConfigError(f"--output {output}: {exc.strerror}") from None
    print(f"wrote {output}", file=sys.stderr)


def _warn_unreadable(unreadable: Sequence[UnreadableItem], what: str) -> None:
    if unreadable:
        first = unreadable[0]
        sys.stderr.write(
            f"vpctracker: warning: {counted(len(unreadable), 'table item')} could not be read and "
            f"are not in this {what} (first: {first}: {first.reason})\n"
        )


def cmd_inventory(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker inventory`: exit 0, or 2 when some table items could not be read."""
    result, unreadable = run_inventory(
        config,
        accounts=args.account,
        regions=args.region,
        cidr=args.cidr,
        include_deleted=args.include_deleted,
        options=RunOptions(session=args.session),
    )
    _warn_unreadable(unreadable, "inventory")
    _write(render_inventory(result, args.format, args.indent), args.output, config, args)
    return EXIT_INCOMPLETE if unreadable else EXIT_OK


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker check`: exit 0 clean, 3 findings, 2 incomplete scan, 1 bad input."""
    result = run_check(
        config,
        args.account,
        RunOptions(session=args.session, interrupted=args.interrupted),
        fail_on=args.fail_on,
    )
    if result.summary.interrupted:
        print(render_summary(result.summary))
        return EXIT_INTERRUPTED
    if args.format == "json":
        sys.stdout.write(dumps(result.to_dict(), args.indent))
        return result.exit_code
    print(render_summary(result.summary))
    print()
    print(render_table(result.audit), end="")
    if result.not_scanned:
        # Findings about these targets come from the table, as of the LastSeen shown.
        print("NOT SCANNED (findings there rest on earlier table data):")
        for n in result.not_scanned:
            seen = iso(n.last_seen) if n.last_seen else "never"
            print(f"  {n.account_id}  {n.region}  {n.error_code}  last seen {seen}")
    if result.audit.unreadable:
        print(f"UNREADABLE TABLE ITEMS: {len(result.audit.unreadable)} (cannot certify)")
    gate = ",".join(sorted(result.fail_on))
    who = ", ".join(args.account)
    warned = result.warning_count
    if warned:
        print(
            f"WARNINGS: {counted(warned, 'finding')} listed above that --fail-on {gate} "
            "does not fail"
        )
    if result.exit_code == 3:
        print(f"FAILS: {counted(result.findings, 'finding')} involving {who} fail --fail-on {gate}")
    elif result.exit_code == 2:
        print("INCOMPLETE: the scan of these accounts failed in part; cannot certify")
    elif warned:
        print(f"PASSES WITH WARNINGS: nothing that --fail-on {gate} fails involves {who}")
    else:
        print(f"CLEAN: no finding involves {who}")
    return result.exit_code


def cmd_allocate(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker allocate`: exit 3 when the pool has no free block of that size."""
    if args.owner and not args.reserve:
        raise ConfigError("--owner only makes sense with --reserve")
    if args.reserve and not args.owner:
        raise ConfigError("--reserve needs --owner ACCOUNT_ID")
    pool = ipaddress.ip_network(args.pool)
    check_pool(pool, args.prefix_length, list(config.reserved_cidrs))  # bad input first
    ddb = dynamodb_client(args.session, config)
    check_table(ddb, config.table.name)  # a missing table is named as every command names it
    try:
        result = allocate(
            ddb,
            config.table.name,
            pool=pool,
            prefix_length=args.prefix_length,
            reserved=list(config.reserved_cidrs),
            now=utc_now,
            reserve_for=args.owner if args.reserve else None,
            connected_to=args.connected_to,
            note=args.note,
            ttl_hours=args.ttl_hours,
        )
    except PoolExhaustedError as exc:
        sys.stderr.write(f"vpctracker: {exc}\n")
        return EXIT_FINDINGS
    if args.format == "json":
        out: dict[str, object] = {
            "cidr": result.cidr,
            "pool": result.pool,
            "prefix_length": result.prefix_length,
            "reserved": result.reservation is not None,
        }
        if result.reservation:
            r = result.reservation
            out.update(
                owner=r.owner,
                note=r.note,
                reserved_at=iso(r.reserved_at),
                expires_at=iso(datetime.fromtimestamp(r.expires_at, UTC)),
            )
        print(json.dumps(out))
    else:
        print(result.cidr)
    return EXIT_OK


def cmd_lookup(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker lookup`: exit 0 something holds it, 3 free, 1 bad input."""
    if args.account and not args.live:
        raise ConfigError("--account only makes sense with --live (the table holds every account)")
    query = parse_query(args.query)
    result, summary = run_lookup(
        config,
        query,
        live=args.live,
        accounts=args.account,
        options=RunOptions(session=args.session, interrupted=args.interrupted),
    )
    if _partial_live_scan(summary):
        return EXIT_INTERRUPTED
    if summary is not None and summary.exit_code and not result.found:
        # A partial live scan cannot say "free".
        raise FatalError("the live scan was incomplete: cannot tell whether it is free")
    if args.format == "json":
        sys.stdout.write(dumps(result.to_dict(), args.indent))
    else:
        print(render_lookup(result), end="")
    return EXIT_OK if result.found else EXIT_FINDINGS


def cmd_changes(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker changes`."""
    since = parse_since(args.since, utc_now())
    result = run_changes(config, since, RunOptions(session=args.session))
    sys.stdout.write(render_changes(result, args.format, args.indent))
    return EXIT_OK


def cmd_release(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker release CIDR`."""
    ddb = dynamodb_client(args.session, config)
    check_table(ddb, config.table.name)
    if not delete_reservation(ddb, config.table.name, args.cidr):
        raise ConfigError(f"no reservation for {args.cidr}")
    print(f"released {args.cidr}")
    return EXIT_OK


def describe_config(config: Config) -> str:
    """One line of what a config covers, to confirm it is the intended one."""
    org = config.organization
    accounts = (
        f"{len(org.include_accounts)} included accounts"
        if org.include_accounts
        else "every account"
    )
    if org.exclude_accounts:
        accounts += f" but {len(org.exclude_accounts)}"
    regions = "all regions" if config.regions == "all" else ", ".join(config.regions)
    return (
        f"{accounts}; {regions}; table {config.table.name} in {config.table.region}; "
        f"{len(config.reserved_cidrs)} reserved ranges"
    )


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker config check|push`: exit 0 valid (and pushed), 1 otherwise."""
    if args.action == "check":
        if args.to:
            raise ConfigError("--to only makes sense with push")
        print(f"{args.config}: valid ({describe_config(config)})")
        return EXIT_OK
    if not args.to:
        raise ConfigError("config push needs --to ssm:/name or s3://bucket/key")
    where = Location.parse(args.to)
    if config.organization.external_id:
        # The pushed document is readable by whoever may read the parameter or object.
        raise ConfigError(
            "organization.external_id is in this config: keep it out of the pushed document, "
            "in an SSM SecureString parameter the stack reads (ExternalIdParameter)"
        )
    raw = read_config_bytes(args.config, args.session)
    check_document(raw, where)  # validated as the function will read it
    write_document(args.session, where, raw, args.region or config.table.region)
    print(f"pushed {args.config} to {where}: the function reads it within a minute")
    return EXIT_OK


COMMANDS = {
    "init-table": cmd_init_table,
    "collect": cmd_collect,
    "audit": cmd_audit,
    "check": cmd_check,
    "allocate": cmd_allocate,
    "release": cmd_release,
    "lookup": cmd_lookup,
    "changes": cmd_changes,
    "inventory": cmd_inventory,
    "config": cmd_config,
}


READ_COMMANDS = frozenset({"audit", "check", "allocate", "lookup", "inventory"})
