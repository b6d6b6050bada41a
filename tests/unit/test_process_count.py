"""How many worker processes a run uses (issue 26): `scan.processes`, the CPUs available, and
no more than one per `scan.accounts_per_process` accounts."""

from __future__ import annotations

import os

import pytest

from collector.config import Config
from collector.scan.processes import available_cpus, process_count


@pytest.mark.parametrize(
    ("configured", "accounts", "per_process", "cpus", "expected"),
    [
        (None, 1000, 50, 2, 2),  # unset: the CPUs available
        (None, 1000, 50, 6, 6),
        (4, 1000, 50, 2, 4),  # configured wins over the CPU count
        (None, 1, 50, 2, 1),  # a live update's one account: no worker to start
        (None, 60, 50, 8, 2),  # 60 accounts: two processes at most
        (8, 100, 50, 8, 2),
        (1, 1000, 50, 8, 1),  # one: the run's own process alone
        (None, 0, 50, 4, 1),
        (3, 5, 1, 2, 3),
    ],
)
def test_process_count(
    configured: int | None, accounts: int, per_process: int, cpus: int, expected: int
) -> None:
    assert process_count(configured, accounts, per_process, cpus) == expected


@pytest.mark.parametrize(
    ("memory", "expected"),
    [("128", 1), ("1769", 1), ("3008", 2), ("3538", 2), ("5307", 3), ("10240", 6)],
)
def test_on_lambda_the_memory_size_sets_the_cpus(memory: str, expected: int) -> None:
    assert available_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}) == expected


def test_elsewhere_the_cpus_this_process_may_run_on() -> None:
    assert available_cpus({}) == len(os.sched_getaffinity(0))


def test_config_defaults_and_bounds() -> None:
    scan = Config.model_validate({"table": {"name": "VPCTracker"}}).scan
    assert scan.processes is None and scan.accounts_per_process == 50
    with pytest.raises(ValueError, match="processes"):
        Config.model_validate({"table": {"name": "VPCTracker"}, "scan": {"processes": 0}})


def test_a_scan_request_never_shows_its_credentials() -> None:
    from datetime import UTC, datetime

    from botocore.credentials import ReadOnlyCredentials

    from collector.models import Account
    from collector.scan.processes import ScanRequest

    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    request = ScanRequest(
        1,
        Account("111111111111", "a"),
        "us-east-1",
        ReadOnlyCredentials("AKIAEXAMPLE", secret, "token-value"),
        datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert secret not in repr(request) and "token-value" not in repr(request)
