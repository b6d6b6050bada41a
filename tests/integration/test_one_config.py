"""Issue 25, observation 2: one configuration for the CLI and the function — the same
config.yaml, pushed to an SSM parameter or an S3 object the stack names, validated the same
way; every key works in both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector import function_config
from collector.config import load_config
from collector.function_config import config_from_env
from collector.handler import handler
from tests.conftest import load_data
from tests.integration.conftest import Org, cli
from tests.integration.test_handler import (  # noqa: F401 - restore_logging: autouse
    Context,
    restore_logging,
)

PARAMETER = "/vpctracker/config"


def write(tmp_path: Path, org: Org, extra: str = "") -> Path:
    """A config only a document can express: on-prem ranges, expected reuse, scope, headroom."""
    p = tmp_path / "config.yaml"
    p.write_text(
        "organization:\n"
        f"  exclude_accounts: ['{org.accounts['excluded']}']\n"
        "regions: [eu-west-1]\n"
        "table: {name: VPCTracker, region: us-east-1}\n"
        "scan: {max_workers: 4, stale_after_days: 3}\n"
        "headroom: {used_pct: 70}\n"
        "reserved_cidrs:\n"
        "  - {cidr: 192.168.0.0/16, name: corporate-network, on_prem: true}\n"
        "overlaps:\n"
        "  expected:\n"
        "    - {cidr: 100.64.0.0/10, reason: pod networking}\n" + extra
    )
    return p


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(function_config, "_documents", {})


def test_push_then_the_function_and_the_cli_read_the_same_config(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(tmp_path, org)
    code, out, _ = cli(org, capsys, "config", "check", "--config", str(cfg))
    assert code == 0 and out.startswith(f"{cfg}: valid (every account but 1; eu-west-1;")
    code, out, err = cli(
        org, capsys, "config", "push", "--config", str(cfg), "--to", f"ssm:{PARAMETER}"
    )
    assert code == 0, err
    assert out.strip() == (
        f"pushed {cfg} to ssm:{PARAMETER}: the function reads it within a minute"
    )
    stored = org.session.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    assert stored == cfg.read_text()
    # The function: the document, with the stack's own variables over it.
    env = {"VPCTRACKER_CONFIG_PARAMETER": PARAMETER, "VPCTRACKER_TABLE": "VPCTracker"}
    from_function = config_from_env(env, org.session)
    assert from_function == load_config(cfg)  # every key, on_prem and expected included
    assert from_function.reserved_cidrs[0].on_prem is True
    # The CLI reads the deployed document too.
    cli(org, capsys, "collect", "--config", str(cfg))
    code, out, _ = cli(org, capsys, "audit", "--config", f"ssm:{PARAMETER}", "--format", "json")
    assert code == 0 and json.loads(out)["vpc_count"] > 0
    # And the function's nightly run scans what the document says: eu-west-1 only.
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    night = handler(load_data("events/scheduled.json"), Context(), session=org.session)
    assert night["ok"] is True
    assert night["summary"]["targets"]["total"] == 4  # 4 accounts x 1 region


def test_stack_variables_override_and_errors_name_their_source(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm = org.session.client("ssm")
    ssm.put_parameter(Name=PARAMETER, Value=write(tmp_path, org).read_text(), Type="String")
    env = {"VPCTRACKER_CONFIG_PARAMETER": PARAMETER}
    over = config_from_env(
        {**env, "VPCTRACKER_TABLE": "Other", "VPCTRACKER_REGIONS": ""}, org.session
    )
    assert over.table.name == "Other" and over.regions == ["eu-west-1"]  # empty: not set
    # A bad document names the document, a bad variable the variable.
    ssm.put_parameter(
        Name=PARAMETER, Value="scan: {max_workers: 0}\n", Type="String", Overwrite=True
    )
    function_config._documents.clear()
    with pytest.raises(Exception, match=rf"^ssm:{PARAMETER}: scan.max_workers: Input should be"):
        config_from_env(env, org.session)
    ssm.put_parameter(Name=PARAMETER, Value="regions: [eu-west-1]\n", Type="String", Overwrite=True)
    function_config._documents.clear()
    with pytest.raises(Exception, match="^VPCTRACKER_MAX_WORKERS: Input should be"):
        config_from_env({**env, "VPCTRACKER_MAX_WORKERS": "0"}, org.session)
    with pytest.raises(Exception, match=r"cannot read the configuration: ParameterNotFound"):
        config_from_env({"VPCTRACKER_CONFIG_PARAMETER": "/nope"}, org.session)
    with pytest.raises(Exception, match="not both"):
        config_from_env({**env, "VPCTRACKER_CONFIG_URI": "s3://b-1/k"}, org.session)
    # Through the handler: no run on a config it cannot read (fail closed), one line why.
    monkeypatch.setenv("VPCTRACKER_CONFIG_PARAMETER", "/nope")
    result = handler({"accounts": [org.accounts["sandbox"]]}, Context(), session=org.session)
    assert result == {
        "ok": False,
        "error": "ssm:/nope: cannot read the configuration: ParameterNotFound",
    }


def test_the_document_is_read_once_a_minute_not_per_invocation(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org.session.client("ssm").put_parameter(
        Name=PARAMETER, Value=write(tmp_path, org).read_text(), Type="String"
    )
    reads: list[Any] = []
    org.session.events.register("before-call.ssm.GetParameter", lambda **_: reads.append(1))
    env = {"VPCTRACKER_CONFIG_PARAMETER": PARAMETER}
    for _ in range(3):
        config_from_env(env, org.session)
    assert len(reads) == 1
    monkeypatch.setattr(function_config, "DOCUMENT_TTL_S", 0.0)
    config_from_env(env, org.session)
    assert len(reads) == 2  # a pushed change applies once the minute is over


def test_an_s3_document(org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = org.session.client("s3")
    s3.create_bucket(Bucket="vpctracker-config")
    cfg = write(tmp_path, org)
    uri = "s3://vpctracker-config/prod/config.yaml"
    assert cli(org, capsys, "config", "push", "--config", str(cfg), "--to", uri)[0] == 0
    body = s3.get_object(Bucket="vpctracker-config", Key="prod/config.yaml")["Body"].read()
    assert body == cfg.read_bytes()
    assert config_from_env({"VPCTRACKER_CONFIG_URI": uri}, org.session) == load_config(cfg)


def test_push_refuses_what_must_not_be_pushed(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ssm = org.session.client("ssm")
    secret = (
        write(tmp_path, org, "")
        .read_text()
        .replace("organization:\n", "organization:\n  external_id: 'do-not-publish-me'\n")
    )
    (tmp_path / "secret.yaml").write_text(secret)
    code, out, err = cli(
        org, capsys, "config", "push", "--config", str(tmp_path / "secret.yaml"), "--to", PARAMETER
    )
    assert code == 1 and out == "" and "ExternalIdParameter" in err
    assert "do-not-publish-me" not in err
    (tmp_path / "bad.yaml").write_text("regions: [eu-wset-1]\n")
    code, _, err = cli(
        org, capsys, "config", "push", "--config", str(tmp_path / "bad.yaml"), "--to", PARAMETER
    )
    assert code == 1 and "did you mean eu-west-1" in err
    for bad in ("ssm:relative", "s3://x", "http://example.com/c.yaml"):
        code, _, err = cli(
            org, capsys, "config", "push", "--config", str(write(tmp_path, org)), "--to", bad
        )
        assert code == 1 and "not ssm:/name" in err, bad
    assert ssm.describe_parameters()["Parameters"] == []  # nothing was written
    code, _, err = cli(org, capsys, "config", "push", "--config", str(write(tmp_path, org)))
    assert code == 1 and "needs --to" in err
