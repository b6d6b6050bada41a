"""Config validation: every bad-input class gives one line naming the key and the value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from collector.cli import main
from collector.config import (
    AccountId,
    ConfigError,
    RegionShape,
    check_account_id,
    check_region_shape,
    load_config,
    parse_config,
)

GOOD_ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"organization": {"include_accounts": ["12345"]}},
            "organization.include_accounts[0]: not a 12-digit AWS account id (got '12345')",
        ),
        (
            {"organization": {"exclude_accounts": [123456789012]}},
            # An unquoted account id in YAML is a number: the message says to quote it.
            "organization.exclude_accounts[0]: write it in quotes, e.g. '012345678901': "
            "unquoted, YAML reads digits as a number (got 123456789012)",
        ),
        (
            {"organization": {"include_ous": ["r-abcd"]}},
            "organization.include_ous[0]: not a valid organizational unit id",
        ),
        (
            {"organization": {"role_name": "bad role/name"}},
            "organization.role_name: not a valid IAM role name (got 'bad role/name')",
        ),
        (
            {"organization": {"session_name": "x"}},
            "organization.session_name: not a valid role session name (got 'x')",
        ),
        (
            {"regions": ["us-east1"]},
            "regions[0]: not an AWS region name (e.g. us-east-1) (got 'us-east1')",
        ),
        (
            {"regions": "everywhere"},
            "regions: must be 'all' or a list of region names (got 'everywhere')",
        ),
        ({"regions": []}, "regions: List should have at least 1 item"),
        ({"table": {"nmae": "x"}}, "unknown key 'table.nmae'"),
        ({"bogus": 1}, "unknown key 'bogus'"),
        ({"table": {"region": "mars-1"}}, "table.region: not an AWS region name"),
        ({"table": {"name": "x"}}, "table.name: not a valid DynamoDB table name (got 'x')"),
        (
            {"scan": {"max_workers": 0}},
            "scan.max_workers: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"scan": {"max_workers": -3}},
            "scan.max_workers: Input should be greater than or equal to 1 (got -3)",
        ),
        (
            {"scan": {"max_workers": 100000}},
            "scan.max_workers: Input should be less than or equal to 256 (got 100000)",
        ),
        (
            {"scan": {"max_workers": "8"}},
            "scan.max_workers: Input should be a valid integer (got '8')",
        ),
        (
            {"reserved_cidrs": [{"cidr": "10.0.0.1/8", "name": "x"}]},
            "reserved_cidrs[0].cidr: not a valid CIDR block (10.0.0.1/8 has host bits set)",
        ),
        (
            {"reserved_cidrs": [{"cidr": "banana", "name": "x"}]},
            "reserved_cidrs[0].cidr: not a valid CIDR block",
        ),
        (
            {"reserved_cidrs": [{"cidr": "10.0.0.0/8"}]},
            "reserved_cidrs[0].name: required key is missing",
        ),
        (
            {"organization": {"external_id": 5}},
            # A secret's value is never repeated, not even a wrong one.
            "organization.external_id: write it in quotes, e.g. '012345678901': unquoted, "
            "YAML reads digits as a number",
        ),
        (
            {"organization": {"external_id": [5]}},
            "organization.external_id: Input should be a valid string",
        ),
    ],
)
def test_bad_config_names_key_and_value(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "config.yaml")
    msg = str(err.value)
    assert msg.startswith("config.yaml: ")
    assert expected in msg
    assert "\n" not in msg


def test_defaults_and_normalisation() -> None:
    cfg = parse_config({"reserved_cidrs": [{"cidr": "2001:DB8::/32", "name": "v6"}]})
    assert cfg.organization.role_name == "VPCTrackerReadOnly"
    assert cfg.regions == "all"
    assert cfg.scan.max_workers == 64
    assert cfg.home_region == cfg.table.region == "us-east-1"
    assert cfg.reserved_cidrs[0].cidr == "2001:db8::/32"


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("")
    assert load_config(p).table.name == "VPCTracker"


def test_example_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "config.yaml")
    assert cfg.reserved_cidrs[0].name == "corporate-network"


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("organization:\n  role_name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"YAML syntax error at line \d+, column \d+"):
        load_config(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(p)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["collect", "--account", "12"], "'12' not a 12-digit AWS account id"),
        (["collect", "--region", "useast1"], "'useast1' not an AWS region name"),
        (["collect", "--format", "xml"], "invalid choice: 'xml'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["demo", "--accounts", "0"], "'0' must be at least 1"),
    ],
)
def test_cli_usage_errors_exit_1_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_cli_bad_config_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("scan:\n  max_workers: 0\n")
    assert main(["collect", "--config", str(p)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"vpctracker: error: {p}: scan.max_workers: Input should be greater than or "
        "equal to 1 (got 0)"
    ]


# Account ids and region names of every stored VPC are checked inside pydantic-core (`Shaped`,
# Rust's regex syntax), the same rules as `check_account_id` and `check_region_shape` (Python's):
# the two must accept the same strings and refuse the others with the same message.
_SHAPES = [
    (AccountId, check_account_id, "0123456789"),
    (RegionShape, check_region_shape, "abcsuw-0123"),
]
_TRICKY = [
    "",
    "123456789012",
    "12345678901",
    "1234567890123",
    "123456789012\n",
    "\n123456789012",
    "12345678901\u0662",  # an Arabic-Indic digit: `\d` without re.ASCII takes it
    "\uff11" * 12,  # fullwidth digits
    "us-east-1",
    "us-east-1\n",
    "us-gov-west-1",
    "us-east-123",
    "us-east1",
    "US-EAST-1",
    "us-east-\u0661",
]


@pytest.mark.parametrize(("shaped", "check", "alphabet"), _SHAPES)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_shaped_field_takes_what_its_python_check_takes(
    shaped: Any, check: Callable[[str], str], alphabet: str, data: st.DataObject
) -> None:
    value = data.draw(
        st.one_of(
            st.sampled_from(_TRICKY),
            st.text(alphabet=alphabet + "\n\u0661", max_size=16),
            st.text(max_size=16),
        )
    )
    adapter = TypeAdapter(shaped)
    try:
        check(value)
        expected = None
    except ValueError as exc:
        expected = f"Value error, {exc}"
    try:
        assert adapter.validate_python(value) == value
        got = None
    except ValidationError as exc:
        (err,) = exc.errors(include_url=False)
        got = err["msg"]
    assert got == expected, value


def test_a_shaped_field_still_asks_for_a_string() -> None:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(AccountId).validate_python(123456789012)
    assert info.value.errors(include_url=False)[0]["type"] == "string_type"
