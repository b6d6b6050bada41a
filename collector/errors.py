"""Error classification and the one tenacity retry policy shared by every stage."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
)
from botocore.parsers import ResponseParserError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

# Codes AWS uses for "slow down"; botocore's standard retry mode already retries them a few
# times per call, tenacity retries the whole unit of work on top with longer, jittered waits.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Unavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
    }
)
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})

T = TypeVar("T")


class FatalError(Exception):
    """The run cannot start or continue (e.g. cannot list accounts); one line for the user."""


class MalformedResponse(Exception):
    """An answer that parsed but lacks what every real answer has (a proxy's 200 page, say).

    botocore parses any well-formed markup without complaint: an HTML page with status 200
    becomes a DescribeVpcs answer with no `Vpcs` key, which would read as "no VPCs" and mark
    every VPC of the target deleted.
    """


@contextlib.contextmanager
def reading_table(table: str) -> Iterator[None]:
    """A table read whose AWS failure (after its retries) ends the command in one line:
    `cannot read table <table>: <code>`."""
    try:
        yield
    except (ClientError, BotoCoreError, MalformedResponse) as exc:
        raise FatalError(f"cannot read table {table}: {error_code(exc)}") from None


def error_code(exc: BaseException) -> str:
    """A short, stable name for an error: the AWS error code, else the exception class."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """One-line message for an error, without the request id noise."""
    if isinstance(exc, ClientError):
        msg = str(exc.response.get("Error", {}).get("Message") or exc)
    else:
        msg = str(exc)
    return " ".join(msg.split())[:500]


def describe(exc: BaseException) -> str:
    """What went wrong, for a log line or an answer: an AWS error as `Code: message`, anything
    else as its own text."""
    if isinstance(exc, ClientError | BotoCoreError):
        return f"{error_code(exc)}: {error_message(exc)}"
    return str(exc)


def is_retryable(exc: BaseException) -> bool:
    """True for throttling, transient server errors and network faults."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or int(status) >= 500
    # ConnectionError: endpoint unreachable; HTTPClientError: connection reset, read and
    # connect timeouts. botocore has retried these already; a later whole-task retry may win.
    # ResponseParserError: a non-XML error page from a proxy on the way ("Further retries may
    # succeed", botocore says, but does not retry it itself).
    return isinstance(
        exc, ConnectionError | HTTPClientError | ResponseParserError | MalformedResponse
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff on retryable errors only, bounded; injectable for tests."""

    attempts: int = 5
    multiplier: float = 0.5
    max_wait: float = 20.0

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)`, retrying throttling/transient failures, then re-raise."""
        retryer = Retrying(
            retry=retry_if_exception(is_retryable),
            wait=wait_random_exponential(multiplier=self.multiplier, max=self.max_wait),
            stop=stop_after_attempt(self.attempts),
            reraise=True,
        )
        return retryer(fn, *args, **kwargs)
