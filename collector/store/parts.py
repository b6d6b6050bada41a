"""Store — items too large for DynamoDB's 400 KB: split into a main item and parts.

A member admin can make any VPC (1,000 subnets with 256-character names) or a TGW owner's
connectivity (5,000 attachments, 2,000 peerings) larger than an item may be. Written whole, it
is refused and the VPC disappears from the table: `lookup` says free, `allocate` hands out its
range. So an item over `LIMIT` (by DynamoDB's own size formula) keeps its small attributes and
moves the elements of its long lists into part items, each under the limit:

- main: the item, with those lists empty, `Parts` (attribute -> how many parts hold it) and
  `Stamp` (which write the parts belong to);
- part `n`: `part#<main key>#<n>` / the main's `OwnerId` and `Region` (so a query by owner finds
  it), with `PartOf`, `Stamp`, `Attr` and `Values` (a slice of the list), and a TTL: parts of an
  item that shrank expire by themselves.

A reader joins a main with the parts of its stamp; a part missing (not written yet, expired)
leaves that list out and names it in `Incomplete`, so the VPC's blocks are still read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from collector.store.attributes import item_key, n, s

PREFIX = "part#"
# Under DynamoDB's 400 KB item limit, with room for the main item's own attributes.
LIMIT = 350 * 1024
MAX_ITEM = 400 * 1024
# The attributes parts add: on the main item, and on each part.
ATTRIBUTES = ("Parts", "Stamp", "PartOf", "Attr", "Index", "Values", "ExpiresAt")


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes one AttributeValue counts for, by DynamoDB's formula
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
    strings their UTF-8 length, numbers about one byte per two significant digits plus one,
    booleans and null one byte, a list or map 3 bytes plus one byte per element plus its
    elements (a map's keys count as text)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = Decimal(v).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if kind in ("B",):
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(x) + 1 for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(x) + 1 for k, x in v.items())
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: x}) for x in v)
    raise ValueError(f"unknown AttributeValue type {kind}")


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size by DynamoDB's formula: each attribute's name and value."""
    return sum(len(k.encode()) + value_size(v) for k, v in item.items())


def split(
    item: dict[str, Any], lists: Sequence[str], expires_at: int, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """The item as written: itself when under `limit`, else a main item and parts (see the
    module). `lists` are the attributes that may move, largest first."""
    if item_size(item) <= limit:
        return [item]
    main = dict(item)
    stamp = _stamp(item)
    parts: list[dict[str, Any]] = []
    counts: dict[str, Any] = {}
    for attr in sorted((a for a in lists if a in main), key=lambda a: -value_size(main[a])):
        values = main[attr]["L"]
        main[attr] = {"L": []}
        chunk: list[Any] = []
        size = 0
        first = len(parts)
        for v in values:
            one = value_size(v) + 1
            if chunk and size + one > limit - 1024:
                parts.append(_part(item, len(parts), stamp, attr, chunk, expires_at))
                chunk, size = [], 0
            chunk.append(v)
            size += one
        if chunk:
            parts.append(_part(item, len(parts), stamp, attr, chunk, expires_at))
        counts[attr] = n(len(parts) - first)
        if item_size({**main, "Parts": {"M": counts}}) <= limit:
            break
    main["Parts"] = {"M": counts}
    main["Stamp"] = s(stamp)
    return [main, *parts]


def _stamp(item: Mapping[str, Any]) -> str:
    seen = item.get("LastSeen", {}).get("S", "")
    return f"{seen}|{item_size(item)}"


def _part(
    item: Mapping[str, Any], index: int, stamp: str, attr: str, values: list[Any], expires_at: int
) -> dict[str, Any]:
    key = item["VpcId"]["S"]
    out = {
        "VpcId": s(f"{PREFIX}{key}#{index}"),
        "OwnerId": item["OwnerId"],
        "PartOf": s(key),
        "Stamp": s(stamp),
        "Attr": s(attr),
        "Index": n(index),
        "Values": {"L": values},
        "ExpiresAt": n(expires_at),
    }
    if "Region" in item:
        out["Region"] = item["Region"]
    return out


class Placed(NamedTuple):
    """A part as `join` takes it: the write it belongs to, its place, and its values (raw
    AttributeValues, or records a page's read made of them: store.wire)."""

    stamp: str
    position: int  # its `Index`
    attr: str
    values: Sequence[Any]


def main_key(part_key: str) -> str:
    """The `VpcId` of the main item a part's `VpcId` names (`part#<main VpcId>#<n>`)."""
    return part_key.removeprefix(PREFIX).rpartition("#")[0]


def part_of(part: Mapping[str, Any]) -> tuple[str, str]:
    """The key (VpcId, OwnerId) of the main item a part belongs to (from the part's own key,
    so a projected read that left `PartOf` out still tells)."""
    vpc_id, owner = item_key(part)
    return main_key(vpc_id), owner


def placed(part: Mapping[str, Any]) -> Placed | None:
    """A raw part's stamp, place and values; None if any cannot be read as the writer wrote
    them (it then counts as missing)."""
    try:
        stamp, index = part["Stamp"]["S"], int(part["Index"]["N"])
        attr, values = part["Attr"]["S"], part["Values"]["L"]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not isinstance(stamp, str) or not isinstance(attr, str) or not isinstance(values, list):
        return None
    return Placed(stamp, index, attr, values)


def join(main: Mapping[str, Any], parts: Sequence[Placed]) -> tuple[dict[str, Any], list[str]]:
    """The main item with its lists restored from the parts of its stamp, and the lists it could
    not restore (a part missing): those stay empty. A part whose place could not be read
    (`placed`) is missing: its item is then incomplete (a VPC) or unreadable, and never fails
    the read of the others."""
    out = {k: v for k, v in main.items() if k not in ("Parts", "Stamp")}
    stamp = main.get("Stamp", {}).get("S")
    mine = sorted((p for p in parts if p.stamp == stamp), key=lambda p: p.position)
    missing = []
    for attr, count in main.get("Parts", {}).get("M", {}).items():
        got = [p.values for p in mine if p.attr == attr]
        if len(got) != _count(count):
            missing.append(attr)
            continue
        out[attr] = {"L": [v for values in got for v in values]}
    return out, missing


def _count(count: Any) -> int | None:
    """How many parts the main item says hold a list; None if that cannot be read."""
    try:
        return int(count["N"])
    except (KeyError, TypeError, ValueError):
        return None
