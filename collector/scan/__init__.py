"""Stage 5 — scanning: the fan-out over (account, region) targets and what each target reads."""

from __future__ import annotations

from collector.scan.pool import (
    ALL_REGIONS,
    DEADLINE_CODE,
    INTERRUPTED_CODE,
    ScanEvent,
    deadline_result,
    failed_account,
    fan_out,
    not_reached,
)
from collector.scan.scanner import RegionalClients, Scanner, client_config
from collector.scan.vpcs import get_vpcs

__all__ = [
    "ALL_REGIONS",
    "DEADLINE_CODE",
    "INTERRUPTED_CODE",
    "RegionalClients",
    "ScanEvent",
    "Scanner",
    "client_config",
    "deadline_result",
    "failed_account",
    "fan_out",
    "get_vpcs",
    "not_reached",
]
