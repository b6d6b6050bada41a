"""CLI adapter — the argument parser: commands, flags, their checks and the exit codes."""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    """The `vpctracker` argument parser."""
    p = _Parser(prog="vpctracker", description="Org-wide AWS VPC inventory.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument(
            "--config", default="config.yaml", help="path to config.yaml (default: ./config.yaml)"
        )
        return sp

    command("init-table", "create the DynamoDB table (idempotent)")

    sp = command("collect", "scan the organization and update the table")
    _account_opt(sp, "scan only this account (repeatable)")
    sp.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="R",
        type=_typed(check_region, "region"),
        help="scan only this region (repeatable; replaces config regions)",
    )
    sp.add_argument("--format", choices=["text", "json"], default="text")

    sp = command("audit", "report overlaps and default VPCs from the table")
    sp.add_argument("--format", choices=["table", "json", "csv", "html"], default="table")
    sp.add_argument("--output", metavar="FILE", help="write the report to FILE, not stdout")
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
        help="only overlap groups of this severity (conflict: some network reaches both sides)",
    )

    sp = command("check", "pipeline gate: collect accounts, report their clashes (exit 3)")
    _account_opt(sp, "account to check (repeatable, required)", required=True)
    sp.add_argument("--format", choices=["text", "json"], default="text")
    sp.add_argument(
        "--fail-on",
        type=_fail_on,
        default=DEFAULT_FAIL_ON,
        metavar="LIST",
        help="comma list of findings that fail the gate: "
        f"{', '.join(FAIL_ON_KINDS)} (default: overlap,default-vpc); others are warnings",
    )

    sp = command("allocate", "print the lowest free block of a pool (optionally reserve it)")
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
        "lookup", "who holds an address or CIDR: VPC, subnet, reserved range (exit 3: free)"
    )
    sp.add_argument("query", metavar="ADDRESS|CIDR", type=_typed(_check_query, "address"))
    sp.add_argument("--format", choices=["text", "json"], default="text")
    sp.add_argument(
        "--live", action="store_true", help="scan the --account accounts now; read no table"
    )
    _account_opt(sp, "with --live: the account to scan (repeatable)")

    sp = command("changes", "what appeared, disappeared or changed in the organization since")
    sp.add_argument(
        "--since",
        default="24h",
        type=_typed(_check_since, "time"),
        metavar="24h|ISO",
        help="a duration back from now (90m, 24h, 7d) or an ISO time (default 24h)",
    )
    sp.add_argument("--format", choices=["table", "json", "csv"], default="table")

    sp = command("release", "delete a reservation by hand")
    sp.add_argument("cidr", type=_typed(check_cidr, "CIDR"))

    sp = sub.add_parser("demo", help="run on a simulated organization (moto, in-process)")
    sp.add_argument("--accounts", type=_positive, default=12, help="member accounts (default 12)")
    sp.add_argument("--regions", type=_positive, default=3, help="regions (1-6, default 3)")
    return p


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
    m = re.fullmatch(r"(\d{1,6})([mhd])", value.strip())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return now - timedelta(**{unit: int(m.group(1))})
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
        raise argparse.ArgumentTypeError(f"{value!r} must be between 0 and 8784 hours")
    return f


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return n
