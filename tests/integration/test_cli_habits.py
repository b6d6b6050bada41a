"""Issue 24, CLI habits: what a new user types first, the misuse that gave tracebacks or was
silently ignored, and the answers of the function that must mean what they say."""

from __future__ import annotations

import argparse
import builtins
import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from collector.cli import main
from collector.cli.parser import build_parser
from collector.handler import handler
from tests.conftest import load_data
from tests.faults import Faults
from tests.integration.conftest import Org, cli
from tests.integration.test_handler import Context
from tests.integration.test_live import event_for, sqs_record

ROOT = Path(__file__).resolve().parents[2]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # --help, --version and argparse errors exit from inside main()
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_version_and_bare_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and out.startswith("vpctracker ") and out.strip().split()[1][0].isdigit()
    # Before: a bare `vpctracker` said nothing useful; now the usage and the commands, exit 1.
    code, out, err = run_main([], capsys)
    assert code == 1
    assert "usage: vpctracker" in out + err and "inventory" in out + err


def test_every_command_has_a_description_an_example_and_its_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = commands()
    assert {"collect", "audit", "check", "allocate", "lookup", "inventory", "changes"} <= set(names)
    for name in names:
        code, out, _ = run_main([name, "--help"], capsys)
        assert code == 0
        body = out.split("\n\n", 1)[1]
        assert body.strip() and not body.startswith("options:"), name  # a description
        assert "examples:\n  vpctracker " + name in out, name
        assert "exit codes: 0 " in out, name
    # The top level names the config file and its main keys: enough for a first run.
    code, out, _ = run_main(["--help"], capsys)
    for key in ("config.yaml", "organization.role_name", "regions", "table.name", "--config"):
        assert key in out, key


def test_verbose_after_the_command_is_accepted(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(org, capsys, "collect", "--config", str(cfg), "-v")
    assert code == 0 and "unrecognized arguments" not in err
    code, _, _ = cli(org, capsys, "audit", "--config", str(cfg), "--verbose")
    assert code == 0


def test_demo_without_moto_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = builtins.__import__

    def no_moto(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "moto" or name.startswith("moto."):
            raise ModuleNotFoundError("No module named 'moto'", name="moto")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_moto)
    code, out, err = run_main(["demo"], capsys)
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert "pip install '.[demo]'" in line and "Traceback" not in err


def test_demo_with_one_account_is_an_error_not_an_index_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_main(["demo", "--accounts", "1"], capsys)
    assert code == 1 and out == ""
    assert err.strip() == "vpctracker: error: argument --accounts: '1' must be at least 2"


def test_allocate_on_a_missing_table_names_init_table(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("regions: [us-east-1]\ntable: {name: NoSuchTable}\n")
    lines = []
    for argv in (
        ["allocate", "--pool", "10.0.0.0/8", "--prefix-length", "16"],
        ["audit"],
        ["inventory"],
    ):
        code, out, err = cli(org, capsys, argv[0], "--config", str(cfg), *argv[1:])
        assert code == 1 and out == "" and "Traceback" not in err
        (line,) = err.strip().splitlines()
        lines.append(line)
    assert "vpctracker init-table" in lines[0]
    assert len(set(lines)) == 1  # the same line from every command


def test_cidr_lookups_are_sorted_by_address(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    code, out, _ = cli(
        org, capsys, "lookup", "--config", str(cfg), "10.0.0.0/8", "--format", "json"
    )
    assert code == 0
    blocks = [m["Cidr"] for m in json.loads(out)["matches"]]
    assert len(blocks) > 5
    key = [tuple(int(x) for x in b.split("/")[0].split(".")) for b in blocks]
    assert key == sorted(key)


def test_when_every_account_refuses_the_role_the_summary_says_where_to_look(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = Faults(org.session).install()
    for name in ("management", "workload-a", "workload-b", "sandbox"):
        faults.error("sts", "AssumeRole", "AccessDenied", status=403, account=org.accounts[name])
    code, out, _ = cli(org, capsys, "collect", "--config", str(cfg))
    assert code == 2
    assert "organization.role_name" in out and "StackSet" in out
    # One account refused is that account's problem: no such hint.
    faults.enabled = False
    faults = Faults(org.session).install()
    faults.error("sts", "AssumeRole", "AccessDenied", status=403, account=org.accounts["sandbox"])
    code, out, _ = cli(org, capsys, "collect", "--config", str(cfg))
    assert code == 2 and "organization.role_name" not in out


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, org: Org) -> None:
    monkeypatch.setenv("VPCTRACKER_TABLE", "VPCTracker")
    monkeypatch.setenv("VPCTRACKER_REGIONS", "us-east-1,eu-west-1")
    monkeypatch.setenv("VPCTRACKER_EXCLUDE_ACCOUNTS", org.accounts["excluded"])


def test_an_event_in_an_unknown_region_is_refused_not_rescanned(org: Org, env: None) -> None:
    direct = handler(event_for(org, "sandbox", "ap-east-9"), Context(), session=org.session)
    assert direct["ok"] is False and "rescanned" not in direct
    assert "unknown AWS region" in direct["error"]
    queued = handler(
        {"Records": [sqs_record("m1", json.dumps(event_for(org, "sandbox", "ap-east-9")))]},
        Context(),
        session=org.session,
    )
    assert queued == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_a_check_event_answers_ok_unless_it_cannot_certify(org: Org, env: None) -> None:
    handler(load_data("events/scheduled.json"), Context(), session=org.session)
    event = {**load_data("events/direct-check.json"), "accounts": [org.accounts["workload-b"]]}
    found = handler(event, Context(), session=org.session)
    assert found["ok"] is True and found["verdict"] == "findings" and "error" not in found
    # A scan that failed with nothing found cannot certify: not ok, with an error.
    Faults(org.session).install().error(
        "sts", "AssumeRole", "AccessDenied", status=403, account=org.accounts["sandbox"]
    )
    failed = handler(
        {**event, "accounts": [org.accounts["sandbox"]]}, Context(), session=org.session
    )
    assert failed["ok"] is False and failed["verdict"] == "incomplete" and failed["error"]


def test_the_package_metadata_uses_an_spdx_license() -> None:
    """setuptools warned on every build that `project.license` as a table is deprecated."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    requires = meta["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in requires)


@pytest.mark.slow
def test_building_the_package_gives_no_license_warning(tmp_path: Path) -> None:
    # `make wheel`, as `make package` builds it: from a copy of the sources in its own BUILD
    # (setuptools writes its build/ and egg-info beside them), and not quiet, so warnings show.
    out = subprocess.run(
        ["make", "--no-print-directory", "wheel", f"BUILD={tmp_path}", "WHEEL_FLAGS="],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "project.license" not in out.stdout + out.stderr
    assert "License classifiers are deprecated" not in out.stdout + out.stderr
    assert list((tmp_path / "wheel").glob("vpctracker-*.whl"))  # it did build
