"""No credential or external id ever reaches stdout, stderr, logs, the table or the summary."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from collector.cli import main
from collector.jobs.options import dynamodb_client
from collector.store.reader import scan_items
from collector.store.table import create_table
from tests.faults import Faults
from tests.integration.conftest import build_org

HUB_KEY = "AKIAHUBMARKER0000001"
HUB_SECRET = "hubSecretMarker/0000000000000000000000001"
HUB_TOKEN = "hubSessionTokenMarker0000000000000000001"
EXTERNAL_ID = "ext-id-marker-7731"


def test_no_secrets_anywhere(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", HUB_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", HUB_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", HUB_TOKEN)
    caplog.set_level(logging.DEBUG, logger="collector")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"organization: {{external_id: {EXTERNAL_ID}}}\n"
        "regions: [us-east-1, eu-west-1]\nscan: {max_workers: 4}\n"
    )
    secrets = {HUB_KEY, HUB_SECRET, HUB_TOKEN, EXTERNAL_ID}
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        org = build_org(session)
        org.create_vpc("workload-a", "us-east-1", "10.1.0.0/16", "a")
        for name in ("VPCTracker", "VPCTracker-ledger"):
            create_table(dynamodb_client(session, org.config()), name)

        def remember(parsed: dict[str, Any], **_: Any) -> None:
            c = parsed.get("Credentials") or {}
            secrets.update(v for k, v in c.items() if k != "Expiration")

        session.events.register("after-call.sts.AssumeRole", remember)
        faults = Faults(session, seed=5).install()
        faults.error(
            "sts",
            "AssumeRole",
            "AccessDenied",
            status=403,
            account=org.accounts["sandbox"],
            # STS messages can quote the request: the external id must be scrubbed from them.
            message=f"not authorized to perform sts:AssumeRole with ExternalId {EXTERNAL_ID}",
        )
        faults.error(
            "ec2",
            "DescribeVpcs",
            "ExpiredToken",
            times=2,
            message="The security token included in the request is expired",
        )
        codes = [
            main(["-v", "collect", "--config", str(cfg), "--format", fmt], session=session)
            for fmt in ("json", "text")
        ]
        codes.append(main(["audit", "--config", str(cfg), "--format", "json"], session=session))
        items = list(scan_items(dynamodb_client(session, org.config()), "VPCTracker"))
    out, err = capsys.readouterr()
    assert codes == [2, 2, 0]  # the denied account is a named failure
    assert len(secrets) > 4  # assumed-role credentials were captured, so the check is real
    haystacks = {"stdout": out, "stderr": err, "logs": caplog.text, "table": json.dumps(items)}
    assert "AccessDenied" in out and caplog.text  # there was output to leak into
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"{where} contains a credential or the external id"
