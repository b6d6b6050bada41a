"""Thin CLI adapter: parse arguments, call `run(...)`, print, choose the exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import Config, ConfigError, check_account_id, check_region, load_config
from collector.errors import error_code, error_message
from collector.runner import FatalError, RunOptions, RunSummary, dynamodb_client, run
from collector.store import TableMissingError, create_table

EXIT_OK = 0
EXIT_FATAL = 1  # bad config/usage or a fatal error
EXIT_INCOMPLETE = 2  # finished, but some targets failed

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
            raise argparse.ArgumentTypeError(f"{value!r} {exc}") from None

    parse.__name__ = what
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The `vpctracker` argument parser."""
    p = _Parser(prog="vpctracker", description="Org-wide AWS VPC inventory.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--config", default="config.yaml", help="path to config.yaml (default: ./config.yaml)"
        )

    sp = sub.add_parser("init-table", help="create the DynamoDB table (idempotent)")
    with_config(sp)

    sp = sub.add_parser("collect", help="scan the organization and update the table")
    with_config(sp)
    sp.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID",
        type=_typed(check_account_id, "account id"),
        help="scan only this account (repeatable)",
    )
    sp.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="R",
        type=_typed(check_region, "region"),
        help="scan only this region (repeatable; replaces config regions)",
    )
    sp.add_argument("--format", choices=["text", "json"], default="text")

    sp = sub.add_parser("demo", help="run on a simulated organization (moto, in-process)")
    sp.add_argument("--accounts", type=_positive, default=12, help="member accounts (default 12)")
    sp.add_argument("--regions", type=_positive, default=3, help="regions (1-6, default 3)")
    return p


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return n


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


def render_summary(s: RunSummary) -> str:
    """Human-readable run summary."""
    lines = [
        f"Accounts: {s.accounts}   targets: {s.targets} "
        f"({s.ok} ok, {s.skipped} skipped, {s.failed} failed)   {s.duration_s:.1f} s",
        f"VPCs seen: {s.vpcs_seen}   items written: {s.vpcs_written}   "
        f"marked deleted: {s.marked_deleted}   invalid records: {len(s.invalid_records)}",
    ]
    if s.write_failures:
        errs = ", ".join(f"{k}: {v}" for k, v in sorted(s.write_errors.items()))
        lines.append(f"WRITE FAILURES: {s.write_failures} items not stored ({errs})")
    if s.failures:
        lines.append("Failed targets:")
        for f in sorted(s.failures, key=lambda f: (f["account_id"], f["region"])):
            name = f" ({f['account_name']})" if f["account_name"] else ""
            lines.append(
                f"  {f['account_id']}{name}  {f['region']}  {f['error_code']}: {f['message']}"
            )
    if s.invalid_records:
        lines.append("Invalid records (not written):")
        for i in s.invalid_records:
            lines.append(f"  {i['account_id']}  {i['region']}  {i['vpc_id']}: {i['reason']}")
    return "\n".join(lines)


def cmd_init_table(config: Config) -> int:
    """`vpctracker init-table`."""
    created = create_table(dynamodb_client(boto3.Session(), config), config.table.name)
    state = "created" if created else "already exists"
    print(f"table {config.table.name} in {config.table.region}: {state}")
    return EXIT_OK


def cmd_collect(config: Config, args: argparse.Namespace) -> int:
    """`vpctracker collect`."""
    progress = Progress(sys.stderr) if args.format == "text" else None
    try:
        summary = run(
            config, RunOptions(accounts=args.account, regions=args.region, progress=progress)
        )
    finally:
        if progress:
            progress.close()
    if args.format == "json":
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(render_summary(summary))
    return summary.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # botocore logs credential-chain details at INFO; keep them out of users' terminals.
        logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            from collector.demo import main as demo_main

            return demo_main(accounts=args.accounts, regions=args.regions)
        config = load_config(args.config)
        if args.command == "init-table":
            return cmd_init_table(config)
        return cmd_collect(config, args)
    except (ConfigError, FatalError) as exc:
        return _fail(str(exc))
    except TableMissingError as exc:
        return _fail(f"table {exc} not found: create it with `vpctracker init-table`")
    except (ClientError, BotoCoreError) as exc:
        return _fail(f"{error_code(exc)}: {error_message(exc)}")
    except KeyboardInterrupt:
        return _fail("interrupted")
    except BrokenPipeError:
        # `vpctracker ... | head`: the reader left; not an error worth a traceback. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _fail(message: str) -> int:
    sys.stderr.write(f"vpctracker: error: {message}\n")
    return EXIT_FATAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
