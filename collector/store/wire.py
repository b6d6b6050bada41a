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
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from pydantic import AliasChoices, AliasPath, BaseModel, BeforeValidator, Field, create_model
from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from collector.address_use import AddressUse
from collector.models import Vpc
from collector.store.vpcs import USE, sound

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
# The attribute a page's items are told apart by: a required `Vpc` field, stored as `BOOL`.
ROUTE = "IsDefault"
# A split item (store.parts) is joined with its parts by the registry.
_GUARDS = ("Parts",)
_DIGITS = r"^[0-9]+$"  # what `str(int)` writes: anything else is `int()`'s to read (or refuse)


def _strings(value: Any) -> list[Any]:
    """A list attribute of strings, unwrapped; ValueError for anything else (left raw)."""
    if type(value) is not dict or len(value) != 1 or type(value.get("L")) is not list:
        raise ValueError("not a list attribute")
    out = []
    for member in value["L"]:
        if type(member) is not dict or len(member) != 1 or "S" not in member:
            raise ValueError("not a string member")
        out.append(member["S"])
    return out


Strings = BeforeValidator(_strings)


def _at(name: str, tag: str, **default: Any) -> Any:
    # The value inside the tag; an attribute of another type is validated as the whole
    # AttributeValue (a dict), which no field takes: the item is left raw.
    return Field(validation_alias=AliasChoices(AliasPath(name, tag), name), **default)


class _Use(BaseModel):
    """A VPC item's `AddressUse` map as stored; numbers as their digits (`int()` reads them)."""

    usable: Annotated[str, Field(pattern=_DIGITS), _at("Usable", "N")]
    used: Annotated[str, Field(pattern=_DIGITS), _at("Used", "N")]
    largest_free: Annotated[str | None, _at("LargestFreeBlock", "S")] = None
    subnet_size: Annotated[str | None, Field(pattern=_DIGITS), _at("SubnetSize", "N")] = None
    azs: Annotated[tuple[str, ...], Strings, Field(validation_alias="AvailabilityZones")]
    subnet_count: Annotated[str, Field(pattern=_DIGITS), _at("SubnetCount", "N")]
    tightest_free_pct: Annotated[float | None, _at("TightestSubnetFreePct", "N")] = None

    def use(self) -> AddressUse | None:
        """The `AddressUse` it holds, or None where `use_from_item` gives none."""
        size = self.subnet_size
        use = AddressUse(
            usable=int(self.usable),
            used=int(self.used),
            largest_free=self.largest_free,
            subnet_size=None if size is None else int(size),
            azs=self.azs,
            subnet_count=int(self.subnet_count),
            tightest_free_pct=self.tightest_free_pct,
        )
        return use if sound(use) else None


def _field(name: str) -> tuple[Any, Any]:
    info = Vpc.model_fields[name]
    tag = _TAGS[name]
    if tag == _ABSENT:
        return None, Field(default=None, validation_alias=name)
    default: dict[str, Any] = (
        {"default_factory": info.default_factory}
        if info.default_factory is not None
        else {"default": info.default}
    )
    if tag == _LIST:
        annotation = Annotated[info.rebuild_annotation(), Strings]  # type: ignore[valid-type]
        return annotation, Field(validation_alias=name, **default)
    return info.rebuild_annotation(), _at(name, tag, **default)


# The model and the page validator are built once, on first use (not at import: most commands
# never read without subnets), under a lock: a read's segments decode their first pages side by
# side, and a second model built meanwhile would not be the class `is_stored` knows.
_BUILD = threading.Lock()
_BUILT: list[tuple[type[BaseModel], SchemaValidator]] = []


def _stored() -> type[BaseModel]:
    return _built()[0]


def _page() -> SchemaValidator:
    return _built()[1]


def _built() -> tuple[type[BaseModel], SchemaValidator]:
    """The stored VPC model, and the validator of a page: its items stored VPCs where they can
    be, else raw (left to right: a VPC item is tried as one first); the page's other members
    kept as they are."""
    if not _BUILT:
        with _BUILD:
            if not _BUILT:
                model = _model()
                vpc = model.__pydantic_core_schema__
                # Only an item with a `BOOL` under `IsDefault` (which every VPC item has, and
                # no other kind) is tried as a VPC: a connectivity item tried as one, failing on
                # every field, cost 2-3 times its decoding, and a live event's read holds one
                # per target (docs/benchmarks.md). Any other item is left raw, as before.
                path: list[str | int] = [ROUTE, _TAGS[ROUTE]]
                tried = cs.tagged_union_schema({True: vpc, False: vpc}, path)
                item = cs.union_schema([tried, cs.any_schema()], mode="left_to_right")
                page = cs.typed_dict_schema(
                    {"Items": cs.typed_dict_field(cs.list_schema(item))}, extra_behavior="allow"
                )
                _BUILT.append((model, SchemaValidator(page)))
    return _BUILT[0]


def _model() -> type[BaseModel]:
    """A `Vpc` as stored: every field of `Vpc` (its types and checks) read from inside its
    tag, the stored `AddressUse`, and guards that leave split items raw."""
    fields: dict[str, Any] = {name: _field(name) for name in Vpc.model_fields}
    fields[USE] = (_Use | None, _at(USE, "M", default=None))
    for guard in _GUARDS:
        fields[guard] = (None, Field(default=None, validation_alias=guard))
    model: type[BaseModel] = create_model("StoredVpc", __config__=Vpc.model_config, **fields)
    return model


def decode_page(body: bytes) -> dict[str, Any]:
    """A read page's JSON body: `Items` holds each VPC item as a stored VPC (`record` makes
    its `Vpc` and `AddressUse`), every other item raw. ValueError when the body is not a page
    of items (the caller reads it as before)."""
    page: dict[str, Any] = _page().validate_json(body)
    return page


def is_stored(item: Any) -> bool:
    """Whether `decode_page` validated this item (else it is raw)."""
    return type(item) is _stored()


_set = object.__setattr__
# The fields never read here, and how each gets its default: a factory is called for each
# record (`get_default` inspects the factory's signature each time: most of a read's CPU).
_DEFAULTS = {
    name: (info.default_factory, info.default)
    for name, info in Vpc.model_fields.items()
    if _TAGS.get(name) == _ABSENT
}


def record(stored: Any) -> tuple[Vpc, AddressUse | None]:
    """The `Vpc` record of a stored VPC, and its `AddressUse` (None if it has none or
    `use_from_item` would read none).

    Made as `Vpc.model_construct` makes one, from values already checked by the same
    validators: the fields `Vpc` does not have are taken off, those never read here get their
    defaults. `model_construct` itself walks every field again, 100k times a read.
    """
    values: dict[str, Any] = stored.__dict__
    kept = stored.__pydantic_fields_set__
    use = values.pop(USE)
    kept.discard(USE)
    for guard in _GUARDS:
        del values[guard]
        kept.discard(guard)
    for name, (factory, default) in _DEFAULTS.items():
        # `Vpc`'s factories take no argument (pydantic also allows one of the validated data).
        values[name] = default if factory is None else factory()  # type: ignore[call-arg]
    vpc = Vpc.__new__(Vpc)
    # A new dict, sized for `Vpc`'s fields: the stored VPC's has room for its two more (twice
    # the table), kept after they are taken off: ≈ 370 bytes a record (measured).
    _set(vpc, "__dict__", dict(values.items()))
    _set(vpc, "__pydantic_fields_set__", kept)
    _set(vpc, "__pydantic_extra__", None)
    _set(vpc, "__pydantic_private__", None)
    return vpc, None if use is None else use.use()
