"""An SQS batch (fan-out workers and queued CloudTrail events), each message settled through
Powertools' batch processor: every message not fully done is reported in `batchItemFailures`.

The events are rescanned first, each target once (a burst for one target is one scan); then
each fan-out message is worked; the nights its messages finished are recorded last, and a night
not recorded keeps the message that finished it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import Config, ConfigError
from collector.errors import FatalError, describe
from collector.fanout import MessageFailed, WorkerMessage, finish_part, parse_message, work
from collector.function_config import small_int
from collector.jobs.options import RunOptions
from collector.jobs.summary import RunSummary
from collector.live import Rescan, changes_tgw, event_target, is_cloudtrail_event, rescan
from collector.night import record_night, report_metric, run_metrics
from collector.safety import one_line
from collector.store.dispatch import Progress
from collector.telemetry import publish

log = logging.getLogger(__name__)

# How many times the queue delivers a message before its dead-letter queue takes it.
MAX_RECEIVES = "VPCTRACKER_MAX_RECEIVES"


def record_id(record: Mapping[str, Any]) -> str:
    """An SQS record's message id, as `batchItemFailures` names it."""
    return str(record.get("messageId", ""))


def _json(record: Mapping[str, Any]) -> Any:
    """An SQS record's body as JSON (None when it is not JSON text)."""
    body = record.get("body")
    try:
        return json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return None


def _rescan_events(
    config: Config, records: list[dict[str, Any]], opts: RunOptions
) -> tuple[set[str], dict[str, tuple[str, str]], Rescan | None]:
    """CloudTrail events in an SQS batch: each target rescanned once, before the records are
    settled one by one (a burst for one target is one scan). Returns (ids of the event
    records, their targets, what the rescan did)."""
    events = {record_id(r): body for r in records if is_cloudtrail_event(body := _json(r))}
    sent = {record_id(r): _sent_at(r) for r in records}
    redelivered = {record_id(r) for r in records if (_receive_count(r) or 1) > 1}
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


def settle(
    config: Config, records: list[dict[str, Any]], opts: RunOptions, context: Any
) -> dict[str, Any]:
    """Settle each message of an SQS batch whose worker can write the table; returns the
    batch's `batchItemFailures`."""
    total = RunSummary(started_at=opts.clock())
    nights: list[tuple[str, Progress]] = []  # the fan-out nights this batch finished, by whom
    events, targets, live = _rescan_events(config, records, opts)

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
            log.error("message %s not done: %s", record.message_id, one_line(describe(exc)))
            if isinstance(exc, MessageFailed) and exc.summary is not None:
                add(exc.summary)
            night = _dead_lettered(config, opts, record, message, exc)
            if night is not None:
                nights.append((record.message_id, night))
            raise
        add(result.summary)
        if result.night is not None:
            nights.append((record.message_id, result.night))

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event={"Records": records},
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
    for s in live.summaries if live else []:
        add(s)
    failed = list(response.get("batchItemFailures", []))
    for message_id, night in nights:
        # Fail closed: a night not recorded keeps the message that finished it, whose
        # redelivery finishes the night again and records it.
        kept = {f["itemIdentifier"] for f in failed}
        if record_night(config, opts, night) is not None and message_id not in kept:
            failed.append({"itemIdentifier": message_id})
    failures = len(failed)
    notify = live.notify_failures if live else 0
    report = live.report_failures if live else 0
    publish(
        "worker",
        {
            **run_metrics(total),
            "MessagesFailed": failures,
            "NotifyFailures": notify,
            **report_metric(config, report),
        },
    )
    return {"batchItemFailures": failed}
