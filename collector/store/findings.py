"""Store — known findings: one item per finding a write run saw (`finding#<id>`), plus a
baseline marker, so a new finding is one not known yet and "none known" differs from "never
recorded". Each carries the retention TTL and is rewritten while its finding stands."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collector.store.attributes import s
from collector.store.reader import batch_get, query_index

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PREFIX = "finding#"
OWNER = "finding"
BASELINE_KEY = {"VpcId": {"S": "finding#baseline"}, "OwnerId": {"S": OWNER}}


def finding_key(finding_id: str) -> dict[str, Any]:
    """The table key of a known finding."""
    return {"VpcId": s(PREFIX + finding_id), "OwnerId": s(OWNER)}


def finding_item(finding_id: str, finding: dict[str, Any], expires_at: int) -> dict[str, Any]:
    """A known finding: its id, the finding as JSON (announced as is when it resolves) and the
    accounts it involves on their own (`FindingAccounts`), so a night reads ids and accounts
    without the bodies."""
    return {
        **finding_key(finding_id),
        "Region": s("known"),  # in the owner index, so known findings are one Query
        "Finding": s(json.dumps(finding, sort_keys=True)),
        "FindingAccounts": {"L": [s(a) for a in finding.get("accounts", [])]},
        "ExpiresAt": {"N": str(expires_at)},
    }


def finding_from_item(item: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(finding id, finding) of a known-finding item."""
    return item["VpcId"]["S"].removeprefix(PREFIX), json.loads(item["Finding"]["S"])


def baseline_item(at: str, expires_at: int) -> dict[str, Any]:
    """The marker that findings have been recorded at least once."""
    return {**BASELINE_KEY, "RecordedAt": s(at), "ExpiresAt": {"N": str(expires_at)}}


@dataclass
class KnownFindings:
    """What recording needs of the known findings: their ids, not their bodies."""

    baseline: bool  # findings were recorded at least once
    baseline_due: bool  # the marker is missing or due for rewriting (the middle of `refresh`)
    ids: set[str] = field(default_factory=set)
    # Known ids whose item must be written again: its TTL falls before the refresh horizon (so
    # DynamoDB never deletes a finding that still stands), or the previous version wrote it.
    rewrite: set[str] = field(default_factory=set)
    # Bodies already fetched (items of the previous version), by id.
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)


def known_findings(
    client: DynamoDBClient,
    table: str,
    *,
    accounts: Iterable[str] | None = None,
    refresh: tuple[int, int] = (0, 0),
) -> KnownFindings:
    """The known findings (with `accounts`, those involving one of them): a consistent read of
    the baseline marker, then one Query of ids, accounts and TTLs (no bodies).

    `refresh` = (earliest, latest) epoch seconds: an item whose TTL falls before a point of
    that window, fixed per id, is due for rewriting; findings first recorded on one night are
    so rewritten over many nights, not all on one."""
    wanted = None if accounts is None else frozenset(accounts)
    marker = client.get_item(TableName=table, Key=BASELINE_KEY, ConsistentRead=True).get("Item")
    expires = int(marker["ExpiresAt"]["N"]) if marker and "ExpiresAt" in marker else 0
    known = KnownFindings(
        baseline=marker is not None, baseline_due=expires < (refresh[0] + refresh[1]) // 2
    )
    legacy: list[str] = []
    for raw in query_index(client, table, OWNER, projection="VpcId, ExpiresAt, FindingAccounts"):
        fid = raw["VpcId"]["S"].removeprefix(PREFIX)
        if "FindingAccounts" not in raw:
            legacy.append(fid)
            continue
        if wanted is not None and wanted.isdisjoint(a["S"] for a in raw["FindingAccounts"]["L"]):
            continue
        known.ids.add(fid)
        if "ExpiresAt" not in raw or int(raw["ExpiresAt"]["N"]) < _due(fid, refresh):
            known.rewrite.add(fid)
    for fid, body in finding_bodies(client, table, legacy).items():
        if wanted is None or not wanted.isdisjoint(body.get("accounts", [])):
            known.ids.add(fid)
            known.rewrite.add(fid)
            known.bodies[fid] = body
    return known


def _due(finding_id: str, window: tuple[int, int]) -> int:
    """The point of `window` at which this finding's item is rewritten (spread by its id)."""
    earliest, latest = window
    try:
        share = int(finding_id[:8], 16) / 0x1_0000_0000
    except ValueError:
        share = 1.0
    return earliest + int((latest - earliest) * share)


def finding_bodies(
    client: DynamoDBClient, table: str, finding_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The stored bodies of these known findings (100 a call); one deleted meanwhile is absent."""
    keys = [finding_key(fid) for fid in finding_ids]
    items = batch_get(client, table, keys, "VpcId, Finding", what="known findings")
    return dict(finding_from_item(raw) for raw in items if "Finding" in raw)
