"""Job — findings, the announcing part: what a recording's transitions announce, and the
ledger's outbox sent to the SNS topic, each announcement deleted only once SNS accepted the
message that carries it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from collector.analysis.findings import Comparison, Finding, message_groups
from collector.config import Config
from collector.errors import RetryPolicy, error_code
from collector.hub import hub_session
from collector.jobs.options import RunOptions
from collector.notify import Announcement, Message, ReportLink, messages
from collector.store.findings import outbox_key, pending
from collector.store.writer import delete_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient

log = logging.getLogger(__name__)


def announcements(
    cmp: Comparison, bodies: Mapping[str, dict[str, Any]], at: str
) -> list[Announcement]:
    """Pure: what a recording at `at` announces of its transitions `cmp`: each new, changed and
    resolved finding (a resolved one with its last body from `bodies`; one without was resolved
    meanwhile by another recording, which announced it), the overlap ones under the widest
    group span they share (one message per group of blocks)."""
    resolved = cmp.resolved
    spans = [f.group for f in cmp.new if f.kind == "overlap"]
    spans += [f.group for f, _ in cmp.changed if f.kind == "overlap"]
    spans += [k.group for k in resolved if k.kind == "overlap" and k.group]
    groups = message_groups(spans)

    def entry(f: Finding, transition: str, previous: str = "") -> Announcement:
        group = groups.get(f.group, f.group)
        return Announcement(at, f.id, transition, f.kind, f.state, group, f.build(), previous)

    out = [entry(f, "new") for f in cmp.new]
    out += [entry(f, "changed", previous=k.state) for f, k in cmp.changed]
    for k in resolved:
        body = bodies.get(k.id)
        if body is not None:
            group = groups.get(k.group, k.group)
            out.append(Announcement(at, k.id, "resolved", k.kind, k.state, group, body))
    return out


def baseline_announcement(
    current: Iterable[Finding], at: str, frozen: Callable[[str, str], bool]
) -> Announcement:
    """Pure: the one message of a first baseline: how many findings of each kind and state it
    recorded (those of `frozen` targets left out)."""
    counts: dict[str, int] = {}
    for f in current:
        if not frozen(f.account, f.region):
            key = f"{f.kind} {f.state}".strip()
            counts[key] = counts.get(key, 0) + 1
    return Announcement(
        at,
        "baseline",
        "baseline",
        "baseline",
        "",
        "",
        {"known": sum(counts.values()), "counts": counts},
    )


@dataclass(frozen=True)
class Sent:
    """What one sending of the outbox did."""

    notified: int = 0  # messages SNS accepted
    failures: int = 0  # messages SNS did not accept (their announcements stay pending)
    pending: int = 0  # announcements left in the outbox


def send_outbox(
    config: Config, opts: RunOptions, ddb: DynamoDBClient, link: ReportLink | None
) -> Sent:
    """Send every pending announcement to `notify.topic_arn` (bounded by `notify.max_messages`,
    then a digest), each linking the report when there is one."""
    topic = config.notify.topic_arn
    assert topic, "send_outbox needs notify.topic_arn"
    outbox = opts.retry.call(pending, ddb, config.table.ledger)
    if not outbox:
        return Sent()
    by_key = {(p.finding_id, p.transition, p.at): p for p in outbox}
    sns = (opts.session or hub_session()).client(
        "sns", region_name=topic.split(":")[3] or config.table.region
    )
    batch = messages((Announcement.of(p.message) for p in outbox), config.notify.max_messages, link)
    notified = failures = 0
    left = len(outbox)
    # A message's entries leave the outbox while the next message is published: one round
    # trip a message, not two. At most one delete is under way; its failure is raised once
    # that next publish returns, so that message too is made again by the next recording
    # (delivery is at least once; a delete in line would have stopped before it).
    with ThreadPoolExecutor(1, thread_name_prefix="outbox") as deleter:
        deleting: Future[None] | None = None
        for m in batch:
            accepted = publish_message(sns, topic, m, opts.retry)
            if deleting is not None:
                deleting.result()
                deleting = None
            if not accepted:
                failures += 1
                continue
            notified += 1
            done = [outbox_key(by_key[(a.id, a.transition, a.at)]) for a in m.announcements]
            deleting = deleter.submit(opts.retry.call, delete_items, ddb, config.table.ledger, done)
            left -= len(done)
        if deleting is not None:
            deleting.result()
    return Sent(notified, failures, left)


def publish_message(sns: SNSClient, topic: str, message: Message, retry: RetryPolicy) -> bool:
    """Publish one message; False (logged) when SNS did not accept it."""
    try:
        retry.call(
            sns.publish,
            TopicArn=topic,
            Subject=message.subject,
            Message=message.body,
            MessageAttributes=message.attributes,
        )
    except (ClientError, BotoCoreError) as exc:
        log.error("notification not published (left pending): %s", error_code(exc))
        return False
    return True
