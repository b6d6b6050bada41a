"""Lambda telemetry on Powertools for AWS Lambda: JSON logs (`Logger`) and CloudWatch metrics in
embedded metric format (`Metrics`), replacing the hand-written formatter and EMF printer.

Created on first use, not at import (importing the package configures nothing), and re-pointed
at the current stdout on every invocation.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from functools import cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "vpctracker"
NAMESPACE = "VPCTracker"
UNITS = {"DurationSeconds": MetricUnit.Seconds}
# Every metric the code emits is one or the other (a test fails on one that is neither): a
# failure metric above 0 means work was lost or failed, and iam/hub.yaml alarms on it in every
# Mode that emits it (a test derives the modes by running each invocation kind).
FAILURE_METRICS = frozenset(
    {
        "TargetsFailed",
        "WriteFailures",
        "MessagesFailed",
        "NotifyFailures",
        "ReportFailures",
        "RunErrors",
    }
)
INFORMATION_METRICS = frozenset(
    {
        "VpcsCollected",
        "TargetsSkipped",
        "DurationSeconds",
        "OverlapGroups",
        "DefaultVpcs",
        "AccountsQueued",
        "MarkedDeparted",
    }
)


@cache
def _logger() -> Logger:
    return Logger(service=SERVICE, level="INFO", stream=sys.stdout)


def setup_logging() -> Logger:
    """JSON logs for the `collector` loggers at INFO; botocore stays at WARNING (verbose)."""
    logger = _logger()
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        # Not setStream(): it flushes the old stream, which a test harness may have closed.
        handler.acquire()
        try:
            handler.stream = sys.stdout
        finally:
            handler.release()
    logging.getLogger("collector")  # make sure the package logger exists to receive the config
    copy_config_to_registered_loggers(source_logger=logger, include={"collector"})
    logging.getLogger("botocore").setLevel(logging.WARNING)
    return logger


def publish(mode: str, values: Mapping[str, float]) -> None:
    """Emit one EMF record: `values` under namespace VPCTracker with dimension Mode=`mode`."""
    metrics = Metrics(namespace=NAMESPACE)
    metrics.add_dimension(name="Mode", value=mode)
    for name, value in values.items():
        metrics.add_metric(name=name, unit=UNITS.get(name, MetricUnit.Count), value=value)
    metrics.flush_metrics()
