"""Jobs — what every job takes: the run options (what tests and adapters inject) and the
table client."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import boto3

from collector.config import Config
from collector.errors import RetryPolicy
from collector.jobs.summary import RunSummary
from collector.models import Account, utc_now
from collector.scan import client_config
from collector.store.reader import fast_reads
from collector.store.writer import fast_writes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ProgressFn = Callable[[RunSummary], None]


@dataclass
class RunOptions:
    """Knobs for `run` that are not user configuration; tests inject here."""

    accounts: Sequence[str] = ()
    regions: Sequence[str] = ()
    # Accounts already validated elsewhere (the fan-out dispatcher): scanned as given, without
    # listing the organization again.
    account_list: Sequence[Account] | None = None
    session: boto3.Session | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = utc_now
    progress: ProgressFn | None = None
    # False: scan into memory (`RunSummary.records`) and write nothing (audit --live).
    write: bool = True
    # True once the run must stop starting work (e.g. the Lambda deadline is near).
    stop: Callable[[], bool] = lambda: False
    # True once the user asked to stop now (Ctrl-C, SIGTERM): work under way is abandoned.
    interrupted: Callable[[], bool] = lambda: False
    # Identifies this run's account leases; a fresh one per run unless a test fixes it.
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    sleep: Callable[[float], None] = time.sleep
    # Live updates: scan only these regions of each account (narrower than `regions`, which
    # applies to every account)...
    targets: Mapping[str, Collection[str]] | None = None
    # ...and not a target whose stored scan started at or after this time (read under the
    # account's lease): the change that named it is already in the table.
    current_since: Mapping[tuple[str, str], datetime] | None = None
    # Live updates: keep the key of every item written (`RunSummary.written_keys`), so a view
    # read beside the run can take them up.
    keep_written: bool = False
    # ...and called each time an account has a target to scan (not every target already
    # current): the read beside the rescan waits for it, so a batch with nothing to scan reads
    # no table.
    will_scan: Callable[[], None] | None = None


def dynamodb_client(session: boto3.Session, config: Config) -> DynamoDBClient:
    """The DynamoDB client for the configured table's region (reads decoded and batch
    writes encoded fast)."""
    return fast_writes(
        fast_reads(
            session.client(
                "dynamodb",
                region_name=config.table.region,
                config=client_config(config.scan.max_workers),
            )
        )
    )
