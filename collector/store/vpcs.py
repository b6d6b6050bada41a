"""Store — VPC items (`VpcId` = the VPC's id, `OwnerId` = its account): the hand-written codec
of the inventory's own records.

Written by hand rather than with boto3's TypeSerializer: the shape is fixed, this is the hot path
of a large scan, and it keeps lists as L (SS cannot be empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.address_use import AddressUse, address_use
from collector.models import Subnet, Vpc
from collector.store import parts
from collector.store.attributes import item_key, n, plain, s, ts

PREFIX = "vpc-"

# What `allocate` needs of a VPC item: its blocks and lifecycle. Not the subnets and tags,
# most of the item's bytes: the read moves and decodes far less.
BLOCK_ATTRIBUTES = (
    *("VpcId", "OwnerId", "CidrBlock", "IsDefault", "State", "Region", "AccountName"),
    *("CidrBlocks", "Ipv6CidrBlocks", "FirstSeen", "LastSeen"),
    *("Deleted", "DeletedAt", "DeletedReason", "ExpiresAt"),
)

USE = "AddressUse"
# What `audit` (unless it renders the HTML page) and `inventory` read of a VPC item: every
# attribute but `Subnets` and `Tags` (most of the item), and the `AddressUse` written in their
# place. The lists of a split item (`Parts`) are still read whole: its parts are read with it.
LEAN_ATTRIBUTES = (
    *BLOCK_ATTRIBUTES,
    *("Name", "DhcpOptionsId", "InstanceTenancy", "Incomplete", USE),
)
# What the HTML page's read (`audit --format html`, a recording that may publish it) reads of a
# VPC item: every attribute but `Tags`, which no page or report shows, and the stored `USE`,
# which a reader holding the subnets computes from them. A reader that writes an item back
# (the night's sweep, marking a VPC) reads it again whole first: else it would lose its tags.
PAGE_ATTRIBUTES = (*(a for a in LEAN_ATTRIBUTES if a != USE), "Subnets")


def to_item(vpc: Vpc) -> dict[str, Any]:
    """Serialize a record to a DynamoDB item (AttributeValue map)."""
    item: dict[str, Any] = {
        "VpcId": s(vpc.VpcId),
        "OwnerId": s(vpc.OwnerId),
        "CidrBlock": s(vpc.CidrBlock),
        "IsDefault": {"BOOL": vpc.IsDefault},
        "State": s(vpc.State),
        "Region": s(vpc.Region),
        "AccountName": s(vpc.AccountName),
        "CidrBlocks": {"L": [s(c) for c in vpc.CidrBlocks]},
        "Ipv6CidrBlocks": {"L": [s(c) for c in vpc.Ipv6CidrBlocks]},
        "Tags": {"M": {k: s(v) for k, v in vpc.Tags.items()}},
        "Subnets": {"L": [_subnet_item(sn) for sn in vpc.Subnets]},
        "FirstSeen": ts(vpc.FirstSeen),
        "LastSeen": ts(vpc.LastSeen),
        "Deleted": {"BOOL": vpc.Deleted},
        USE: use_item(address_use(vpc)[0]),
    }
    if vpc.Incomplete:
        item["Incomplete"] = {"L": [s(x) for x in vpc.Incomplete]}
    optional: dict[str, str | None] = {
        "Name": vpc.Name,
        "DhcpOptionsId": vpc.DhcpOptionsId,
        "InstanceTenancy": vpc.InstanceTenancy,
        "DeletedReason": vpc.DeletedReason,
        "DeletedAt": None if vpc.DeletedAt is None else ts(vpc.DeletedAt)["S"],
    }
    item.update({k: s(v) for k, v in optional.items() if v is not None})
    if vpc.ExpiresAt is not None:
        item["ExpiresAt"] = {"N": str(vpc.ExpiresAt)}
    return item


def _subnet_item(sn: Subnet) -> dict[str, Any]:
    m: dict[str, Any] = {
        "SubnetId": s(sn.SubnetId),
        "CidrBlock": s(sn.CidrBlock),
        "AvailabilityZone": s(sn.AvailabilityZone),
        "AvailableIpAddressCount": {"N": str(sn.AvailableIpAddressCount)},
        "MapPublicIpOnLaunch": {"BOOL": sn.MapPublicIpOnLaunch},
    }
    if sn.Ipv6CidrBlocks:
        m["Ipv6CidrBlocks"] = {"L": [s(c) for c in sn.Ipv6CidrBlocks]}
    if sn.AvailabilityZoneId:
        m["AvailabilityZoneId"] = s(sn.AvailabilityZoneId)
    if sn.Name is not None:
        m["Name"] = s(sn.Name)
    return {"M": m}


def use_item(use: AddressUse) -> dict[str, Any]:
    """The `AddressUse` attribute: a VPC's address use, written with its subnets so that an
    audit can read it in their place."""
    m: dict[str, Any] = {
        "Usable": n(use.usable),
        "Used": n(use.used),
        "SubnetCount": n(use.subnet_count),
        "AvailabilityZones": {"L": [s(z) for z in use.azs]},
    }
    if use.largest_free is not None:
        m["LargestFreeBlock"] = s(use.largest_free)
    if use.subnet_size is not None:
        m["SubnetSize"] = n(use.subnet_size)
    if use.tightest_free_pct is not None:
        m["TightestSubnetFreePct"] = {"N": repr(use.tightest_free_pct)}
    return {"M": m}


def use_from_item(item: Mapping[str, Any]) -> AddressUse | None:
    """A VPC item's stored address use; None when it has none (written by an older version, or
    cut down) or it cannot be read: its reader then reads the subnets instead."""
    value = item.get(USE)
    if value is None:
        return None
    # Read in place, then checked as a whole: 100k of them are read per audit.
    try:
        m = value["M"]
        free = m.get("LargestFreeBlock")
        size = m.get("SubnetSize")
        tightest = m.get("TightestSubnetFreePct")
        use = AddressUse(
            usable=int(m["Usable"]["N"]),
            used=int(m["Used"]["N"]),
            largest_free=None if free is None else free["S"],
            subnet_size=None if size is None else int(size["N"]),
            azs=tuple(z["S"] for z in m["AvailabilityZones"]["L"]),
            subnet_count=int(m["SubnetCount"]["N"]),
            tightest_free_pct=None if tightest is None else float(tightest["N"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return use if sound(use) else None


def sound(use: AddressUse) -> bool:
    """Counts whole and not negative, texts text, a percentage from 0 to 100 (NaN would compare
    as no finding)."""
    return (
        min(use.usable, use.used, use.subnet_count) >= 0
        and (use.subnet_size is None or 0 <= use.subnet_size <= 32)
        and (use.largest_free is None or type(use.largest_free) is str)
        and all(type(z) is str for z in use.azs)
        and (use.tightest_free_pct is None or 0.0 <= use.tightest_free_pct <= 100.0)
    )


def from_item(item: Mapping[str, Any]) -> Vpc:
    """Deserialize a table item into a record (raises ValueError if it cannot be read).

    Attributes the record does not know are ignored (a newer version may have added them).
    """
    try:
        # `AddressUse` is not a record's: an audit reads it apart (`use_from_item`). A string
        # attribute (most of them) is read in place, as `plain` reads a string member: a
        # call each was a million calls per 100k items.
        decoded = {
            k: v["S"] if len(v) == 1 and "S" in v else plain(v) for k, v in item.items() if k != USE
        }
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"not a DynamoDB item ({type(exc).__name__})") from None
    return Vpc.model_validate(decoded)


def is_vpc_item(item: Mapping[str, Any]) -> bool:
    """True for VPC items, False for reservations and other bookkeeping items."""
    return item_key(item)[0].startswith(PREFIX)


def vpc_items(vpc: Vpc, parts_expire: int) -> list[dict[str, Any]]:
    """The table items of one VPC record: one, or for a VPC too large for an item (a thousand
    subnets), a main item and parts that expire at `parts_expire` unless written again."""
    return parts.split(to_item(vpc), ("Subnets",), parts_expire)


def shrink(item: dict[str, Any]) -> dict[str, Any] | None:
    """A VPC item DynamoDB refused (too large whatever we estimated), cut to its blocks and
    lifecycle and marked incomplete: the range stays visible to `allocate` and `lookup`."""
    if not is_vpc_item(item):
        return None
    keep = {k: v for k, v in item.items() if k in (*BLOCK_ATTRIBUTES, "Name")}
    if "Name" in keep and len(keep["Name"].get("S", "")) > 1024:
        del keep["Name"]
    keep["Incomplete"] = {"L": [s("Subnets"), s("Tags")]}
    return keep
