"""Thin Lambda adapter: event + environment → the same `run(...)` as the CLI → JSON result.

Invocations:
- EventBridge scheduled event: the full organization (or, with VPCTRACKER_QUEUE_URL set, the
  fan-out dispatcher in `collector.fanout`).
- SQS event (fan-out workers): Powertools' batch processor runs each message; every message
  not fully done is reported in `batchItemFailures` (all of them if the worker cannot start).
- Direct invoke `{"accounts": [...], "regions": [...]?, "check": true?}`: those accounts, as the
  landing-zone pipeline's post-provision step (with `check`, the verdict too).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from collector.arenas import limit_arenas
from collector.config import (
    Config,
    ConfigError,
    check_account_id,
    check_region,
)
from collector.errors import FatalError, error_code, error_message
from collector.fanout import (
    MessageFailed,
    WorkerMessage,
    dispatch,
    finish_part,
    parse_message,
    work,
)
from collector.function_config import config_from_env, small_int
from collector.hub import hub_session
from collector.jobs.audit import run_audit
from collector.jobs.check import run_check
from collector.jobs.collect import run
from collector.jobs.findings import FindingsRecord, remember_findings
from collector.jobs.options import RunOptions, dynamodb_client
from collector.jobs.publish import nightly_publisher, publish_report
from collector.jobs.summary import RunSummary
from collector.live import (
    Rescan,
    changes_tgw,
    event_target,
    is_cloudtrail_event,
    rescan,
    target_statuses,
)
from collector.safety import brief, one_line
from collector.scan import ALL_REGIONS
from collector.store.dispatch import Progress
from collector.store.table import TableMissingError, check_table
from collector.telemetry import publish, setup_logging

log = logging.getLogger("collector.handler")

# Stop starting new work when this much time is left, so the summary is written and returned.
SAFETY_MARGIN_MS = 60_000
# How many times the queue delivers a message before its dead-letter queue takes it.
MAX_RECEIVES = "VPCTRACKER_MAX_RECEIVES"


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


def run_metrics(s: RunSummary) -> dict[str, float]:
    """Metric values of a collection."""
    return {
        "VpcsCollected": s.vpcs_seen,
        "TargetsFailed": s.failed,
        "TargetsSkipped": s.skipped,
        "WriteFailures": s.write_failures,
        "DurationSeconds": round(s.duration_s, 3),
    }


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
            return _sqs(config, request, opts, context)
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
    if isinstance(exc, ClientError | BotoCoreError):
        return f"{error_code(exc)}: {error_message(exc)}"
    return str(exc)


def _failed(msg: str, records: list[dict[str, Any]] | None, what: str) -> dict[str, Any]:
    """The answer of an invocation that could not do its work at all."""
    log.error("%s: %s", what, msg)
    publish("any", {"RunErrors": 1})
    if records is not None:
        # A worker that cannot start has done none of its messages: acknowledging them would
        # delete work nobody did. Every one goes back to the queue (and, in time, the DLQ).
        publish("worker", {"MessagesFailed": len(records)})
        return {"batchItemFailures": [{"itemIdentifier": _message_id(r)} for r in records]}
    return {"ok": False, "error": msg}


def _sqs_records(event: Any) -> list[dict[str, Any]] | None:
    """The SQS records of an event that is an SQS batch (whatever else is wrong with it)."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return None
    records = [r for r in event["Records"] if isinstance(r, dict)]
    if records and all(r.get("eventSource") == "aws:sqs" for r in records):
        return records
    return None


def _message_id(record: Mapping[str, Any]) -> str:
    return str(record.get("messageId", ""))


def _json(record: Mapping[str, Any]) -> Any:
    """An SQS record's body as JSON (None when it is not JSON text)."""
    body = record.get("body")
    try:
        return json.loads(body) if isinstance(body, str) else None
    except ValueError:
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
                **_report_metric(config, result.report_failures),
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
    totals = _night_metrics(config, opts, record, summary)
    log.info("scheduled run: %d targets, %d failed", summary.targets, summary.failed)
    return {"ok": summary.exit_code == 0, "summary": summary.to_dict(), "audit": totals}


def _night_metrics(
    config: Config, opts: RunOptions, record: FindingsRecord | None, summary: RunSummary
) -> dict[str, Any]:
    """Publish the night's metrics (`Mode=scheduled`) from the audit its recording compared
    (or, when the recording failed, a fresh one); returns that audit's summary."""
    report_failures = record.report_failures if record else 0
    if record is not None and record.audit is not None:
        audit = record.audit
    else:
        audit, _ = run_audit(config, options=opts, inventory=summary.inventory)
        # No recording, so no report yet: publish this audit's (nobody is notified).
        report_failures += publish_report(config, audit, opts, dated=True).failures
    totals: dict[str, Any] = audit.to_dict()["summary"]
    publish(
        "scheduled",
        {
            **(run_metrics(summary) if summary.targets else {}),
            "OverlapGroups": totals["overlap_groups"],
            "DefaultVpcs": totals["default_vpcs"],
            "NotifyFailures": record.notify_failures if record else 0,
            **_report_metric(config, report_failures),
        },
    )
    return totals


def _report_metric(config: Config, failures: int) -> dict[str, float]:
    """`ReportFailures`, where a report is published (the stack alarms on it there)."""
    return {"ReportFailures": failures} if config.report.bucket else {}


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
        _record_night(config, opts, RunSummary(started_at=opts.clock()), night)
    return result


def _rescan_events(
    config: Config, records: list[dict[str, Any]], opts: RunOptions
) -> tuple[set[str], dict[str, tuple[str, str]], Rescan | None]:
    """CloudTrail events in an SQS batch: each target rescanned once, before the records are
    settled one by one (a burst for one target is one scan). Returns (ids of the event
    records, their targets, what the rescan did)."""
    events = {_message_id(r): body for r in records if is_cloudtrail_event(body := _json(r))}
    sent = {_message_id(r): _sent_at(r) for r in records}
    redelivered = {_message_id(r) for r in records if (_receive_count(r) or 1) > 1}
    targets: dict[str, tuple[str, str]] = {}
    current_since: dict[tuple[str, str], datetime] = {}
    unknown: set[tuple[str, str]] = set()  # a message without a send time: always scanned
    follow: set[tuple[str, str]] = set()  # their event changed a TGW attachment
    for message_id, body in events.items():
        try:
            target = targets[message_id] = event_target(body)
            if changes_tgw(body):
                follow.add(target)
        except ConfigError as exc:
            log.error("event %s not usable: %s", message_id, exc)
            continue
        at = sent.get(message_id)
        if at is None or message_id in redelivered:
            # Without a send time, nothing says a stored scan holds the change; redelivered,
            # its earlier scan may have been written but not recorded (live.NOT_RECORDED).
            unknown.add(target)
        elif target not in current_since or at > current_since[target]:
            current_since[target] = at
    for target in unknown:
        current_since.pop(target, None)
    live = rescan(config, set(targets.values()), opts, current_since, follow) if targets else None
    return set(events), targets, live


# SQS's clock and ours may differ by this much.
CLOCK_SKEW = timedelta(seconds=1)


def _event_done(target: tuple[str, str] | None, live: Rescan | None) -> None:
    """Raise MessageFailed unless the event's target was rescanned (or provably needs not be)."""
    if target is None or live is None or not live.done(target):
        why = live.failed.get(target, "not rescanned") if live and target else "bad event"
        raise MessageFailed(f"event target {target}: {why}")


def _dead_lettered(
    config: Config,
    opts: RunOptions,
    record: SQSRecord,
    message: WorkerMessage | None,
    exc: BaseException,
) -> Progress | None:
    """A message failed on its last receive goes to the dead-letter queue: its part of the night
    is finished, failed, so one account that keeps failing does not keep the night from being
    recorded. Returns the night when that finished it."""
    if message is None or not _last_receive(record):
        return None
    failed = exc.accounts if isinstance(exc, MessageFailed) else []
    night = finish_part(config, opts, message, failed or [a.id for a in message.accounts])
    return night if night is not None and night.complete else None


def _last_receive(record: SQSRecord) -> bool:
    """This is the message's last receive: failing it moves it to the dead-letter queue
    (`VPCTRACKER_MAX_RECEIVES`, the queue's maxReceiveCount; 3 as the stack sets it)."""
    limit = small_int(os.environ.get(MAX_RECEIVES, "3")) or 3
    count = _receive_count(record.raw_event)
    return count is not None and count >= limit


def _receive_count(record: dict[str, Any]) -> int | None:
    """How many times SQS has delivered the message (its `ApproximateReceiveCount`); None
    when it does not say."""
    attributes = record.get("attributes")
    raw = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    return small_int(raw) if isinstance(raw, str) else None


def _sent_at(record: dict[str, Any]) -> datetime | None:
    """When the queue received the message (after the change it reports was made), plus the
    clock skew: a target scanned from then on already holds that change."""
    attributes = record.get("attributes")
    raw = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 15:
        return None
    try:
        return datetime.fromtimestamp(int(raw) / 1000, UTC) + CLOCK_SKEW
    except (OverflowError, OSError, ValueError):  # not a time: scan, as without one
        return None


def _sqs(config: Config, request: Request, opts: RunOptions, context: Any) -> dict[str, Any]:
    """Fan-out worker: each message through Powertools' batch processor."""
    try:
        # A worker that cannot write the table does nothing right: fail every message now.
        opts.retry.call(
            check_table, dynamodb_client(opts.session or hub_session(), config), config.table.name
        )
    except (TableMissingError, ClientError, BotoCoreError) as exc:
        return _failed(one_line(_describe(exc)), request.records, "worker cannot start")
    total = RunSummary(started_at=opts.clock())
    nights: list[Progress] = []  # the fan-out nights this batch finished
    events, targets, live = _rescan_events(config, request.records, opts)

    def add(s: RunSummary) -> None:
        for key in ("vpcs_seen", "failed", "skipped", "write_failures", "ok"):
            setattr(total, key, getattr(total, key) + getattr(s, key))
        total.duration_s += s.duration_s

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in events:
            _event_done(targets.get(record.message_id), live)
            return
        message: WorkerMessage | None = None
        try:
            message = parse_message(record.raw_event.get("body"))
            result = work(config, opts, message)
        except (ConfigError, MessageFailed, FatalError, ClientError, BotoCoreError) as exc:
            log.error("message %s not done: %s", record.message_id, one_line(_describe(exc)))
            if isinstance(exc, MessageFailed) and exc.summary is not None:
                add(exc.summary)
            night = _dead_lettered(config, opts, record, message, exc)
            if night is not None:
                nights.append(night)
            raise
        add(result.summary)
        if result.night is not None:
            nights.append(result.night)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event={"Records": request.records},
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
    for s in live.summaries if live else []:
        add(s)
    failures = len(response.get("batchItemFailures", []))
    notify = live.notify_failures if live else 0
    report = live.report_failures if live else 0
    publish(
        "worker",
        {
            **run_metrics(total),
            "MessagesFailed": failures,
            "NotifyFailures": notify,
            **_report_metric(config, report),
        },
    )
    for night in nights:
        _record_night(config, opts, total, night)
    return {"batchItemFailures": list(response.get("batchItemFailures", []))}


def _record_night(config: Config, opts: RunOptions, total: RunSummary, night: Progress) -> None:
    """A fan-out night's last message: record the findings of the table as every worker left
    it; those of accounts whose part finished failed stand as they were."""
    frozen = {(a, ALL_REGIONS) for a in night.failed_accounts}
    record = remember_findings(
        config, total, opts, frozen=frozen, report=nightly_publisher(config, opts)
    )
    totals = _night_metrics(config, opts, record, RunSummary(started_at=opts.clock()))
    log.info("fan-out night complete: %s", totals)
