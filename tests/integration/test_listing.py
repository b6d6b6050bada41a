"""The organization's accounts are listed page by page, and scanning starts with the first page
(issue 26): a 1,000-account organization is 50 pages of `ListAccounts` (≈ 5 s) that nothing
used to overlap. A listing that fails part-way scans what it listed and concludes nothing
from the rest: no account marked departed, no findings recorded, exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collector.errors import FatalError
from tests.integration.conftest import Org, cli, now

EXTRA = 40  # with the six of `populate`: pages of 20, 20 and 6


def config(org: Org) -> Any:
    # One process, and a small `accounts_per_process`: the run knows how many processes it
    # wants after the first page, so it does not read the others before it starts.
    return org.config(
        regions=["us-east-1"],
        scan={"max_workers": 2, "processes": 1, "accounts_per_process": 5},
    )


def grow(org: Org) -> str:
    """Forty more accounts; a VPC in the last one created (on the last page). Its id."""
    last = org.add_accounts(EXTRA)
    return org.create_vpc(last, "us-east-1", "10.99.0.0/16", "on-the-last-page")


def test_scanning_starts_with_the_first_page_of_accounts(org: Org) -> None:
    grow(org)
    calls: list[str] = []
    events = org.session.events
    events.register("before-call.organizations.ListAccounts", lambda **_: calls.append("list"))
    events.register("before-call.dynamodb.Query", lambda **_: calls.append("read"))
    summary = org.run(config(org), at=now(1))
    assert summary.exit_code == 0, summary.failures
    assert calls.count("list") == 3  # 20 accounts a page: the most ListAccounts returns
    # Accounts' stored items are read (their scans prepared) before the last page is asked.
    first, last = calls.index("list"), len(calls) - 1 - calls[::-1].index("list")
    assert "read" in calls[first:last]
    # Every ACTIVE account but the excluded one, the last page's too.
    assert summary.accounts == 4 + EXTRA
    assert {v.Name for v in org.table().values()} >= {"on-the-last-page", "a-main"}


def test_a_listing_that_fails_part_way_marks_nothing_departed(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    late = grow(org)
    assert org.run(config(org), at=now(1)).exit_code == 0
    org.fail_listing_after_first_page()
    with pytest.raises(FatalError) as failed:
        org.run(config(org), at=now(2))
    message = str(failed.value)
    assert message.startswith("cannot list organization accounts: ServiceException")
    assert "after 20 accounts" in message and "nothing marked deleted" in message
    table = org.table()
    # The first page's accounts were scanned that day; the rest were not concluded about.
    assert table[org.api_vpcs("workload-a", "us-east-1")[0]["VpcId"], org.accounts["workload-a"]]
    seen = {v.VpcId: v for v in table.values()}
    assert seen[late].LastSeen == now(1) and not seen[late].Deleted
    firsts = [v for v in table.values() if v.OwnerId == org.accounts["workload-a"]]
    assert firsts and all(v.LastSeen == now(2) for v in firsts)
    # Through the CLI: one line, exit 1.
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "regions: [us-east-1]\n"
        "table: {name: VPCTracker, region: us-east-1}\n"
        "scan: {max_workers: 2, processes: 1, accounts_per_process: 5}\n"
    )
    code, _, err = cli(org, capsys, "collect", "--config", str(cfg))
    assert code == 1 and err.count("\n") == 1 and "cannot list organization accounts" in err
