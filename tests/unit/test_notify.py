"""Notifications as SNS takes them: inert member strings, bounded sizes, ids on every message."""

from __future__ import annotations

import json

from collector.analysis import build_audit
from collector.analysis.findings import iter_findings
from collector.notify import MAX_BODY, MAX_SUBJECT, Announcement, messages
from tests.factories import T, make_vpc
from tests.reliability.test_hostile import HOSTILE, RAW_CONTROL


def announcements(vpcs: int, group: str = "10.0.0.0/16") -> list[Announcement]:
    live = [make_vpc(n + 1, "10.0.0.0/16", owner=f"{100000000000 + n:012d}") for n in range(vpcs)]
    return [
        Announcement("2026-11-29T03:00:00Z", f.id, "new", f.kind, f.state, group, f.build())
        for f in iter_findings(build_audit(live, [], now=T))
    ]


def size(m: object) -> int:
    body = getattr(m, "body")  # noqa: B009
    attrs = getattr(m, "attributes")  # noqa: B009
    return len(body.encode()) + sum(len(json.dumps(v)) for v in attrs.values())


def test_a_huge_group_is_one_message_within_sns_s_size() -> None:
    # 3,000 blocks of one range newly reachable at once: one message, still publishable.
    many = announcements(3_000)
    (m,) = messages(many, max_messages=10)
    assert len(m.announcements) == 3_000
    assert len(m.body) <= MAX_BODY and size(m) < 256 * 1024
    assert "and 2950 more" in m.body
    data = json.loads(m.body.split("--- findings (JSON) ---\n", 1)[1])
    assert data["truncated"] is True and {"id", "transition", "at"} <= set(data["findings"][0])


def test_a_digest_of_many_groups_is_within_sns_s_size() -> None:
    many = [
        Announcement("2026-11-29T03:00:00Z", f"id{n}", "new", "default-vpc", "", "", {})
        for n in range(40_000)
    ]
    out = messages(many, max_messages=10)
    assert len(out) == 11 and "digest" in out[-1].subject
    assert all(size(m) < 256 * 1024 for m in out)
    assert sum(len(m.announcements) for m in out) == 40_000


def test_member_strings_are_inert_in_every_message() -> None:
    live = [
        make_vpc(n + 1, "10.0.0.0/16", owner=f"{100000000000 + n:012d}", name=s, account_name=s)
        for n, s in enumerate(HOSTILE)
    ]
    audit = build_audit(
        [*live, make_vpc(99, "172.31.0.0/16", default=True, name=HOSTILE[4])], [], now=T
    )
    found = [
        Announcement("t", f.id, "new", f.kind, f.state, f.group, f.build())
        for f in iter_findings(audit)
    ]
    for m in messages(found, max_messages=100):
        text = m.body.split("--- ")[0]
        assert not RAW_CONTROL.search(text) and not RAW_CONTROL.search(m.subject)
        assert len(m.subject) <= MAX_SUBJECT and m.subject.isascii()
        assert "\nOVERLAP GROUPS: none" not in m.body
        ids = json.loads(m.attributes["findings"]["StringValue"])
        assert ids and all({"id", "transition", "at"} == set(i) for i in ids)
