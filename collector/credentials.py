"""Stage 3 — credentials: AssumeRole into member accounts, cached and refreshed per account.

Performance note (measured, see docs/design.md): a boto3 Session plus EC2 client costs ~230 ms
of CPU and a client from a shared session ~26 ms, while one DescribeVpcs call costs ~2 ms. So
member-account calls do not get a client per account: one EC2 client per *region* is shared by
every account, and the credentials it signs with are chosen per thread, per call
(`MemberCredentials.use`). Signing happens in the calling thread, so a thread-local choice is
exact even with many threads sharing one client (botocore clients are thread-safe).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials
from botocore.credentials import ReadOnlyCredentials as Frozen
from botocore.exceptions import ClientError
from botocore.loaders import Loader, create_loader

from collector.errors import RetryPolicy
from collector.safety import scrub

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_sts import STSClient

log = logging.getLogger(__name__)

# Re-assume this long before expiry, so no call is signed with a token that dies in flight.
REFRESH_MARGIN = timedelta(minutes=10)
_NEVER = datetime.min.replace(tzinfo=UTC)  # "expired since forever": forces an AssumeRole


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    """ARN of the read-only role in a member account."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def partition_of(arn: str) -> str:
    """The partition (aws, aws-cn, aws-us-gov, ...) of any ARN."""
    parts = arn.split(":")
    if len(parts) < 3 or parts[0] != "arn" or not parts[1]:
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[1]


class MemberCredentials(Credentials):
    """Credentials whose value is whatever the current thread selected with `use(...)`.

    Never logs or repr()s the secret values.
    """

    def __init__(self) -> None:
        # Credentials.__init__ would store static keys; this object has none of its own.
        self.method = "vpctracker-assumed-role"
        self.account_id = None
        self._local = threading.local()

    @contextlib.contextmanager
    def use(self, frozen: Frozen) -> Iterator[None]:
        """Sign every call made by this thread inside the block with `frozen`."""
        previous = getattr(self._local, "frozen", None)
        self._local.frozen = frozen
        try:
            yield
        finally:
            self._local.frozen = previous

    def get_frozen_credentials(self) -> Frozen:
        frozen: Frozen | None = getattr(self._local, "frozen", None)
        if frozen is None:
            # A programming error, not a user one: a member call outside `use(...)`.
            raise RuntimeError("member-account call made without selecting credentials")
        return frozen

    # botocore reads these attributes in some code paths; route them through the selection.
    @property
    def access_key(self) -> str:
        return str(self.get_frozen_credentials().access_key)

    @access_key.setter
    def access_key(self, _: str) -> None:  # pragma: no cover - botocore never sets it here
        raise AttributeError("read-only")

    @property
    def secret_key(self) -> str:
        return str(self.get_frozen_credentials().secret_key)

    @secret_key.setter
    def secret_key(self, _: str) -> None:  # pragma: no cover
        raise AttributeError("read-only")

    @property
    def token(self) -> str | None:
        return self.get_frozen_credentials().token

    @token.setter
    def token(self, _: str | None) -> None:  # pragma: no cover
        raise AttributeError("read-only")

    def __repr__(self) -> str:
        return "MemberCredentials(<per-thread>)"


class _Provider(CredentialProvider):
    METHOD = "vpctracker-assumed-role"
    CANONICAL_NAME = "vpctracker"

    def __init__(self, creds: MemberCredentials) -> None:
        super().__init__()
        self._creds = creds

    def load(self) -> MemberCredentials:
        return self._creds


class MemberSession:
    """Creates member-account clients (a botocore session, not a boto3 one: wrapping the shared
    emitter in a boto3.Session registers boto3's handlers on the hub's emitter a second time,
    and every S3 client the hub session creates after that fails)."""

    def __init__(self, core: botocore.session.Session) -> None:
        self._core = core

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A client of `service` signing with the member credentials."""
        return self._core.create_client(service_name, **kwargs)


def member_session(hub: boto3.Session) -> tuple[MemberSession, MemberCredentials]:
    """A session for member-account clients, signing with per-thread assumed-role credentials.

    It shares the hub session's profile (endpoint, retry and other config) and its event
    hooks, so anything registered on the hub session also sees member-account calls.
    """
    return _member_session(
        botocore.session.Session(
            profile=hub.profile_name if hub.profile_name != "default" else None,
            event_hooks=hub.events,
            # The shared emitter already carries botocore's built-in handlers.
            include_builtin_handlers=False,
        )
    )


def profile_member_session(profile: str | None) -> tuple[MemberSession, MemberCredentials]:
    """A member session of its own, with `profile`'s config: a scan worker's, which has no hub
    session to share (nor boto3 to import: 1.8 MB of each worker's memory for nothing)."""
    return _member_session(botocore.session.Session(profile=profile))


def _member_session(core: botocore.session.Session) -> tuple[MemberSession, MemberCredentials]:
    creds = MemberCredentials()
    core.register_component("credential_provider", CredentialResolver([_Provider(creds)]))
    core.register_component("data_loader", _models(core.get_config_variable("data_path")))
    return MemberSession(core), creds


# botocore's data cut to what a scan calls (scripts/scan_model.py writes it): EC2's model with
# the operations in `SCAN_OPERATIONS` only, and the endpoints with EC2's only. botocore parses
# a service's whole model into each process that makes one of its clients, and every service's
# endpoints into each session, and keeps them: about 22 and 7 MB of a scanning process's peak
# (docs/benchmarks.md). Member sessions make EC2 clients only, for the scan; so their clients
# have no method for any other operation (an AttributeError, never a silent skip).
SCAN_MODELS = str(Path(__file__).parent / "assets" / "botocore")


@functools.cache
def _models(data_path: str | None) -> Loader:
    """botocore's loader of service models for member sessions, one per process (per
    `data_path`): it keeps what it parsed, and a run's member session is new each time (each
    invocation of a warm function), so EC2's model was parsed again for every live update.
    Only botocore sessions share it: a boto3 session appends its own data folder to its
    loader's search paths.

    It searches `data_path` (AWS_DATA_PATH: a user's own models win), then `SCAN_MODELS`,
    then botocore's data. If botocore ever ships a newer EC2 API version than ours, the
    latest wins: the whole model, as before, at the memory it costs."""
    return create_loader(os.pathsep.join(p for p in (data_path, SCAN_MODELS) if p))


@dataclass
class _Entry:
    frozen: Frozen
    expires: datetime
    lock: threading.Lock


class AssumedRoles:
    """Thread-safe cache of assumed-role credentials, one entry per account.

    Entries are refreshed `REFRESH_MARGIN` before they expire, so a run that outlives the
    role's session duration keeps working; `invalidate` forces a refresh after ExpiredToken.
    """

    def __init__(
        self,
        sts: STSClient,
        *,
        partition: str,
        role_name: str,
        session_name: str,
        external_id: str | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._sts = sts
        self._partition = partition
        self._role_name = role_name
        self._session_name = session_name
        self._external_id = external_id
        self._retry = retry or RetryPolicy()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, account_id: str) -> Frozen:
        """Credentials for the account's role, assuming it (again) when needed."""
        with self._lock:
            entry = self._entries.get(account_id)
            if entry is None:
                entry = _Entry(Frozen(None, None, None), _NEVER, threading.Lock())
                self._entries[account_id] = entry
        # Per-account lock: two regions of one account assume the role once, not twice,
        # while other accounts proceed in parallel.
        with entry.lock:
            if entry.expires <= self._clock() + REFRESH_MARGIN:
                entry.frozen, entry.expires = self._retry.call(self._assume, account_id)
            return entry.frozen

    def invalidate(self, account_id: str) -> None:
        """Forget an account's credentials (e.g. after ExpiredToken) so `get` re-assumes."""
        with self._lock:
            entry = self._entries.get(account_id)
        if entry is not None:
            with entry.lock:
                entry.expires = _NEVER

    def forget(self, account_id: str) -> None:
        """Drop an account's entry once its work is done (keeps memory flat on large orgs)."""
        with self._lock:
            self._entries.pop(account_id, None)

    def _assume(self, account_id: str) -> tuple[Frozen, datetime]:
        kwargs: dict[str, Any] = {
            "RoleArn": role_arn(self._partition, account_id, self._role_name),
            "RoleSessionName": self._session_name,
        }
        if self._external_id:
            kwargs["ExternalId"] = self._external_id
        try:
            resp = self._sts.assume_role(**kwargs)
        except ClientError as exc:
            # STS may quote the request in its message; the external id must never reach a
            # summary, a log line or a Lambda result.
            error = exc.response.get("Error", {})
            if "Message" in error:
                error["Message"] = scrub(str(error["Message"]), [self._external_id])
            exc.args = tuple(scrub(str(a), [self._external_id]) for a in exc.args)
            raise
        c = resp["Credentials"]
        log.debug("assumed role in account %s until %s", account_id, c["Expiration"])
        expires = c["Expiration"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return Frozen(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), expires
