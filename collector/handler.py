"""Thin Lambda adapter: event + environment → the same `run(...)` as the CLI → JSON result.

Invocations:
- EventBridge scheduled event: the full organization (or, with VPCTRACKER_QUEUE_URL set, the
  fan-out dispatcher: list accounts, sweep departed ones, queue accounts in batches).
- SQS event (fan-out workers): each message `{"accounts": [...]}` is collected; failed messages
  are reported through `batchItemFailures` so only they are retried.
- Direct invoke `{"accounts": [...], "regions": [...]?, "check": true?}`: those accounts, as the
  landing-zone pipeline's post-provision step (with `check`, the verdict too).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import (
    Config,
    ConfigError,
    check_account_id,
    check_region,
    parse_config,
)
from collector.errors import FatalError, error_code, error_message
from collector.runner import (
    RunOptions,
    RunSummary,
    list_target_accounts,
    run,
    run_audit,
    run_check,
    sweep_departed,
)
from collector.safety import brief, one_line
from collector.scan import DEADLINE_CODE
from collector.store import TableMissingError

log = logging.getLogger("collector.handler")

# Stop starting new work when this much time is left, so the summary is written and returned.
SAFETY_MARGIN_MS = 60_000
METRICS_NAMESPACE = "VPCTracker"

# Environment variable -> config key path (same validation as config.yaml).
ENV_KEYS: dict[str, str] = {
    "VPCTRACKER_TABLE": "table.name",
    "VPCTRACKER_TABLE_REGION": "table.region",
    "VPCTRACKER_RETENTION_DAYS": "table.deleted_retention_days",
    "VPCTRACKER_ROLE_NAME": "organization.role_name",
    "VPCTRACKER_EXTERNAL_ID": "organization.external_id",
    "VPCTRACKER_SESSION_NAME": "organization.session_name",
    "VPCTRACKER_INCLUDE_ACCOUNTS": "organization.include_accounts",
    "VPCTRACKER_EXCLUDE_ACCOUNTS": "organization.exclude_accounts",
    "VPCTRACKER_INCLUDE_OUS": "organization.include_ous",
    "VPCTRACKER_REGIONS": "regions",
    "VPCTRACKER_MAX_WORKERS": "scan.max_workers",
    "VPCTRACKER_LEASE_WAIT_SECONDS": "scan.lease_wait_seconds",
    "VPCTRACKER_HOME_REGION": "scan.home_region",
    "VPCTRACKER_RESERVED_CIDRS": "reserved_cidrs",
}
LIST_KEYS = {
    "organization.include_accounts",
    "organization.exclude_accounts",
    "organization.include_ous",
}
INT_KEYS = {"scan.max_workers", "scan.lease_wait_seconds", "table.deleted_retention_days"}


def _env_value(path: str, raw: str) -> Any:
    if path in LIST_KEYS:
        return [x.strip() for x in raw.split(",") if x.strip()]
    if path in INT_KEYS:
        return int(raw) if raw.strip().lstrip("-").isdigit() else raw
    if path == "regions":
        return "all" if raw.strip() == "all" else [x.strip() for x in raw.split(",") if x.strip()]
    if path == "reserved_cidrs":
        # name=cidr,name=cidr (one routed range per entry)
        out = []
        for entry in filter(None, (e.strip() for e in raw.split(","))):
            name, sep, cidr = entry.partition("=")
            if not sep:
                raise ConfigError(f"VPCTRACKER_RESERVED_CIDRS: {brief(entry)} is not name=cidr")
            out.append({"name": name.strip(), "cidr": cidr.strip()})
        return out
    return raw


def config_from_env(env: Mapping[str, str]) -> Config:
    """Config from VPCTRACKER_* variables; errors name the variable and the value."""
    data: dict[str, Any] = {}
    for var, path in ENV_KEYS.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        node = data
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = _env_value(path, raw)
    data.setdefault("table", {}).setdefault("region", env.get("AWS_REGION", "us-east-1"))
    try:
        return parse_config(data, "environment")
    except ConfigError as exc:
        msg = str(exc).removeprefix("environment: ")
        # Name the variable users set, not the config path it maps to.
        for var, path in sorted(ENV_KEYS.items(), key=lambda kv: -len(kv[1])):
            if msg.startswith(path):
                raise ConfigError(var + msg[len(path) :]) from None
        raise ConfigError(f"environment: {msg}") from None


@dataclass
class Request:
    """What an invocation asks for."""

    kind: str  # "scheduled" | "direct" | "sqs"
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


def parse_event(event: Any) -> Request:
    """Classify and validate an invocation event."""
    if not isinstance(event, dict):
        raise ConfigError(f"event: must be a JSON object (got {brief(event)})")
    if event.get("detail-type") == "Scheduled Event" or event.get("source") == "aws.events":
        return Request("scheduled")
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
# Structured logs and CloudWatch metrics (embedded metric format, printed to stdout)


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, as CloudWatch Logs Insights expects."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(out)


def setup_logging() -> None:
    """JSON logs at INFO for our loggers; botocore stays at WARNING (it is verbose)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
    if ours:
        for h in ours:
            if isinstance(h, logging.StreamHandler):
                h.setStream(sys.stdout)
    else:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        # Lambda installs its own plain-text handler; ours replaces it.
        root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("botocore").setLevel(logging.WARNING)


def emf(metrics: Mapping[str, float], mode: str, unit: Mapping[str, str]) -> str:
    """An embedded-metric-format line: CloudWatch turns it into metrics, no API call needed."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [["Mode"]],
                        "Metrics": [{"Name": k, "Unit": unit.get(k, "Count")} for k in metrics],
                    }
                ],
            },
            "Mode": mode,
            **metrics,
        }
    )


def run_metrics(s: RunSummary) -> dict[str, float]:
    """Metric values of a collection."""
    return {
        "VpcsCollected": s.vpcs_seen,
        "TargetsFailed": s.failed,
        "TargetsSkipped": s.skipped,
        "WriteFailures": s.write_failures,
        "DurationSeconds": round(s.duration_s, 3),
    }


# ---------------------------------------------------------------------------------------------
# The handler


def handler(event: Any, context: Any, *, session: boto3.Session | None = None) -> dict[str, Any]:
    """Lambda entry point (`collector.handler.handler`)."""
    setup_logging()
    try:
        config = config_from_env(os.environ)
        request = parse_event(event)
    except ConfigError as exc:
        msg = one_line(str(exc))
        log.error("bad input: %s", msg)
        print(emf({"RunErrors": 1}, "any", {}))
        return {"ok": False, "error": msg}
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    opts = RunOptions(
        session=session or boto3.Session(),
        stop=(lambda: remaining() < SAFETY_MARGIN_MS) if remaining else (lambda: False),
    )
    try:
        if request.kind == "sqs":
            return _sqs(config, request, opts)
        if request.kind == "direct":
            return _direct(config, request, opts)
        queue = os.environ.get("VPCTRACKER_QUEUE_URL")
        return _dispatch(config, opts, queue) if queue else _scheduled(config, opts)
    except (ConfigError, FatalError, TableMissingError, ClientError, BotoCoreError) as exc:
        msg = (
            f"table {exc} not found"
            if isinstance(exc, TableMissingError)
            else (
                f"{error_code(exc)}: {error_message(exc)}"
                if isinstance(exc, ClientError | BotoCoreError)
                else str(exc)
            )
        )
        msg = one_line(msg)
        log.error("run failed: %s", msg)
        print(emf({"RunErrors": 1}, "any", {}))
        return {"ok": False, "error": msg}


def _scheduled(config: Config, opts: RunOptions) -> dict[str, Any]:
    summary = run(config, opts)
    audit, _ = run_audit(config, options=opts)
    totals = audit.to_dict()["summary"]
    print(
        emf(
            {
                **run_metrics(summary),
                "OverlapGroups": totals["overlap_groups"],
                "DefaultVpcs": totals["default_vpcs"],
            },
            "scheduled",
            {"DurationSeconds": "Seconds"},
        )
    )
    log.info("scheduled run: %d targets, %d failed", summary.targets, summary.failed)
    return {"ok": summary.exit_code == 0, "summary": summary.to_dict(), "audit": totals}


def _direct(config: Config, request: Request, opts: RunOptions) -> dict[str, Any]:
    opts.regions = request.regions
    if request.check:
        result = run_check(config, request.accounts, opts)
        print(emf(run_metrics(result.summary), "check", {"DurationSeconds": "Seconds"}))
        return {"ok": result.exit_code == 0, **result.to_dict()}
    opts.accounts = request.accounts
    summary = run(config, opts)
    print(emf(run_metrics(summary), "direct", {"DurationSeconds": "Seconds"}))
    return {"ok": summary.exit_code == 0, "summary": summary.to_dict()}


def _dispatch(config: Config, opts: RunOptions, queue_url: str) -> dict[str, Any]:
    """Fan-out: queue every selected account in batches; sweep departed accounts here, the
    only place that sees the whole organization in this mode."""
    assert opts.session is not None
    everyone, selected = list_target_accounts(opts.session, config, (), opts.retry)
    per_message = int(os.environ.get("VPCTRACKER_ACCOUNTS_PER_MESSAGE", "10"))
    batches = [selected[i : i + per_message] for i in range(0, len(selected), per_message)]
    sqs = opts.session.client("sqs", region_name=config.table.region)
    sent = 0
    for start in range(0, len(batches), 10):  # SendMessageBatch takes 10 entries
        entries = [
            {"Id": str(n), "MessageBody": json.dumps({"accounts": [a.id for a in b]})}
            for n, b in enumerate(batches[start : start + 10])
        ]
        resp = opts.retry.call(sqs.send_message_batch, QueueUrl=queue_url, Entries=entries)
        if resp.get("Failed"):
            raise FatalError(
                f"SQS refused {len(resp['Failed'])} messages: {resp['Failed'][0].get('Code')}"
            )
        sent += len(entries)
    marked = sweep_departed(config, everyone, opts)
    audit, _ = run_audit(config, options=opts)
    totals = audit.to_dict()["summary"]
    print(
        emf(
            {
                "AccountsQueued": len(selected),
                "MarkedDeparted": marked,
                "OverlapGroups": totals["overlap_groups"],
                "DefaultVpcs": totals["default_vpcs"],
            },
            "dispatch",
            {},
        )
    )
    return {
        "ok": True,
        "mode": "fan-out",
        "accounts": len(selected),
        "messages": sent,
        "marked_deleted": marked,
        "audit": totals,
    }


def _sqs(config: Config, request: Request, opts: RunOptions) -> dict[str, Any]:
    """Fan-out worker: collect each message's accounts; report failed messages for retry."""
    failures: list[dict[str, str]] = []
    total = RunSummary(started_at=opts.clock())
    for record in request.records:
        msg_id = str(record.get("messageId", ""))
        try:
            body = json.loads(record.get("body") or "")
            accounts = _ids(
                body.get("accounts") if isinstance(body, dict) else None,
                "accounts",
                check_account_id,
            )
        except (ValueError, ConfigError) as exc:
            # It will never succeed, but is not dropped: after the queue's maxReceiveCount it
            # moves to the dead-letter queue, where someone can look at it.
            log.error("malformed message %s: %s", msg_id, exc)
            failures.append({"itemIdentifier": msg_id})
            continue
        if opts.stop():
            failures.append({"itemIdentifier": msg_id})
            continue
        try:
            s = run(config, replace(opts, accounts=accounts))
        except (FatalError, ConfigError, ClientError, BotoCoreError) as exc:
            log.error("message %s failed: %s", msg_id, exc)
            failures.append({"itemIdentifier": msg_id})
            continue
        if any(f["error_code"] == DEADLINE_CODE for f in s.failures):
            failures.append({"itemIdentifier": msg_id})
        for key in ("vpcs_seen", "failed", "skipped", "write_failures", "ok"):
            setattr(total, key, getattr(total, key) + getattr(s, key))
        total.duration_s += s.duration_s
    print(emf(run_metrics(total), "worker", {"DurationSeconds": "Seconds"}))
    return {"batchItemFailures": failures}
