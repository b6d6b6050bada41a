"""Issue 10: the gate, the allocator and a run never give a wrong answer under faults.

Each test reproduces one observation of the issue under moto (in-process); the console-script
versions of observations 1, 2 and 6 are in test_fault_proxy_e2e.py.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from tenacity import wait_none

from collector.config import Config
from collector.jobs.collect import run
from collector.jobs.options import RunOptions, dynamodb_client
from collector.store.reader import scan_items
from collector.store.vpcs import to_item
from collector.store.writer import BatchWriter
from tests.factories import make_vpc
from tests.faults import Faults
from tests.integration.conftest import FAST_RETRY, Org, check_json, cli, now

PROXY_502 = b"upstream connect error or disconnect/reset before headers"
LOGIN_PAGE = b"<!DOCTYPE html><html><body>Please sign in to the proxy</body></html>"


def put_raw(org: Org, item: dict[str, Any]) -> None:
    ddb = dynamodb_client(org.session, org.config())
    ddb.put_item(TableName="VPCTracker", Item=item)


def stored_item(org: Org, vpc_id: str) -> dict[str, Any]:
    ddb = dynamodb_client(org.session, org.config())
    (item,) = [i for i in scan_items(ddb, "VPCTracker") if i["VpcId"]["S"] == vpc_id]
    return item


# ---------------------------------------------------------------------------------------------
# 1. check certifies only what it scanned


@pytest.mark.parametrize("code", ["AuthFailure", "UnrecognizedClientException"])
def test_check_of_an_account_whose_regions_all_answer_auth_failure_is_not_clean(
    org: Org, faults: Faults, cfg: Path, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    for name in ("management", "workload-a"):
        assert cli(org, capsys, "collect", "--config", str(cfg), "--account", org.accounts[name])[
            0
        ] in (0, 2)
    new = org.accounts["workload-b"]
    rule = faults.error("ec2", "DescribeVpcs", code, status=401, account=new)
    exit_code, result = check_json(org, capsys, cfg, new)
    assert (exit_code, result["verdict"]) == (2, "incomplete")
    assert result["scan_complete"] is False
    assert [(n["region"], n["error_code"], n["last_seen"]) for n in result["not_scanned"]] == [
        ("eu-west-1", code, None),
        ("us-east-1", code, None),
    ]
    assert result["scan"]["skipped"] == []
    # The same account without the fault: its overlap and its default VPC are found.
    faults.rules.remove(rule)
    exit_code, result = check_json(org, capsys, cfg, new)
    assert (exit_code, result["verdict"], result["scan_complete"]) == (3, "findings", True)
    assert result["audit"]["summary"]["overlap_groups"] == 1
    assert result["audit"]["summary"]["default_vpcs"] == 1


def test_check_says_which_findings_rest_on_table_data(
    org: Org, faults: Faults, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acct = org.accounts["workload-b"]
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    faults.error("ec2", "DescribeVpcs", "AuthFailure", status=401, account=acct, region="us-east-1")
    code, out, _ = cli(org, capsys, "check", "--config", str(cfg), "--account", acct)
    # The clash is certain (it is in the table), so exit 3 wins over 2; the text says the
    # findings for us-east-1 rest on what an earlier run saw.
    assert code == 3
    assert "NOT SCANNED (findings there rest on earlier table data):" in out
    assert f"  {acct}  us-east-1  AuthFailure  last seen 20" in out
    code, result = check_json(org, capsys, cfg, acct)
    assert code == 3 and result["scan_complete"] is False
    (gap,) = result["not_scanned"]
    assert gap["region"] == "us-east-1" and gap["last_seen"] is not None


def test_check_with_every_region_provably_off_is_not_clean(
    org: Org, faults: Faults, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acct = org.accounts["sandbox"]
    for region in ("us-east-1", "eu-west-1"):
        faults.region_status[(acct, region)] = "not-opted-in"
    code, result = check_json(org, capsys, cfg, acct)
    assert (code, result["verdict"], result["scan_complete"]) == (2, "incomplete", False)
    assert result["not_scanned"] == [
        {"account_id": acct, "region": "*", "error_code": "NothingScanned", "last_seen": None}
    ]


# ---------------------------------------------------------------------------------------------
# 2. one unexpected exception never aborts the organization's run


def test_a_proxy_502_page_fails_its_target_only(org: Org, faults: Faults) -> None:
    acct = org.accounts["workload-a"]
    faults.raw(
        "ec2",
        "DescribeVpcs",
        502,
        PROXY_502,
        name="ResponseParserError",
        content_type="text/plain",
        account=acct,
        region="eu-west-1",
    )
    summary = org.run(at=now(1))
    assert summary.exit_code == 2
    assert [(f["account_id"], f["region"], f["error_code"]) for f in summary.failures] == [
        (acct, "eu-west-1", "ResponseParserError")
    ]
    assert summary.ok == 7 and summary.write_failures == 0
    assert {k[1] for k in org.table()} == {
        org.accounts[n] for n in ("management", "workload-a", "workload-b", "sandbox")
    }


def test_a_proxy_login_page_with_status_200_is_not_an_empty_region(
    org: Org, faults: Faults
) -> None:
    """botocore parses any markup: an HTML 200 would read as "no VPCs" and mark all deleted."""
    org.run(at=now(1))
    acct = org.accounts["workload-a"]
    faults.raw("ec2", "DescribeVpcs", 200, LOGIN_PAGE, name="MalformedResponse", account=acct)
    summary = org.run(at=now(2))
    assert summary.marked_deleted == 0
    assert {(f["region"], f["error_code"]) for f in summary.failures} == {
        ("us-east-1", "MalformedResponse"),
        ("eu-west-1", "MalformedResponse"),
    }
    assert not any(v.Deleted for v in org.table().values())


def test_an_unreadable_item_of_an_account_does_not_stop_the_run(org: Org) -> None:
    """A pydantic ValidationError while reading an account's items used to escape the run."""
    org.run(at=now(1))
    acct = org.accounts["workload-a"]
    put_raw(org, {**to_item(make_vpc(99, owner=acct)), "CidrBlock": {"S": "not-a-cidr"}})
    summary = org.run(at=now(2))
    assert summary.exit_code == 2
    assert [u.VpcId for u in summary.unreadable_items] == [f"vpc-{99:017x}"]
    assert summary.failures == [] and summary.ok == 8
    # Left exactly as it was: not marked deleted, not rewritten.
    assert stored_item(org, f"vpc-{99:017x}")["CidrBlock"] == {"S": "not-a-cidr"}


def test_a_failed_scan_segment_fails_the_whole_read_and_a_reader_may_stop_early(org: Org) -> None:
    # Whole-table reads run parallel segments; a table read missing one segment's items would
    # make ranges look free, so one segment's error is the read's error.
    org.run(at=now(1))
    ddb = dynamodb_client(org.session, org.config())

    def fail_segment_2(params: dict[str, Any], **_: Any) -> None:
        if params.get("Segment") == 2:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "Scan")

    ddb.meta.events.register("before-parameter-build.dynamodb.Scan", fail_segment_2)
    with pytest.raises(ClientError, match="InternalServerError"):
        list(scan_items(ddb, "VPCTracker", segments=4))
    ddb.meta.events.unregister("before-parameter-build.dynamodb.Scan", fail_segment_2)
    # A reader that stops after one item leaves no segment thread behind.
    before = threading.active_count()
    reader = scan_items(ddb, "VPCTracker", segments=4)
    assert next(reader)
    reader.close()
    assert threading.active_count() == before
    assert (
        len(list(scan_items(ddb, "VPCTracker", segments=4)))
        == len(list(scan_items(ddb, "VPCTracker", segments=1)))
        > 10
    )


# ---------------------------------------------------------------------------------------------
# 3. readers are tolerant, and the allocator is closed


def test_an_item_with_an_unknown_attribute_is_read_and_its_range_is_not_free(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    (sandbox_vpc,) = [v for k, v in org.table().items() if v.CidrBlock == "10.9.0.0/16"]
    # A newer version (or a person) added an attribute this version does not know.
    put_raw(org, {**to_item(sandbox_vpc), "CostCentre": {"S": "1234"}})
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    code, out, err = cli(
        org,
        capsys,
        "allocate",
        "--config",
        str(cfg),
        "--pool",
        "10.9.0.0/16",
        "--prefix-length",
        "16",
    )
    assert (code, out) == (3, "")
    assert "pool 10.9.0.0/16 has no free /16" in err
    code, out, _ = cli(org, capsys, "audit", "--config", str(cfg), "--format", "json")
    assert code == 0 and json.loads(out)["unreadable_items"] == []


def test_an_undecodable_item_makes_allocate_refuse_and_audit_say_so(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(org, capsys, "collect", "--config", str(cfg))[0] == 0
    bad = {**to_item(make_vpc(77, "10.77.0.0/16", owner=org.accounts["sandbox"]))}
    bad["CidrBlocks"] = {"S": "10.77.0.0/16"}  # a string where a list belongs
    put_raw(org, bad)
    code, out, err = cli(
        org,
        capsys,
        "allocate",
        "--config",
        str(cfg),
        "--pool",
        "10.77.0.0/16",
        "--prefix-length",
        "20",
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"vpctracker: error: table item vpc-{77:017x}/")
    assert "refusing to allocate" in err and len(err.splitlines()) == 1
    code, out, err = cli(org, capsys, "audit", "--config", str(cfg), "--format", "json")
    assert code == 2
    assert f"vpc-{77:017x}" in err
    assert json.loads(out)["summary"]["unreadable_items"] == 1
    code, result = check_json(org, capsys, cfg, org.accounts["sandbox"])
    assert (code, result["verdict"]) == (2, "incomplete")


# ---------------------------------------------------------------------------------------------
# 4. overlapping runs leave a right state


def test_a_run_that_saw_a_vpc_earlier_never_overwrites_a_later_deletion(org: Org) -> None:
    """Run A scans while the VPC exists, its writes are held up; the VPC is deleted; run B
    (seeing it gone) must not mark it deleted before A's stale write lands after it."""
    acct = org.accounts["sandbox"]
    vid = org.api_vpcs("sandbox", "eu-west-1")[0]["VpcId"]
    cfg = org.config(scan={"max_workers": 4, "lease_wait_seconds": 0})
    scanned = threading.Event()
    go_on = threading.Event()
    slow = boto3.Session(region_name="us-east-1")

    def hold_writes(**_: Any) -> None:
        scanned.set()
        go_on.wait(30)

    slow.events.register("before-call.dynamodb.BatchWriteItem", hold_writes)
    a_result: list[Any] = []
    run_a = threading.Thread(
        target=lambda: a_result.append(
            run(
                cfg,
                RunOptions(session=slow, accounts=[acct], retry=FAST_RETRY, clock=lambda: now(1)),
            )
        )
    )
    run_a.start()
    try:
        assert scanned.wait(30)
        org.ec2("sandbox", "eu-west-1").delete_vpc(VpcId=vid)
        b = org.run(cfg, at=now(2), accounts=[acct])
    finally:
        go_on.set()
        run_a.join(30)
    # B refused the account A held, rather than race it.
    assert [(f["region"], f["error_code"]) for f in b.failures] == [("*", "LeaseHeld")]
    assert "another run" in b.failures[0]["message"]
    assert b.marked_deleted == 0
    assert a_result[0].exit_code == 0
    # Once A is done, the next run marks the deletion, and it sticks.
    c = org.run(cfg, at=now(3), accounts=[acct])
    assert c.exit_code == 0 and c.marked_deleted == 1
    stored = org.table()[(vid, acct)]
    assert stored.Deleted and stored.DeletedAt == now(3)


def test_a_second_run_waits_for_the_first_one_s_lease(org: Org) -> None:
    acct = org.accounts["sandbox"]
    cfg = org.config(scan={"max_workers": 4, "lease_wait_seconds": 30})
    release = threading.Event()
    slow = boto3.Session(region_name="us-east-1")
    scanned = threading.Event()

    def hold(**_: Any) -> None:
        scanned.set()
        release.wait(30)

    slow.events.register("before-call.dynamodb.BatchWriteItem", hold)
    t = threading.Thread(
        target=run,
        args=(
            cfg,
            RunOptions(session=slow, accounts=[acct], retry=FAST_RETRY, clock=lambda: now(1)),
        ),
    )
    t.start()
    try:
        assert scanned.wait(30)
        threading.Timer(1.0, release.set).start()
        b = org.run(cfg, at=now(2), accounts=[acct])
    finally:
        release.set()
        t.join(30)
    assert b.exit_code == 0 and b.failures == []


# ---------------------------------------------------------------------------------------------
# 5. one duplicate or one bad item never fails the others of its batch


def test_a_vpc_listed_twice_by_the_api_is_written_once(org: Org, faults: Faults) -> None:
    def duplicate(account: str, region: str, vpcs: list[dict[str, Any]], roll: Any) -> list[str]:
        if vpcs:
            vpcs.append(dict(vpcs[0]))
        return []

    faults.vpc_mutator = duplicate
    summary = org.run(at=now(1))
    assert summary.exit_code == 0, summary.write_errors
    assert summary.write_failures == 0
    assert summary.vpcs_written == summary.vpcs_seen == len(org.table())


def test_one_oversized_item_fails_alone(org: Org) -> None:
    ddb = dynamodb_client(org.session, org.config())
    good = [to_item(make_vpc(i, owner="111111111111")) for i in range(1, 25)]
    huge = to_item(make_vpc(500, owner="111111111111"))
    huge["Tags"] = {"M": {f"k{i}": {"S": "x" * 1000} for i in range(420)}}  # > 400 KB
    with BatchWriter(ddb, "VPCTracker", threads=2, retry=FAST_RETRY) as w:
        w.add_all([*good[:12], huge, *good[12:]])
    assert (w.stats.written, w.stats.failed) == (24, 1)
    assert set(w.stats.errors) == {"ValidationException"}
    assert len(list(scan_items(ddb, "VPCTracker"))) == 24


# ---------------------------------------------------------------------------------------------
# 6. an interrupt stops at once, writes what finished and reports the rest


def test_an_interrupt_returns_within_two_seconds_and_marks_nothing(org: Org) -> None:
    org.run(at=now(1))
    slow = boto3.Session(region_name="us-east-1")
    calls = 0
    lock = threading.Lock()
    test_over = threading.Event()

    def slow_vpcs(**_: Any) -> None:
        nonlocal calls
        with lock:
            calls += 1
            n = calls
        if n > 2:  # the first two targets answer at once, the rest take 20 s
            test_over.wait(20)
            # Never let an abandoned call go on once the test (and moto) are gone.
            raise RuntimeError("abandoned call")

    slow.events.register("before-call.ec2.DescribeVpcs", slow_vpcs)
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    t0 = time.monotonic()
    summary = run(
        org.config(scan={"max_workers": 2}),
        RunOptions(session=slow, retry=FAST_RETRY, clock=lambda: now(2), interrupted=stop.is_set),
    )
    elapsed = time.monotonic() - t0
    assert elapsed < 1.5 + 2.0, elapsed
    assert summary.interrupted and summary.exit_code == 130
    assert summary.ok == 2
    interrupted = [f for f in summary.failures if f["error_code"] == "Interrupted"]
    assert len(interrupted) == summary.failed == 8 - 2 + 0
    assert summary.marked_deleted == 0
    assert not any(v.Deleted for v in org.table().values())
    # Every lease was given back: a run right after it is not refused.
    after = org.run(at=now(3))
    test_over.set()
    assert after.exit_code == 0, after.failures


# ---------------------------------------------------------------------------------------------
# 7. region typos


def test_a_region_typo_is_a_config_error_naming_the_closest_region(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("regions: [us-east-1, eu-wset-1]\n")
    code, out, err = cli(org, capsys, "collect", "--config", str(p))
    assert (code, out) == (1, "")
    assert err == (
        f"vpctracker: error: {p}: regions[1]: unknown AWS region; did you mean eu-west-1? "
        "(got 'eu-wset-1')\n"
    )
    with pytest.raises(ValueError, match="unknown AWS region"):
        Config.model_validate({"scan": {"home_region": "us-eest-1"}})


@pytest.mark.parametrize(
    "command", [["changes", "--since", "1d"], ["audit"], ["lookup", "10.1.0.5"]]
)
def test_a_proxy_page_for_a_table_read_ends_the_command_in_one_line(
    org: Org,
    faults: Faults,
    cfg: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    """A read answered by a proxy's HTML page (status 200) is no answer: the command says
    which table it could not read, in one line, and exits 1 (`changes` let it escape)."""
    org.run(at=now(1))
    for operation in ("Query", "Scan", "BatchGetItem"):
        faults.raw("dynamodb", operation, 200, LOGIN_PAGE, name="MalformedResponse")
    # Retried as any malformed answer is, without the waits.
    monkeypatch.setattr("collector.errors.wait_random_exponential", lambda **_: wait_none())
    code, out, err = cli(org, capsys, *command, "--config", str(cfg))
    assert code == 1 and out == ""
    assert err.startswith("vpctracker: error: cannot read table VPCTracker")
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_a_stored_time_without_a_zone_is_an_unreadable_item_not_a_crash(
    org: Org, cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `LastSeen` edited by hand without its Z read as a naive time, which comparisons with
    the clock turned into a TypeError: `audit` ended in a traceback (the stale check)."""
    org.run(at=now(1))
    acct = org.accounts["workload-a"]
    naive = {"S": "2026-11-01T00:00:00"}
    put_raw(org, {**to_item(make_vpc(99, owner=acct)), "LastSeen": naive, "FirstSeen": naive})
    summary = org.run(at=now(2))
    assert [u.VpcId for u in summary.unreadable_items] == [f"vpc-{99:017x}"]
    assert summary.failures == [] and summary.ok == 8
    assert stored_item(org, f"vpc-{99:017x}")["LastSeen"] == naive  # left as it was
    code, out, err = cli(org, capsys, "audit", "--config", str(cfg), "--format", "json")
    assert "Traceback" not in err
    assert json.loads(out)["summary"]["unreadable_items"] == 1
