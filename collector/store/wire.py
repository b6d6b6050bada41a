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
"""

from __future__ import annotations

import functools
import operator
import re
import threading
from typing import Annotated, Any, TypeVar

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
    create_model,
)
from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from collector.address_use import AddressUse
from collector.models import Connectivity, Vpc
from collector.shapes import Shaped
from collector.store.connectivity import PREFIX as CONNECTIVITY_PREFIX
from collector.store.vpcs import USE

# How each `Vpc` attribute is stored: its type tag, a list of strings, or never in a read
# without subnets (`Subnets`, `Tags`: present, the item is left to the registry).
_LIST, _ABSENT = "L", ""
_TAGS: dict[str, str] = {
    "VpcId": "S",
    "OwnerId": "S",
    "CidrBlock": "S",
    "IsDefault": "BOOL",
    "State": "S",
    "Region": "S",
    "AccountName": "S",
    "CidrBlocks": _LIST,
    "Ipv6CidrBlocks": _LIST,
    "Name": "S",
    "Tags": _ABSENT,
    "DhcpOptionsId": "S",
    "InstanceTenancy": "S",
    "Subnets": _ABSENT,
    "FirstSeen": "S",
    "LastSeen": "S",
    "Deleted": "BOOL",
    "DeletedAt": "S",
    "DeletedReason": "S",
    "ExpiresAt": "N",
    "Incomplete": _LIST,
}
# How each `Connectivity` attribute is stored, as above; `_MAPS`: a list of maps, each a
# record (`Peering`, `TgwAttachment`) whose attributes are stored as `_stored_record` reads.
_MAPS = "maps"
_CONNECTIVITY_TAGS: dict[str, str] = {
    "OwnerId": "S",
    "Region": "S",
    "Peerings": _MAPS,
    "Attachments": _MAPS,
    "RouteTables": _LIST,
    "LastSeen": "S",
    "ExpiresAt": "N",
}
# The key of a connectivity item: a connectivity item's own.
_CONNECTIVITY_KEY = "^" + re.escape(CONNECTIVITY_PREFIX)
# The attribute a page's items are told apart by: a required `Vpc` field, stored as `BOOL`.
ROUTE = "IsDefault"
# A split item (store.parts) is joined with its parts by the registry.
_GUARDS = ("Parts",)
_DIGITS = r"^[0-9]+$"  # what `str(int)` writes: anything else is `int()`'s to read (or refuse)


# A stored string list, `{"L": [{"S": ...}, ...]}`, is checked whole by pydantic-core, then one
# call takes its strings out (checking each member in Python cost more than that call).
_S = operator.itemgetter("S")


def _tagged(tag: str, schema: cs.CoreSchema) -> cs.CoreSchema:
    """`{tag: value}` and nothing else, the value as `schema` validates it."""
    return cs.typed_dict_schema({tag: cs.typed_dict_field(schema)}, extra_behavior="forbid")


def _string_list() -> cs.CoreSchema:
    return _tagged("L", cs.list_schema(_tagged("S", cs.str_schema())))


def _strings(value: dict[str, Any]) -> list[str]:
    return list(map(_S, value["L"]))


def _unwrapped(then: cs.CoreSchema) -> cs.CoreSchema:
    """A stored string list, its strings then validated by `then`."""
    unwrap = cs.no_info_plain_validator_function(_strings)
    return cs.chain_schema([_string_list(), unwrap, then])


class _Strings:
    """A field stored as a string list: its members are then validated as the field's own
    type (a tuple of CIDRs, say); anything else fails, and the item is left raw."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return _unwrapped(handler(source))


def _stored_record(model: type[BaseModel]) -> cs.CoreSchema:
    """A record stored as a map (a peering, its sides, a TGW attachment), made the record
    itself: each field read by pydantic-core from inside its tag, a string as `S` (an optional
    one also as `NULL`, as boto3's serializer stores None), a record as a map of its own. A
    field of any other type has no stored shape here (tests/unit/test_wire.py builds them
    all); a value stored otherwise fails, and the item is left raw."""
    fields: dict[str, cs.TypedDictField] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        schema: cs.CoreSchema
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            schema, tag = _stored_record(annotation), "M"
        elif annotation is str:
            schema, tag = cs.str_schema(), "S"
        elif annotation == str | None:
            null = cs.chain_schema(
                [
                    _tagged("NULL", cs.literal_schema([True])),
                    cs.no_info_plain_validator_function(_none),
                ]
            )
            schema, tag = cs.union_schema([cs.str_schema(), null], mode="left_to_right"), "S"
        else:
            raise TypeError(f"{model.__name__}.{name}: no stored shape for {annotation}")
        # The value inside its tag, else the whole attribute: a map, which only a stored None
        # is read from.
        alias: list[list[str | int]] = [[name, tag], [name]]
        fields[name] = cs.typed_dict_field(
            schema, required=info.is_required(), validation_alias=alias
        )
    values = cs.typed_dict_schema(fields, extra_behavior="ignore")
    make = functools.partial(_record_of, model)
    return cs.chain_schema([values, cs.no_info_plain_validator_function(make)])


def _record_of(model: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """`model`'s record of values its own checks hold (str, None, records): as pydantic makes
    it from them, without checking them again."""
    fields = model.model_fields
    return _made(model, {n: values.get(n, f.default) for n, f in fields.items()}, set(values))


_Model = TypeVar("_Model", bound=BaseModel)


def _made(model: type[_Model], values: dict[str, Any], fields_set: set[str]) -> _Model:
    """A `model` record of `values`, every field's, already checked by its validators; as
    `model_construct` makes one, without walking its fields again."""
    made = model.__new__(model)
    _set(made, "__dict__", values)
    _set(made, "__pydantic_fields_set__", fields_set)
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made


def _none(_: Any) -> None:
    return None


_M = operator.itemgetter("M")


class _Records:
    """A field stored as a list of maps, each made its record (`_stored_record`): the
    field's tuple of them."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        (record,) = {arg for arg in getattr(source, "__args__", ()) if arg is not Ellipsis}
        stored = _tagged("M", _stored_record(record))
        return cs.tuple_variable_schema(
            cs.chain_schema([stored, cs.no_info_plain_validator_function(_M)])
        )


class _Digits:
    """A number as `str(int)` writes it, read as boto3's deserializer and then pydantic read it
    (its `Decimal` takes neither spaces nor underscores, which `int()` does); anything else
    fails, and the item is left raw."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return _digits()


class _Absent:
    """A field never read here: present in an item anyway, it fails, and the item is left raw."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return cs.no_info_plain_validator_function(_refuse)


def _refuse(value: Any) -> Any:
    raise ValueError("not read without subnets")


def _at(name: str, tag: str, **default: Any) -> Any:
    # The value inside the tag; an attribute of another type is validated as the whole
    # AttributeValue (a dict), which no field takes: the item is left raw.
    return Field(validation_alias=AliasChoices(AliasPath(name, tag), name), **default)


def _digits(most: int | None = None) -> cs.CoreSchema:
    """What `str(int)` writes (at most `most`), read as `int()` reads it."""
    return cs.chain_schema([cs.str_schema(pattern=_DIGITS), cs.int_schema(le=most)])


def _use() -> cs.CoreSchema:
    """A VPC item's `AddressUse` map, made an `AddressUse` by pydantic-core where
    `use_from_item` reads one that is `sound`; anything else fails, and the item is left raw
    (`use_from_item` gives None for it: the registry reads its subnets instead)."""

    def field(name: str, stored: str, tag: str, schema: cs.CoreSchema, *, optional: bool) -> Any:
        if optional:
            schema = cs.with_default_schema(cs.nullable_schema(schema), default=None)
        # The value inside its tag, else the whole attribute (which fails), as `_at` reads.
        alias: list[list[str | int]] = [[stored, tag], [stored]]
        return cs.dataclass_field(name, schema, validation_alias=alias)

    text = cs.str_schema()
    azs = _unwrapped(cs.tuple_variable_schema(text))
    fields = [
        field("usable", "Usable", "N", _digits(), optional=False),
        field("used", "Used", "N", _digits(), optional=False),
        field("largest_free", "LargestFreeBlock", "S", text, optional=True),
        field("subnet_size", "SubnetSize", "N", _digits(32), optional=True),
        cs.dataclass_field("azs", azs, validation_alias="AvailabilityZones"),
        field("subnet_count", "SubnetCount", "N", _digits(), optional=False),
        field(
            "tightest_free_pct",
            "TightestSubnetFreePct",
            "N",
            cs.float_schema(ge=0.0, le=100.0, allow_inf_nan=False),
            optional=True,
        ),
    ]
    args = cs.dataclass_args_schema("AddressUse", fields)
    return cs.dataclass_schema(AddressUse, args, [f["name"] for f in fields], frozen=True)


def canonical_ipv4_cidr() -> str:
    """A pattern (Rust regex syntax) of exactly the IPv4 CIDRs `Ipv4Cidr` keeps unchanged: four
    decimal parts without leading zeros, a prefix length as `str(int)` writes it, and no host
    bits set. One alternative per prefix length, each part one of the values its network bits
    allow (a multiple of the block size within it)."""
    any_part = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
    prefixes = []
    for prefix in range(33):
        parts = []
        for index in range(4):
            bits = min(max(prefix - 8 * index, 0), 8)  # network bits in this part
            if bits == 8:
                parts.append(any_part)
            else:
                step = 1 << (8 - bits)
                parts.append("(?:" + "|".join(str(v) for v in range(0, 256, step)) + ")")
        prefixes.append(r"\.".join(parts) + f"/{prefix}")
    return "^(?:" + "|".join(prefixes) + ")$"


def canonical_ipv4() -> Any:
    """An `Ipv4Cidr` in a stored VPC, checked inside pydantic-core (`shapes.Shaped`):
    `Ipv4Cidr`'s Python check was a quarter of a page's decoding at 100k VPCs
    (docs/benchmarks.md). Only a CIDR that check keeps unchanged passes; any other fails, and
    the item is left raw for the registry, whose reading normalizes it or names the error
    (tests/unit/test_wire.py holds the two equal)."""
    return Annotated[str, Shaped(canonical_ipv4_cidr(), "not a canonical IPv4 CIDR")]


def _instead() -> dict[str, Any]:
    """Fields read here by another check than `Vpc`'s, one that never takes what it refuses
    (built with the model, on first use: the pattern is generated once)."""
    ipv4 = canonical_ipv4()
    return {"CidrBlock": ipv4, "CidrBlocks": tuple[ipv4, ...]}  # type: ignore[valid-type]


def _field(
    model: type[BaseModel], tags: dict[str, str], name: str, instead: dict[str, Any]
) -> tuple[Any, Any]:
    info = model.model_fields[name]
    annotation = instead.get(name) or info.rebuild_annotation()
    tag = tags[name]
    default: dict[str, Any] = (
        {"default_factory": info.default_factory}
        if info.default_factory is not None
        else {"default": info.default}
    )
    if tag == _ABSENT:
        # Never read here (the read's projection leaves it out): the field's own default, and
        # an item that holds it anyway is left raw.
        return Annotated[Any, _Absent()], Field(validation_alias=name, **default)
    if tag == _LIST:
        return Annotated[annotation, _Strings()], Field(validation_alias=name, **default)
    if tag == _MAPS:
        return Annotated[annotation, _Records()], _at(name, "L", **default)
    return annotation, _at(name, tag, **default)


# The model and the page validator are built once, on first use (not at import: most commands
# never read without subnets), under a lock: a read's segments decode their first pages side by
# side, and a second connectivity model built meanwhile would not be the class
# `is_connectivity` knows.
_BUILD = threading.Lock()
_BUILT: list[tuple[type[BaseModel], type[BaseModel], SchemaValidator]] = []


def _stored() -> type[BaseModel]:
    """The model of a stored VPC's attributes (the source of `_Read`'s validator)."""
    return _built()[0]


def _stored_connectivity() -> type[BaseModel]:
    return _built()[1]


def _page() -> SchemaValidator:
    return _built()[2]


def _built() -> tuple[type[BaseModel], type[BaseModel], SchemaValidator]:
    """The stored VPC and connectivity models, and the validator of a page: its items stored
    VPCs or connectivity items where they can be, else raw (left to right: a VPC item is tried
    as one first); the page's other members kept as they are."""
    if not _BUILT:
        with _BUILD:
            if not _BUILT:
                model = _model()
                connectivity = _connectivity_model()
                vpc = _read_schema(model)
                # Only an item with a `BOOL` under `IsDefault` (which every VPC item has, and
                # no other kind) is tried as a VPC: a connectivity item tried as one, failing on
                # every field, cost 2-3 times its decoding, and a live event's read holds one
                # per target (docs/benchmarks.md). Any other item is then tried as a
                # connectivity item (most items of a landing zone that are not VPCs), and else
                # left raw, as before. Nor is an item holding a guard or an attribute never read
                # here: the first of these paths found gives the tag, and such an attribute's
                # value (a map, a list) is no choice's.
                never = [name for name, tag in _TAGS.items() if tag == _ABSENT]
                paths: list[list[str | int]] = [[name] for name in (*_GUARDS, *never)]
                paths.append([ROUTE, _TAGS[ROUTE]])
                tried = cs.tagged_union_schema({True: vpc, False: vpc}, paths)
                conn = connectivity.__pydantic_core_schema__
                item = cs.union_schema([tried, conn, cs.any_schema()], mode="left_to_right")
                page = cs.typed_dict_schema(
                    {"Items": cs.typed_dict_field(cs.list_schema(item))}, extra_behavior="allow"
                )
                _BUILT.append((model, connectivity, SchemaValidator(page)))
    return _BUILT[0]


def _model() -> type[BaseModel]:
    """A `Vpc` as stored: every field of `Vpc` (its types and checks) read from inside its
    tag; `Subnets` and `Tags` never (an item holding them is left raw)."""
    instead = _instead()
    fields: dict[str, Any] = {name: _field(Vpc, _TAGS, name, instead) for name in Vpc.model_fields}
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
    and the item's `AddressUse` map (`_use`; None without one) in `_CARRIER`'s place."""
    schema = model.__pydantic_core_schema__
    if schema["type"] != "model" or schema["schema"]["type"] != "model-fields":
        raise TypeError(f"pydantic made {schema['type']} of a stored VPC, not a model")
    fields = dict(schema["schema"]["fields"])
    use = cs.with_default_schema(cs.nullable_schema(_use()), default=None)
    # The use inside its tag, else the whole attribute (which fails), as `_at` reads.
    alias: list[list[str | int]] = [[USE, "M"], [USE]]
    fields[_CARRIER] = cs.model_field(use, validation_alias=alias)
    return cs.model_schema(_Read, cs.model_fields_schema(fields), config=schema.get("config"))


def _connectivity_model() -> type[BaseModel]:
    """A `Connectivity` as stored: every field of `Connectivity` read from inside its tag, its
    peerings and attachments lists of maps (`_stored_record`), its key a connectivity item's;
    guards that leave split items raw."""
    instead = {"ExpiresAt": Annotated[int, _Digits()]}
    fields: dict[str, Any] = {
        name: _field(Connectivity, _CONNECTIVITY_TAGS, name, instead)
        for name in Connectivity.model_fields
    }
    key = Annotated[str, StringConstraints(pattern=_CONNECTIVITY_KEY)]
    fields["VpcId"] = (key, _at("VpcId", "S"))
    for guard in _GUARDS:
        fields[guard] = (None, Field(default=None, validation_alias=guard))
    model: type[BaseModel] = create_model(
        "StoredConnectivity", __config__=Connectivity.model_config, **fields
    )
    return model


def decode_page(body: bytes) -> dict[str, Any]:
    """A read page's JSON body: `Items` holds each VPC item as a stored VPC (`record` makes
    its `Vpc` and `AddressUse`), each connectivity item as a stored one
    (`connectivity` makes its `Connectivity`), every other item raw. ValueError when the body
    is not a page of items (the caller reads it as before)."""
    page: dict[str, Any] = _page().validate_json(body)
    return page


def is_stored(item: Any) -> bool:
    """Whether `decode_page` validated this item as a VPC's."""
    return type(item) is _Read


def is_connectivity(item: Any) -> bool:
    """Whether `decode_page` validated this item as a connectivity item."""
    return type(item) is _stored_connectivity()


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
    shared = _FIELDS_SETS.setdefault(frozenset(kept), kept)
    if shared is not kept:
        _set(stored, "__pydantic_fields_set__", shared)
    return stored, use


# One set of the fields an item gave for each such set, shared by every record read with it:
# pydantic-core makes one for each record, 728 bytes for the 13 names of an item as the store
# writes it (73 MB at 100k VPCs, the largest part of a record). `Vpc` is frozen, and pydantic
# copies the set for a copy (`model_copy`): nothing changes a shared one. A handful of sets.
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


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
    return _made(Connectivity, dict(values.items()), kept)
