"""Store — changes: one item per change a write saw (`change#<time>#<VpcId>#<n>`), in the ledger
table under OwnerId `change` in the owner index with the time as its sort key, so `vpctracker
changes --since` is one Query. Each carries the retention TTL. (The previous version kept them
in the inventory table: read there too until the upgrade moves them.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from collector.store.attributes import s
from collector.store.reader import query_index

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

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


def legacy_changes(client: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    """The previous version's change items, whole, from the inventory table."""
    return list(query_index(client, table, OWNER))
