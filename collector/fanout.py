"""SQS fan-out for large organizations: the nightly dispatcher and the workers' message logic.

The dispatcher lists the organization once, queuing the accounts (id and name) in batches page
by page as it lists, then records how many messages the night has and sweeps departed accounts.
A worker collects its message's accounts as given, without listing the organization again. A
message is done only when every account in it was collected, or is known to be gone (suspended,
or no longer in the organization: its items are marked, and it is not retried). The worker that
finishes a night's last message audits the table as all workers left it, so the night's metrics
are fresh (the dispatcher, if every message finished before its listing ended).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from collector.config import Config, ConfigError, check_account_id
from collector.errors import FatalError, RetryPolicy
from collector.jobs.audit import run_audit
from collector.jobs.collect import account_listing, run
from collector.jobs.departed import confirm_departed, mark_accounts_gone, sweep_departed
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.summary import RunSummary
from collector.models import Account, DeletionReason
from collector.safety import brief, counted
from collector.scan import DEADLINE_CODE, INTERRUPTED_CODE, client_config
from collector.store.dispatch import Progress, close_dispatch, open_dispatch, part_done

log = logging.getLogger(__name__)

DISPATCH_TTL = timedelta(days=3)


class MessageFailed(Exception):
    """A message not fully done: report it for retry (and, in the end, the dead-letter queue).

    `summary` is what the message's run did, so its failed targets are still counted;
    `accounts` the message's accounts that failed (all of them when none could be told)."""

    def __init__(
        self, message: str, summary: RunSummary | None = None, accounts: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.summary = summary
        self.accounts = list(accounts)


@dataclass(frozen=True)
class WorkerMessage:
    """One queued batch of accounts."""

    accounts: list[Account]
    # Messages from before the dispatcher sent names carry bare ids: those are re-validated
    # against the organization, as workers used to.
    names_known: bool
    dispatch_id: str | None = None
    part: int | None = None


def parse_message(body: Any) -> WorkerMessage:
    """Pure: validate a message body; raise ConfigError for anything that can never succeed."""
    if not isinstance(body, str):
        raise ConfigError(f"message body: must be a JSON string (got {type(body).__name__})")
    try:
        data = json.loads(body)
    except ValueError:
        raise ConfigError(f"message body: not JSON (got {brief(body)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"message body: must be a JSON object (got {brief(data)})")
    raw = data.get("accounts")
    if not isinstance(raw, list) or not raw:
        # An empty list would mean "the whole organization" to run(): never from a message.
        raise ConfigError(f"message body: accounts must be a non-empty list (got {brief(raw)})")
    accounts = []
    for i, entry in enumerate(raw):
        acct_id, name = (entry, "") if isinstance(entry, str) else _entry(entry, i)
        try:
            check_account_id(acct_id)
        except ValueError as exc:
            raise ConfigError(f"message accounts[{i}]: {exc} (got {brief(acct_id)})") from None
        accounts.append(Account(acct_id, name))
    names_known = all(isinstance(e, dict) for e in raw)
    dispatch_id, part = data.get("dispatch"), data.get("part")
    if (dispatch_id is None) != (part is None) or not (
        dispatch_id is None or (isinstance(dispatch_id, str) and isinstance(part, int))
    ):
        raise ConfigError("message body: dispatch and part go together")
    return WorkerMessage(accounts, names_known, dispatch_id, part)


def _entry(entry: Any, i: int) -> tuple[str, str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise ConfigError(
            f"message accounts[{i}]: must be an id or {{id, name}} (got {brief(entry)})"
        )
    name = entry.get("name", "")
    return entry["id"], name if isinstance(name, str) else ""


# ---------------------------------------------------------------------------------------------
# Dispatcher


def dispatch(
    config: Config, opts: RunOptions, queue_url: str, per_message: int
) -> tuple[dict[str, Any], Progress | None]:
    """Queue every selected account in batches as the organization is listed, then sweep
    departed accounts (the only place that sees the whole organization in this mode). Returns
    the dispatcher's Lambda result, and the night if every part of it finished before the
    listing ended (its findings are then the dispatcher's to record)."""
    assert opts.session is not None
    listing = account_listing(opts.session, config, opts)
    dispatch_id = uuid.uuid4().hex[:16]
    ddb = dynamodb_client(opts.session, config)
    expires = int((opts.clock() + DISPATCH_TTL).timestamp())
    # Recorded before any message is sent, so that every worker finds its night; the count
    # once the listing has ended.
    opts.retry.call(open_dispatch, ddb, config.table.name, dispatch_id, expires)
    sqs = opts.session.client("sqs", region_name=config.table.region, config=client_config(4))
    queue = _Queue(sqs, queue_url, dispatch_id, opts.retry)
    waiting: list[Account] = []
    # Each page's accounts are queued before the next page is asked for: workers start with
    # the first page, not after the last (issue 26).
    for chosen in listing.by_page():
        waiting.extend(chosen)
        full = len(waiting) - len(waiting) % per_message
        queue.send([waiting[i : i + per_message] for i in range(0, full, per_message)])
        del waiting[:full]
    queue.send([waiting] if waiting else [])
    everyone = listing.everyone
    if everyone is None:
        # What was listed is queued and will be scanned; the night never completes (no count),
        # so no findings are recorded and no account is marked departed from a partial list.
        raise listing.error or FatalError("interrupted while listing the organization")
    night = opts.retry.call(close_dispatch, ddb, config.table.name, dispatch_id, queue.parts)
    marked = sweep_departed(config, everyone, opts)
    # The table as the dispatcher found it (last night's workers); tonight's audit comes from
    # the worker that finishes the last message. Its summary only: read without subnets and
    # tags, as `audit --format json` reads (issue 26).
    audit, _ = run_audit(config, options=opts, subnets=False)
    answer = {
        "ok": True,
        "mode": "fan-out",
        "dispatch": dispatch_id,
        "accounts": listing.selected,
        "messages": queue.parts,
        "marked_deleted": marked,
        "audit": audit.to_dict()["summary"],
    }
    return answer, night if night.complete else None


class _Queue:
    """The night's messages, sent as their accounts are listed, numbered from part 0."""

    def __init__(self, sqs: Any, url: str, dispatch_id: str, retry: RetryPolicy) -> None:
        self.sqs, self.url, self.dispatch_id, self.retry = sqs, url, dispatch_id, retry
        self.parts = 0  # messages sent

    def send(self, batches: Sequence[Sequence[Account]]) -> None:
        """Queue each batch of accounts as the next part (ten messages a call)."""
        for start in range(0, len(batches), 10):  # SendMessageBatch takes 10 entries
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": json.dumps(
                        {
                            "accounts": [{"id": a.id, "name": a.name} for a in batch],
                            "dispatch": self.dispatch_id,
                            "part": self.parts + n,
                        }
                    ),
                }
                for n, batch in enumerate(batches[start : start + 10])
            ]
            resp = self.retry.call(self.sqs.send_message_batch, QueueUrl=self.url, Entries=entries)
            if resp.get("Failed"):
                raise FatalError(
                    f"SQS refused {len(resp['Failed'])} messages: {resp['Failed'][0].get('Code')}"
                )
            self.parts += len(entries)


# ---------------------------------------------------------------------------------------------
# Worker


@dataclass
class WorkResult:
    """What one message did."""

    summary: RunSummary
    gone: dict[str, DeletionReason]
    # Set on the message that finished the night: the accounts whose findings stand as they
    # were (their parts finished failed).
    night: Progress | None = None

    @property
    def last_of_night(self) -> bool:
        """This message finished the night's fan-out."""
        return self.night is not None


def work(config: Config, opts: RunOptions, message: WorkerMessage) -> WorkResult:
    """Collect one message's accounts; raise MessageFailed unless all of it is done."""
    assert opts.session is not None
    if opts.stop():
        raise MessageFailed("not started: the invocation is at its deadline")
    if message.names_known:
        run_opts = replace(opts, account_list=message.accounts, accounts=())
    else:
        run_opts = replace(opts, accounts=[a.id for a in message.accounts])
    summary = run(config, run_opts)
    failed = sorted({f["account_id"] for f in summary.failures})
    cut = {f["error_code"] for f in summary.failures} & {DEADLINE_CODE, INTERRUPTED_CODE}
    if cut:
        raise MessageFailed(
            f"cut short ({', '.join(sorted(cut))}): {len(failed)} accounts left", summary, failed
        )
    gone = _known_gone(config, opts, failed) if failed else {}
    if gone:
        mark_accounts_gone(config, gone, opts)
    still = [a for a in failed if a not in gone]
    if still or summary.write_failures or summary.unreadable_items:
        codes = sorted({f["error_code"] for f in summary.failures if f["account_id"] in still})
        raise MessageFailed(
            f"{counted(len(still), 'account')} failed ({', '.join(codes) or 'none'}), "
            f"{counted(summary.write_failures, 'write failure')}, "
            f"{counted(len(summary.unreadable_items), 'unreadable item')}",
            summary,
            still or [a.id for a in message.accounts],
        )
    result = WorkResult(summary, gone)
    progress = finish_part(config, opts, message)
    if progress is not None and progress.complete:
        result.night = progress
    return result


def finish_part(
    config: Config, opts: RunOptions, message: WorkerMessage, failed: Sequence[str] = ()
) -> Progress | None:
    """Mark the message's part of its night finished (with `failed` accounts: finished failed,
    on its last receive); None for a message of no night."""
    if message.dispatch_id is None or message.part is None:
        return None
    assert opts.session is not None
    ddb = dynamodb_client(opts.session, config)
    return opts.retry.call(
        part_done, ddb, config.table.name, message.dispatch_id, message.part, failed
    )


def _known_gone(
    config: Config, opts: RunOptions, account_ids: Sequence[str]
) -> dict[str, DeletionReason]:
    """Which of these accounts Organizations says are suspended or no longer members."""
    assert opts.session is not None
    return confirm_departed(opts.session, config, account_ids, opts.retry)
