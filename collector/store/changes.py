"""Store — changes: one item per change a write saw (`change#<time>#<VpcId>#<n>`), under OwnerId
`change` in the owner index with the time as its sort key, so `vpctracker changes --since` is
one Query. Each carries the retention TTL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.store.attributes import s

PREFIX = "change#"
OWNER = "change"


def change_item(change: dict[str, Any], n: int, expires_at: int) -> dict[str, Any]:
    """Serialize one change (`time`, `change`, `VpcId`, `OwnerId`, ... as in its JSON shape)."""
    item: dict[str, Any] = {
        "VpcId": s(f"{PREFIX}{change['time']}#{change['VpcId']}#{n}"),
        "OwnerId": s(OWNER),
        "Region": s(change["time"]),
        "ExpiresAt": {"N": str(expires_at)},
    }
    for key in ("change", "VpcId", "AccountName", "Cidr", "detail"):
        if change.get(key) is not None:
            item[f"C{key}"] = s(str(change[key]))
    item["COwnerId"] = s(change["OwnerId"])
    item["CRegion"] = s(change["Region"])
    return item


def change_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Deserialize a change item into its JSON shape."""

    def get(key: str) -> str | None:
        return str(item[key]["S"]) if key in item else None

    return {
        "time": get("Region"),
        "change": get("Cchange"),
        "VpcId": get("CVpcId"),
        "OwnerId": get("COwnerId"),
        "AccountName": get("CAccountName") or "",
        "Region": get("CRegion"),
        "Cidr": get("CCidr"),
        "detail": get("Cdetail"),
    }
