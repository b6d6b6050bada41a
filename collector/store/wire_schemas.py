"""Store — how attributes are stored, as pydantic-core schemas: the pieces `store.wire` builds
its page validator from. Each takes a value from inside its DynamoDB type tag (`{"S": ...}`),
as boto3's deserializer and then pydantic would read it, and fails on anything else (the item
is then left raw for the registry)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, AliasPath, BaseModel, Field, GetCoreSchemaHandler
from pydantic_core import core_schema as cs

from collector.address_use import AddressUse
from collector.shapes import Shaped

# How an attribute is stored besides a type tag: a list of strings, never in a read without
# subnets (present, the item is left to the registry), a list of maps each a record
# (`stored_record`).
LIST, ABSENT, MAPS = "L", "", "maps"
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


def stored_record(model: type[BaseModel]) -> cs.CoreSchema:
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
            schema, tag = stored_record(annotation), "M"
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
    return cs.chain_schema([values, cs.no_info_plain_validator_function(_RecordOf(model))])


# One set of the fields a record was read with, per model and set of names, shared by every
# record read with them: pydantic-core makes one set per record, 728 bytes for a TGW
# attachment's eight names, half of its record (a landing zone's hub lists 157,000 at 100k
# VPCs; docs/benchmarks.md). Records are frozen, and a copy gets a set of its own (`model_copy`):
# nothing changes a shared one. Capped, as `store.wire`'s sets of a VPC's fields are: past it a
# record keeps its own.
_RECORD_FIELDS: dict[tuple[type[BaseModel], frozenset[str]], set[str]] = {}
_MOST_RECORD_FIELDS = 32


class _RecordOf:
    """Makes `model`'s records of values its own checks hold (str, None, records): as pydantic
    makes them from them, without checking them again. Its fields and defaults are taken once,
    and a record given every field keeps the dict pydantic-core made: the model's fields, a set
    of the names given and a new dict for each record were 0.3-0.4 s of 1.6-2.0 s decoding a
    landing zone's 157,000 attachment records at 100k VPCs (docs/benchmarks.md)."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.defaults = tuple((name, info.default) for name, info in model.model_fields.items())
        self.every = (model, frozenset(model.model_fields))  # the key of a record given all

    def __call__(self, values: dict[str, Any]) -> BaseModel:
        if len(values) == len(self.defaults):
            # Every field given: pydantic-core's typed dict holds them in its fields' order,
            # the model's, so the dict is the record's own, as a record read otherwise has it.
            shared = _RECORD_FIELDS.get(self.every)
            if shared is None:
                shared = shared_fields(self.model, set(values))
            return made_record(self.model, values, shared)
        names = shared_fields(self.model, set(values))
        given = {name: values.get(name, default) for name, default in self.defaults}
        return made_record(self.model, given, names)


def shared_fields(model: type[BaseModel], names: set[str]) -> set[str]:
    """The set of field names `model`'s records read with `names` share (`names` itself when
    it is the first such, or when the cap is reached)."""
    key = (model, frozenset(names))
    shared = _RECORD_FIELDS.get(key)
    if shared is None:
        if len(_RECORD_FIELDS) < _MOST_RECORD_FIELDS:
            _RECORD_FIELDS[key] = names
        shared = names
    return shared


_Model = TypeVar("_Model", bound=BaseModel)
_set = object.__setattr__


def made_record(model: type[_Model], values: dict[str, Any], fields_set: set[str]) -> _Model:
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


class Records:
    """A field stored as a list of maps, each made its record (`stored_record`): the
    field's tuple of them."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        (record,) = {arg for arg in getattr(source, "__args__", ()) if arg is not Ellipsis}
        stored = _tagged("M", stored_record(record))
        return cs.tuple_variable_schema(
            cs.chain_schema([stored, cs.no_info_plain_validator_function(_M)])
        )


class Digits:
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


def at(name: str, tag: str, **default: Any) -> Any:
    """A field read from the value inside attribute `name`'s `tag`. An attribute of another
    type is validated as the whole AttributeValue (a dict), which no field takes: the item is
    left raw."""
    return Field(validation_alias=AliasChoices(AliasPath(name, tag), name), **default)


def _digits(most: int | None = None) -> cs.CoreSchema:
    """What `str(int)` writes (at most `most`), read as `int()` reads it."""
    return cs.chain_schema([cs.str_schema(pattern=_DIGITS), cs.int_schema(le=most)])


def use_schema() -> cs.CoreSchema:
    """A VPC item's `AddressUse` map, made an `AddressUse` by pydantic-core where
    `use_from_item` reads one that is `sound`; anything else fails, and the item is left raw
    (`use_from_item` gives None for it: the registry reads its subnets instead)."""

    def field(name: str, stored: str, tag: str, schema: cs.CoreSchema, *, optional: bool) -> Any:
        if optional:
            schema = cs.with_default_schema(cs.nullable_schema(schema), default=None)
        # The value inside its tag, else the whole attribute (which fails), as `at` reads.
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


def field_as_stored(
    model: type[BaseModel], tags: dict[str, str], name: str, instead: dict[str, Any]
) -> tuple[Any, Any]:
    """`model`'s field `name` as `create_model` takes it, read as `tags` says it is stored:
    its own type and checks (or `instead`'s for it), from inside its tag, with its default."""
    info = model.model_fields[name]
    annotation = instead.get(name) or info.rebuild_annotation()
    tag = tags[name]
    default: dict[str, Any] = (
        {"default_factory": info.default_factory}
        if info.default_factory is not None
        else {"default": info.default}
    )
    if tag == ABSENT:
        # Never read here (the read's projection leaves it out): the field's own default, and
        # an item that holds it anyway is left raw.
        return Annotated[Any, _Absent()], Field(validation_alias=name, **default)
    if tag == LIST:
        return Annotated[annotation, _Strings()], Field(validation_alias=name, **default)
    if tag == MAPS:
        return Annotated[annotation, Records()], at(name, "L", **default)
    return annotation, at(name, tag, **default)
