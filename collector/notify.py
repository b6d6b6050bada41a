"""Notifications: one SNS message per new or resolved finding, for people and machines.

The subject and body are for people (account id and name, region, VPC id, CIDR and what it
clashes with); the body ends with the finding as JSON for machines, which is also in the
`finding` message attribute. Member strings go through the terminal neutralizer: a Name cannot
add lines to a mail or forge another finding. SNS subjects must be ASCII without line breaks,
at most 100 characters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from collector.errors import RetryPolicy
from collector.safety import terminal

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

log = logging.getLogger(__name__)

MAX_SUBJECT = 100


def _who(m: dict[str, Any]) -> str:
    if "Reserved" in m:
        return f"reserved range {terminal(m['Reserved'])} {m['Cidr']}"
    return (
        f"{m['VpcId']} {m['Cidr']} in {m['OwnerId']} ({terminal(m['AccountName']) or '-'}) "
        f"{m['Region']}"
    )


def describe(finding: dict[str, Any], state: str) -> tuple[str, str]:
    """(subject, body) for a finding that is `new` or `resolved`."""
    kind = finding["kind"]
    verb = "resolved" if state == "resolved" else "new"
    if kind == "overlap":
        sev = finding["severity"]
        subject = (
            f"VPCTracker: {verb} {sev} overlap {finding['a']['Cidr']} / {finding['b']['Cidr']}"
        )
        lines = [
            f"A {sev} overlap is {verb}:",
            f"  {_who(finding['a'])}",
            f"  clashes with {_who(finding['b'])}",
        ]
        if finding.get("at"):
            lines.append(f"  reached by {finding['at']} via {', '.join(finding['via'])}")
    elif kind == "default-vpc":
        subject = f"VPCTracker: {verb} default VPC in {finding['OwnerId']} {finding['Region']}"
        lines = [f"A default VPC is {verb}:", f"  {_who(finding)}"]
    else:
        subject = f"VPCTracker: {verb} headroom finding for {finding['VpcId']}"
        lines = [
            f"A VPC running out of addresses is {verb} ({finding['Reason']}):",
            f"  {finding['VpcId']} {', '.join(finding['Cidrs'])} in {finding['OwnerId']} "
            f"({terminal(finding['AccountName']) or '-'}) {finding['Region']}",
            f"  {finding['UtilizationPct']}% of {finding['UsableAddresses']} addresses in use, "
            f"largest free block {finding['LargestFreeBlock'] or 'none'}",
        ]
    body = "\n".join(
        [*lines, "", "--- finding (JSON) ---", json.dumps({**finding, "state": state})]
    )
    return _subject(subject), body


def _subject(text: str) -> str:
    ascii_only = terminal(text).encode("ascii", "replace").decode()
    return ascii_only if len(ascii_only) <= MAX_SUBJECT else ascii_only[: MAX_SUBJECT - 3] + "..."


def publish(
    sns: SNSClient,
    topic: str,
    new: Iterable[dict[str, Any]],
    resolved: Iterable[dict[str, Any]],
    retry: RetryPolicy,
) -> int:
    """Publish one message per finding; returns how many were published."""
    sent = 0
    for state, findings in (("new", new), ("resolved", resolved)):
        for finding in findings:
            subject, body = describe(finding, state)
            attribute = json.dumps({**finding, "state": state})
            attrs: dict[str, Any] = {
                "kind": {"DataType": "String", "StringValue": finding["kind"]},
                "state": {"DataType": "String", "StringValue": state},
            }
            if len(attribute) < 200_000:
                attrs["finding"] = {"DataType": "String", "StringValue": attribute}
            retry.call(
                sns.publish, TopicArn=topic, Subject=subject, Message=body, MessageAttributes=attrs
            )
            sent += 1
    return sent


def publish_baseline(sns: SNSClient, topic: str, count: int, retry: RetryPolicy) -> int:
    """The first run's one message: the baseline, instead of every finding (no flood)."""
    retry.call(
        sns.publish,
        TopicArn=topic,
        Subject="VPCTracker: baseline recorded",
        Message=(
            f"VPCTracker recorded its first baseline: {count} finding(s) known. From now on, "
            "each new finding and each resolution is announced once.\n\nRun `vpctracker audit` "
            "to see them."
        ),
    )
    return 1
