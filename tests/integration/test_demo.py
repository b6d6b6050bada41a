"""The demo runs the real pipeline on the simulated org and shows real findings."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from collector.cli import main
from collector.demo import demo_run


def test_demo_finds_what_was_planted() -> None:
    result = demo_run(accounts=8, regions=2)
    sim, summary, audit = result.sim, result.summary, result.audit
    assert summary.exit_code == 0
    assert summary.accounts == len(sim.accounts)  # the suspended account is not scanned
    assert summary.vpcs_seen == len(sim.vpcs) + len(sim.default_vpcs_left)
    assert {(v.OwnerId, v.Region) for v in audit.default_vpcs} == set(sim.default_vpcs_left)
    grouped = {m.vpc.VpcId for g in audit.overlap_groups for m in g.members if m.vpc}
    for a, b in sim.clashes:
        assert {a, b} <= grouped
    assert any(m.reserved == "corporate-network" for g in audit.overlap_groups for m in g.members)
    # The allocation is free: it overlaps nothing the simulated org holds.
    block = ipaddress.ip_network(result.allocation.cidr)
    assert result.allocation.reservation is not None
    assert not any(block.overlaps(ipaddress.ip_network(c)) for _, _, c in sim.vpcs.values())


def test_demo_command_says_it_is_simulated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--accounts", "4", "--regions", "1"]) == 0
    out = capsys.readouterr().out
    report = tmp_path / "demo-report.html"
    assert f"wrote {report}" in out
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and " clash" in page
    # Issue 11, observation 6: the fresh reservation is drawn as reserved, never as free.
    reserved = out.split("--reserve --owner ")[1].splitlines()[1]
    assert f"{reserved}: {reserved} reserved for " in page
    assert f"{reserved}: free" not in page
    assert "<h2>Reservations (1)</h2>" in page
    assert out.startswith("SIMULATED organization (moto, in-process; no real AWS)")
    assert "OVERLAP GROUPS" in out and "DEFAULT VPCS" in out
    assert "$ vpctracker allocate --pool 10.0.0.0/8 --prefix-length 16" in out


def test_demo_rejects_too_many_regions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--regions", "9"]) == 1
    assert capsys.readouterr().err.strip() == "vpctracker: error: --regions: at most 6"


def test_demo_shows_both_kinds_of_conflict_and_a_latent_clash() -> None:
    """Issue 13: a clash behind a shared peer, one in a TGW route table, and latent ones."""
    result = demo_run(accounts=6, regions=1)
    groups = result.audit.overlap_groups
    kinds = {
        "tgw-rtb" if c.at.startswith("tgw-rtb-") else "vpc" for g in groups for c in g.conflicts
    }
    assert kinds == {"vpc", "tgw-rtb"}
    for a, b, network in result.sim.conflicts:
        (group,) = [g for g in groups if {a, b} <= {m.vpc.VpcId for m in g.members if m.vpc}]
        assert group.severity == "conflict"
        assert network in {c.at for c in group.conflicts}
    latent = [g for g in groups if g.severity == "latent"]
    assert any(
        {a, b} <= {m.vpc.VpcId for m in g.members if m.vpc}
        for g in latent
        for a, b in result.sim.clashes
    )
    assert result.audit.to_dict()["summary"]["conflicts"] == len(result.sim.conflicts)


def test_demo_shows_a_vpc_out_of_room_and_a_single_az_vpc(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: both in the audit and in the report."""
    result = demo_run(accounts=4, regions=1)
    h = result.audit.headroom
    assert (result.sim.no_room, "no-room") in {(f["VpcId"], f["Reason"]) for f in h.headroom}
    assert result.sim.single_az in {f["VpcId"] for f in h.single_az}
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--accounts", "4", "--regions", "1"]) == 0
    out = capsys.readouterr().out
    assert "HEADROOM" in out and "no-room" in out and "SINGLE-AZ VPCS" in out
    page = (tmp_path / "demo-report.html").read_text()
    assert '<section id="headroom">' in page and "no-room:" in page and 'id="lookup"' in page


def test_demo_delivers_a_live_event_and_shows_its_notification() -> None:
    """Issue 15: a VPC created after the first collect, its event, one notification."""
    result = demo_run(accounts=4, regions=1)
    # The collect before it had no topic: its baseline message waited for the event's run.
    baseline, note = result.notifications
    assert baseline["Subject"] == "VPCTracker: baseline recorded"
    # The copy and the shared-services VPC it copied start to overlap: both new, one message.
    assert note["Subject"].startswith("VPCTracker: overlap 10.200.0.0/16: 2 new")
    assert result.sim.live_vpc in note["Message"]
