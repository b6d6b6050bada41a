"""Issue 24, the pure parts: severity as the checked accounts see it, stale items, first-seen
changes, the inventory rows, one line per conflicting pair, and the report's new parts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from collector.analysis import Connections, build_audit
from collector.analysis.inventory import COLUMNS, inventory_of, summary_of
from collector.analysis.overlaps import by_pair
from collector.analysis.stale import NOT_SEEN, OUT_OF_SCOPE, Scope, partition
from collector.lifecycle import changes
from collector.models import Peering, PeeringSide, Subnet
from collector.notify import Announcement, group_message
from collector.report.page import render_html
from collector.report.text import render_table
from tests.factories import make_vpc, page_data

T = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
HUB, A, B, SANDBOX = "111111111111", "222222222222", "333333333333", "444444444444"


def peering(n: int, hub: str, hub_owner: str, vpc: str, owner: str) -> Peering:
    return Peering(
        Id=f"pcx-{n:017x}",
        Status="active",
        Requester=PeeringSide(VpcId=hub, OwnerId=hub_owner, Region="us-east-1"),
        Accepter=PeeringSide(VpcId=vpc, OwnerId=owner, Region="us-east-1"),
    )


def shared_world() -> tuple[list, Connections]:  # type: ignore[type-arg]
    hub = make_vpc(1, "10.0.0.0/16", owner=HUB, name="shared-services", account_name="network")
    a = make_vpc(2, "10.1.0.0/16", owner=A)
    b = make_vpc(3, "10.1.0.0/16", owner=B)
    sandbox = make_vpc(4, "10.1.32.0/20", owner=SANDBOX)
    conns = Connections(
        peerings=(
            peering(1, hub.VpcId, HUB, a.VpcId, A),
            peering(2, hub.VpcId, HUB, b.VpcId, B),
        )
    )
    return [hub, a, b, sandbox], conns


def test_severity_is_judged_on_the_accounts_own_pairs() -> None:
    vpcs, conns = shared_world()
    (group,) = build_audit(vpcs, [], now=T, connections=conns).overlap_groups
    assert group.severity == "conflict"
    assert group.severity_for([SANDBOX]) == "latent"
    assert group.severity_for([A]) == group.severity_for([B]) == "conflict"
    assert group.severity_for([]) == "conflict"
    only = build_audit(vpcs, [], now=T, connections=conns, accounts=[SANDBOX], severity="conflict")
    assert only.overlap_groups == []
    mine = build_audit(vpcs, [], now=T, connections=conns, accounts=[A], severity="conflict")
    assert [g.span for g in mine.overlap_groups] == ["10.1.0.0/16"]


def test_a_conflict_names_its_hub_and_a_pair_is_one_line() -> None:
    vpcs, conns = shared_world()
    # The same pair reached twice (a second peering path through another hub VPC).
    hub2 = make_vpc(5, "10.5.0.0/16", owner=HUB, name="inspection")
    conns = Connections(
        peerings=(
            *conns.peerings,
            peering(3, hub2.VpcId, HUB, vpcs[1].VpcId, A),
            peering(4, hub2.VpcId, HUB, vpcs[2].VpcId, B),
        )
    )
    (group,) = build_audit([*vpcs, hub2], [], now=T, connections=conns).overlap_groups
    assert len(group.conflicts) == 2
    (pair,) = by_pair(group.conflicts)
    assert len(pair[2]) == 2
    d = group.conflicts[0].to_dict()
    assert d["at_owner"] == HUB and d["at_name"] in ("shared-services", "inspection")
    text = render_table(build_audit([*vpcs, hub2], [], now=T, connections=conns))
    lines = [line for line in text.splitlines() if "conflict:" in line]
    assert len(lines) == 1
    assert '"shared-services" in 111111111111 (network)' in lines[0] and '"inspection"' in lines[0]
    page = render_html(build_audit([*vpcs, hub2], [], now=T, connections=conns))
    (lines,) = [g[3] for g in page_data(page)["groups"]]
    assert len(lines) == 1 and '"shared-services"' in lines[0]  # the page's `via` row
    # Notifications name the hub too.
    finding = {
        "VpcId": vpcs[1].VpcId,
        "conflicts": [c.to_dict() for c in group.conflicts],
        "with": [],
    }
    a = Announcement("2026-11-29T03:00:00Z", "id1", "new", "overlap", "conflict", "g", finding)
    (line,) = [x for x in group_message([a]).body.splitlines() if "conflict with" in x]
    assert '"shared-services" in 111111111111 (network)' in line and '"inspection"' in line


def test_stale_reasons_relative_to_the_newest_scan() -> None:
    scope = Scope(regions=frozenset({"us-east-1"}), exclude=frozenset({B}))
    fresh = make_vpc(1, "10.0.0.0/16", seen=T)
    old = make_vpc(2, "10.1.0.0/16", seen=T - timedelta(days=8))
    recent = make_vpc(3, "10.2.0.0/16", seen=T - timedelta(days=6))
    elsewhere = make_vpc(4, "10.3.0.0/16", region="cn-north-1", seen=T)
    excluded = make_vpc(5, "10.4.0.0/16", owner=B, seen=T)
    gone = make_vpc(6, "10.5.0.0/16", deleted=True, seen=T - timedelta(days=30))
    current, stale = partition([fresh, old, recent, elsewhere, excluded, gone], scope)
    assert current == [fresh, recent]
    assert {v.VpcId: why for v, why in stale} == {
        old.VpcId: NOT_SEEN,
        elsewhere.VpcId: OUT_OF_SCOPE,
        excluded.VpcId: OUT_OF_SCOPE,
    }
    # Relative to the table's newest scan, not to now: a collector stopped for a month leaves an
    # old table, not a stale one.
    assert partition([old], scope) == ([old], [])
    # Stale VPCs are not findings (a default VPC, an overlap) but are listed apart.
    dflt = make_vpc(7, "172.31.0.0/16", default=True, region="cn-north-1", seen=T)
    clash = make_vpc(8, "10.0.0.0/16", owner=A, region="cn-north-1", seen=T)
    audit = build_audit([fresh, dflt, clash], [], now=T, scope=scope)
    d = audit.to_dict()
    assert d["default_vpcs"] == [] and d["overlap_groups"] == []
    assert [s["VpcId"] for s in d["stale"]] == [dflt.VpcId, clash.VpcId]
    assert d["summary"]["stale"] == 2 and d["stale"][0]["reason"] == "out-of-scope"
    assert "STALE" in render_table(audit)
    assert 'id="stale"' in render_html(audit)


def test_a_targets_first_scan_is_first_seen() -> None:
    v = make_vpc(1, "10.0.0.0/16")
    assert [c["change"] for c in changes([v], [], [], now=T, first_scan=True)] == ["first-seen"]
    assert [c["change"] for c in changes([v], [], [], now=T)] == ["created"]


def test_inventory_rows_order_filters_and_summary() -> None:
    subnet = Subnet(
        SubnetId="subnet-00000000000000001",
        CidrBlock="10.9.0.0/24",
        AvailabilityZone="us-east-1a",
        AvailableIpAddressCount=126,
    )
    vpcs = [
        make_vpc(1, "10.10.0.0/16", owner=B, region="us-east-1"),
        make_vpc(2, "10.9.0.0/16", owner=A, region="us-east-1").model_copy(
            update={"Subnets": (subnet,)}
        ),
        make_vpc(3, "10.2.0.0/16", owner=A, region="us-east-1"),
        make_vpc(4, "10.1.0.0/16", owner=A, region="eu-west-1", default=True),
        make_vpc(5, "10.0.0.0/16", owner=A, region="us-east-1", deleted=True),
    ]
    rows = inventory_of(vpcs, Scope())
    assert [r["VpcId"][-1] for r in rows] == ["4", "3", "2", "1"]  # account, region, address
    assert all(tuple(r) == COLUMNS for r in rows)
    used = next(r for r in rows if r["VpcId"].endswith("2"))
    assert used["UsedPct"] == round(100 * (251 - 126) / 251, 1)
    assert used["Subnets"] == 1 and used["AvailabilityZones"] == 1
    assert next(r for r in rows if r["VpcId"].endswith("3"))["UsedPct"] is None
    assert summary_of(rows) == {"vpcs": 4, "accounts": 2, "regions": 2, "default_vpcs": 1}
    assert [r["VpcId"][-1] for r in inventory_of(vpcs, Scope(), cidr="10.9.128.0/17")] == ["2"]
    assert len(inventory_of(vpcs, Scope(), include_deleted=True)) == 5
    assert [r["VpcId"][-1] for r in inventory_of(vpcs, Scope(), regions=["eu-west-1"])] == ["4"]
    assert [r["VpcId"][-1] for r in inventory_of(vpcs, Scope(), accounts=[B])] == ["1"]
    # JSON-ready: the rows serialize as they are.
    json.dumps(rows)


def test_the_report_names_the_vpc_in_headroom_and_draws_axes_and_shares() -> None:
    subnet = Subnet(
        SubnetId="subnet-00000000000000001",
        CidrBlock="10.9.0.0/28",
        AvailabilityZone="us-east-1a",
        AvailableIpAddressCount=0,
    )
    full = make_vpc(1, "10.9.0.0/28", name="payments-prod").model_copy(
        update={"Subnets": (subnet,)}
    )
    page = render_html(build_audit([full], [], now=T))
    headroom = page[page.index('id="headroom"') :]
    assert "<th>VPC name</th>" in headroom and "<td>payments-prod</td>" in headroom
    assert 'class="axis row"' in page and ">10.0.0.0</text>" in page and ">+15</text>" in page
    # The /28 is a sliver of its /16 cell, not a full cell.
    cell = re.search(r'<rect class="([^"]+)"[^>]*data-cidr="10\.9\.0\.0/16"', page)
    assert cell is not None and "partial" in cell.group(1)
    assert '<rect class="share"' in page
    data = page_data(page)
    assert data["columns"] == list(COLUMNS)
    assert data["vpcs"]["VpcId"] == [full.VpcId] and data["vpcs"]["Name"] == ["payments-prod"]
    assert data["vpcs"]["UsedPct"] == [100.0]
