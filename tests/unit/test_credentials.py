"""Per-thread member credentials and the assumed-role cache (real botocore Stubber for STS)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.credentials import ReadOnlyCredentials
from botocore.loaders import JSONFileLoader
from botocore.stub import Stubber

from collector.credentials import (
    AssumedRoles,
    MemberCredentials,
    member_session,
    partition_of,
    role_arn,
)
from collector.errors import RetryPolicy
from tests.faults import RawBody


def test_role_arn_and_partition() -> None:
    assert role_arn("aws-cn", "111111111111", "R") == "arn:aws-cn:iam::111111111111:role/R"
    assert partition_of("arn:aws-us-gov:sts::1:assumed-role/x/y") == "aws-us-gov"
    with pytest.raises(ValueError):
        partition_of("nope")


def test_member_credentials_are_per_thread_and_never_printed() -> None:
    creds = MemberCredentials()
    out: dict[str, str] = {}

    def worker(name: str) -> None:
        with creds.use(ReadOnlyCredentials(f"AKIA{name}", "SECRET", "TOKEN")):
            threading.Event().wait(0.01)
            out[name] = creds.get_frozen_credentials().access_key

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("A", "B", "C")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {"A": "AKIAA", "B": "AKIAB", "C": "AKIAC"}
    assert "SECRET" not in repr(creds)
    with pytest.raises(RuntimeError, match="without selecting credentials"):
        creds.get_frozen_credentials()


def test_member_session_clients_sign_with_selected_credentials() -> None:
    hub = boto3.Session(region_name="us-east-1")
    session, creds = member_session(hub)
    ec2 = session.client("ec2", region_name="eu-west-1")
    signed: list[str] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        auth = request.headers["Authorization"]
        signed.append(auth.decode() if isinstance(auth, bytes) else auth)
        body = (
            b'<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            b"<requestId>r</requestId><vpcSet/></DescribeVpcsResponse>"
        )
        return AWSResponse(request.url, 200, {}, RawBody(body))

    ec2.meta.events.register_first("before-send.ec2.DescribeVpcs", capture)

    def call(key: str) -> None:
        with creds.use(ReadOnlyCredentials(key, "secret", "token")):
            assert ec2.describe_vpcs()["Vpcs"] == []

    threads = [threading.Thread(target=call, args=(f"AKIAMEMBER{n:06d}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    used = sorted(s.split("Credential=")[1].split("/")[0] for s in signed)
    assert used == [f"AKIAMEMBER{n:06d}" for n in range(4)]


def _assume_response(key: str, expires: datetime) -> dict[str, object]:
    return {
        "Credentials": {
            "AccessKeyId": key,
            "SecretAccessKey": "secret-value-123456",
            "SessionToken": "token",
            "Expiration": expires,
        }
    }


def test_assumed_roles_cache_refresh_and_external_id() -> None:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    sts = boto3.client("sts", region_name="us-east-1")
    roles = AssumedRoles(
        sts,
        partition="aws",
        role_name="VPCTrackerReadOnly",
        session_name="vpctracker",
        external_id="ext-123",
        clock=lambda: now[0],
        retry=RetryPolicy(attempts=1),
    )
    expected = {
        "RoleArn": "arn:aws:iam::111111111111:role/VPCTrackerReadOnly",
        "RoleSessionName": "vpctracker",
        "ExternalId": "ext-123",
    }
    with Stubber(sts) as stub:
        stub.add_response(
            "assume_role",
            _assume_response("AKIA000000000001", now[0] + timedelta(hours=1)),
            expected,
        )
        stub.add_response(
            "assume_role",
            _assume_response("AKIA000000000002", now[0] + timedelta(hours=2)),
            expected,
        )
        stub.add_response(
            "assume_role",
            _assume_response("AKIA000000000003", now[0] + timedelta(hours=3)),
            expected,
        )
        assert roles.get("111111111111").access_key == "AKIA000000000001"
        assert roles.get("111111111111").access_key == "AKIA000000000001"  # cached
        now[0] += timedelta(minutes=51)  # within the refresh margin of expiry
        assert roles.get("111111111111").access_key == "AKIA000000000002"
        roles.invalidate("111111111111")  # e.g. after ExpiredToken
        assert roles.get("111111111111").access_key == "AKIA000000000003"
        stub.assert_no_pending_responses()


def test_assume_role_retries_throttling_then_succeeds() -> None:
    sts = boto3.client("sts", region_name="us-east-1")
    roles = AssumedRoles(
        sts,
        partition="aws",
        role_name="R1",
        session_name="vpctracker",
        retry=RetryPolicy(attempts=3, multiplier=0.001, max_wait=0.01),
    )
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "Throttling", "Rate exceeded", 400)
        stub.add_response(
            "assume_role",
            _assume_response("AKIA0000000000OK", datetime.now(UTC) + timedelta(hours=1)),
        )
        assert roles.get("111111111111").access_key == "AKIA0000000000OK"
        stub.assert_no_pending_responses()


def model_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every JSON file botocore reads (service models, endpoints) from now on."""
    loaded: list[str] = []
    original = JSONFileLoader.load_file

    def load_file(self: JSONFileLoader, file_path: str) -> Any:
        loaded.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(JSONFileLoader, "load_file", load_file)
    return loaded


def test_each_run_s_member_session_reuses_the_parsed_service_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every run makes a member session (a live update: every invocation). Each read and parsed
    # EC2's service model again, about a fifth of a second of CPU before the first call.
    member_session(boto3.Session(region_name="us-east-1"))[0].client("ec2", region_name="us-east-1")
    loaded = model_loads(monkeypatch)
    for _ in range(2):
        session, _creds = member_session(boto3.Session(region_name="us-east-1"))
        session.client("ec2", region_name="eu-west-1")
    assert not [p for p in loaded if "/ec2/" in p or p.endswith("endpoints")]
