"""Store — VPC items of a read without subnets, validated straight from DynamoDB's JSON.

A read without subnets (`registry.load_without_subnets`: `audit`, `inventory`, `lookup`,
`check`, a night's sweep, a live event's view) decodes every VPC item of the table. Decoded in
Python, each page is first parsed into AttributeValue dicts, then each item is unwrapped and
validated by pydantic: most of the read's CPU at 100k VPCs (docs/benchmarks.md). Here
pydantic-core parses a page and validates its VPC items in one pass, taking each attribute's
value from inside its type tag (`{"S": ...}`), into the same `Vpc` records and `AddressUse`s.

It only ever agrees or abstains. An item it cannot take exactly as `vpcs.from_item` and
`vpcs.use_from_item` would (an attribute of another type, a value they would read otherwise,
a split item, an item of another kind) is left raw, as `json.loads` gives it, for the registry
to decode as before (tests/unit/test_wire.py holds the two to the same answers).

Connectivity items (one per target, most listing nothing: a region of an account without
peerings or TGW attachments) are read the same way, into the `Connectivity` the registry's
decoding makes of them, its peerings and attachments the same records: through boto3's
deserializer and then pydantic, they were more than half of the CPU of a read without subnets of
a landing zone (docs/benchmarks.md). A split one, or one stored otherwise, is left raw.

So are the parts of a split connectivity item (store.parts: a TGW owner's, thousands of
attachments) that list its attachments or peerings: each is validated into its records as a
connectivity item's are, and the registry joins the records (`part`). Parsed raw, they were
held as AttributeValue dicts to the read's end: at 100k VPCs with a landing zone's network
account, ≈ 120 MB of the read's peak (docs/benchmarks.md; its CPU about the same either way).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Annotated, Any, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
)
from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from collector.address_use import AddressUse
from collector.models import Connectivity, Peering, TgwAttachment, Vpc
from collector.safety import one_line
from collector.store import parts
from collector.store.connectivity import PREFIX as CONNECTIVITY_PREFIX
from collector.store.vpcs import USE
from collector.store.wire_schemas import (
    ABSENT,
    LIST,
    MAPS,
    Digits,
    Records,
    at,
    canonical_ipv4,
    field_as_stored,
    made_record,
    use_schema,
)

log = logging.getLogger(__name__)

# How each `Vpc` attribute is stored: its type tag, a list of strings, or never in a read
# without subnets (`Subnets`, `Tags`: present, the item is left to the registry).
_TAGS: dict[str, str] = {
    "VpcId": "S",
    "OwnerId": "S",
    "CidrBlock": "S",
    "IsDefault": "BOOL",
    "State": "S",
    "Region": "S",
    "AccountName": "S",
    "CidrBlocks": LIST,
    "Ipv6CidrBlocks": LIST,
    "Name": "S",
    "Tags": ABSENT,
    "DhcpOptionsId": "S",
    "InstanceTenancy": "S",
    "Subnets": ABSENT,
    "FirstSeen": "S",
    "LastSeen": "S",
    "Deleted": "BOOL",
    "DeletedAt": "S",
    "DeletedReason": "S",
    "ExpiresAt": "N",
    "Incomplete": LIST,
}
# How each `Connectivity` attribute is stored, as above; `MAPS`: a list of maps, each a record
# (`Peering`, `TgwAttachment`) whose attributes are stored as `stored_record` reads.
_CONNECTIVITY_TAGS: dict[str, str] = {
    "OwnerId": "S",
    "Region": "S",
    "Peerings": MAPS,
    "Attachments": MAPS,
    "RouteTables": LIST,
    "LastSeen": "S",
    "ExpiresAt": "N",
}
# The key of a connectivity item: a connectivity item's own.
_CONNECTIVITY_KEY = "^" + re.escape(CONNECTIVITY_PREFIX)
# The attribute a page's items are told apart by: a required `Vpc` field, stored as `BOOL`.
ROUTE = "IsDefault"
# A split item (store.parts) is joined with its parts by the registry.
_GUARDS = ("Parts",)
# The lists of a split connectivity item whose parts are read here, and their records.
_PART_RECORDS: dict[str, type[BaseModel]] = {"Attachments": TgwAttachment, "Peerings": Peering}
# The key of such a part: a connectivity item's part.
_PART_KEY = "^" + re.escape(parts.PREFIX + CONNECTIVITY_PREFIX)


def _instead() -> dict[str, Any]:
    """Fields read here by another check than `Vpc`'s, one that never takes what it refuses
    (built with the model, on first use: the pattern is generated once)."""
    ipv4 = canonical_ipv4()
    return {"CidrBlock": ipv4, "CidrBlocks": tuple[ipv4, ...]}  # type: ignore[valid-type]


class _Built(NamedTuple):
    """What `_build` makes once: the classes `decode_page`'s items are told apart by, and the
    page validator."""

    connectivity: type[BaseModel]  # a stored connectivity item (`connectivity`)
    parts: frozenset[type[BaseModel]]  # a part listing records (`part`)
    page: SchemaValidator


# The model and the page validator are built once, on first use (not at import: most commands
# never read without subnets), under a lock: a read's segments decode their first pages side by
# side, and a second connectivity model built meanwhile would not be the class
# `is_connectivity` knows.
_BUILD = threading.Lock()
_BUILT: list[_Built] = []
# Why they could not be built, once that is known: every page is then left to the registry.
_FAILED: list[str] = []


def _built() -> _Built | None:
    """The stored connectivity model and the page validator; None if they cannot be built.

    They are built from the schemas pydantic generates for `Vpc` and `Connectivity`, in shapes
    a pydantic release may change (`_read_schema` refuses one it does not know). The fast read
    is an optimization: without it a read goes on as before, each page decoded by the
    registry, at the CPU cost measured in docs/benchmarks.md; the log says so once a process.
    """
    if not _BUILT and not _FAILED:
        with _BUILD:
            if not _BUILT and not _FAILED:
                try:
                    _BUILT.append(_build())
                except Exception as exc:  # noqa: BLE001 - whatever the cause, reads go on
                    _FAILED.append(one_line(f"{type(exc).__name__}: {exc}"))
                    log.warning(
                        "reading VPC items the slower way: no validator of a stored VPC's "
                        "page could be built with this pydantic (%s)",
                        _FAILED[0],
                    )
    return _BUILT[0] if _BUILT else None


def _build() -> _Built:
    """The stored connectivity model, the models of parts, and the validator of a page: its
    items read VPCs (`_Read`), connectivity items or their parts where they can be, else raw
    (left to right: a VPC item is tried as one first); the page's other members kept as they
    are."""
    connectivity = _connectivity_model()
    vpc = _read_schema(_model())
    # Only an item with a `BOOL` under `IsDefault` (which every VPC item has, and no other kind)
    # is tried as a VPC: a connectivity item tried as one, failing on every field, cost 2-3
    # times its decoding, and a live event's read holds one per target (docs/benchmarks.md).
    # Any other item is then tried as a connectivity item (most items of a landing zone that
    # are not VPCs), and else left raw, as before. Nor is an item holding a guard or an
    # attribute never read here: the first of these paths found gives the tag, and such an
    # attribute's value (a map, a list) is no choice's.
    never = [name for name, tag in _TAGS.items() if tag == ABSENT]
    paths: list[list[str | int]] = [[name] for name in (*_GUARDS, *never)]
    paths.append([ROUTE, _TAGS[ROUTE]])
    tried = cs.tagged_union_schema({True: vpc, False: vpc}, paths)
    conn = connectivity.__pydantic_core_schema__
    # A part is tried as the one its `Attr` names (an item without one fails at once).
    models = {attr: _part_model(attr, record) for attr, record in _PART_RECORDS.items()}
    schemas = {attr: model.__pydantic_core_schema__ for attr, model in models.items()}
    attr: list[list[str | int]] = [["Attr", "S"]]
    part = cs.tagged_union_schema(schemas, attr)
    item = cs.union_schema([tried, conn, part, cs.any_schema()], mode="left_to_right")
    page = cs.typed_dict_schema(
        {"Items": cs.typed_dict_field(cs.list_schema(item))}, extra_behavior="allow"
    )
    return _Built(connectivity, frozenset(models.values()), SchemaValidator(page))


def _model() -> type[BaseModel]:
    """A `Vpc` as stored: every field of `Vpc` (its types and checks) read from inside its
    tag; `Subnets` and `Tags` never (an item holding them is left raw)."""
    instead = _instead()
    fields: dict[str, Any] = {
        name: field_as_stored(Vpc, _TAGS, name, instead) for name in Vpc.model_fields
    }
    model: type[BaseModel] = create_model("StoredVpc", __config__=Vpc.model_config, **fields)
    return model


class _Read(Vpc):
    """A VPC as `decode_page` reads it: a `Vpc` but for its class, which `record` makes `Vpc`
    (the same layout), and the use it carries. pydantic-core reuses a class's own validator
    for any schema naming a class whose build is complete, so the schema built here must name
    a class whose build never is; nothing validates with this one."""

    model_config = ConfigDict(defer_build=True)


# The field whose place in a read VPC's dict holds its `AddressUse` until `record` takes it out:
# one never read here (an item holding it is never tried), so the dict is sized for `Vpc`'s own
# fields. Held as an extra instead, the use cost more than `record` saved (docs/benchmarks.md);
# a field of its own would size every dict for one more (twice the table).
_CARRIER = "Subnets"
_CARRIER_DEFAULT = Vpc.model_fields[_CARRIER].get_default(call_default_factory=True)


def _read_schema(model: type[BaseModel]) -> cs.CoreSchema:
    """`model`'s fields validated into a `_Read`, its dict `Vpc`'s fields with their defaults,
    and the item's `AddressUse` map (`use_schema`; None without one) in `_CARRIER`'s place."""
    schema = model.__pydantic_core_schema__
    if schema["type"] != "model" or schema["schema"]["type"] != "model-fields":
        raise TypeError(f"pydantic made {schema['type']} of a stored VPC, not a model")
    fields = dict(schema["schema"]["fields"])
    use = cs.with_default_schema(cs.nullable_schema(use_schema()), default=None)
    # The use inside its tag, else the whole attribute (which fails), as `at` reads.
    alias: list[list[str | int]] = [[USE, "M"], [USE]]
    fields[_CARRIER] = cs.model_field(use, validation_alias=alias)
    return cs.model_schema(_Read, cs.model_fields_schema(fields), config=schema.get("config"))


def _connectivity_model() -> type[BaseModel]:
    """A `Connectivity` as stored: every field of `Connectivity` read from inside its tag, its
    peerings and attachments lists of maps (`stored_record`), its key a connectivity item's;
    guards that leave split items raw."""
    instead = {"ExpiresAt": Annotated[int, Digits()]}
    fields: dict[str, Any] = {
        name: field_as_stored(Connectivity, _CONNECTIVITY_TAGS, name, instead)
        for name in Connectivity.model_fields
    }
    key = Annotated[str, StringConstraints(pattern=_CONNECTIVITY_KEY)]
    fields["VpcId"] = (key, at("VpcId", "S"))
    for guard in _GUARDS:
        fields[guard] = (None, Field(default=None, validation_alias=guard))
    model: type[BaseModel] = create_model(
        "StoredConnectivity", __config__=Connectivity.model_config, **fields
    )
    return model


def _part_model(attr: str, record: type[BaseModel]) -> type[BaseModel]:
    """A part of a split connectivity item listing `attr` (store.parts), as written: its key a
    connectivity item's part's, its place read as `parts.placed` reads it (a stamp, an index as
    `str(int)` writes it), its values `record`s read as a connectivity item's are."""
    fields: dict[str, Any] = {
        "VpcId": (Annotated[str, StringConstraints(pattern=_PART_KEY)], at("VpcId", "S")),
        "OwnerId": (str, at("OwnerId", "S")),
        "Stamp": (str, at("Stamp", "S")),
        "Attr": (str, at("Attr", "S")),
        "Index": (Annotated[int, Digits()], at("Index", "N")),
        "Values": (Annotated[tuple[record, ...], Records()], at("Values", "L")),  # type: ignore[valid-type]
    }
    model: type[BaseModel] = create_model(
        f"Stored{attr}Part", __config__=ConfigDict(frozen=True), **fields
    )
    return model


def decode_page(body: bytes) -> dict[str, Any]:
    """A read page's JSON body: `Items` holds each VPC item as a stored VPC (`record` makes
    its `Vpc` and `AddressUse`), each connectivity item as a stored one
    (`connectivity` makes its `Connectivity`), every other item raw. ValueError when the body
    is not a page of items, or the validator cannot be built (`_built`): the caller reads it
    as before."""
    built = _built()
    if built is None:
        raise ValueError("no page validator")
    page: dict[str, Any] = built.page.validate_json(body)
    return page


def is_stored(item: Any) -> bool:
    """Whether `decode_page` validated this item as a VPC's."""
    return type(item) is _Read


def is_connectivity(item: Any) -> bool:
    """Whether `decode_page` validated this item as a connectivity item."""
    built = _built()
    return built is not None and type(item) is built.connectivity


def is_part(item: Any) -> bool:
    """Whether `decode_page` validated this item as a part listing records."""
    built = _built()
    return built is not None and type(item) in built.parts


def part(stored: Any) -> tuple[tuple[str, str], parts.Placed]:
    """The key of the item a part `decode_page` validated belongs to (as `parts.part_of`
    reads a raw part's), and the part as `parts.join` takes one: its values the records."""
    placed = parts.Placed(stored.Stamp, stored.Index, stored.Attr, stored.Values)
    return (parts.main_key(stored.VpcId), stored.OwnerId), placed


_set = object.__setattr__


def record(stored: Any) -> tuple[Vpc, AddressUse | None]:
    """The `Vpc` record of a stored VPC, and its `AddressUse` (None if it has none or
    `use_from_item` would read none).

    `decode_page` made it already, with every field's check and default, as a `_Read`: it
    becomes a `Vpc`, the use it carried taken out. Remaking it with `model_construct` walked
    every field again, 100k times a read (docs/benchmarks.md).
    """
    values: dict[str, Any] = stored.__dict__
    use: AddressUse | None = values[_CARRIER]
    values[_CARRIER] = _CARRIER_DEFAULT
    _set(stored, "__class__", Vpc)
    kept: set[str] = stored.__pydantic_fields_set__
    kept.discard(_CARRIER)  # set from the item's use, not from an attribute of its own
    names = frozenset(kept)
    shared = _FIELDS_SETS.get(names)
    if shared is None:
        if len(_FIELDS_SETS) < _MOST_FIELDS_SETS:
            _FIELDS_SETS[names] = kept
    else:
        _set(stored, "__pydantic_fields_set__", shared)
    return stored, use


# One set of the fields an item gave for each such set, shared by every record read with it:
# pydantic-core makes one for each record, 728 bytes for the 13 names of an item as the store
# writes it (73 MB at 100k VPCs, the largest part of a record). `Vpc` is frozen, and pydantic
# copies the set for a copy (`model_copy`): nothing changes a shared one. What the store writes
# gives a handful of sets; the cap bounds what the process keeps (a warm Lambda container's)
# whatever else a table holds: a record past it keeps its own.
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
_MOST_FIELDS_SETS = 32


# What a stored connectivity item has that `Connectivity` has not.
_NOT_CONNECTIVITY = ("VpcId", *_GUARDS)


def connectivity(stored: Any) -> Connectivity:
    """The `Connectivity` record of a stored connectivity item, made as `record` makes a
    `Vpc`: from values already checked by `Connectivity`'s own validators."""
    values: dict[str, Any] = stored.__dict__
    kept = stored.__pydantic_fields_set__
    for name in _NOT_CONNECTIVITY:
        del values[name]
        kept.discard(name)
    return made_record(Connectivity, dict(values.items()), kept)
