"""Stage 5 — scanning one target: the member-account clients and the calls per (account,
region), each target's failures named, never raised."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from botocore.config import Config as BotoConfig
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import ClientError

from collector.credentials import MemberCredentials
from collector.errors import EXPIRED_CODES, RetryPolicy, error_code, error_message
from collector.models import Account, TargetResult, TargetStatus, to_records
from collector.regions import RegionPlan, get_region_status, plan_regions
from collector.scan.connectivity import (
    get_attachments,
    get_peerings,
    get_route_tables,
    owned_tgws,
    to_connectivity,
)
from collector.scan.vpcs import get_subnets, get_vpcs

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)

T = TypeVar("T")


def client_config(max_workers: int) -> BotoConfig:
    """botocore config for every client: standard retries and a pool sized to the fan-out.

    `standard`, not `adaptive`: adaptive mode rate-limits the whole client, and one member
    EC2 client per region is shared by every account, so one account's throttling would
    slow down all the others.
    """
    return BotoConfig(
        retries={"mode": "standard", "max_attempts": 4},
        max_pool_connections=max(10, max_workers),
        connect_timeout=10,
        read_timeout=30,
    )


class RoleSource(Protocol):
    """Where a scan's member credentials come from: `AssumedRoles`, or the ones a worker
    process was handed with its request."""

    def get(self, account_id: str) -> ReadOnlyCredentials:
        """Credentials for the account's role."""
        ...

    def invalidate(self, account_id: str) -> None:
        """Forget them after ExpiredToken, so `get` answers fresh ones."""
        ...


class ClientSource(Protocol):
    """What makes clients: a boto3 session, or the collector's member session."""

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A client of that service."""
        ...


# Every EC2 operation a scan calls (scan.vpcs, scan.connectivity, regions), as botocore names
# its client methods. A member session's EC2 model holds these operations only
# (`credentials.SCAN_MODELS`, written by scripts/scan_model.py): EC2's whole model is about
# 22 MB of a scanning process's peak (docs/benchmarks.md). A member client has no method for
# any other operation: calling one is an AttributeError, never a silent skip.
SCAN_OPERATIONS = frozenset(
    {
        "describe_regions",
        "describe_vpcs",
        "describe_subnets",
        "describe_vpc_peering_connections",
        "describe_transit_gateway_attachments",
        "describe_transit_gateway_route_tables",
        "search_transit_gateway_routes",
        "get_transit_gateway_route_table_associations",
        "get_transit_gateway_route_table_propagations",
    }
)


class RegionalClients:
    """One EC2 client per region on the member session, created once and shared by threads."""

    def __init__(self, session: ClientSource, config: BotoConfig) -> None:
        self._session = session
        self._config = config
        self._clients: dict[str, EC2Client] = {}
        # boto3 sessions are not thread-safe; clients are, once created.
        self._lock = threading.Lock()

    def ec2(self, region: str) -> EC2Client:
        """The shared EC2 client for `region`."""
        client = self._clients.get(region)
        if client is None:
            with self._lock:
                client = self._clients.get(region)
                if client is None:
                    client = self._session.client("ec2", region_name=region, config=self._config)
                    self._clients[region] = client
        return client


@dataclass
class Scanner:
    """Scans member accounts through assumed roles; every method is safe to call from threads."""

    roles: RoleSource
    creds: MemberCredentials
    clients: RegionalClients
    configured_regions: Literal["all"] | Sequence[str]
    cli_regions: Sequence[str]
    home_region: str
    clock: Callable[[], datetime]
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def regions_for(self, account: Account) -> RegionPlan:
        """Assume the account's role and plan its regions from its own answer (raises)."""
        ec2 = self.clients.ec2(self.home_region)
        status = self._with_refresh(account, lambda: get_region_status(ec2))
        return plan_regions(self.configured_regions, self.cli_regions, status)

    def scan_target(
        self, account: Account, region: str, now: datetime | None = None
    ) -> TargetResult:
        """Scan one (account, region); never raises, it names the failure instead.

        `now` is when the scan counts as started (default: the clock, now); a worker process
        is handed its coordinator's, taken when the target was sent.

        Every exception is this target's failure: a ResponseParserError (a proxy's HTML 502)
        or a bug in one account's data must not end the organization's run. An enabled region
        answering AuthFailure is a failure too: only the account's DescribeRegions answer may
        prove a region off (see `plan_regions`).
        """
        try:
            # Taken before the first call: LastSeen is when the scan that saw an item started,
            # so anything changed before then is in it (live updates skip a target whose
            # stored scan started after the event reached the hub).
            now = now or self.clock()
            ec2 = self.clients.ec2(region)
            raw = self._with_refresh(account, lambda: get_vpcs(ec2))
            # Subnets and peering connections both need a VPC the account can see in this
            # region (its own, or one shared with it): with none, they are known to be empty,
            # and most regions of a landing-zone account hold none. TGW attachments are still
            # read: a network account can own a TGW (and its route tables) in a region where
            # it has no VPC, and another account's attachment to it is listed only there.
            empty = not raw
            raw_subnets = [] if empty else self._with_refresh(account, lambda: get_subnets(ec2))
            # Connectivity is part of the target: without it an overlap's severity could be
            # understated, so a failure here fails the target like a VPC read would.
            peerings = [] if empty else self._with_refresh(account, lambda: get_peerings(ec2))
            attachments = self._with_refresh(account, lambda: get_attachments(ec2))
            owned = owned_tgws(account.id, attachments)
            tables = (
                self._with_refresh(account, lambda: get_route_tables(ec2, owned)) if owned else []
            )
            out = to_records(raw, account=account, region=region, now=now, raw_subnets=raw_subnets)
            conn, route_tables = to_connectivity(
                account.id, region, peerings, attachments, tables, now=now
            )
        except Exception as exc:  # noqa: BLE001 - isolation boundary of one target
            code = error_code(exc)
            log.warning("target %s/%s failed: %s", account.id, region, code)
            return TargetResult(
                account.id, region, TargetStatus.FAILED, error_code=code, message=error_message(exc)
            )
        return TargetResult(
            account.id,
            region,
            TargetStatus.OK,
            records=tuple(out.records),
            invalid=tuple(out.invalid),
            shared_ignored=out.shared_ignored,
            connectivity=conn,
            route_tables=tuple(route_tables),
        )

    def _with_refresh(self, account: Account, call: Callable[[], T]) -> T:
        """`call()` signed as the account, retried; one re-assume after an early ExpiredToken."""

        def attempt() -> T:
            with self.creds.use(self.roles.get(account.id)):
                return call()

        try:
            return self.retry.call(attempt)
        except ClientError as exc:
            if error_code(exc) not in EXPIRED_CODES:
                raise
            # The token died early (revoked session, clock skew): refresh once, then retry.
            self.roles.invalidate(account.id)
            return self.retry.call(attempt)
