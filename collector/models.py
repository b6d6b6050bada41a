"""Stage 6 — records: the validated VPC record and the pure transform from raw API items."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from collector.cidrs import Ipv4Cidr, Ipv6Cidr
from collector.safety import brief
from collector.shapes import AccountId, RegionShape

# States the EC2 API documents for a VPC; anything else is data we do not understand.
VpcState = Literal["pending", "available"]
DeletionReason = Literal["not-found", "account-suspended", "account-left-org"]


def utc_now() -> datetime:
    """Current time, timezone-aware UTC, truncated to whole seconds for stable ISO strings."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with a trailing Z, the format stored in the table."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Subnet(BaseModel):
    """One subnet of a VPC, stored inside its VPC item (read with it, marked with it)."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=False)

    SubnetId: Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]
    CidrBlock: Ipv4Cidr
    Ipv6CidrBlocks: tuple[Ipv6Cidr, ...] = ()
    AvailabilityZone: str
    AvailabilityZoneId: str | None = None
    AvailableIpAddressCount: Annotated[int, Field(ge=0)]
    Name: str | None = None
    MapPublicIpOnLaunch: bool = False


class Vpc(BaseModel):
    """One VPC as stored in the table. Attribute names are a public contract."""

    # extra="ignore": items are written by other programs too (a newer VPCTracker adding an
    # attribute, a person with the console); an attribute we do not know is not an error.
    model_config = ConfigDict(frozen=True, extra="ignore", strict=False)

    VpcId: Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
    OwnerId: AccountId
    CidrBlock: Ipv4Cidr
    IsDefault: bool
    State: VpcState
    Region: RegionShape
    AccountName: str = ""
    CidrBlocks: tuple[Ipv4Cidr, ...]
    Ipv6CidrBlocks: tuple[Ipv6Cidr, ...] = ()
    Name: str | None = None
    Tags: Mapping[str, str] = Field(default_factory=dict)
    DhcpOptionsId: str | None = None
    InstanceTenancy: str | None = None
    Subnets: tuple[Subnet, ...] = ()
    # Aware: the store writes UTC with a Z. A time without a zone (an item edited by hand) is
    # a damaged item, not a naive time every comparison with the clock would fail on.
    FirstSeen: AwareDatetime
    LastSeen: AwareDatetime
    # Lifecycle: set when a later successful scan of this account+region no longer sees it.
    Deleted: bool = False
    DeletedAt: AwareDatetime | None = None
    DeletedReason: DeletionReason | None = None
    ExpiresAt: int | None = None  # epoch seconds, DynamoDB TTL attribute
    # What the table could not give back whole (an item too large, its part missing): those
    # attributes are empty here; the VPC's blocks are whole.
    Incomplete: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """The table's primary key (VpcId, OwnerId)."""
        return (self.VpcId, self.OwnerId)


@dataclass(frozen=True)
class Reservation:
    """A CIDR block set aside for an account that has no VPC in it yet."""

    cidr: str
    owner: str
    reserved_at: datetime
    expires_at: int
    note: str = ""

    def active(self, now: datetime) -> bool:
        """Not yet expired (DynamoDB TTL deletes lazily, so readers must check)."""
        return self.expires_at > int(now.timestamp())


@dataclass(frozen=True)
class KnownFinding:
    """A finding the ledger knows (no body): its id, whose it is, and the state it was recorded
    in, so a recording can tell new, changed and resolved findings apart."""

    id: str
    account: str
    region: str
    kind: str
    state: str
    group: str  # overlap: the span of its group when recorded
    cidr: str
    expires_at: int = 0


@dataclass(frozen=True)
class UnreadableItem:
    """A table item of a known kind that could not be decoded: reported, never rewritten
    (and never taken as free space)."""

    VpcId: str
    OwnerId: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """The JSON shape in summaries (`unreadable_items`)."""
        return {"VpcId": self.VpcId, "OwnerId": self.OwnerId, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.VpcId}/{self.OwnerId}"


@dataclass(frozen=True)
class InvalidRecord:
    """An API item that failed validation: counted and reported, never written."""

    account_id: str
    region: str
    vpc_id: str | None
    reason: str


class TargetStatus(StrEnum):
    """How one (account, region) scan ended."""

    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class TargetResult:
    """The outcome of scanning one (account, region) target."""

    account_id: str
    region: str
    status: TargetStatus
    records: tuple[Vpc, ...] = ()
    invalid: tuple[InvalidRecord, ...] = ()
    error_code: str | None = None
    message: str | None = None
    # VPCs the API listed that belong to another account (shared through AWS RAM);
    # they are inventoried from their owner account, not from this one.
    shared_ignored: int = 0
    # What the target can route to (ok targets only).
    connectivity: Connectivity | None = None
    route_tables: tuple[TgwRouteTable, ...] = ()


@dataclass(frozen=True)
class Account:
    """An organization member account."""

    id: str
    name: str
    status: str = "ACTIVE"


def _associated(blocks: Iterable[Mapping[str, Any]], cidr_key: str, state_key: str) -> list[Any]:
    # Disassociated/failed associations linger in the API response for a while; only
    # blocks in the `associated` state route traffic and can clash.
    return [
        b.get(cidr_key)
        for b in blocks
        if (b.get(state_key) or {}).get("State") == "associated" and b.get(cidr_key)
    ]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"]) or "record"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{loc}: {msg} (got {brief(err.get('input'))})"


def to_subnet(raw: Mapping[str, Any]) -> Subnet:
    """A validated subnet from one raw `describe_subnets` item (pure; raises ValidationError)."""
    tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags") or [] if "Key" in t}
    ipv6 = _associated(
        raw.get("Ipv6CidrBlockAssociationSet") or [], "Ipv6CidrBlock", "Ipv6CidrBlockState"
    )
    return Subnet.model_validate(
        {
            "SubnetId": raw.get("SubnetId"),
            "CidrBlock": raw.get("CidrBlock"),
            "Ipv6CidrBlocks": tuple(dict.fromkeys(ipv6)),
            "AvailabilityZone": raw.get("AvailabilityZone"),
            "AvailabilityZoneId": raw.get("AvailabilityZoneId"),
            "AvailableIpAddressCount": raw.get("AvailableIpAddressCount"),
            "Name": tags.get("Name"),
            "MapPublicIpOnLaunch": bool(raw.get("MapPublicIpOnLaunch", False)),
        }
    )


def to_record(
    raw: Mapping[str, Any],
    *,
    account: Account,
    region: str,
    now: datetime,
    subnets: Iterable[Subnet] = (),
) -> Vpc:
    """Build a validated record from one raw `describe_vpcs` item (pure; raises ValidationError)."""
    primary = raw.get("CidrBlock")
    ipv4 = _associated(raw.get("CidrBlockAssociationSet") or [], "CidrBlock", "CidrBlockState")
    # Primary first, then secondary blocks in API order, without duplicates.
    blocks = list(dict.fromkeys([primary, *ipv4])) if primary else ipv4
    ipv6 = _associated(
        raw.get("Ipv6CidrBlockAssociationSet") or [], "Ipv6CidrBlock", "Ipv6CidrBlockState"
    )
    tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags") or [] if "Key" in t}
    return Vpc.model_validate(
        {
            "VpcId": raw.get("VpcId"),
            "OwnerId": raw.get("OwnerId"),
            "CidrBlock": primary,
            "IsDefault": raw.get("IsDefault"),
            "State": raw.get("State"),
            "Region": region,
            "AccountName": account.name,
            "CidrBlocks": tuple(blocks),
            "Ipv6CidrBlocks": tuple(dict.fromkeys(ipv6)),
            "Name": tags.get("Name"),
            "Tags": tags,
            "DhcpOptionsId": raw.get("DhcpOptionsId"),
            "InstanceTenancy": raw.get("InstanceTenancy"),
            "Subnets": tuple(sorted(subnets, key=lambda s: s.SubnetId)),
            "FirstSeen": now,
            "LastSeen": now,
        }
    )


@dataclass
class Transformed:
    """Result of transforming one target's raw items."""

    records: list[Vpc] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)
    shared_ignored: int = 0


def to_records(
    raw_vpcs: Iterable[Mapping[str, Any]],
    *,
    account: Account,
    region: str,
    now: datetime,
    raw_subnets: Iterable[Mapping[str, Any]] = (),
) -> Transformed:
    """Validate every raw item of one target; invalid items are collected, not raised.

    A VpcId the answer lists twice (paging over a changing set can repeat an item) is kept
    once, the later copy winning: two puts of one key in one BatchWriteItem are rejected
    with a ValidationException for the whole batch. Each VPC carries its own subnets (subnets
    shared into the account belong to their owner's VPC); a VPC with a subnet that does not
    validate is invalid as a whole, since its headroom could not be told.
    """
    subnets, bad_subnets = _subnets_by_vpc(raw_subnets, account.id)
    out = Transformed()
    by_key: dict[tuple[str, str], Vpc] = {}
    for raw in raw_vpcs:
        owner = raw.get("OwnerId")
        if owner is not None and owner != account.id:
            out.shared_ignored += 1
            continue
        vpc_id = str(raw.get("VpcId"))
        if vpc_id in bad_subnets:
            reason = f"Subnets: {_first_error(bad_subnets[vpc_id])}"
            out.invalid.append(InvalidRecord(account.id, region, raw.get("VpcId"), reason))
            continue
        try:
            record = to_record(
                raw, account=account, region=region, now=now, subnets=subnets.get(vpc_id, ())
            )
        except ValidationError as exc:
            out.invalid.append(
                InvalidRecord(account.id, region, raw.get("VpcId"), _first_error(exc))
            )
            continue
        by_key.pop(record.key, None)
        by_key[record.key] = record
    out.records = list(by_key.values())
    return out


def _subnets_by_vpc(
    raw_subnets: Iterable[Mapping[str, Any]], account_id: str
) -> tuple[dict[str, list[Subnet]], dict[str, ValidationError]]:
    by_vpc: dict[str, dict[str, Subnet]] = {}
    bad: dict[str, ValidationError] = {}
    for raw in raw_subnets:
        owner = raw.get("OwnerId")
        if owner is not None and owner != account_id:
            continue  # shared into this account: its owner's scan has it
        vpc_id = str(raw.get("VpcId"))
        try:
            subnet = to_subnet(raw)
        except ValidationError as exc:
            bad.setdefault(vpc_id, exc)
            continue
        by_vpc.setdefault(vpc_id, {})[subnet.SubnetId] = subnet
    return {k: list(v.values()) for k, v in by_vpc.items()}, bad


# ---------------------------------------------------------------------------------------------
# Connectivity records: what can route to what (peering connections, Transit Gateway
# attachments and route tables). Table items, so tolerant of attributes they do not know.


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", strict=False)


class PeeringSide(_Record):
    """One end of a VPC peering connection."""

    VpcId: str
    OwnerId: str
    Region: str


class Peering(_Record):
    """A VPC peering connection; only `active` ones carry traffic."""

    Id: str
    Status: str
    Requester: PeeringSide
    Accepter: PeeringSide

    @property
    def active(self) -> bool:
        """Routes traffic (pending-acceptance, rejected, deleted ... do not)."""
        return self.Status == "active"


class TgwAttachment(_Record):
    """A Transit Gateway attachment as its TGW owner or its resource owner sees it."""

    Id: str
    TransitGatewayId: str
    TransitGatewayOwnerId: str
    ResourceType: str  # vpc | vpn | direct-connect-gateway | peering | connect | ...
    ResourceId: str
    ResourceOwnerId: str
    State: str
    RouteTableId: str | None = None  # the route table it is associated with


class StaticRoute(_Record):
    """A static route of a TGW route table."""

    Cidr: str
    Attachments: tuple[str, ...] = ()
    State: str = "active"


class TgwRouteTable(_Record):
    """A TGW route table, read in the TGW owner's account."""

    Id: str
    TransitGatewayId: str
    OwnerId: str
    Region: str
    Associations: tuple[str, ...] = ()
    Propagations: tuple[str, ...] = ()
    StaticRoutes: tuple[StaticRoute, ...] = ()
    LastSeen: AwareDatetime


class Connectivity(_Record):
    """Everything one (account, region) target sees of peering and Transit Gateways."""

    OwnerId: str
    Region: str
    Peerings: tuple[Peering, ...] = ()
    Attachments: tuple[TgwAttachment, ...] = ()
    RouteTables: tuple[str, ...] = ()  # ids of the route tables of TGWs this account owns
    LastSeen: AwareDatetime
    ExpiresAt: int | None = None
