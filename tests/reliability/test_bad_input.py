"""Every input surface, table-driven: exit 1, one line naming the field and the value, no
traceback. (Config validation details are unit-tested in tests/unit/test_config.py.)"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from collector.cli import main

GOOD = "regions: [us-east-1]\n"
# Nine lines of nested aliases: 10^9 strings if anything walks it (issue 11, observation 5).
ALIAS_BOMB = "".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)
# 60,000 good account ids and one bad one: under the 1 MiB size cap, far over any message.
HUGE_LIST = (
    "organization:\n  include_accounts: ["
    + ", ".join(f"'{100000000000 + i}'" for i in range(60_000))
    + ", 'not-an-id']\n"
)
SECRET = "SECRET value with spaces"

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
        "argument --ttl-hours: '-1' must be more than 0 and at most 8784 hours",
    ),
    # Issue 24: the message of --ttl-hours 0 agrees with the range it states.
    (
        GOOD,
        ["allocate", "--pool", "10.0.0.0/8", "--prefix-length", "16", "--ttl-hours", "0"],
        "argument --ttl-hours: '0' must be more than 0 and at most 8784 hours",
    ),
    # Issue 24: tracebacks and silently ignored flags.
    (GOOD, ["changes", "--since", "999999d"], "argument --since: '999999d' reaches back before"),
    (
        GOOD,
        ["lookup", "10.1.1.7/16"],
        "'10.1.1.7/16' has host bits set: the block is 10.1.0.0/16, the address 10.1.1.7",
    ),
    (
        GOOD,
        ["lookup", "10.1.1.7", "--account", "123456789012"],
        "--account only makes sense with --live",
    ),
    (
        "organization: {include_accounts: [123456789012]}\n",
        ["collect"],
        "organization.include_accounts[0]: write it in quotes, e.g. '012345678901'",
    ),
    (
        # An account id with a leading 0 and only octal digits is an octal number in YAML.
        "organization: {exclude_accounts: [012345670123]}\n",
        ["audit"],
        "organization.exclude_accounts[0]: write it in quotes",
    ),
    (GOOD, ["release", "10.0.0.0/"], "argument cidr: '10.0.0.0/' not a valid CIDR block"),
    # Issue 10: a region typo has the right shape but is no region.
    (
        "regions: [eu-wset-1]\n",
        ["collect"],
        "regions[0]: unknown AWS region; did you mean eu-west-1? (got 'eu-wset-1')",
    ),
    (GOOD, ["collect", "--region", "us-eats-1"], "'us-eats-1' unknown AWS region; did you mean"),
    # Issue 11: hostile or huge input gives a short, inert, secret-free line.
    (ALIAS_BOMB, ["collect"], "YAML aliases (*name) are not allowed in a config"),
    (
        HUGE_LIST,
        ["audit"],
        "organization.include_accounts[60000]: not a 12-digit AWS account id (got 'not-an-id')",
    ),
    (
        "organization: {include_accounts: 12}\n" + "# padding\n" * 10,
        ["collect"],
        "organization.include_accounts: Input should be a valid list (got 12)",
    ),
    (
        f"organization: {{external_id: '{SECRET}'}}\n",
        ["collect"],
        "organization.external_id: not a valid external id (2-1224 characters",
    ),
    (
        'organization: {role_name: "x\\e[2J\\nOVERLAP GROUPS: none"}\n',
        ["collect"],
        "organization.role_name: not a valid IAM role name (got 'x\\x1b[2J\\nOVERLAP GROUPS",
    ),
    ("a: " + "x" * 2_000_000 + "\n", ["collect"], "larger than 1024 KiB; not a config file"),
    # Issue 23, observation 5: hostile YAML ended in tracebacks, or was read wrong silently.
    ("a: " + "[" * 5_000 + "]" * 5_000 + "\n", ["collect"], "nested deeper than 32 levels"),
    (
        "table: {deleted_retention_days: " + "9" * 5_000 + "}\n",
        ["collect"],
        "an integer of 5000 digits is not a config value",
    ),
    ("table: {name: A1}\ntable: {name: B2}\n", ["collect"], "key 'table' given twice"),
    (
        'organization: {include_accounts: ["123456789012\\n"]}\n',  # a YAML escape: a newline
        ["collect"],
        "organization.include_accounts[0]: not a 12-digit AWS account id (got '123456789012\\n')",
    ),
    (
        "organization: {role_name: 'rôle'}\n",
        ["collect"],
        "organization.role_name: not a valid IAM role name (got 'rôle')",
    ),
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
    # argparse prints its usage line first; the error itself is always a single line, short,
    # and never repeats a secret.
    assert len([line for line in lines if "error" in line]) == 1
    assert len(lines[-1]) <= 330
    assert SECRET not in err
    assert "\x1b" not in err


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


def test_an_alias_bomb_fails_fast_and_small(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11, observation 5: it used 1.5 GB and 30+ s building the error text."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(ALIAS_BOMB.replace("i: &i", "organization: &i"))
    tracemalloc.start()
    t0 = time.process_time()
    try:
        code = main(["collect", "--config", str(cfg)])
        cpu = time.process_time() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 1
    assert "YAML aliases" in capsys.readouterr().err
    assert cpu < 2.0 and peak < 100 * 2**20, (cpu, peak)
