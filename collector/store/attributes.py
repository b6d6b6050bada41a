"""Store — DynamoDB AttributeValue helpers that every item kind's codec shares (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from collector.models import UnreadableItem, iso
from collector.safety import brief


def s(v: str) -> dict[str, Any]:
    """A string attribute."""
    return {"S": v}


def ts(v: datetime) -> dict[str, Any]:
    """A time attribute (ISO-8601 UTC string, as stored)."""
    return {"S": iso(v)}


def aware_time(text: str) -> datetime:
    """A stored time (ISO-8601 with its zone, as `ts` or `datetime.isoformat` writes it);
    ValueError for anything else. A time without a zone is refused, not taken as local: it
    would fail every comparison with the clock later, far from the item it came from."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"a time without its zone: {brief(text)}")
    return at


def n(v: int) -> dict[str, Any]:
    """A number attribute."""
    return {"N": str(v)}


def plain(value: Mapping[str, Any]) -> Any:
    """One AttributeValue as plain Python (L, M, N, NULL; anything else as its text)."""
    ((kind, v),) = value.items()
    # A string member is read in place, not by a call: most leaves are strings, and a 100k
    # inventory has 3.5 million of them (the calls were half the decoding).
    if kind == "M":
        return {k: x["S"] if len(x) == 1 and "S" in x else plain(x) for k, x in v.items()}
    if kind == "L":
        return [x["S"] if len(x) == 1 and "S" in x else plain(x) for x in v]
    if kind == "N":
        return int(v) if v.lstrip("-").isdigit() else float(v)
    if kind == "NULL":
        return None
    return v


def item_key(item: Mapping[str, Any]) -> tuple[str, str]:
    """(VpcId, OwnerId) of a raw item, as strings ("" where missing or not a string)."""

    def text(name: str) -> str:
        value = item.get(name)
        # `type(...) is dict` first: every item read is made of dicts, and the abstract
        # `Mapping` check costs more than the rest (three keys per item, 100k items).
        if type(value) is dict or isinstance(value, Mapping):
            return str(value.get("S", ""))
        return ""

    return text("VpcId"), text("OwnerId")


def unreadable(item: Mapping[str, Any], exc: BaseException) -> UnreadableItem:
    """Describe an item that failed to decode, in one bounded line without its values."""
    vpc_id, owner = item_key(item)
    if isinstance(exc, ValidationError):
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "item"
        reason = f"{where}: {err['msg']}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return UnreadableItem(vpc_id, owner, " ".join(reason.split())[:200])
