"""Notifications: what changed, phrased for people and machines, one SNS message per overlap group
(or per default-VPC or headroom finding), never more than `notify.max_messages` a recording.

Each message has a subject and a body for people (account id and name, region, VPC id, CIDR and
what it clashes with) that ends with the findings as JSON for machines. Every message carries
each finding's id and transition (`new`, `changed`, `resolved`) and the time of the recording
that saw it, in the body's JSON and in the `findings` message attribute, so a subscriber can
de-duplicate: an announcement whose publish was accepted but not yet marked done is made again
by the next recording. Member strings go through the terminal neutralizer: a Name cannot add
lines to a mail or forge another finding. SNS subjects must be ASCII without line breaks, at
most 100 characters; a message body at most 256 KB.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector.safety import counted, terminal

MAX_SUBJECT = 100
# SNS takes 256 KB a message, attributes included: the body and the `findings` attribute share it.
MAX_ATTRIBUTE = 100_000
MAX_BODY = 140_000
DIGEST_LINES = 20  # findings a digest names before "and N more"
GROUP_LINES = 50  # transitions a group message spells out before "and N more"

# The order messages go out in when a recording has more than its cap: what to act on first.
_PRIORITY = {"baseline": 0, "overlap": 1, "reservation": 1, "default-vpc": 2, "headroom": 3}


@dataclass(frozen=True)
class Announcement:
    """One finding's transition, as a recording wrote it to the outbox."""

    at: str  # the recording's time
    id: str
    transition: str  # new | changed | resolved | baseline
    kind: str
    state: str  # the finding's state now (for resolved: when it was last known)
    group: str  # the message group (overlap: the widest span it belongs with)
    finding: dict[str, Any]
    previous: str = ""  # for changed: the state before

    @classmethod
    def of(cls, message: dict[str, Any]) -> Announcement:
        """From an outbox entry's message."""
        return cls(
            at=str(message["at"]),
            id=str(message["id"]),
            transition=str(message["transition"]),
            kind=str(message["kind"]),
            state=str(message.get("state", "")),
            group=str(message.get("group", "")),
            finding=dict(message.get("finding") or {}),
            previous=str(message.get("previous", "")),
        )

    def to_message(self) -> dict[str, Any]:
        """The outbox entry's message (and what a subscriber gets in the body's JSON)."""
        out = {
            "at": self.at,
            "id": self.id,
            "transition": self.transition,
            "kind": self.kind,
            "state": self.state,
            "group": self.group,
            "finding": self.finding,
        }
        if self.previous:
            out["previous"] = self.previous
        return out

    @property
    def dedupe(self) -> dict[str, str]:
        """What identifies this announcement for a subscriber."""
        return {"id": self.id, "transition": self.transition, "at": self.at}


@dataclass(frozen=True)
class ReportLink:
    """Where a notification points: the report's object in the S3 console (for people who sign
    in) and, with `notify.presign_hours`, a presigned URL that opens the page itself."""

    console: str
    url: str | None = None

    def to(self, anchor: str = "") -> str:
        """The link to open, at `anchor` (`group-<span>`, `vpc-<id>`) when the page is opened
        directly (a fragment never reaches S3, so it does not break the signature)."""
        if self.url is None:
            return self.console
        return f"{self.url}#{urllib.parse.quote(anchor, safe='/.:-')}" if anchor else self.url

    def to_dict(self, anchor: str = "") -> dict[str, str]:
        """The `report` object of a notification's JSON."""
        out = {"console": self.console}
        if self.url:
            out["url"] = self.to(anchor)
        return out


@dataclass(frozen=True)
class Message:
    """One SNS message and the announcements it makes."""

    subject: str
    body: str
    attributes: dict[str, Any]
    announcements: tuple[Announcement, ...]


def _who(m: dict[str, Any]) -> str:
    # Every field read with a default: an outbox entry written by another version is announced,
    # never a crash that keeps every later announcement back.
    def f(key: str) -> str:
        return terminal(m.get(key) or "-")

    if "Reserved" in m:
        return f"reserved range {f('Reserved')} {f('Cidr')}"
    name = f' "{f("Name")}"' if m.get("Name") else ""
    return f"{f('VpcId')} {f('Cidr')} in {f('OwnerId')} ({f('AccountName')}) {f('Region')}{name}"


def _subject(text: str) -> str:
    ascii_only = terminal(text).encode("ascii", "replace").decode()
    return ascii_only if len(ascii_only) <= MAX_SUBJECT else ascii_only[: MAX_SUBJECT - 3] + "..."


def _state_word(a: Announcement) -> str:
    if a.transition == "changed":
        return f"changed {a.previous} -> {a.state}"
    return f"{a.transition} {a.state}".strip()


def _overlap_lines(a: Announcement) -> list[str]:
    f = a.finding
    lines = [f"  {_state_word(a)}: {_who(f)}"]
    if f.get("expected"):
        lines.append(f"    inside an expected range ({terminal(f['expected'])})")
    others = f.get("with", [])
    if others:
        more = f.get("clashes", len(others)) - len(others)
        tail = f" and {more} more" if more > 0 else ""
        lines.append(f"    clashes with {counted(f.get('clashes', len(others)), 'block')}:")
        lines.extend(f"      {_who(m)}" for m in others)
        if tail:
            lines.append(f"     {tail}")
    # One line per partner, naming every network that reaches both (a pair two route tables
    # reach is one line), each with its account.
    by_partner: dict[str, list[str]] = {}
    for c in f.get("conflicts", []):
        mine = f.get("VpcId")
        other = c.get("b") if c.get("a", {}).get("VpcId") == mine else c.get("a")
        by_partner.setdefault(_who(other or {}), []).append(
            f"{_network(c)} via {', '.join(c.get('via', []))}"
        )
    for other, where in by_partner.items():
        lines.append(f"    conflict with {other}: reached by {'; '.join(where)}")
    return lines


def _network(c: dict[str, Any]) -> str:
    name = f' "{terminal(c["at_name"])}"' if c.get("at_name") else ""
    owner = f" in {c['at_owner']}" if c.get("at_owner") else ""
    label = f" ({terminal(c['at_account_name'])})" if c.get("at_account_name") else ""
    return f"{c.get('at')}{name}{owner}{label}"


def _single_lines(a: Announcement) -> tuple[str, list[str]]:
    f = a.finding
    verb = a.transition
    if a.kind == "default-vpc":
        subject = f"VPCTracker: {verb} default VPC in {f.get('OwnerId')} {f.get('Region')}"
        return subject, [f"A default VPC is {verb}:", f"  {_who(f)}"]
    if a.kind == "reservation":
        subject = f"VPCTracker: {verb} VPC inside reservation {f.get('Cidr')}"
        return subject, [
            f"A VPC inside another account's reservation is {verb}:",
            f"  {_who({**f, 'Cidr': f.get('VpcCidr')})}",
            f"  inside {f.get('Cidr')}, reserved for {f.get('ReservedFor')} until "
            f"{f.get('ReservedUntil')}",
        ]
    reason = f.get("Reason", a.state)
    subject = f"VPCTracker: {verb} headroom finding for {f.get('VpcId')} ({reason})"
    state = f"{a.previous} -> {a.state}" if verb == "changed" else reason
    return subject, [
        f"A VPC running out of addresses is {verb} ({terminal(state)}):",
        f"  {_who({**f, 'Cidr': ', '.join(f.get('Cidrs') or [])})}",
        f"  {f.get('UtilizationPct')}% of {f.get('UsableAddresses')} addresses in use, "
        f"largest free block {f.get('LargestFreeBlock') or 'none'}",
    ]


def _attributes(kind: str, group: Sequence[Announcement]) -> dict[str, Any]:
    transitions = {a.transition for a in group}
    attrs: dict[str, Any] = {
        "kind": {"DataType": "String", "StringValue": kind},
        "transition": {
            "DataType": "String",
            "StringValue": transitions.pop() if len(transitions) == 1 else "mixed",
        },
    }
    ids = json.dumps([a.dedupe for a in group])
    if len(ids) < MAX_ATTRIBUTE:
        attrs["findings"] = {"DataType": "String", "StringValue": ids}
    return attrs


def _body(lines: list[str], label: str, data: dict[str, Any]) -> str:
    """The people's lines, then the JSON; past SNS's size, the JSON keeps each finding's id and
    transition only (and past that, as many as fit and how many more there are)."""
    head = "\n".join([*lines, "", f"--- {label} (JSON) ---", ""])
    text = json.dumps(data)
    findings = data.get("findings")
    if len(head) + len(text) > MAX_BODY and isinstance(findings, list):
        slim = [_dedupe_of(f) for f in findings]
        text = json.dumps({**data, "findings": slim, "truncated": True})
        while len(head) + len(text) > MAX_BODY and slim:
            slim = slim[: len(slim) // 2]
            text = json.dumps(
                {**data, "findings": slim, "truncated": True, "more": len(findings) - len(slim)}
            )
    return head + text


def _dedupe_of(f: Any) -> dict[str, Any]:
    if not isinstance(f, dict):
        return {}
    return {k: f[k] for k in ("id", "transition", "at") if k in f}


def group_message(group: Sequence[Announcement]) -> Message:
    """One message for the transitions of one overlap group in one recording."""
    span = group[0].group
    counts = Counter(a.transition for a in group)
    severities = sorted({a.state for a in group if a.transition != "resolved"}) or sorted(
        {a.state for a in group}
    )
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
    subject = f"VPCTracker: overlap {span}: {summary} ({'/'.join(severities)})"
    lines = [f"Overlap group {span}: what changed ({group[0].at}):"]
    ordered = sorted(group, key=lambda a: (a.transition, a.state != "conflict", a.id))
    for a in ordered[:GROUP_LINES]:
        lines.extend(_overlap_lines(a))
    if len(ordered) > GROUP_LINES:
        lines.append(
            f"  and {len(ordered) - GROUP_LINES} more: `vpctracker audit` lists the group whole"
        )
    data = {"group": span, "findings": [a.to_message() for a in group]}
    return Message(
        _subject(subject),
        _body(lines, "findings", data),
        _attributes("overlap", group),
        tuple(group),
    )


def single_message(a: Announcement) -> Message:
    """One message for a default-VPC or headroom transition (the finding's own shape kept: the
    body ends with the finding as JSON, and the `finding` and `state` attributes hold it)."""
    subject, lines = _single_lines(a)
    finding = {**a.finding, "state": a.transition, **a.dedupe}
    attrs = _attributes(a.kind, [a])
    attrs["state"] = {"DataType": "String", "StringValue": a.transition}
    text = json.dumps(finding)
    if len(text) < MAX_ATTRIBUTE:
        attrs["finding"] = {"DataType": "String", "StringValue": text}
    return Message(_subject(subject), _body(lines, "finding", finding), attrs, (a,))


def baseline_message(a: Announcement) -> Message:
    """The one message of the first full-organization recording: counts, not each finding."""
    counts = a.finding.get("counts", {})
    lines = [
        "VPCTracker recorded its first baseline of the whole organization: "
        f"{counted(a.finding.get('known', 0), 'finding')} known.",
        *(f"  {kind}: {n}" for kind, n in sorted(counts.items())),
        "",
        "From now on, each new, changed and resolved finding is announced (at most a few "
        "messages a run, then a digest). Run `vpctracker audit` to see them.",
    ]
    data = {"baseline": True, **a.to_message()}
    return Message(
        "VPCTracker: baseline recorded",
        _body(lines, "baseline", data),
        _attributes("baseline", [a]),
        (a,),
    )


def digest_message(items: Sequence[Announcement]) -> Message:
    """One message for what a recording could not send one by one: counts per kind, state and
    transition, the first findings, and where to see the rest."""
    groups = len({(a.at, a.group) if a.kind == "overlap" else (a.at, a.id) for a in items})
    counts = Counter((a.kind, a.state, a.transition) for a in items)
    lines = [
        f"VPCTracker: {counted(len(items), 'more change', 'more changes')} in "
        f"{counted(groups, 'message')}, past this run's "
        "message limit (notify.max_messages):",
        *(f"  {n} {t} {k} {s}".rstrip() for (k, s, t), n in sorted(counts.items())),
        "",
        "First of them:",
    ]
    for a in items[:DIGEST_LINES]:
        f = a.finding
        where = _who(f) if "VpcId" in f else ""
        lines.append(f"  {a.transition} {a.kind} {a.state}: {where}".rstrip())
    if len(items) > DIGEST_LINES:
        lines.append(f"  and {len(items) - DIGEST_LINES} more")
    lines += [
        "",
        f"See them all: `vpctracker changes --since {items[0].at}` and `vpctracker audit` "
        "(or the HTML report).",
    ]
    data: dict[str, Any] = {
        "digest": True,
        "counts": [
            {"kind": k, "state": s, "transition": t, "count": n}
            for (k, s, t), n in sorted(counts.items())
        ],
        "findings": [a.dedupe for a in items],
    }
    subject = f"VPCTracker: digest of {counted(len(items), 'more change', 'more changes')}"
    return Message(
        _subject(subject), _body(lines, "digest", data), _attributes("digest", items), tuple(items)
    )


def messages(
    announcements: Iterable[Announcement], max_messages: int, link: ReportLink | None = None
) -> list[Message]:
    """The messages for pending announcements: one per (recording, overlap group), one per
    other finding, in order of what to act on first; past `max_messages`, one digest. With
    `link`, each message links the published report, at its finding where the page can."""
    overlap: dict[tuple[str, str], list[Announcement]] = {}
    units: list[list[Announcement]] = []
    for a in announcements:
        if a.kind == "overlap":
            if (a.at, a.group) not in overlap:
                overlap[(a.at, a.group)] = []
                units.append(overlap[(a.at, a.group)])
            overlap[(a.at, a.group)].append(a)
        else:
            units.append([a])
    units.sort(key=_order)
    out = [_message(u) for u in units[:max_messages]]
    if len(units) > max_messages:
        out.append(digest_message([a for u in units[max_messages:] for a in u]))
    return out if link is None else [with_link(m, link) for m in out]


def anchor_of(m: Message) -> str:
    """Where on the page a message's finding is: its overlap group, or its VPC's row."""
    first = m.announcements[0] if m.announcements else None
    if first is None or m.attributes["kind"]["StringValue"] in ("digest", "baseline"):
        return ""
    if first.kind == "overlap" and first.group:
        return f"group-{first.group}"
    vpc = first.finding.get("VpcId")
    return f"vpc-{vpc}" if isinstance(vpc, str) and vpc else ""


def with_link(m: Message, link: ReportLink) -> Message:
    """The message with the report's link: a line for people, `report` in its JSON."""
    anchor = anchor_of(m)
    head, sep, data = m.body.partition("\n\n--- ")
    lines = [f"Report: {link.to(anchor)}"]
    if link.url:
        lines.append(f"In the S3 console: {link.console}")
    if sep:
        label, _, text = data.partition(" ---\n")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            text = json.dumps({**parsed, "report": link.to_dict(anchor)})
        body = head + "\n" + "\n".join(lines) + sep + label + " ---\n" + text
    else:
        body = m.body + "\n" + "\n".join(lines)
    return Message(m.subject, body, m.attributes, m.announcements)


def _message(unit: list[Announcement]) -> Message:
    first = unit[0]
    if first.kind == "overlap":
        return group_message(unit)
    if first.kind == "baseline":
        return baseline_message(first)
    return single_message(first)


def _order(unit: list[Announcement]) -> tuple[str, int, bool]:
    first = unit[0]
    conflict = any(a.state == "conflict" for a in unit)
    return first.at, _PRIORITY.get(first.kind, 9), not conflict
