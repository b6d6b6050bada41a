"""Store — the ledger's findings: known findings, the outbox of announcements, the baseline.

These live in the ledger table (config `table.ledger_name`), never in the inventory table, so a
read of the whole inventory never reads them.

- A known finding is `finding#<shard>` / `<account>#<id>`: an account's findings are one strongly
  consistent Query (its shard, `begins_with` its id), every finding is one Query per shard (16,
  side by side). It holds the finding's state and group (projected reads need nothing else), its
  body as JSON (announced as is when it resolves) and the retention TTL, rewritten while it
  stands.
- An outbox entry is `outbox` / `<recorded at>#<id>#<transition>`: written before the state it
  announces, deleted only once SNS accepted its message, so a kill or a failed publish leaves it
  for the next recording of any kind.
- The baseline is `baseline` / `findings`: when a full-organization recording first set it, and
  the end of the inventory read the latest recording compared (a later recording whose own read
  started before that reads again, so it never resolves what a newer view saw).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from collector.models import KnownFinding, iso
from collector.store.attributes import aware_time, s
from collector.store.reader import batch_get, page_items, query_index

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

PREFIX = "finding#"
SHARDS = 16
OUTBOX = "outbox"
BASELINE_KEY = {"VpcId": {"S": "baseline"}, "OwnerId": {"S": "findings"}}
# The attributes a recording reads of every known finding (never the body).
_PROJECTION: dict[str, Any] = {
    "ProjectionExpression": "OwnerId, #k, #st, #g, #c, #r, ExpiresAt",
    "ExpressionAttributeNames": {
        "#k": "Kind",
        "#st": "FState",
        "#g": "Group",
        "#c": "Cidr",
        "#r": "FRegion",
    },
}


def shard(account: str) -> str:
    """The partition an account's findings live in."""
    return f"{PREFIX}{int(hashlib.sha256(account.encode()).hexdigest()[:8], 16) % SHARDS:02d}"


def finding_key(account: str, finding_id: str) -> dict[str, Any]:
    """The ledger key of one known finding."""
    return {"VpcId": s(shard(account)), "OwnerId": s(f"{account}#{finding_id}")}


def finding_item(
    known: KnownFinding, body: Mapping[str, Any], expires_at: int, at: datetime
) -> dict[str, Any]:
    """A known finding as a ledger item."""
    return {
        **finding_key(known.account, known.id),
        "Kind": s(known.kind),
        "FState": s(known.state),
        "Group": s(known.group),
        "Cidr": s(known.cidr),
        "FRegion": s(known.region),
        "Finding": s(json.dumps(body, sort_keys=True)),
        "RecordedAt": s(iso(at)),
        "ExpiresAt": {"N": str(expires_at)},
    }


def known_from_item(item: Mapping[str, Any]) -> KnownFinding:
    """A known finding (without its body) from a (projected) ledger item."""
    account, _, fid = item["OwnerId"]["S"].partition("#")

    def text(name: str) -> str:
        return str(item[name]["S"]) if name in item else ""

    return KnownFinding(
        id=fid,
        account=account,
        region=text("FRegion"),
        kind=text("Kind"),
        state=text("FState"),
        group=text("Group"),
        cidr=text("Cidr"),
        expires_at=int(item["ExpiresAt"]["N"]) if "ExpiresAt" in item else 0,
    )


def _query(client: DynamoDBClient, table: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    pages = client.get_paginator("query").paginate(
        TableName=table, ConsistentRead=True, **_PROJECTION, **kwargs
    )
    for page in pages:
        yield from page_items(page)


def known_of(
    client: DynamoDBClient, table: str, accounts: Iterable[str]
) -> dict[str, KnownFinding]:
    """The known findings of these accounts: one Query each, side by side."""
    wanted = sorted(set(accounts))

    def one(account: str) -> list[KnownFinding]:
        return [
            known_from_item(raw)
            for raw in _query(
                client,
                table,
                KeyConditionExpression="VpcId = :p AND begins_with(OwnerId, :a)",
                ExpressionAttributeValues={":p": s(shard(account)), ":a": s(account + "#")},
            )
        ]

    return _gather(one, wanted)


def all_known(client: DynamoDBClient, table: str) -> dict[str, KnownFinding]:
    """Every known finding: one Query per shard, side by side."""

    def one(n: int) -> list[KnownFinding]:
        return [
            known_from_item(raw)
            for raw in _query(
                client,
                table,
                KeyConditionExpression="VpcId = :p",
                ExpressionAttributeValues={":p": s(f"{PREFIX}{n:02d}")},
            )
        ]

    return _gather(one, range(SHARDS))


def _gather(fn: Any, keys: Iterable[Any]) -> dict[str, KnownFinding]:
    keys = list(keys)
    out: dict[str, KnownFinding] = {}
    if not keys:
        return out
    with ThreadPoolExecutor(min(SHARDS, len(keys)), thread_name_prefix="known") as pool:
        for found in pool.map(fn, keys):
            out.update((k.id, k) for k in found)
    return out


def finding_bodies(
    client: DynamoDBClient, table: str, known: Iterable[KnownFinding]
) -> dict[str, dict[str, Any]]:
    """The stored bodies of these known findings (100 a call); one deleted meanwhile is absent."""
    keys = [finding_key(k.account, k.id) for k in known]
    out: dict[str, dict[str, Any]] = {}
    for raw in batch_get(
        client, table, keys, what="known findings", attributes=("OwnerId", "Finding")
    ):
        if "Finding" in raw:
            out[raw["OwnerId"]["S"].partition("#")[2]] = json.loads(raw["Finding"]["S"])
    return out


# ---------------------------------------------------------------------------------------------
# The outbox


@dataclass(frozen=True)
class Pending:
    """One announcement not yet accepted by SNS."""

    key: str  # the entry's sort key: `<recorded at>#<id>#<transition>`
    at: str  # when the recording that wrote it compared
    message: dict[str, Any]  # {id, transition, kind, state, group, account, region, finding}

    @property
    def finding_id(self) -> str:
        """The id of the finding it announces."""
        return str(self.message["id"])

    @property
    def transition(self) -> str:
        """new, changed, resolved (or baseline)."""
        return str(self.message["transition"])


def outbox_item(at: str, message: Mapping[str, Any], expires_at: int) -> dict[str, Any]:
    """An announcement to make: its time, finding id and transition are its key."""
    return {
        "VpcId": s(OUTBOX),
        "OwnerId": s(f"{at}#{message['id']}#{message['transition']}"),
        "Message": s(json.dumps(message, sort_keys=True)),
        "ExpiresAt": {"N": str(expires_at)},
    }


def outbox_key(entry: Pending) -> dict[str, Any]:
    """The ledger key of an outbox entry."""
    return {"VpcId": s(OUTBOX), "OwnerId": s(entry.key)}


def pending(client: DynamoDBClient, table: str) -> list[Pending]:
    """Every announcement not yet made, oldest first (one strongly consistent Query)."""
    pages = client.get_paginator("query").paginate(
        TableName=table,
        ConsistentRead=True,
        KeyConditionExpression="VpcId = :o",
        ExpressionAttributeValues={":o": s(OUTBOX)},
    )
    out = []
    for page in pages:
        for raw in page_items(page):
            key = raw["OwnerId"]["S"]
            out.append(Pending(key, key.split("#", 1)[0], json.loads(raw["Message"]["S"])))
    return out


# ---------------------------------------------------------------------------------------------
# The baseline marker


# This process as a recorder, by process id (a forked child is another recorder).
_RECORDERS: dict[int, str] = {}


def recorder_id() -> str:
    """This process's id as a recorder: the marker names the process whose clock its times
    are on (`RecordedBy`)."""
    pid = os.getpid()
    if pid not in _RECORDERS:
        _RECORDERS[pid] = uuid.uuid4().hex
    return _RECORDERS[pid]


@dataclass(frozen=True)
class Marker:
    """The ledger's baseline marker."""

    baselined: bool  # a full-organization recording has set the baseline
    read_end: datetime | None  # the end of the inventory read the latest recording compared
    expires_at: int
    # The marker holds a `ReadEnd` that cannot be read (garbled, or edited without its zone):
    # when the latest compared read ended is not known.
    read_end_unknown: bool = False
    # The recorder that wrote it (`recorder_id`), when it says (an older version's does not).
    recorded_by: str | None = None
    # The block index holds every live VPC block the table holds (`store.blocks`): set by a
    # full recording that checked it, kept by every later one of this version; an older
    # version, which writes VPCs without entries, writes the marker without it.
    indexed: bool = False

    def skew(self, clocks_apart: timedelta) -> timedelta:
        """How far this process's clock may be from the one `read_end` was taken on: none when
        this process wrote it (one clock), else `clocks_apart`."""
        return timedelta(0) if self.recorded_by == recorder_id() else clocks_apart

    def may_be_newer(self, started: datetime, skew: timedelta) -> bool:
        """Whether the latest recording may have compared a read newer than one that started at
        `started` (clocks `skew` apart, none if this process recorded it): then that read must
        not be compared after it."""
        if self.read_end_unknown:
            return True
        return self.read_end is not None and started < self.read_end + self.skew(skew)


def read_marker(client: DynamoDBClient, table: str) -> Marker:
    """The baseline marker (strongly consistent); not baselined when absent. A damaged
    `ReadEnd` is not known (`read_end_unknown`), a damaged `ExpiresAt` is 0: the marker is
    rewritten whole by the next recording, which must not fail on it."""
    item = client.get_item(TableName=table, Key=BASELINE_KEY, ConsistentRead=True).get("Item")
    if not item:
        return Marker(False, None, 0)
    end, unknown = item.get("ReadEnd"), False
    read_end: datetime | None = None
    if end is not None:
        try:
            read_end = aware_time(end["S"])
        except (KeyError, TypeError, ValueError):
            log.warning("the findings marker's ReadEnd cannot be read: the view is read again")
            unknown = True
    try:
        expires_at = int(item["ExpiresAt"]["N"]) if "ExpiresAt" in item else 0
    except (KeyError, TypeError, ValueError):
        expires_at = 0
    by = item.get("RecordedBy", {}).get("S") if isinstance(item.get("RecordedBy"), dict) else None
    return Marker(
        baselined=bool(item.get("Baselined", {}).get("BOOL", False)),
        read_end=read_end,
        expires_at=expires_at,
        read_end_unknown=unknown,
        recorded_by=by if isinstance(by, str) else None,
        indexed=item.get("IndexedBlocks") == {"BOOL": True},
    )


def marker_item(
    baselined: bool, read_end: datetime, at: datetime, expires_at: int, indexed: bool = False
) -> dict[str, Any]:
    """The baseline marker as a ledger item, written whole (an older version's write leaves
    no `RecordedBy`: its times are then taken as another clock's; nor `IndexedBlocks`)."""
    return {
        **BASELINE_KEY,
        "Baselined": {"BOOL": baselined},
        "ReadEnd": s(read_end.isoformat()),
        "RecordedAt": s(iso(at)),
        "RecordedBy": s(recorder_id()),
        "ExpiresAt": {"N": str(expires_at)},
        "IndexedBlocks": {"BOOL": indexed},
    }


# ---------------------------------------------------------------------------------------------
# The previous version's per-pair findings, in the inventory table (`finding#<id>` / `finding`,
# and the marker `finding#baseline`): read once at the upgrade, then deleted.

LEGACY_OWNER = "finding"
LEGACY_BASELINE_KEY = {"VpcId": {"S": "finding#baseline"}, "OwnerId": {"S": LEGACY_OWNER}}


def legacy_baseline(client: DynamoDBClient, table: str) -> bool:
    """The previous version recorded findings in the inventory table."""
    item = client.get_item(TableName=table, Key=LEGACY_BASELINE_KEY, ConsistentRead=True)
    return "Item" in item


def legacy_keys(client: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    """The keys of the previous version's finding items (and marker) in the inventory table."""
    return [
        {"VpcId": raw["VpcId"], "OwnerId": raw["OwnerId"]}
        for raw in query_index(client, table, LEGACY_OWNER, projection="VpcId, OwnerId")
    ]


def _due(finding_id: str, window: tuple[int, int]) -> int:
    """The point of `window` at which this finding's item is rewritten (spread by its id)."""
    earliest, latest = window
    try:
        share = int(finding_id[:8], 16) / 0x1_0000_0000
    except ValueError:
        share = 1.0
    return earliest + int((latest - earliest) * share)


def due_for_rewrite(known: KnownFinding, window: tuple[int, int]) -> bool:
    """A standing finding's item is written again once its TTL falls before a point of the
    refresh `window`, fixed per id, so DynamoDB never deletes a finding that stands (it would be
    announced again) and findings first recorded together are rewritten over many nights."""
    return known.expires_at < _due(known.id, window)
