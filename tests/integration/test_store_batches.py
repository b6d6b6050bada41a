"""Batch reads and deletes of many keys: every key answered or deleted, calls side by side.

Issue 26: a run's resolved-finding deletes went out as hundreds of sequential BatchWriteItem
calls and its batch reads as dozens of sequential BatchGetItem calls, each a round trip.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws

from collector.errors import FatalError
from collector.store.reader import batch_get
from collector.store.table import create_table
from collector.store.writer import delete_items

TABLE = "VPCTracker"


class Rendezvous:
    """The real client, but each batch call waits until another batch call is in flight too:
    calls made one after another never meet, and the barrier's timeout fails them."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.barrier = threading.Barrier(2, timeout=10)
        self.calls = 0
        self.lock = threading.Lock()

    def _meet(self) -> None:
        with self.lock:
            self.calls += 1
        self.barrier.wait()

    def batch_write_item(self, **kwargs: Any) -> Any:
        self._meet()
        return self.client.batch_write_item(**kwargs)

    def batch_get_item(self, **kwargs: Any) -> Any:
        self._meet()
        return self.client.batch_get_item(**kwargs)


def _keys(n: int) -> list[dict[str, Any]]:
    return [
        {"VpcId": {"S": f"finding#{i:05d}"}, "OwnerId": {"S": "111111111111"}} for i in range(n)
    ]


@pytest.fixture
def ddb() -> Any:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        for key in _keys(1000):
            client.put_item(TableName=TABLE, Item={**key, "Body": {"S": "x"}})
        yield client


def test_batch_get_answers_every_key_with_calls_side_by_side(ddb: Any) -> None:
    # 1,000 keys are 10 calls of 100; an even count, so every call finds a partner.
    client = Rendezvous(ddb)
    items = batch_get(client, TABLE, _keys(1000), attributes=("VpcId", "OwnerId", "Body"))
    assert sorted(i["VpcId"]["S"] for i in items) == [k["VpcId"]["S"] for k in _keys(1000)]
    assert client.calls == 10


def test_delete_items_deletes_every_key_with_calls_side_by_side(ddb: Any) -> None:
    # 1,000 keys are 40 calls of 25.
    client = Rendezvous(ddb)
    delete_items(client, TABLE, _keys(1000))
    assert client.calls == 40
    assert ddb.scan(TableName=TABLE, Select="COUNT")["Count"] == 0


def test_a_failing_batch_fails_the_whole_delete(ddb: Any) -> None:
    # Side by side, one batch's failure still reaches the caller (who retries the whole set,
    # deletes being idempotent), rather than being lost in a worker thread.
    class OneFails:
        def batch_write_item(self, **kwargs: Any) -> Any:
            (batch,) = kwargs["RequestItems"].values()
            if batch[0]["DeleteRequest"]["Key"]["VpcId"]["S"] == "finding#00050":
                # The third batch stays unprocessed, ten times over: a FatalError.
                return {"UnprocessedItems": kwargs["RequestItems"]}
            return ddb.batch_write_item(**kwargs)

    with pytest.raises(FatalError, match="25 deletes still unprocessed"):
        delete_items(OneFails(), TABLE, _keys(100))
    # The other batches were deleted meanwhile: only the failed one's keys are left.
    assert ddb.scan(TableName=TABLE, Select="COUNT")["Count"] == 925
