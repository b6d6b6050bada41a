"""Store — connectivity: one item per (account, region) target (`conn#<account>#<region>`),
rewritten by every ok scan of it, and one per TGW route table (`tgw-rtb#<id>`), written by the
scan of the TGW owner's account.

Readers use only the route tables a current connectivity item lists; every item carries the
deletion retention as its TTL, so stale ones expire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from pydantic import BaseModel

from collector.models import Connectivity, TgwRouteTable
from collector.store import parts
from collector.store.attributes import plain, s
from collector.store.wire_schemas import shared_fields

PREFIX = "conn#"
ROUTE_TABLE_PREFIX = "tgw-rtb#"
# Every attribute a connectivity or route-table item may hold: its model's fields, the key.
ATTRIBUTES = tuple(
    dict.fromkeys(("VpcId", *Connectivity.model_fields, *TgwRouteTable.model_fields, "ExpiresAt"))
)
_SERIALIZER = TypeSerializer()


def _encode(model: BaseModel, vpc_id: str, expires_at: int) -> dict[str, Any]:
    plain = {k: v for k, v in model.model_dump(mode="json").items() if v is not None}
    item: dict[str, Any] = {k: _SERIALIZER.serialize(v) for k, v in plain.items()}
    item["VpcId"] = s(vpc_id)
    item["ExpiresAt"] = {"N": str(expires_at)}
    return item


def _decode(item: Mapping[str, Any]) -> dict[str, Any]:
    # `plain`, not boto3's deserializer: a TGW owner's items list every attachment of its TGWs
    # and its route tables every spoke (157,000 records at a landing zone's 100,000 VPCs), and
    # the deserializer's call per value was 3.2 s of a 6.8 s read (docs/benchmarks.md).
    return {k: _value(k, v) for k, v in item.items() if k != "VpcId"}


def _value(name: str, value: Mapping[str, Any]) -> Any:
    # A split item's lists of records may hold records a page's read made from their parts
    # (store.wire.part): pydantic takes those as they are.
    if name in _RECORD_LISTS and type(value) is dict and type(value.get("L")) is list:
        return [x if isinstance(x, BaseModel) else plain(x) for x in value["L"]]
    return plain(value)


# The lists of records a connectivity item holds.
_RECORD_LISTS = frozenset({"Attachments", "Peerings"})


def connectivity_item(conn: Connectivity, expires_at: int) -> dict[str, Any]:
    """Serialize a target's connectivity (OwnerId and Region are its key and index key)."""
    return _encode(conn, connectivity_key(conn)[0], expires_at)


def connectivity_items(conn: Connectivity, expires_at: int) -> list[dict[str, Any]]:
    """The items of a target's connectivity: one, or a main item and parts for a TGW owner
    with thousands of attachments and peerings."""
    return parts.split(
        connectivity_item(conn, expires_at), ("Attachments", "Peerings", "RouteTables"), expires_at
    )


def connectivity_key(conn: Connectivity) -> tuple[str, str]:
    """(VpcId, OwnerId) of a target's connectivity item."""
    return f"{PREFIX}{conn.OwnerId}#{conn.Region}", conn.OwnerId


def route_table_key(table: TgwRouteTable) -> tuple[str, str]:
    """(VpcId, OwnerId) of a TGW route table's item."""
    return ROUTE_TABLE_PREFIX + table.Id, table.OwnerId


def connectivity_from_item(item: Mapping[str, Any]) -> Connectivity:
    """Deserialize a connectivity item (unknown attributes ignored)."""
    conn = Connectivity.model_validate(_decode(item))
    # Its records share their sets of field names with those read alike, as the page's read
    # makes them (store.wire_schemas.shared_fields): a TGW owner's split item, decoded here,
    # lists thousands of attachments, and each set is half of its record.
    for record in (*conn.Attachments, *conn.Peerings):
        _share(record)
    for peering in conn.Peerings:
        _share(peering.Requester)
        _share(peering.Accepter)
    return conn


def _share(record: BaseModel) -> None:
    names = shared_fields(type(record), record.__pydantic_fields_set__)
    object.__setattr__(record, "__pydantic_fields_set__", names)


def route_table_item(table: TgwRouteTable, expires_at: int) -> dict[str, Any]:
    """Serialize a TGW route table."""
    return _encode(table, route_table_key(table)[0], expires_at)


def route_table_items(table: TgwRouteTable, expires_at: int) -> list[dict[str, Any]]:
    """The items of a TGW route table: one, or a main item and parts (5,000 associations)."""
    return parts.split(
        route_table_item(table, expires_at),
        ("Associations", "Propagations", "StaticRoutes"),
        expires_at,
    )


def route_table_from_item(item: Mapping[str, Any]) -> TgwRouteTable:
    """Deserialize a TGW route table item."""
    return TgwRouteTable.model_validate(_decode(item))
