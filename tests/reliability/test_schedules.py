"""Fixed-seed fault schedules (CI): every property holds under every kind of fault."""

from __future__ import annotations

import boto3
import pytest

from tests.reliability.harness import run_schedule


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_properties_hold_under_a_fault_schedule(session: boto3.Session, seed: int) -> None:
    figures = run_schedule(session, accounts=12, seed=seed)
    assert figures.runs == 2
    assert figures.vpcs_lost == 0 and figures.false_deletes == 0
    # The schedule really injected every kind of fault it promises.
    kinds = set(figures.faults)
    assert {
        "UnprocessedItems",
        "ExpiredToken",
        "malformed",
        "ConnectionClosedError",
        "ResponseParserError",
        "MalformedResponse",
    } <= kinds
    assert kinds & {"AuthFailure", "UnrecognizedClientException"}
    assert kinds & {
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
    }
    assert figures.targets["ok"] > 0
