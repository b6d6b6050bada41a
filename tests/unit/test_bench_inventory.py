"""The read path's synthetic table (bench.inventory): what an organization of that many VPCs
holds, connectivity items included (one per scanned target)."""

from __future__ import annotations

from bench.fake_org import ALL_REGIONS
from bench.inventory import (
    AT,
    DEFAULT_RANGE,
    PODS,
    landing_zone_connectivity,
    landing_zone_vpcs,
    synthetic_connectivity,
    synthetic_vpcs,
)
from collector.analysis import build_audit
from collector.analysis.conflicts import Connections
from collector.store.connectivity import connectivity_key


def test_the_read_path_s_table_holds_a_connectivity_item_per_target() -> None:
    # Until 2026-12-02 it held VPC items only: `audit` at 100k read none of the 17,000
    # connectivity items a night of its 1,000 accounts in 17 regions leaves.
    conns = synthetic_connectivity()
    owners = {v.OwnerId for v in synthetic_vpcs(2000)}
    assert len({connectivity_key(c) for c in conns}) == len(conns) == 1000 * 17
    assert {c.OwnerId for c in conns} == owners
    assert {c.Region for c in conns} == set(ALL_REGIONS[:17])
    assert not any(c.Peerings or c.Attachments or c.RouteTables for c in conns)


def test_the_landing_zone_s_vpcs_overlap_only_where_a_landing_zone_shares_a_range() -> None:
    # The worst case (`synthetic_vpcs`) puts half of 100k VPCs in an overlap group; the
    # landing zone's each have their own range but for the default VPCs, the pod range and the
    # network account's range copied from its template.
    vpcs = landing_zone_vpcs(6000)
    assert len(vpcs) == len({v.key for v in vpcs}) == 6000
    assert {v.Region for v in vpcs} == set(ALL_REGIONS[:17])
    defaults = [v for v in vpcs if v.IsDefault]
    assert defaults and {v.CidrBlock for v in defaults} == {DEFAULT_RANGE}
    workloads = [v for v in vpcs if not v.IsDefault]
    primaries = [v.CidrBlock for v in workloads if not v.CidrBlock.startswith("172.16.")]
    assert len(set(primaries)) == len(primaries)
    audit = build_audit(vpcs, [], now=AT)
    spans = {g.span for g in audit.overlap_groups}
    assert PODS in spans and len(spans) == len(audit.overlap_groups)
    assert all(s == PODS or s.startswith("172.16.") for s in spans)
    assert audit.vpcs_in_overlaps < len(vpcs) // 10
    assert len(audit.default_vpcs) == len(defaults)


def test_the_landing_zone_s_network_account_routes_to_its_workload_vpcs() -> None:
    # Until 2026-12-03 the landing zone's table held 17,000 connectivity items listing nothing:
    # `audit` at 100k never ran the conflict pass over a hub that reaches most VPCs.
    vpcs = landing_zone_vpcs(6000)
    conns, tables = landing_zone_connectivity(vpcs)
    assert len({connectivity_key(c) for c in conns}) == len(conns) == 1000 * 17
    network = "100000000001"
    hubs = [c for c in conns if c.OwnerId == network]
    assert len(hubs) == 17 and all(len(c.RouteTables) == 2 for c in hubs)
    assert {t.Id for t in tables} == {r for c in hubs for r in c.RouteTables}
    # Every workload VPC of an account that is not a sandbox is a spoke, and its owner's item
    # lists its attachment too; default VPCs and sandboxes are attached to nothing.
    listed = {a.ResourceId: a for c in hubs for a in c.Attachments}
    sandbox = {v.OwnerId for v in vpcs if (int(v.OwnerId) - 100000000000) % 5 == 4}
    spokes = {v.VpcId for v in vpcs if not v.IsDefault and v.OwnerId not in sandbox}
    assert spokes <= set(listed) and len(listed) == len(spokes)  # the hub and inspection VPCs too
    own = {a.ResourceId for c in conns if c.OwnerId != network for a in c.Attachments}
    assert own == {v for v in spokes if listed[v].ResourceOwnerId != network}
    peerings = [p for c in hubs for p in c.Peerings]
    assert peerings and {p.Status for p in peerings} == {"active", "deleted"}
    audit = build_audit(vpcs, [], now=AT, connections=Connections.of(conns, tables))
    # The shared ranges of attached VPCs are conflicts; nothing else is.
    conflicting = {g.span for g in audit.overlap_groups if g.conflicts}
    assert PODS in conflicting and all(s == PODS or s.startswith("172.16.") for s in conflicting)
