"""The read path's synthetic table (bench.inventory): what an organization of that many VPCs
holds, connectivity items included (one per scanned target)."""

from __future__ import annotations

from bench.fake_org import ALL_REGIONS
from bench.inventory import synthetic_connectivity, synthetic_vpcs
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
