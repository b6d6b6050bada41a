"""Job — publish: the report where people look. The HTML report, the inventory (CSV and JSON)
and the audit JSON go to the report bucket under a stable `latest/` prefix and, for the nightly
run, a dated copy (`YYYY/MM/DD/`, tagged so the bucket's lifecycle expires it); notifications
link them.

Pure: which objects (`report_objects`), under which keys (`object_keys`), the links
(`ReportLink`). AWS: `put_objects` (S3), `presign`. A failed upload is counted
(`ReportFailures`), logged and never fails the run: the table is written by then.
"""

from __future__ import annotations

import gzip
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from collector.analysis import Audit
from collector.analysis.inventory import audit_rows, summary_of
from collector.config import Config, ConfigError, ReportConfig
from collector.errors import RetryPolicy, error_code
from collector.hub import hub_session
from collector.jobs.options import RunOptions, dynamodb_client
from collector.models import iso
from collector.notify import ReportLink
from collector.report import render_html, render_inventory, render_json
from collector.safety import brief
from collector.store.publishing import claim_refresh

log = logging.getLogger(__name__)

LATEST = "latest/"
# Dated copies carry this tag: the stack's lifecycle rule expires them (latest/ never).
DATED_TAG = "vpctracker-copy=dated"
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


@dataclass(frozen=True)
class ReportObject:
    """One file of the published report."""

    name: str  # report.html, inventory.csv, inventory.json, audit.json
    body: bytes

    @property
    def content_type(self) -> str:
        """What a browser is told it is."""
        return CONTENT_TYPES[self.name.rsplit(".", 1)[1]]

    @property
    def compressed(self) -> bool:
        """The page is stored gzip-encoded (browsers inflate it: 1.1 MiB at 25,000 VPCs is
        0.5 MiB on the wire); the data files stay plain for scripts (`aws s3 cp` does not)."""
        return self.name.endswith(".html")


def report_objects(audit: Audit, generated_at: datetime) -> list[ReportObject]:
    """Pure: the files of one report, from one audit (the page, and its data for scripts)."""
    rows = audit_rows(audit.vpcs, audit.stale)
    inventory = {"generated_at": iso(generated_at), "vpcs": rows, "summary": summary_of(rows)}
    return [
        ReportObject("report.html", render_html(audit).encode("utf-8")),
        ReportObject("inventory.csv", render_inventory(inventory, "csv").encode("utf-8")),
        ReportObject("inventory.json", render_inventory(inventory, "json").encode("utf-8")),
        ReportObject("audit.json", render_json(audit).encode("utf-8")),
    ]


def object_keys(prefix: str, at: datetime, *, dated: bool) -> list[str]:
    """Pure: the key prefixes one publication writes (`latest/`, and the day's with `dated`)."""
    keys = [prefix + LATEST]
    if dated:
        keys.append(f"{prefix}{at:%Y/%m/%d}/")
    return keys


def console_url(bucket: str, key: str, region: str) -> str:
    """Pure: the S3 console page of one object."""
    query = urllib.parse.urlencode({"region": region, "prefix": key})
    return f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?{query}"


def s3_client(session: boto3.Session, region: str) -> Any:
    """An S3 client that signs with SigV4 (a presigned URL of a KMS-encrypted object needs it)."""
    return session.client("s3", region_name=region, config=BotoConfig(signature_version="s3v4"))


def encryption(kms_key_arn: str | None) -> dict[str, Any]:
    """Pure: how an object is encrypted: with that KMS key, or S3-managed keys."""
    if kms_key_arn:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn}
    return {"ServerSideEncryption": "AES256"}


def put_objects(
    s3: Any,
    report: ReportConfig,
    objects: Iterable[ReportObject],
    prefixes: list[str],
    retry: RetryPolicy,
) -> list[str]:
    """Upload each object under each prefix (encrypted, typed, the dated copies tagged); the
    keys written."""
    assert report.bucket is not None
    sse = encryption(report.kms_key_arn)
    written = []
    for obj in objects:
        for prefix in prefixes:
            key = prefix + obj.name
            tags = {} if prefix.endswith(LATEST) else {"Tagging": DATED_TAG}
            encoding = {"ContentEncoding": "gzip"} if obj.compressed else {}
            retry.call(
                s3.put_object,
                Bucket=report.bucket,
                Key=key,
                Body=gzip.compress(obj.body, mtime=0) if obj.compressed else obj.body,
                ContentType=obj.content_type,
                **encoding,
                CacheControl="no-cache",
                **sse,
                **tags,
            )
            written.append(key)
    return written


@dataclass
class Publication:
    """What publishing did: the keys written, or why nothing was (`failures` counts uploads
    that failed: the `ReportFailures` metric)."""

    keys: list[str] = field(default_factory=list)
    link: ReportLink | None = None
    failures: int = 0
    skipped: str = ""  # why nothing was published (not configured, debounced)


# What a recording calls with the audit it compared and whether any finding changed.
Publisher = Callable[[Audit, bool], Publication]


def publish_report(config: Config, audit: Audit, opts: RunOptions, *, dated: bool) -> Publication:
    """Upload the report of `audit`; never raises for AWS errors (counted and logged)."""
    report = config.report
    if report.bucket is None:
        return Publication(skipped="no report.bucket")
    session = opts.session or hub_session()
    region = config.table.region
    at = opts.clock()
    prefixes = object_keys(report.prefix, at, dated=dated)
    try:
        s3 = s3_client(session, region)
        keys = put_objects(s3, report, report_objects(audit, at), prefixes, opts.retry)
        page = prefixes[-1] + "report.html"  # the dated copy when there is one: that night's
        url = presign(s3, report.bucket, page, config.notify.presign_hours)
    except (ClientError, BotoCoreError) as exc:
        log.error("report not published to s3://%s: %s", report.bucket, error_code(exc))
        return Publication(failures=1)
    return Publication(keys, ReportLink(console_url(report.bucket, page, region), url))


def presign(s3: Any, bucket: str, key: str, hours: int | None) -> str | None:
    """A URL that opens `key` for `hours` (None without `notify.presign_hours`)."""
    if hours is None:
        return None
    return str(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=hours * 3600
        )
    )


def nightly_publisher(config: Config, opts: RunOptions) -> Publisher:
    """What a full recording calls before it announces: the night's report, dated."""

    def publish(audit: Audit, _changed: bool) -> Publication:
        return publish_report(config, audit, opts, dated=True)

    return publish


def live_publisher(config: Config, opts: RunOptions) -> Publisher:
    """What a live update's recording calls: `latest/` refreshed when findings changed, at most
    once per `report.min_interval_minutes` across invocations (a claim in the ledger)."""

    def publish(audit: Audit, changed: bool) -> Publication:
        if config.report.bucket is None:
            return Publication(skipped="no report.bucket")
        if not changed:
            return Publication(skipped="no finding changed")
        ddb = dynamodb_client(opts.session or hub_session(), config)
        now = int(opts.clock().timestamp())
        interval = config.report.min_interval_minutes * 60
        try:
            claimed = opts.retry.call(claim_refresh, ddb, config.table.ledger, now, interval)
        except (ClientError, BotoCoreError) as exc:
            log.error("report refresh not claimed: %s", error_code(exc))
            return Publication(failures=1)
        if not claimed:
            # latest/ was refreshed moments ago (the burst's first event): link it as it is.
            return Publication(
                link=latest_link(config, opts),
                skipped="refreshed within report.min_interval_minutes",
            )
        return publish_report(config, audit, opts, dated=False)

    return publish


def latest_link(config: Config, opts: RunOptions) -> ReportLink | None:
    """The link to `latest/report.html` (no upload)."""
    report = config.report
    if report.bucket is None:
        return None
    key = report.prefix + LATEST + "report.html"
    region = config.table.region
    try:
        s3 = s3_client(opts.session or hub_session(), region)
        url = presign(s3, report.bucket, key, config.notify.presign_hours)
    except (ClientError, BotoCoreError) as exc:
        log.error("report link not signed: %s", error_code(exc))
        url = None
    return ReportLink(console_url(report.bucket, key, region), url)


S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(\S{1,1024})\Z", re.ASCII)
FORMAT_TYPES = {"table": "text/plain; charset=utf-8", **CONTENT_TYPES}


def write_s3(config: Config, opts: RunOptions, uri: str, text: str, fmt: str) -> str:
    """`--output s3://bucket/key`: one object written as the published report's are
    (encrypted with `report.kms_key_arn` or S3-managed keys, typed, not cached); its URI."""
    m = S3_URI.match(uri)
    if not m:
        raise ConfigError(f"--output {brief(uri)}: not s3://bucket/key")
    bucket, key = m.group(1), m.group(2)
    s3 = s3_client(opts.session or hub_session(), config.table.region)
    try:
        opts.retry.call(
            s3.put_object,
            Bucket=bucket,
            Key=key,
            Body=text.encode("utf-8"),
            ContentType=FORMAT_TYPES[fmt],
            CacheControl="no-cache",
            **encryption(config.report.kms_key_arn),
        )
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(f"--output {uri}: cannot write: {error_code(exc)}") from None
    return uri
