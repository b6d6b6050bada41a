"""CLI adapter — the entry point: parse, load the config, run the command, turn every error into
one line and an exit code."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.arenas import limit_arenas
from collector.cli.commands import COMMANDS, READ_COMMANDS
from collector.cli.parser import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, build_parser
from collector.config import ConfigError, load_config
from collector.config_store import is_location, load
from collector.errors import FatalError, MalformedResponse, error_code, error_message
from collector.hub import hub_session
from collector.safety import one_line
from collector.store.reader import paused_gc
from collector.store.table import TableMissingError


def main(argv: Sequence[str] | None = None, *, session: boto3.Session | None = None) -> int:
    """Console entry point; returns the process exit code.

    `session` replaces the default boto3 session (tests inject one with fault hooks).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `vpctracker`: what it does and how, not a terse error
        parser.print_help(sys.stderr)
        return EXIT_FATAL
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # botocore logs credential-chain details at INFO; keep them out of users' terminals.
        logging.getLogger("botocore").setLevel(logging.WARNING)
    stop = threading.Event()
    args.interrupted = stop.is_set
    try:
        if args.command == "demo":
            return _demo(args.accounts, args.regions)
        # Inside the try: a bad AWS_PROFILE raises ProfileNotFound here, reported in one line.
        if is_location(args.config):
            args.session = session or hub_session()
            config = load(args.config, args.session)
        else:
            config = load_config(args.config)
            args.session = session or hub_session()
        # Report commands read and analyse the whole table in one go: without the cyclic GC
        # re-walking the inventory they take about 20 % less time at 100k items (measured).
        paused = paused_gc() if args.command in READ_COMMANDS else contextlib.nullcontext()
        with _stop_on_signals(stop), paused:
            return COMMANDS[args.command](config, args)
    except (ConfigError, FatalError) as exc:
        return _fail(str(exc))
    except TableMissingError as exc:
        return _fail(
            f"table {exc} not found: create it with `vpctracker init-table`, "
            "then fill it with `vpctracker collect`"
        )
    except (ClientError, BotoCoreError, MalformedResponse) as exc:
        return _fail(f"{error_code(exc)}: {error_message(exc)}")
    except KeyboardInterrupt:
        sys.stderr.write("vpctracker: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `vpctracker ... | head`: the reader left; not an error worth a traceback. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _demo(accounts: int, regions: int) -> int:
    """`vpctracker demo`, which needs moto: the `demo` extra, not installed by `pip install .`."""
    try:
        import moto  # noqa: F401
    except ModuleNotFoundError:
        return _fail(
            "the demo runs on moto, which is not installed: pip install 'vpctracker[demo]' "
            "(from a clone: pip install '.[demo]', or make demo)"
        )
    from collector.demo import main as demo_main

    return demo_main(accounts=accounts, regions=regions)


def _fail(message: str) -> int:
    sys.stderr.write(f"vpctracker: error: {one_line(message)}\n")
    return EXIT_FATAL


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop` (the run winds down and reports); a second one ends at once.

    Only in the main thread (signal handlers cannot be set elsewhere, e.g. a test's thread).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write(f"\nvpctracker: {signal.Signals(signum).name}: stopping\n")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def entry() -> None:  # pragma: no cover - exercised through the console script in tests
    """The `vpctracker` console script: `main()`, then exit without waiting for abandoned work.

    After Ctrl-C the run has written what finished and printed its summary; threads still
    blocked in a slow AWS call would otherwise hold the interpreter's exit for their whole
    read timeout (Python joins pool threads at exit).
    """
    limit_arenas()  # before any thread: see collector.arenas
    code = main()
    if code == EXIT_INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
