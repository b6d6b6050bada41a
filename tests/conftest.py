"""Shared fixtures: fake credentials and an environment that can never reach real AWS."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

DATA = Path(__file__).parent / "data"


def load_data(name: str) -> Any:
    """A raw API response or sample event from tests/data."""
    return json.loads((DATA / name).read_text())


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials; no profile, endpoint or config file from the developer's machine."""
    for key in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # moto: skip loading thousands of AMIs into every EC2 backend (seconds per test).
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(autouse=True)
def isolated_logging() -> Iterator[None]:
    """Each test starts with the `collector` and root loggers as it found them.

    The Lambda's logger writes to the sys.stdout of the moment, which in a test is pytest's
    capture, closed after that test: a later test logging through that handler printed
    "--- Logging error ---" into the stderr it asserts on (seen when test_handler ran first).
    """
    loggers = [logging.getLogger(), logging.getLogger("collector")]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


_MOTO_LOCK = threading.Lock()


@pytest.fixture(autouse=True)
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let in-process moto serve one request at a time.

    Real AWS applies each request atomically; moto's backends are plain dicts with no locking,
    so our worker threads could otherwise break moto itself (a Query iterating a table while a
    BatchWriteItem inserts raises "dictionary changed size during iteration" inside moto, and
    two conditional writes could both pass). The code under test still runs fully concurrent.
    """
    original = BotocoreStubber.__call__

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _MOTO_LOCK:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", locked)
    yield
