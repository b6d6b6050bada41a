"""audit, check, allocate and release through the CLI entry point, under moto."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import threading
from pathlib import Path

import pytest

from collector.cli import main
from collector.jobs.allocate import allocate
from collector.jobs.options import dynamodb_client
from collector.models import utc_now
from collector.store.registry import list_reservations
from tests.faults import Faults
from tests.integration.conftest import Org, check_json, cli, now


def test_every_json_command_writes_one_line_unless_asked_to_indent(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 26: "compact JSON unless asked to indent", for every command's `--format json`
    # (collect, check, lookup and changes wrote theirs indented by two, whatever was asked).
    account = org.accounts["sandbox"]
    commands = {
        "collect": ["collect"],
        "check": ["check", "--account", account],
        "lookup": ["lookup", "10.1.0.5"],
        "changes": ["changes", "--since", "1h"],
    }
    for name, argv in commands.items():
        base = [*argv, "--config", str(cfg), "--format", "json"]
        _, compact, err = cli(org, capsys, *base)
        assert compact.count("\n") == 1, (name, err)
        data = json.loads(compact)
        assert compact == json.dumps(data, separators=(",", ":")) + "\n", name
        _, pretty, err = cli(org, capsys, *base, "--indent", "2")
        assert pretty == json.dumps(json.loads(pretty), indent=2) + "\n", (name, err)
        assert pretty.count("\n") > 1, name


def reserve_20(
    org: Org, capsys: pytest.CaptureFixture[str], cfg: Path, pool: str, owner: str
) -> tuple[int, str, str]:
    """`vpctracker allocate --pool POOL --prefix-length 20 --reserve --owner OWNER`."""
    return cli(
        org,
        capsys,
        "allocate",
        "--config",
        str(cfg),
        "--pool",
        pool,
        "--prefix-length",
        "20",
        "--reserve",
        "--owner",
        owner,
    )


# ----- audit -----------------------------------------------------------------------------


def test_audit_json_from_table(org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org.create_vpc("sandbox", "us-east-1", "192.168.4.0/22", "lab")
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    code, out, _ = cli(org, capsys, "audit", "--config", str(cfg), "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["vpc_count"] == 14 and d["account_count"] == 4
    spans = [g["span"] for g in d["overlap_groups"]]
    assert spans == ["10.1.0.0/16", "192.168.0.0/16"]
    clash = {m["AccountName"] for m in d["overlap_groups"][0]["members"]}
    assert clash == {"workload-a", "workload-b"}
    assert d["overlap_groups"][1]["members"][0] == {
        "Reserved": "corporate-network",
        "Cidr": "192.168.0.0/16",
    }
    # Issue 26: one compact line unless asked to indent (`indent` takes the slow encoder).
    assert out.count("\n") == 1 and json.loads(out) == d
    code, pretty, _ = cli(
        org, capsys, "audit", "--config", str(cfg), "--format", "json", "--indent", "2"
    )
    # Another run of the audit: its `generated_at` may be a second later.
    again = {**json.loads(pretty), "generated_at": d["generated_at"]}
    assert code == 0 and again == d
    assert pretty == json.dumps(json.loads(pretty), indent=2) + "\n"
    code, rows, _ = cli(org, capsys, "inventory", "--config", str(cfg), "--format", "json")
    assert code == 0 and rows.count("\n") == 1 and len(json.loads(rows)["vpcs"]) == 14
    with pytest.raises(SystemExit) as exited:  # argparse's way out: one line, exit 1
        cli(org, capsys, "audit", "--config", str(cfg), "--format", "json", "--indent", "-1")
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "--indent" in err and "0 to 8" in err
    assert len(err.splitlines()) == 1
    assert [(x["AccountName"], x["Region"]) for x in d["default_vpcs"]] == [
        ("workload-b", "us-east-1")
    ]
    assert d["summary"] == {
        "overlap_groups": 2,
        "vpcs_in_overlaps": 3,
        "default_vpcs": 1,
        "unreadable_items": 0,
        "conflicts": 0,
        "headroom": 0,
        "exhausted_subnets": 0,
        "single_az": 0,
        "expected_overlaps": 0,
        "reservation_overlaps": 0,
        "stale": 0,
    }


def test_audit_csv_to_file_account_filter_and_include_default(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    org.create_vpc("sandbox", "us-east-1", "172.31.0.0/16", "copied-the-default")
    cli(org, capsys, "collect", "--config", str(cfg))
    out_file = tmp_path / "audit.csv"
    code, out, err = cli(
        org,
        capsys,
        "audit",
        "--config",
        str(cfg),
        "--format",
        "csv",
        "--output",
        str(out_file),
        "--account",
        org.accounts["sandbox"],
        "--include-default",
    )
    assert code == 0 and out == "" and f"wrote {out_file}" in err
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    # With defaults included, sandbox's 172.31.0.0/16 clashes with workload-b's default VPC;
    # the 10.1.0.0/16 clash does not involve sandbox and is filtered out.
    assert sorted((r["finding"], r["span"], r["AccountName"]) for r in rows) == [
        ("overlap", "172.31.0.0/16", "sandbox"),
        ("overlap", "172.31.0.0/16", "workload-b"),
    ]


def test_audit_live_writes_nothing(org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(org, capsys, "audit", "--config", str(cfg), "--live", "--format", "json")
    assert code == 0
    assert json.loads(out)["summary"]["overlap_groups"] == 1
    assert org.table() == {}


def test_audit_missing_table(org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("table: {name: NoSuchTable}\n")
    code, out, err = cli(org, capsys, "audit", "--config", str(p))
    assert code == 1 and out == ""
    assert err.strip() == (
        "vpctracker: error: table NoSuchTable not found: create it with "
        "`vpctracker init-table`, then fill it with `vpctracker collect`"
    )


# ----- check -----------------------------------------------------------------------------


def test_check_exit_codes(
    org: Org, cfg: Path, faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(org, capsys, "collect", "--config", str(cfg))
    # Clean: sandbox has unique ranges and no default VPC.
    code, out, _ = cli(
        org, capsys, "check", "--config", str(cfg), "--account", org.accounts["sandbox"]
    )
    assert code == 0, out
    assert out.strip().endswith(f"CLEAN: no finding involves {org.accounts['sandbox']}")
    # Findings: workload-b clashes with workload-a and kept its default VPC.
    code, d = check_json(org, capsys, cfg, org.accounts["workload-b"])
    assert code == 3 and d["verdict"] == "findings" and d["exit_code"] == 3
    assert d["audit"]["summary"] == {
        "overlap_groups": 1,
        "vpcs_in_overlaps": 2,
        "default_vpcs": 1,
        "unreadable_items": 0,
        "conflicts": 0,
        "headroom": 0,
        "exhausted_subnets": 0,
        "single_az": 0,
        "expected_overlaps": 0,
        "reservation_overlaps": 0,
        "stale": 0,
    }
    # Incomplete: the role cannot be assumed, nothing to certify.
    faults.error("sts", "AssumeRole", "AccessDenied", status=403, account=org.accounts["sandbox"])
    code, d = check_json(org, capsys, cfg, org.accounts["sandbox"])
    assert code == 2 and d["verdict"] == "incomplete"
    assert d["scan"]["failures"][0]["error_code"] == "AccessDenied"
    # Bad input.
    code, _, err = cli(org, capsys, "check", "--config", str(cfg), "--account", "999999999999")
    assert code == 1
    assert "--account 999999999999: not an account of this organization" in err


def test_check_sees_a_new_account_vpc_clash(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(org, capsys, "collect", "--config", str(cfg))
    org.create_vpc("sandbox", "eu-west-1", "10.3.128.0/17", "new-but-clashing")
    code, d = check_json(org, capsys, cfg, org.accounts["sandbox"])
    assert code == 3
    (group,) = d["audit"]["overlap_groups"]
    assert group["span"] == "10.3.0.0/16"
    assert {m["AccountName"] for m in group["members"]} == {"workload-a", "sandbox"}


# ----- allocate / release ----------------------------------------------------------------


def test_allocate_reserve_release(org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(org, capsys, "collect", "--config", str(cfg))
    base = ("allocate", "--config", str(cfg), "--pool", "10.0.0.0/14", "--prefix-length", "16")
    # 10.0/16 (management), 10.1/16 (a, b), 10.2.x/20s (a), 10.3/16 (a) are all taken.
    code, out, err = cli(org, capsys, *base)
    assert (code, out, err) == (3, "", "vpctracker: pool 10.0.0.0/14 has no free /16\n")
    wide = ("allocate", "--config", str(cfg), "--pool", "10.0.0.0/8", "--prefix-length", "16")
    code, out, _ = cli(org, capsys, *wide)
    assert (code, out) == (0, "10.4.0.0/16\n")
    owner = org.accounts["sandbox"]
    code, out, _ = cli(
        org, capsys, *wide, "--reserve", "--owner", owner, "--note", "ticket-42", "--format", "json"
    )
    d = json.loads(out)
    assert code == 0
    assert d["cidr"] == "10.4.0.0/16" and d["reserved"] and d["owner"] == owner
    assert d["note"] == "ticket-42"
    # The reservation is honoured by the next allocation...
    assert cli(org, capsys, *wide)[1] == "10.5.0.0/16\n"
    # ...and ignored by every VPC reader.
    code, out, _ = cli(org, capsys, "audit", "--config", str(cfg), "--format", "json")
    assert json.loads(out)["vpc_count"] == 13
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    # release by hand
    assert cli(org, capsys, "release", "--config", str(cfg), "10.4.0.0/16")[:2] == (
        0,
        "released 10.4.0.0/16\n",
    )
    code, _, err = cli(org, capsys, "release", "--config", str(cfg), "10.4.0.0/16")
    assert code == 1 and "no reservation for 10.4.0.0/16" in err
    assert cli(org, capsys, *wide)[1] == "10.4.0.0/16\n"


def test_reservation_released_when_the_vpc_appears(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = org.accounts["sandbox"]
    code, out, _ = reserve_20(org, capsys, cfg, "10.200.0.0/16", owner)
    assert (code, out) == (0, "10.200.0.0/20\n")
    org.create_vpc("sandbox", "us-east-1", "10.200.0.0/20")
    code, out, _ = cli(org, capsys, "collect", "--config", str(cfg), "--format", "json")
    assert json.loads(out)["reservations_released"] == ["10.200.0.0/20"]
    ddb = dynamodb_client(org.session, org.config())
    assert list_reservations(ddb, "VPCTracker").reservations == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--pool", "10.0.0.0/33", "--prefix-length", "16"], "'10.0.0.0/33' not a valid CIDR"),
        (["--pool", "10.0.0.1/8", "--prefix-length", "16"], "has host bits set"),
        (
            ["--pool", "10.0.0.0/8", "--prefix-length", "7"],
            "--prefix-length 7: outside pool 10.0.0.0/8 (must be 8-32)",
        ),
        (["--pool", "10.0.0.0/8", "--prefix-length", "x"], "'x' is not a whole number"),
        (
            ["--pool", "10.0.0.0/8", "--prefix-length", "16", "--reserve", "--owner", "123"],
            "'123' not a 12-digit AWS account id",
        ),
        (
            ["--pool", "10.0.0.0/8", "--prefix-length", "16", "--reserve"],
            "--reserve needs --owner ACCOUNT_ID",
        ),
        (
            ["--pool", "192.168.8.0/24", "--prefix-length", "26"],
            "--pool 192.168.8.0/24: lies entirely within reserved range 192.168.0.0/16 "
            "(corporate-network)",
        ),
    ],
)
def test_allocate_bad_input(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    try:
        code = main(["allocate", "--config", str(cfg), *argv], session=org.session)
    except SystemExit as exc:  # argparse-level errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 1
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# ----- concurrency -------------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_reservations_never_share_a_block(org: Org) -> None:
    # tests/conftest.py makes moto apply each request atomically, as DynamoDB does.
    ddb = dynamodb_client(org.session, org.config())
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                a = allocate(
                    ddb,
                    "VPCTracker",
                    pool=ipaddress.ip_network("10.100.0.0/16"),
                    prefix_length=20 if n % 2 else 22,
                    reserved=[],
                    now=utc_now,
                    reserve_for=org.accounts["sandbox"],
                    note=f"worker-{n}",
                    sleep=lambda s: None,
                )
                results.append(a.cidr)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 24
    nets = [ipaddress.ip_network(c) for c in results]
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    stored = list_reservations(ddb, "VPCTracker").reservations
    assert sorted(r.cidr for r in stored) == sorted(results)


def test_now_helper_is_utc() -> None:
    assert now(1).tzinfo is not None


def test_reservation_release_failure_is_reported(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = org.accounts["sandbox"]
    reserve_20(org, capsys, cfg, "10.201.0.0/16", owner)
    org.create_vpc("sandbox", "us-east-1", "10.201.0.0/20")
    Faults(org.session).install().error("dynamodb", "DeleteItem", "AccessDeniedException")
    code, out, _ = cli(org, capsys, "collect", "--config", str(cfg), "--format", "json")
    d = json.loads(out)
    assert code == 2 and d["exit_code"] == 2
    assert d["write_errors"] == {"AccessDeniedException": 1}
    assert d["reservations_released"] == []
    assert d["vpcs_written"] == d["vpcs_seen"]  # the collection itself landed


def test_check_records_the_findings_it_sees_as_known(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15: every run that writes records its findings (check too), so the next nightly
    or event run does not announce them as new. (Issue 22: a check is a partial recording, so
    it never sets the baseline: only a full-organization recording does.)"""
    acct = org.accounts["workload-b"]
    code, first = check_json(org, capsys, cfg, acct)
    assert code == 3
    assert first["scan"]["findings"]["first_baseline"] is False
    # Only workload-b is in the table yet: its default VPC is its one finding.
    assert first["scan"]["findings"]["new"] == first["scan"]["findings"]["known"] == 1
    code, again = check_json(org, capsys, cfg, acct)
    assert again["scan"]["findings"] == {
        **again["scan"]["findings"],
        "new": 0,
        "resolved": 0,
        "first_baseline": False,
    }
