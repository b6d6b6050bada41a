"""Audit and run summaries as text for terminals: aligned, one record per line, inert.

Every string a member account controls (Names, account names) or an AWS answer carries (error
messages) goes through `terminal()`: a Name holding `\n`, an ESC sequence or U+202E cannot
forge a line such as "OVERLAP GROUPS: none" or rewrite what is on screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from collector.analysis import Audit, Conflict, Member, OverlapGroup
from collector.analysis.lookup import LookupResult
from collector.analysis.overlaps import by_pair
from collector.models import iso
from collector.safety import counted
from collector.safety import terminal as t


class Summary(Protocol):
    """What the summary renderer needs of a run: its public JSON shape (`collect --format
    json`), so the text and the JSON of one run can never disagree."""

    def to_dict(self) -> dict[str, Any]:
        """The run summary's JSON shape."""
        ...


_n = counted


def _member_line(m: Member) -> str:
    if m.vpc is None:
        return f"    {m.cidr:<22} reserved: {t(m.reserved)}"
    v = m.vpc
    name = f" {t(v.Name)}" if v.Name else ""
    return (
        f"    {m.cidr:<22} {v.VpcId:<22} {v.OwnerId} {t(v.AccountName) or '-':<24} "
        f"{v.Region:<15}{name}"
    )


def by_severity(groups: list[OverlapGroup]) -> list[OverlapGroup]:
    """Conflicts first, then latent groups, each in span order (stable)."""
    return sorted(groups, key=lambda g: g.severity != "conflict")


def conflict_lines(conflicts: Iterable[Conflict]) -> list[str]:
    """One line per overlapping pair, with every network that reaches both (a pair two route
    tables reach is one line naming both), each network named with its account."""
    out = []
    for a, b, found in by_pair(conflicts):
        where = "; ".join(f"{t(c.network.describe(c.at))} via {', '.join(c.via)}" for c in found)
        out.append(f"      conflict: {_who(a)} <-> {_who(b)} at {where}")
    return out


def _who(m: Member) -> str:
    return f"{m.vpc.VpcId} ({m.cidr})" if m.vpc else f"reserved {t(m.reserved)} ({m.cidr})"


def render_table(audit: Audit) -> str:
    """Human-readable audit: summary first, then groups and default VPCs, sorted."""
    d = audit.to_dict()["summary"]
    stale = f", {_n(d['stale'], 'stale VPC')} apart" if d["stale"] else ""
    lines = [
        f"VPC audit {iso(audit.generated_at)}: {_n(audit.vpc_count, 'VPC')} in "
        f"{_n(audit.account_count, 'account')}{stale}",
        f"  overlap groups: {d['overlap_groups']} ({_n(d['conflicts'], 'conflict')}, "
        f"{_n(d['vpcs_in_overlaps'], 'VPC')} involved)   default VPCs left: {d['default_vpcs']}",
        "",
    ]
    if audit.overlap_groups:
        lines.append("OVERLAP GROUPS (conflicts first)")
        for n, g in enumerate(by_severity(audit.overlap_groups), 1):
            lines.append(f"  #{n} {g.severity.upper()} {g.span} — {_n(len(g.members), 'block')}")
            lines.extend(_member_line(m) for m in g.members)
            lines.extend(conflict_lines(g.conflicts))
        lines.append("")
    else:
        lines += ["No overlapping ranges.", ""]
    if audit.default_vpcs:
        lines.append("DEFAULT VPCS")
        for v in audit.default_vpcs:
            lines.append(
                f"  {v.OwnerId} {t(v.AccountName) or '-':<24} {v.Region:<15} {v.VpcId:<22} "
                f"{v.CidrBlock}"
            )
    else:
        lines.append("No default VPCs left.")
    if audit.stale:
        lines += [
            "",
            f"STALE ({_n(len(audit.stale), 'VPC')} no longer scanned; not in the findings above)",
        ]
        for s in audit.stale:
            lines.append(
                f"  {s['OwnerId']} {t(s['AccountName']) or '-':<24} {s['Region']:<15} "
                f"{s['VpcId']:<22} {' '.join(s['Cidrs']):<18} last seen {s['LastSeen']}  "
                f"{s['reason']}"
            )
    if audit.reservation_overlaps:
        lines += ["", "VPCS INSIDE ANOTHER ACCOUNT'S RESERVATION"]
        for r in audit.reservation_overlaps:
            lines.append(
                f"  {r['VpcCidr']:<18} {r['VpcId']:<22} {r['OwnerId']} "
                f"{t(r['AccountName']) or '-':<24} {r['Region']:<15} in {r['Cidr']} reserved for "
                f"{r['ReservedFor']} until {r['ReservedUntil']}"
            )
    if audit.expected:
        lines += ["", "EXPECTED OVERLAPS (overlaps.expected; not findings)"]
        for e in (x.to_dict() for x in audit.expected):
            lines.append(
                f"  {e['span']:<22} {t(e['reason'])}: {e['blocks']} blocks in "
                f"{e['accounts']} accounts"
            )
    lines += _headroom_lines(audit)
    if audit.unreadable:
        lines += ["", f"UNREADABLE TABLE ITEMS ({len(audit.unreadable)}, not in this audit)"]
        lines.extend(f"  {t(u)}: {t(u.reason)}" for u in audit.unreadable)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _headroom_lines(audit: Audit) -> list[str]:
    h = audit.headroom
    lines = [""]
    if h.headroom:
        lines.append("HEADROOM (VPCs running out of addresses)")
        for f in h.headroom:
            free = f["LargestFreeBlock"] or "none"
            lines.append(
                f"  {f['OwnerId']} {t(f['AccountName']) or '-':<24} {f['Region']:<15} "
                f"{f['VpcId']:<22} {f['Reason']:<11} {f['UtilizationPct']:>5}% used  "
                f"{f['UsedAddresses']}/{f['UsableAddresses']}  largest free: {free}"
            )
    else:
        lines.append("No VPC short of room.")
    if h.exhausted_subnets:
        lines.append("EXHAUSTED SUBNETS")
        for f in h.exhausted_subnets:
            lines.append(
                f"  {f['OwnerId']} {f['Region']:<15} {f['VpcId']:<22} {f['SubnetId']:<25} "
                f"{f['Cidr']:<18} {f['AvailabilityZone']:<12} {f['AvailableAddresses']} free "
                f"({f['FreePct']}%)"
            )
    if h.single_az:
        lines.append("SINGLE-AZ VPCS")
        for f in h.single_az:
            lines.append(
                f"  {f['OwnerId']} {t(f['AccountName']) or '-':<24} {f['Region']:<15} "
                f"{f['VpcId']:<22} {f['AvailabilityZone']}"
            )
    return lines


def render_summary(summary: Summary) -> str:
    """Human-readable run summary."""
    s = summary.to_dict()
    n = s["targets"]
    lines = [
        f"Accounts: {s['accounts']}   targets: {n['total']} "
        f"({n['ok']} ok, {n['skipped']} skipped, {n['failed']} failed)   {s['duration_s']:.1f} s",
        f"VPCs seen: {s['vpcs_seen']}   VPC items written: {s['vpcs_written']}   "
        f"marked deleted: {s['marked_deleted']}   invalid records: {s['invalid_records']}",
    ]
    if s["interrupted"]:
        lines.append("INTERRUPTED: targets not finished are listed as Interrupted; none marked")
    if s["write_failures"]:
        errs = ", ".join(f"{k}: {v}" for k, v in sorted(s["write_errors"].items()))
        lines.append(f"WRITE FAILURES: {s['write_failures']} items not stored ({t(errs)})")
    if s["unreadable_items"]:
        lines.append("Unreadable table items (left as they are, never marked):")
        lines.extend(
            f"  {t(u['VpcId'])}/{t(u['OwnerId'])}: {t(u['reason'])}" for u in s["unreadable_items"]
        )
    if s["incomplete_items"]:
        lines.append("Stored incomplete (DynamoDB refused them whole; their blocks are stored):")
        lines.extend(
            f"  {t(i['VpcId'])}/{t(i['OwnerId'])}: {t(i['reason'])}" for i in s["incomplete_items"]
        )
    if _everyone_refused(s):
        code = s["failures"][0]["error_code"]
        lines.append(
            f"Every account refused the role ({code}): check organization.role_name in the "
            "config and that the member-role StackSet (iam/member-role.yaml) is deployed to "
            "these accounts and trusts this hub"
        )
    if s["failures"]:
        lines.append("Failed targets:")
        for f in s["failures"]:  # sorted by account and region
            name = f" ({t(f['account_name'])})" if f["account_name"] else ""
            lines.append(
                f"  {f['account_id']}{name}  {f['region']}  {t(f['error_code'])}: {t(f['message'])}"
            )
    if s["invalid"]:
        lines.append("Invalid records (not written):")
        for i in s["invalid"]:
            lines.append(f"  {i['account_id']}  {i['region']}  {t(i['vpc_id'])}: {t(i['reason'])}")
    return "\n".join(lines)


def _everyone_refused(s: dict[str, Any]) -> bool:
    """Every account failed at AssumeRole with one and the same error."""
    failures = s["failures"]
    whole = [f for f in failures if f["region"] == "*"]
    codes = {f["error_code"] for f in whole}
    return (
        s["accounts"] > 1
        and len(whole) == s["accounts"] == len(failures)
        and len(codes) == 1
        and codes <= {"AccessDenied", "AccessDeniedException", "InvalidClientTokenId"}
    )


def render_lookup(result: LookupResult) -> str:
    """`vpctracker lookup` for people: one line per match, then reserved space."""
    if not result.found:
        return f"{result.query}: free (no VPC, reserved range or reservation holds it)\n"
    lines = [f"{result.query}:"]
    for m in result.matches:
        name = f" ({t(m['Name'])})" if m["Name"] else ""
        subnet = (
            f"  {m['SubnetId']} {m['SubnetCidr']} {m['AvailabilityZone']}"
            + (f" ({t(m['SubnetName'])})" if m["SubnetName"] else "")
            if m["SubnetId"]
            else "  in no subnet"
        )
        stale = (
            f"  STALE ({m['Stale']}: no longer scanned; may still be in use)"
            if m.get("Stale")
            else ""
        )
        lines.append(
            f"  {m['VpcId']}{name} {m['Cidr']}  {m['OwnerId']} {t(m['AccountName']) or '-'} "
            f"{m['Region']}{subnet}{stale}"
        )
    for r in result.reserved:
        what = (
            f"reserved range {t(r['Reserved'])}"
            if "Reserved" in r
            else (f"reservation for {r['ReservedFor']}")
        )
        lines.append(f"  {what}: {r['Cidr']}")
    return "\n".join(lines) + "\n"


def render_changes_table(result: dict[str, Any]) -> str:
    """`vpctracker changes` for people: one change per line, oldest first."""
    lines = [f"Changes {result['since']} .. {result['until']}: {len(result['changes'])}"]
    for c in result["changes"]:
        detail = f"  {t(c['detail'])}" if c.get("detail") else ""
        lines.append(
            f"  {c['time']}  {c['change']:<18} {c['VpcId']:<22} {c['OwnerId']} "
            f"{t(c['AccountName']) or '-':<24} {c['Region']:<15} {c.get('Cidr') or ''}{detail}"
        )
    return "\n".join(lines) + "\n"


def render_inventory_table(result: dict[str, Any]) -> str:
    """`vpctracker inventory` for people: one VPC per line, by account, region and address."""
    s = result["summary"]
    lines = [
        f"Inventory {result['generated_at']}: {_n(s['vpcs'], 'VPC')} in "
        f"{_n(s['accounts'], 'account')}, {_n(s['regions'], 'region')}, "
        f"{_n(s['default_vpcs'], 'default VPC')}",
    ]
    for r in result["vpcs"]:
        used = "-" if r["UsedPct"] is None else f"{r['UsedPct']}%"
        flags = " default" if r["IsDefault"] else ""
        flags += f" STALE({r['Stale']})" if r["Stale"] else ""
        flags += " DELETED" if r["State"] == "deleted" else ""
        lines.append(
            f"  {r['OwnerId']} {t(r['AccountName']) or '-':<20} {r['Region']:<15} "
            f"{r['VpcId']:<22} {' '.join(r['CidrBlocks']):<18} {r['Subnets']:>3} subnets "
            f"{r['AvailabilityZones']} AZ {used:>6}  {t(r['Name'] or '-')}{flags}"
        )
    return "\n".join(lines) + "\n"
