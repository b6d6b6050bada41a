"""Every input surface, table-driven: exit 1, one line naming the field and the value, no
traceback. (Config validation details are unit-tested in tests/unit/test_config.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main

GOOD = "regions: [us-east-1]\n"

CASES = [
    # (config.yaml text, argv after the command's --config, expected fragment of the one line)
    ("organization:\n  role_name: [oops\n", ["collect"], "YAML syntax error at line 3"),
    ("organisation: {}\n", ["collect"], "unknown key 'organisation'"),
    (
        "scan: {max_workers: many}\n",
        ["collect"],
        "scan.max_workers: Input should be a valid integer (got 'many')",
    ),
    (
        "scan: {max_workers: 0}\n",
        ["collect"],
        "scan.max_workers: Input should be greater than or equal to 1 (got 0)",
    ),
    (
        "scan: {max_workers: -4}\n",
        ["audit"],
        "scan.max_workers: Input should be greater than or equal to 1 (got -4)",
    ),
    (
        "scan: {max_workers: 1000000}\n",
        ["check", "--account", "123456789012"],
        "scan.max_workers: Input should be less than or equal to 256 (got 1000000)",
    ),
    (
        "organization: {include_accounts: ['1234']}\n",
        ["collect"],
        "organization.include_accounts[0]: not a 12-digit AWS account id (got '1234')",
    ),
    (
        "regions: [us-east-1, Europe]\n",
        ["collect"],
        "regions[1]: not an AWS region name (e.g. us-east-1) (got 'Europe')",
    ),
    (
        "table: {region: 'us east 1'}\n",
        ["init-table"],
        "table.region: not an AWS region name (e.g. us-east-1) (got 'us east 1')",
    ),
    (
        "reserved_cidrs: [{cidr: 10.0.0.0/33, name: x}]\n",
        ["audit"],
        "reserved_cidrs[0].cidr: not a valid CIDR block",
    ),
    ("reserved_cidrs: [{cidr: 192.168.1.1/16, name: x}]\n", ["audit"], "(got '192.168.1.1/16')"),
    (
        GOOD,
        ["collect", "--account", "12345678901"],
        "argument --account: '12345678901' not a 12-digit AWS account id",
    ),
    (
        GOOD,
        ["collect", "--region", "us_east_1"],
        "argument --region: 'us_east_1' not an AWS region name",
    ),
    (GOOD, ["collect", "--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
    (GOOD, ["audit", "--format", "pdf"], "argument --format: invalid choice: 'pdf'"),
    (GOOD, ["check"], "the following arguments are required: --account"),
    (
        GOOD,
        ["allocate", "--pool", "10.0.0.0/8"],
        "the following arguments are required: --prefix-length",
    ),
    (
        GOOD,
        ["allocate", "--pool", "10.0.0.0/8", "--prefix-length", "40"],
        "--prefix-length 40: outside pool 10.0.0.0/8 (must be 8-32)",
    ),
    (
        GOOD,
        ["allocate", "--pool", "fe80::/10", "--prefix-length", "9"],
        "--prefix-length 9: outside pool fe80::/10 (must be 10-128)",
    ),
    (
        GOOD,
        ["allocate", "--pool", "10.0.0.0/8", "--prefix-length", "16", "--owner", "123456789012"],
        "--owner only makes sense with --reserve",
    ),
    (
        GOOD,
        [
            "allocate",
            "--pool",
            "10.0.0.0/8",
            "--prefix-length",
            "16",
            "--reserve",
            "--owner",
            "abc",
        ],
        "argument --owner: 'abc' not a 12-digit AWS account id",
    ),
    (
        GOOD,
        ["allocate", "--pool", "10.0.0.0/8", "--prefix-length", "16", "--ttl-hours", "-1"],
        "argument --ttl-hours: '-1' must be between 0 and 8784 hours",
    ),
    (GOOD, ["release", "10.0.0.0/"], "argument cidr: '10.0.0.0/' not a valid CIDR block"),
]


@pytest.mark.parametrize(("config_text", "argv", "expected"), CASES)
def test_bad_input_exit_1_one_line(
    config_text: str,
    argv: list[str],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text)
    try:
        code = main([argv[0], "--config", str(cfg), *argv[1:]])
    except SystemExit as exc:  # argparse errors exit from inside main()
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert expected in lines[-1], lines
    # argparse prints its usage line first; the error itself is always a single line.
    assert len([line for line in lines if "error" in line]) == 1


def test_bad_aws_profile_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(GOOD)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    assert main(["collect", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "vpctracker: error: ProfileNotFound: The config profile (no-such-profile) "
        "could not be found\n"
    )
