"""A night's findings recorded and its metrics published (`Mode=scheduled`): the scheduled run's,
and a fan-out night's from whichever invocation finishes it (the dispatcher or the worker of its
last message); and the metric values of a run, which every invocation kind publishes."""

from __future__ import annotations

import logging
from typing import Any

from collector.config import Config
from collector.jobs.audit import run_audit
from collector.jobs.findings import FindingsRecord, remember_findings
from collector.jobs.options import RunOptions
from collector.jobs.publish import nightly_publisher, publish_report
from collector.jobs.summary import RunSummary
from collector.scan import ALL_REGIONS
from collector.store.dispatch import Progress
from collector.telemetry import publish

log = logging.getLogger(__name__)


def run_metrics(s: RunSummary) -> dict[str, float]:
    """Metric values of a collection."""
    return {
        "VpcsCollected": s.vpcs_seen,
        "TargetsFailed": s.failed,
        "TargetsSkipped": s.skipped,
        "WriteFailures": s.write_failures,
        "DurationSeconds": round(s.duration_s, 3),
    }


def report_metric(config: Config, failures: int) -> dict[str, float]:
    """`ReportFailures`, where a report is published (the stack alarms on it there)."""
    return {"ReportFailures": failures} if config.report.bucket else {}


def night_metrics(
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
            # A fan-out night's recording scans nothing: its failure is still counted.
            **(
                run_metrics(summary)
                if summary.targets
                else {"WriteFailures": summary.write_failures}
            ),
            "OverlapGroups": totals["overlap_groups"],
            "DefaultVpcs": totals["default_vpcs"],
            "NotifyFailures": record.notify_failures if record else 0,
            **report_metric(config, report_failures),
        },
    )
    return totals


def record_night(config: Config, opts: RunOptions, night: Progress) -> str | None:
    """A fan-out night's last message: record the findings of the table as every worker left
    it; those of accounts whose part finished failed stand as they were. Returns why they were
    not recorded (its `WriteFailures` published, which the stack alarms on), None once they
    were."""
    frozen = {(a, ALL_REGIONS) for a in night.failed_accounts}
    summary = RunSummary(started_at=opts.clock())
    record = remember_findings(
        config, summary, opts, frozen=frozen, report=nightly_publisher(config, opts)
    )
    totals = night_metrics(config, opts, record, summary)
    if record is None:
        why = ", ".join(sorted(summary.write_errors)) or "FindingsNotRecorded"
        log.error("fan-out night complete, its findings not recorded: %s", why)
        return why
    log.info("fan-out night complete: %s", totals)
    return None
