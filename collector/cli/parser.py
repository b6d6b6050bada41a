"""CLI adapter — the argument parser: commands, flags, their checks and the exit codes."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from collector.analysis.lookup import parse_query
from collector.config import check_account_id, check_cidr, check_region
from collector.jobs.check import DEFAULT_FAIL_ON, FAIL_ON_KINDS
from collector.models import utc_now
from collector.safety import brief

EXIT_OK = 0
EXIT_FATAL = 1  # bad config/usage or a fatal error
EXIT_INCOMPLETE = 2  # finished, but some targets failed
EXIT_FINDINGS = 3  # check: findings; allocate: pool exhausted
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: what finished is written, the rest reported

log = logging.getLogger("collector")


class _Parser(argparse.ArgumentParser):
    # argparse exits 2 on usage errors; our contract says 1 (2 means "some targets failed").
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"vpctracker: error: {message}\n")
        raise SystemExit(EXIT_FATAL)


def _typed(check: Callable[[str], str], what: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            return check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{brief(value)} {exc}") from None

    parse.__name__ = what
    return parse


def _account_opt(sp: argparse.ArgumentParser, help_text: str, required: bool = False) -> None:
    sp.add_argument(
        "--account",
        action="append",
        default=[],
        required=required,
        metavar="ID",
        type=_typed(check_account_id, "account id"),
        help=help_text,
    )


TOP = """Org-wide AWS VPC inventory: what overlaps (and whether it breaks routing), which default
VPCs are left, which range is free, which VPCs run out of addresses, who owns an address.

Every command but demo reads config.yaml (--config PATH; every key is optional):
  organization.role_name    the read-only role in every account (VPCTrackerReadOnly)
  regions                   all, or a list such as [us-east-1, eu-west-1]
  table.name, table.region  the DynamoDB table (VPCTracker, us-east-1)
  reserved_cidrs            on-prem and partner ranges VPCs must not overlap
  notify.topic_arn          the SNS topic for new, changed and resolved findings
Reference: docs/configuration.md. Credentials: the standard AWS chain (AWS_PROFILE, ...).
"""

EXITS = {
    "default": "exit codes: 0 ok, 1 bad input or fatal error (one line), 2 some targets failed or "
    "items could not be written or read (listed), 130 interrupted",
}


def _epilog(examples: list[str], exits: str) -> str:
    return "\n".join(["examples:", *(f"  {e}" for e in examples), "", exits])


def build_parser() -> argparse.ArgumentParser:
    """The `vpctracker` argument parser."""
    p = _Parser(
        prog="vpctracker", description=TOP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"vpctracker {_version()}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(
        name: str, summary: str, examples: list[str], exits: str = EXITS["default"]
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=_epilog(examples, exits),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sp.add_argument(
            "--config", default="config.yaml", help="path to config.yaml (default: ./config.yaml)"
        )
        # Also after the command (`vpctracker audit -v`); SUPPRESS keeps the top level's value.
        sp.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
        return sp

    command(
        "init-table",
        "create the DynamoDB tables: the inventory and its ledger (idempotent)",
        ["vpctracker init-table --config config.yaml"],
        "exit codes: 0 created or already there, 1 error",
    )

    sp = command(
        "collect",
        "scan the organization (every account, every enabled region) and update the table",
        [
            "vpctracker collect",
            "vpctracker collect --account 111122223333 --region eu-west-1 --format json",
        ],
    )
    _account_opt(sp, "scan only this account (repeatable)")
    _region_opt(sp, "scan only this region (repeatable; replaces config regions)")
    sp.add_argument("--format", choices=["text", "json"], default="text")
    _indent_opt(sp)

    sp = command(
        "inventory",
        "every live VPC in the table: account, region, blocks, subnets, use, last seen",
        [
            "vpctracker inventory",
            "vpctracker inventory --account 111122223333 --region us-east-1 --format csv",
            "vpctracker inventory --cidr 10.42.0.0/16 --format json --output vpcs.json",
        ],
        "exit codes: 0 ok, 1 bad input or fatal error, 2 some table items could not be read",
    )
    _account_opt(sp, "only this account's VPCs (repeatable)")
    _region_opt(sp, "only this region's VPCs (repeatable)")
    sp.add_argument("--cidr", type=_typed(check_cidr, "CIDR"), help="only VPCs overlapping it")
    sp.add_argument(
        "--include-deleted", action="store_true", help="also VPCs marked deleted (kept 90 days)"
    )
    sp.add_argument("--format", choices=["table", "json", "csv"], default="table")
    sp.add_argument("--output", metavar="FILE", help="write to FILE or s3://bucket/key, not stdout")
    _indent_opt(sp)

    sp = command(
        "audit",
        "report overlaps (conflict or latent), default VPCs, headroom and stale VPCs",
        [
            "vpctracker audit",
            "vpctracker audit --format html --output report.html",
            "vpctracker audit --account 111122223333 --severity conflict --format json",
        ],
        "exit codes: 0 ok, 1 bad input or fatal error, 2 some table items could not be read "
        "(or, with --live, some targets failed)",
    )
    sp.add_argument("--format", choices=["table", "json", "csv", "html"], default="table")
    sp.add_argument(
        "--output",
        metavar="FILE",
        help="write the report to FILE or s3://bucket/key (encrypted, typed), not stdout",
    )
    _indent_opt(sp)
    sp.add_argument(
        "--include-default", action="store_true", help="include default VPCs in overlap analysis"
    )
    _account_opt(sp, "only findings involving this account (repeatable)")
    sp.add_argument(
        "--live", action="store_true", help="collect into memory first; read and write no table"
    )
    sp.add_argument(
        "--severity",
        choices=["conflict", "latent"],
        help="only overlap groups of this severity (conflict: some network reaches both sides; "
        "with --account, as those accounts see it)",
    )

    sp = command(
        "check",
        "the landing-zone gate: collect these accounts, then judge the findings that involve them",
        [
            "vpctracker check --account 111122223333",
            "vpctracker check --account 111122223333 --fail-on conflict,default-vpc --format json",
        ],
        "exit codes: 0 clean (or only warnings), 3 a finding fails the gate, 2 incomplete (a "
        "target failed: cannot certify), 1 bad input",
    )
    _account_opt(sp, "account to check (repeatable, required)", required=True)
    sp.add_argument("--format", choices=["text", "json"], default="text")
    _indent_opt(sp)
    sp.add_argument(
        "--fail-on",
        type=_fail_on,
        default=DEFAULT_FAIL_ON,
        metavar="LIST",
        help="comma list of findings that fail the gate: "
        f"{', '.join(FAIL_ON_KINDS)} (default: overlap,default-vpc); others are warnings",
    )

    sp = command(
        "allocate",
        "print the lowest free block of a pool (optionally reserve it for an account)",
        [
            "vpctracker allocate --pool 10.0.0.0/8 --prefix-length 16",
            "vpctracker allocate --pool 10.0.0.0/8 --prefix-length 16 --reserve "
            "--owner 111122223333 --note LZ-1234",
        ],
        "exit codes: 0 a block (printed), 3 the pool has no free block of that size, 1 bad "
        "input or a table item could not be read (a range might be in use)",
    )
    sp.add_argument(
        "--pool", required=True, type=_typed(check_cidr, "CIDR"), help="e.g. 10.0.0.0/8"
    )
    sp.add_argument("--prefix-length", required=True, type=_whole, metavar="N")
    sp.add_argument("--reserve", action="store_true", help="record a reservation in the table")
    sp.add_argument("--owner", type=_typed(check_account_id, "account id"), metavar="ACCOUNT_ID")
    sp.add_argument("--note", default="", help="free text stored with the reservation")
    sp.add_argument(
        "--ttl-hours",
        type=_positive_float,
        default=72.0,
        metavar="H",
        help="reservation lifetime unless a VPC takes the block (default 72)",
    )
    sp.add_argument("--format", choices=["text", "json"], default="text")
    sp.add_argument(
        "--connected-to",
        metavar="NETWORK",
        type=_typed(_check_network, "network"),
        help="vpc-... or tgw-rtb-...: avoid only what that network's routing domain reaches "
        "(plus reserved ranges and reservations), for pools where latent overlaps are tolerated",
    )

    sp = command(
        "lookup",
        "who holds an address or CIDR: VPC, subnet, reserved range, reservation",
        [
            "vpctracker lookup 10.42.7.19",
            "vpctracker lookup 10.42.0.0/16 --format json",
            "vpctracker lookup 10.42.7.19 --live --account 111122223333",
        ],
        "exit codes: 0 something holds it, 3 free, 1 bad input or a table item could not be read",
    )
    sp.add_argument("query", metavar="ADDRESS|CIDR", type=_typed(_check_query, "address"))
    sp.add_argument("--format", choices=["text", "json"], default="text")
    _indent_opt(sp)
    sp.add_argument(
        "--live", action="store_true", help="scan the --account accounts now; read no table"
    )
    _account_opt(sp, "with --live: the account to scan (repeatable)")

    sp = command(
        "changes",
        "what appeared, disappeared or changed in the organization since a time",
        ["vpctracker changes", "vpctracker changes --since 7d --format csv"],
        "exit codes: 0 ok, 1 bad input or fatal error",
    )
    sp.add_argument(
        "--since",
        default="24h",
        type=_typed(_check_since, "time"),
        metavar="24h|ISO",
        help="a duration back from now (90m, 24h, 7d) or an ISO time (default 24h)",
    )
    sp.add_argument("--format", choices=["table", "json", "csv"], default="table")
    _indent_opt(sp)

    sp = command(
        "release",
        "delete a reservation by hand",
        ["vpctracker release 10.12.0.0/16"],
        "exit codes: 0 released, 1 no such reservation or an error",
    )
    sp.add_argument("cidr", type=_typed(check_cidr, "CIDR"))

    sp = command(
        "config",
        "check a config, or push it where the deployed function reads it (one config for both)",
        [
            "vpctracker config check --config config.yaml",
            "vpctracker config push --config config.yaml --to ssm:/vpctracker/config",
            "vpctracker config push --config config.yaml --to s3://my-bucket/vpctracker.yaml",
            "vpctracker audit --config ssm:/vpctracker/config   # every command reads it too",
        ],
        "exit codes: 0 valid (and pushed), 1 invalid, or it could not be read or written",
    )
    sp.add_argument("action", choices=["check", "push"])
    sp.add_argument(
        "--to",
        metavar="LOCATION",
        help="push: ssm:/name (an SSM parameter in the hub account and region: the stack's "
        "ConfigParameter) or s3://bucket/key (ConfigUri)",
    )
    sp.add_argument(
        "--region", help="push: the parameter's or bucket's region (default: table.region)"
    )

    sp = sub.add_parser(
        "demo",
        help="run on a simulated organization (moto, in-process; no AWS)",
        description="run the real pipeline on a simulated organization (moto, in-process; no "
        "AWS). Needs the demo extra: pip install 'vpctracker[demo]' (or '.[demo]' from a clone)",
        epilog=_epilog(
            ["vpctracker demo", "vpctracker demo --accounts 50 --regions 5"],
            "exit codes: 0 ok, 1 bad input",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument(
        "--accounts", type=_at_least(2), default=12, help="member accounts (2 or more, default 12)"
    )
    sp.add_argument("--regions", type=_positive, default=3, help="regions (1-6, default 3)")
    sp.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    return p


def _version() -> str:
    try:
        return importlib.metadata.version("vpctracker")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _indent(value: str) -> int:
    if not (value.isdigit() and int(value) <= 8):
        raise argparse.ArgumentTypeError(f"{brief(value)} is not a number of spaces from 0 to 8")
    return int(value)


def _indent_opt(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--indent",
        type=_indent,
        metavar="N",
        help="with --format json: indent by N spaces (default: one compact line)",
    )


def _region_opt(sp: argparse.ArgumentParser, help_text: str) -> None:
    sp.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="R",
        type=_typed(check_region, "region"),
        help=help_text,
    )


def _fail_on(value: str) -> frozenset[str]:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    bad = [k for k in kinds if k not in FAIL_ON_KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            f"{brief(bad[0] if bad else value)} is not one of {', '.join(FAIL_ON_KINDS)}"
        )
    return frozenset(kinds)


def _check_network(value: str) -> str:
    if not re.fullmatch(r"(vpc|tgw-rtb)-[0-9a-f]{8,17}", value):
        raise ValueError("is not a VPC id (vpc-...) or a TGW route table id (tgw-rtb-...)")
    return value


def parse_since(value: str, now: datetime) -> datetime:
    """`24h`, `90m`, `7d` back from `now`, or an ISO-8601 time (UTC unless it says)."""
    m = re.fullmatch(r"(\d{1,6})([mhd])", value.strip(), re.ASCII)
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        try:
            return now - timedelta(**{unit: int(m.group(1))})
        except OverflowError:
            raise ValueError("reaches back before the year 1") from None
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("is not a duration (24h, 90m, 7d) or an ISO time") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _check_since(value: str) -> str:
    parse_since(value, utc_now())
    return value


def _check_query(value: str) -> str:
    parse_query(value)
    return value


def _whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def _positive_float(value: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < f <= 24 * 366:
        raise argparse.ArgumentTypeError(f"{value!r} must be more than 0 and at most 8784 hours")
    return f


def _at_least(low: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        n = _positive(value)
        if n < low:
            raise argparse.ArgumentTypeError(f"{value!r} must be at least {low}")
        return n

    parse.__name__ = f"at least {low}"
    return parse


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return n
