"""Store — the registry of item kinds: the one place that knows every key prefix, and the reads
that decode items through it.

One table holds several kinds of item, told apart by the prefix of `VpcId` (the partition key).
A reader asks for the kinds it wants; an item of a kind it did not ask for, or of a kind this
version does not know (written by a newer one), is passed over. A new kind is one store module
and one entry in `ITEM_KINDS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from collector.address_use import AddressUse
from collector.models import Connectivity, Reservation, TgwRouteTable, UnreadableItem, Vpc
from collector.store import (
    changes,
    connectivity,
    dispatch,
    findings,
    leases,
    parts,
    publishing,
    reservations,
    scanned,
    vpcs,
    wire,
)
from collector.store.attributes import item_key, s, unreadable
from collector.store.reader import batch_get, paused_gc, query_index, scan_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemKind:
    """One kind of table item: its key prefix and how to decode it."""

    name: str
    prefix: str
    decode: Callable[[Mapping[str, Any]], Any]


def _raw(item: Mapping[str, Any]) -> Mapping[str, Any]:
    return item


ITEM_KINDS: dict[str, ItemKind] = {
    "vpc": ItemKind("vpc", vpcs.PREFIX, vpcs.from_item),
    "reservation": ItemKind("reservation", reservations.PREFIX, reservations.reservation_from_item),
    # When an account's regions were last scanned (`table.rewrite_unchanged: false`): read with
    # every VPC read, since a VPC's `LastSeen` is derived from it (store.scanned).
    "scanned": ItemKind("scanned", scanned.PREFIX, scanned.scanned_from_item),
    "lease": ItemKind("lease", leases.PREFIX, leases.lease_from_item),
    "lock": ItemKind("lock", reservations.LOCK_PREFIX, _raw),
    "dispatch": ItemKind("dispatch", dispatch.PREFIX, _raw),
    "connectivity": ItemKind(
        "connectivity", connectivity.PREFIX, connectivity.connectivity_from_item
    ),
    "route-table": ItemKind(
        "route-table", connectivity.ROUTE_TABLE_PREFIX, connectivity.route_table_from_item
    ),
    "change": ItemKind("change", changes.PREFIX, changes.change_from_item),
    # Known findings: the ledger's (and, until the upgrade deletes them, the previous
    # version's in the inventory table).
    "finding": ItemKind("finding", findings.PREFIX, _raw),
    "outbox": ItemKind("outbox", findings.OUTBOX, _raw),
    # Parts of an item too large for one (see store.parts): read with the kind they belong to.
    "part": ItemKind("part", parts.PREFIX, _raw),
    "baseline": ItemKind("baseline", findings.BASELINE_KEY["VpcId"]["S"], _raw),
    # When the published report was last refreshed (the ledger's).
    "report": ItemKind("report", publishing.PREFIX, _raw),
}
VPCS = frozenset({"vpc"})
RESERVATIONS = frozenset({"reservation"})
CONNECTIONS = frozenset({"connectivity", "route-table"})
CHANGES = frozenset({"change"})

# What `allocate` needs of an item: a VPC's blocks and lifecycle, a reservation whole (and the
# scan times a VPC's `LastSeen` is derived from).
BLOCK_ATTRIBUTES = (*vpcs.BLOCK_ATTRIBUTES, *reservations.ATTRIBUTES, scanned.ATTRIBUTE)
# What a reader without subnets reads of the table (`load_without_subnets`): every attribute of
# the kinds it reads and of their parts, but a VPC item's `Subnets` and `Tags` (its
# `AddressUse` instead).
LEAN_ATTRIBUTES = tuple(
    dict.fromkeys(
        (
            *vpcs.LEAN_ATTRIBUTES,
            *reservations.ATTRIBUTES,
            *connectivity.ATTRIBUTES,
            *parts.ATTRIBUTES,
            scanned.ATTRIBUTE,
        )
    )
)
# The same without the VPCs' stored use, for a reader that needs none (`WithoutSubnets.use`).
WITHOUT_USE_ATTRIBUTES = tuple(a for a in LEAN_ATTRIBUTES if a != vpcs.USE)
# What the HTML page's read reads of the table (`vpcs.PAGE_ATTRIBUTES`): items whole but for a
# VPC's tags and stored use.
PAGE_ATTRIBUTES = tuple(dict.fromkeys((*vpcs.PAGE_ATTRIBUTES, *WITHOUT_USE_ATTRIBUTES)))


def kind_of(item: Mapping[str, Any]) -> ItemKind | None:
    """The registered kind of a raw item, or None for an unknown kind."""
    vpc_id, _ = item_key(item)
    for kind in ITEM_KINDS.values():
        if vpc_id.startswith(kind.prefix):
            return kind
    return None


@dataclass
class Items:
    """Decoded items of the kinds a reader asked for, and those that could not be decoded.

    An item split into parts (store.parts) is decoded once its parts are in: `complete()`, which
    every reader calls after its last page, joins them."""

    vpcs: list[Vpc] = field(default_factory=list)
    reservations: list[Reservation] = field(default_factory=list)
    connectivity: list[Connectivity] = field(default_factory=list)
    route_tables: list[TgwRouteTable] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[UnreadableItem] = field(default_factory=list)
    # The stored address use of VPCs read without their subnets (`load_without_subnets`).
    address_use: dict[tuple[str, str], AddressUse] = field(default_factory=dict)
    # The keys of the VPCs decoded without their subnets and tags (`load_without_subnets`).
    without_subnets: set[tuple[str, str]] = field(default_factory=set)
    # When each account's regions were last scanned, by account (store.scanned): the live
    # VPCs' `LastSeen` is derived from it once the read is complete.
    scanned: dict[str, dict[str, datetime]] = field(default_factory=dict)
    # Read by `load_without_subnets`: no VPC's tags, and only the subnets its reader needs
    # (a page that shows every subnet and tag cannot be drawn from it).
    lean: bool = False
    # Split items waiting for their parts, and the parts seen, by the main item's key.
    _split: list[tuple[Mapping[str, Any], ItemKind]] = field(default_factory=list, repr=False)
    _parts: dict[tuple[str, str], list[parts.Placed]] = field(default_factory=dict, repr=False)

    def add(self, raw: Mapping[str, Any], kinds: frozenset[str]) -> None:
        """Decode one raw item into its list, if its kind was asked for."""
        kind = kind_of(raw)
        if kind is None:
            return
        if kind.name == "part":
            placed = parts.placed(raw)
            if placed is not None:  # else it counts as missing when its main item is joined
                self.add_part(parts.part_of(raw), placed)
            return
        if kind.name not in kinds and not (kind.name == "scanned" and "vpc" in kinds):
            return
        if "Parts" in raw:
            self._split.append((raw, kind))
            return
        self._decode(raw, kind)

    def add_part(self, key: tuple[str, str], part: parts.Placed) -> None:
        """Keep a part of the item `key` (its values raw, or records a page's read made of
        them: `wire.part`) for `complete()` to join."""
        self._parts.setdefault(key, []).append(part)

    def complete(self) -> Items:
        """Decode the split items with their parts (after the last page of a read)."""
        for raw, kind in self._split:
            joined, missing = parts.join(raw, self._parts.get(item_key(raw), []))
            if missing and kind.name != "vpc":
                # What routes where, in part: the audit cannot speak for it.
                self._unreadable(raw, ValueError(f"parts missing: {', '.join(missing)}"))
                continue
            if missing:
                # The VPC's blocks are whole: allocate and lookup still see its range.
                joined["Incomplete"] = {"L": [{"S": m} for m in missing]}
            self._decode(joined, kind)
        self._split, self._parts = [], {}
        if self.scanned:
            self.vpcs = scanned.derive(self.vpcs, self.scanned)
        return self

    def _decode(self, raw: Mapping[str, Any], kind: ItemKind) -> None:
        try:
            value = kind.decode(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._unreadable(raw, exc)
            return
        if kind.name == "vpc":
            self.vpcs.append(value)
        elif kind.name == "reservation":
            self.reservations.append(value)
        elif kind.name == "connectivity":
            self.connectivity.append(value)
        elif kind.name == "route-table":
            self.route_tables.append(value)
        elif kind.name == "change":
            self.changes.append(value)
        elif kind.name == "scanned":
            account, times = value
            self.scanned[account] = times

    def _unreadable(self, raw: Mapping[str, Any], exc: BaseException) -> None:
        bad = unreadable(raw, exc)
        log.warning("unreadable table item %s: %s", bad, bad.reason)
        self.unreadable.append(bad)


def query_account(
    client: DynamoDBClient, table: str, account_id: str, kinds: frozenset[str] | None = None
) -> Items:
    """Every VPC item (live or deleted) of one account, through the owner index; with `kinds`,
    its items of those kinds."""
    out = Items()
    for raw in query_index(client, table, account_id):
        out.add(raw, kinds or VPCS)
    return out.complete()


def query_changes(client: DynamoDBClient, table: str, since: str, until: str) -> Items:
    """Changes recorded between two ISO times (inclusive), oldest first."""
    out = Items()
    # "~" sorts after the time's own suffixes.
    for raw in query_index(client, table, changes.OWNER, between=(since, until + "~")):
        out.add(raw, CHANGES)
    return out


def list_reservations(client: DynamoDBClient, table: str) -> Items:
    """Every reservation item (expired ones included; filter with `Reservation.active`)."""
    out = Items()
    for raw in query_index(client, table, reservations.OWNER):
        out.add(raw, RESERVATIONS)
    return out


def _certainly_deleted(raw: Mapping[str, Any]) -> bool:
    """A raw VPC item marked deleted, beyond doubt (a damaged `Deleted` counts as live)."""
    deleted = raw.get("Deleted")
    return isinstance(deleted, dict) and deleted.get("BOOL") is True


# What telling a VPC item (or part) of an owner, live or deleted, needs: a sweep for departed
# accounts reads only these of every item, then its picks whole by key (`read_keys`).
SWEEP_ATTRIBUTES = ("VpcId", "OwnerId", "Deleted")


def live_vpc_keys(
    raws: Iterable[Mapping[str, Any]], picked: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """Pure: the keys of the live VPC items whose owner is `picked`, each followed by its
    parts' keys (so that `read_keys` joins them), from items read with `SWEEP_ATTRIBUTES`."""
    mains: list[tuple[str, str]] = []
    part_keys: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for raw in raws:
        key = item_key(raw)
        if not all(key) or not picked(key[1]):
            continue  # (a key DynamoDB holds is always two strings)
        if key[0].startswith(parts.PREFIX):
            part_keys.setdefault(parts.part_of(raw), []).append(key)
            continue
        # Taken for live unless certainly deleted: a live VPC is never passed over.
        if key[0].startswith(vpcs.PREFIX) and not _certainly_deleted(raw):
            mains.append(key)
    return [k for main in mains for k in (main, *part_keys.get(main, ()))]


def read_keys(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[tuple[str, str]],
    what: str = "items",
    attributes: Sequence[str] = (),
) -> Items:
    """The VPC, connectivity and route-table items under these (VpcId, OwnerId) keys, strongly
    consistent (parts among the keys are joined with their items); a key without an item is
    simply absent. `what` names them in the error if DynamoDB never hands them all over. With
    `attributes`, only those of each item (`PAGE_ATTRIBUTES`: as the page's read has them)."""
    out = Items()
    wanted = [{"VpcId": s(vpc_id), "OwnerId": s(owner)} for vpc_id, owner in keys]
    for raw in batch_get(client, table, wanted, what=what, attributes=attributes):
        out.add(raw, VPCS | CONNECTIONS)
    return out.complete()


def scan_time_keys(keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pure: the keys of the scan-times items of the VPC keys' accounts: read by key with
    them, they give the VPCs the `LastSeen` a whole read would (store.scanned)."""
    owners = sorted({owner for vpc_id, owner in keys if vpc_id.startswith(vpcs.PREFIX)})
    return [scanned.scanned_key(owner) for owner in owners]


def load_items(
    client: DynamoDBClient,
    table: str,
    kinds: frozenset[str],
    attributes: Sequence[str] = (),
    stop: Callable[[], bool] | None = None,
) -> Items:
    """Every item of the given kinds, in one pass over the table (only `attributes` of each,
    if given: enough for the reader, not whole items to rewrite). Once `stop()` is true the
    read stops and what it holds is partial: the caller that stopped it must not use it."""
    out = Items()
    with paused_gc():
        for raw in scan_items(client, table, attributes=attributes):
            if stop is not None and stop():
                break
            out.add(raw, kinds)
        return out.complete()


def _never(use: AddressUse) -> bool:
    return False


@dataclass(frozen=True)
class WithoutSubnets:
    """How a reader reads VPC items without their subnets and tags (`load_without_subnets`):
    the VPCs whose subnets it still needs, by their stored use, and whether it reports deleted
    VPCs (the audit analyses none; the inventory can list them)."""

    needs_subnets: Callable[[AddressUse], bool] = _never
    deleted: bool = False
    # Whether the reader needs each VPC's stored use (the audit's headroom, the inventory's
    # columns). One that does not (`lookup`) reads none, and so reads no item again for want
    # of one (an earlier version's).
    use: bool = True


def load_without_subnets(
    client: DynamoDBClient,
    table: str,
    kinds: frozenset[str],
    how: WithoutSubnets,
    stop: Callable[[], bool] | None = None,
) -> Items:
    """`load_items` for a reader that needs of a VPC's subnets only their stored `AddressUse`
    (kept in `Items.address_use`, by key), and the subnets themselves only where `how` says:
    each VPC item is read without its subnets and tags. A VPC it reports that has no readable
    use (an older writer's item), or whose use `how.needs_subnets`, is read again whole by its
    key; a split item is read whole with its parts.
    """
    out = Items(lean=True)
    again: list[tuple[str, str]] = []
    attributes = LEAN_ATTRIBUTES if how.use else WITHOUT_USE_ATTRIBUTES
    with paused_gc():
        for raw in scan_items(client, table, attributes=attributes, decode=wire.decode_page):
            if stop is not None and stop():
                break
            take_lean(raw, out, kinds, how, again)
        out.complete()
        if again and not (stop is not None and stop()):
            whole = read_keys(client, table, again, "VPC items read again whole")
            out.vpcs.extend(scanned.derive(whole.vpcs, out.scanned))
            out.unreadable.extend(whole.unreadable)
    return out


def take_lean(
    raw: Any,
    out: Items,
    kinds: frozenset[str],
    how: WithoutSubnets,
    again: list[tuple[str, str]],
) -> None:
    """Take one item of a read without subnets, as `wire.decode_page` gave it (validated, or
    raw), into `out`; a VPC to be read again whole into `again` instead."""
    if wire.is_stored(raw):  # a VPC item, validated as it was read (store.wire)
        if "vpc" in kinds:
            vpc, use = wire.record(raw)
            if _lean(out, again, how, vpc.key, vpc.Deleted, use):
                out.vpcs.append(vpc)
        return
    if wire.is_connectivity(raw):  # validated as it was read (store.wire)
        if "connectivity" in kinds:
            out.connectivity.append(wire.connectivity(raw))
        return
    if wire.is_part(raw):  # a split connectivity item's, its records validated
        if "connectivity" in kinds:
            out.add_part(*wire.part(raw))
        return
    key = item_key(raw)
    if "Parts" not in raw and key[0].startswith(vpcs.PREFIX) and "vpc" in kinds:
        use = vpcs.use_from_item(raw) if how.use else None
        # Deleted only when certainly so: a VPC taken for live is at worst read again.
        if not _lean(out, again, how, key, _certainly_deleted(raw), use):
            return
    out.add(raw, kinds)


def _lean(
    out: Items,
    again: list[tuple[str, str]],
    how: WithoutSubnets,
    key: tuple[str, str],
    deleted: bool,
    use: AddressUse | None,
) -> bool:
    """Take a VPC read without its subnets, with its stored use (if `how.use`); False when it
    is to be read again whole (`again`) instead."""
    if how.use:
        if (how.deleted or not deleted) and (use is None or how.needs_subnets(use)):
            again.append(key)
            return False
        if use is not None:
            out.address_use[key] = use
    out.without_subnets.add(key)
    return True


def load_inventory(client: DynamoDBClient, table: str) -> Items:
    """Every VPC item of the table (live and deleted), and the items that could not be read."""
    return load_items(client, table, VPCS)
