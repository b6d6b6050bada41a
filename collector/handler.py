"""Thin Lambda adapter: event + environment → the same `run(...)` as the CLI → JSON result.

Invocations:
- EventBridge scheduled event: the full organization (or, with VPCTRACKER_QUEUE_URL set, the
  fan-out dispatcher in `collector.fanout`).
- SQS event (fan-out workers and queued CloudTrail events, `collector.sqs_batch`): Powertools'
  batch processor runs each message; every message not fully done is reported in
  `batchItemFailures` (all of them if the worker cannot start).
- Direct invoke `{"accounts": [...], "regions": [...]?, "check": true?}`: those accounts, as the
  landing-zone pipeline's post-provision step (with `check`, the verdict too).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.arenas import limit_arenas
from collector.config import (
    Config,
    ConfigError,
    check_account_id,
    check_region,
)
from collector.errors import FatalError, describe
from collector.fanout import dispatch
from collector.function_config import config_from_env, small_int
from collector.hub import hub_session
from collector.jobs.check import run_check
from collector.jobs.collect import run
from collector.jobs.findings import remember_findings
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.publish import nightly_publisher
from collector.live import (
    changes_tgw,
    event_target,
    is_cloudtrail_event,
    rescan,
    target_statuses,
)
from collector.night import night_metrics, record_night, report_metric, run_metrics
from collector.safety import brief, one_line
from collector.sqs_batch import record_id, settle
from collector.store.table import TableMissingError, check_table
from collector.telemetry import publish, setup_logging

log = logging.getLogger("collector.handler")

# Stop starting new work when this much time is left, so the summary is written and returned.
SAFETY_MARGIN_MS = 60_000


@dataclass
class Request:
    """What an invocation asks for."""

    kind: str  # "scheduled" | "direct" | "sqs" | "event"
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    check: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)


def _ids(value: Any, name: str, check: Callable[[str], str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"event.{name}: must be a list of strings (got {brief(value)})")
    for i, v in enumerate(value):
        try:
            check(v)
        except ValueError as exc:
            raise ConfigError(f"event.{name}[{i}]: {exc} (got {brief(v)})") from None
    return list(value)


# The top-level fields of an EventBridge event (its envelope).
ENVELOPE = frozenset(
    {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
)


def parse_event(event: Any) -> Request:
    """Classify and validate an invocation event."""
    if not isinstance(event, dict):
        raise ConfigError(f"event: must be a JSON object (got {brief(event)})")
    if event.get("detail-type") == "Scheduled Event":
        # The documented shape only: EventBridge's envelope from its scheduler, nothing else (an
        # event that merely says "aws.events" with accounts in it is not a whole-org run).
        extra = set(event) - ENVELOPE
        if event.get("source") != "aws.events" or extra:
            what = f"unknown key {brief(sorted(extra)[0])}" if extra else "source is not aws.events"
            raise ConfigError(f"event: not a scheduled event ({what})")
        return Request("scheduled")
    if is_cloudtrail_event(event):
        return Request("event", records=[event])
    records = event.get("Records")
    if (
        isinstance(records, list)
        and records
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    ):
        return Request("sqs", records=records)
    unknown = set(event) - {"accounts", "regions", "check"}
    if unknown:
        raise ConfigError(f"event: unknown key {brief(sorted(unknown)[0])}")
    if "accounts" not in event:
        raise ConfigError("event.accounts: required for a direct invocation")
    accounts = _ids(event["accounts"], "accounts", check_account_id)
    if not accounts:
        raise ConfigError("event.accounts: must name at least one account")
    regions = _ids(event.get("regions", []), "regions", check_region)
    check = event.get("check", False)
    if not isinstance(check, bool):
        raise ConfigError(f"event.check: must be true or false (got {brief(check)})")
    return Request("direct", accounts=accounts, regions=regions, check=check)


# ---------------------------------------------------------------------------------------------
# The handler


@functools.cache
def function_session() -> boto3.Session:
    """The function's session, made by its first invocation and kept while Lambda keeps the
    execution environment, as Lambda's best practices advise for SDK clients: a session made
    per invocation read and parsed every service model again (about a quarter of a second of
    CPU before an event's first call, measured). It resolves the execution role's credentials
    through the standard chain, as a new one would."""
    return hub_session()


def handler(event: Any, context: Any, *, session: boto3.Session | None = None) -> dict[str, Any]:
    """Lambda entry point (`collector.handler.handler`)."""
    limit_arenas()  # once, on the first event, before any thread: see collector.arenas
    setup_logging()
    session = session or function_session()
    records = _sqs_records(event)
    try:
        config = config_from_env(os.environ, session)
        request = parse_event(event)
    except ConfigError as exc:
        return _failed(one_line(str(exc)), records, "bad input")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    opts = RunOptions(
        session=session,
        stop=(lambda: remaining() < SAFETY_MARGIN_MS) if remaining else (lambda: False),
    )
    try:
        if request.kind == "sqs":
            return _sqs(config, request.records, opts, context)
        if request.kind == "direct":
            return _direct(config, request, opts)
        if request.kind == "event":
            return _event(config, request, opts)
        queue = os.environ.get("VPCTRACKER_QUEUE_URL")
        return _dispatch(config, opts, queue) if queue else _scheduled(config, opts)
    except (ConfigError, FatalError, TableMissingError, ClientError, BotoCoreError) as exc:
        return _failed(one_line(_describe(exc)), records, "run failed")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TableMissingError):
        return f"table {exc} not found"
    return describe(exc)


def _failed(msg: str, records: list[dict[str, Any]] | None, what: str) -> dict[str, Any]:
    """The answer of an invocation that could not do its work at all."""
    log.error("%s: %s", what, msg)
    publish("any", {"RunErrors": 1})
    if records is not None:
        # A worker that cannot start has done none of its messages: acknowledging them would
        # delete work nobody did. Every one goes back to the queue (and, in time, the DLQ).
        publish("worker", {"MessagesFailed": len(records)})
        return {"batchItemFailures": [{"itemIdentifier": record_id(r)} for r in records]}
    return {"ok": False, "error": msg}


def _sqs_records(event: Any) -> list[dict[str, Any]] | None:
    """The SQS records of an event that is an SQS batch (whatever else is wrong with it)."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return None
    records = [r for r in event["Records"] if isinstance(r, dict)]
    if records and all(r.get("eventSource") == "aws:sqs" for r in records):
        return records
    return None


def _event(config: Config, request: Request, opts: RunOptions) -> dict[str, Any]:
    """A CloudTrail event delivered directly: rescan its target, announce new findings."""
    target = event_target(request.records[0])
    follow = [target] if changes_tgw(request.records[0]) else []
    result = rescan(config, [target], opts, follow=follow)
    for s in result.summaries:
        publish(
            "event",
            {
                **run_metrics(s),
                "NotifyFailures": result.notify_failures,
                **report_metric(config, result.report_failures),
            },
        )
    out: dict[str, Any] = {
        "ok": result.done(target),
        "rescanned": target_statuses(result),
        "notified": result.notified,
    }
    if target in result.failed:
        out["error"] = f"{target[0]}/{target[1]}: {result.failed[target]}"
    if target in result.skipped:
        out["skipped"] = result.skipped[target]
    return out


def _scheduled(config: Config, opts: RunOptions) -> dict[str, Any]:
    summary = run(config, opts)
    record = remember_findings(config, summary, opts, report=nightly_publisher(config, opts))
    totals = night_metrics(config, opts, record, summary)
    log.info("scheduled run: %d targets, %d failed", summary.targets, summary.failed)
    return {"ok": summary.exit_code == 0, "summary": summary.to_dict(), "audit": totals}


def _direct(config: Config, request: Request, opts: RunOptions) -> dict[str, Any]:
    opts.regions = request.regions
    if request.check:
        result = run_check(config, request.accounts, opts)
        publish("check", run_metrics(result.summary))
        # A check that ran answers ok with its verdict (findings are an answer, not a failure);
        # ok is false only for a bad event or a run that could not certify (incomplete).
        out: dict[str, Any] = {"ok": result.exit_code != 2, **result.to_dict()}
        if result.exit_code == 2:
            out["error"] = "the scan of these accounts was incomplete: cannot certify"
        return out
    opts.accounts = request.accounts
    summary = run(config, opts)
    publish("direct", run_metrics(summary))
    return {"ok": summary.exit_code == 0, "summary": summary.to_dict()}


def _dispatch(config: Config, opts: RunOptions, queue_url: str) -> dict[str, Any]:
    raw = os.environ.get("VPCTRACKER_ACCOUNTS_PER_MESSAGE", "10")
    per_message = small_int(raw)
    if per_message is None or not 1 <= per_message <= 100:
        raise ConfigError(
            f"VPCTRACKER_ACCOUNTS_PER_MESSAGE: must be a whole number 1-100 (got {brief(raw)})"
        )
    result, night = dispatch(config, opts, queue_url, per_message)
    publish(
        "dispatch",
        {"AccountsQueued": result["accounts"], "MarkedDeparted": result["marked_deleted"]},
    )
    if night is not None:  # every part finished while the dispatcher still listed
        why = record_night(config, opts, night)
        if why is not None:
            # No message is left to retry it: the next night records what this one found.
            return {**result, "ok": False, "error": f"the night's findings not recorded: {why}"}
    return result


def _sqs(
    config: Config, records: list[dict[str, Any]], opts: RunOptions, context: Any
) -> dict[str, Any]:
    """Fan-out workers and queued events: each message settled (`collector.sqs_batch`)."""
    try:
        # A worker that cannot write the table does nothing right: fail every message now.
        opts.retry.call(
            check_table, dynamodb_client(opts.session or hub_session(), config), config.table.name
        )
    except (TableMissingError, ClientError, BotoCoreError) as exc:
        return _failed(one_line(_describe(exc)), records, "worker cannot start")
    return settle(config, records, opts, context)
