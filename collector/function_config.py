"""The function's configuration: the same `config.yaml` document as the CLI, from the place the
stack names (`VPCTRACKER_CONFIG_PARAMETER`: an SSM parameter, or `VPCTRACKER_CONFIG_URI`:
`s3://bucket/key`), validated the same way, with the few values the stack itself sets
(`VPCTRACKER_*` variables: table names, role name, topic, ...) as overrides.

The document is read at most once a minute per container (a pushed change applies within a
minute, and a batch of events does not read it a hundred times); the external id's SecureString
parameter once per container.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import Config, ConfigError, config_data, parse_config
from collector.config_store import Location, read_document
from collector.errors import RetryPolicy, error_code
from collector.hub import hub_session
from collector.safety import brief

CONFIG_PARAMETER = "VPCTRACKER_CONFIG_PARAMETER"
CONFIG_URI = "VPCTRACKER_CONFIG_URI"
DOCUMENT_TTL_S = 60.0
_documents: dict[str, tuple[float, bytes]] = {}

# The external id's SecureString parameter, read once per container (cold start).
EXTERNAL_ID_PARAMETER = "VPCTRACKER_EXTERNAL_ID_PARAMETER"
_cold: dict[str, str] = {}

# Environment variable -> config key path (same validation as config.yaml).
ENV_KEYS: dict[str, str] = {
    "VPCTRACKER_TABLE": "table.name",
    "VPCTRACKER_TABLE_REGION": "table.region",
    "VPCTRACKER_RETENTION_DAYS": "table.deleted_retention_days",
    "VPCTRACKER_ROLE_NAME": "organization.role_name",
    "VPCTRACKER_EXTERNAL_ID": "organization.external_id",
    "VPCTRACKER_SESSION_NAME": "organization.session_name",
    "VPCTRACKER_INCLUDE_ACCOUNTS": "organization.include_accounts",
    "VPCTRACKER_EXCLUDE_ACCOUNTS": "organization.exclude_accounts",
    "VPCTRACKER_INCLUDE_OUS": "organization.include_ous",
    "VPCTRACKER_REGIONS": "regions",
    "VPCTRACKER_MAX_WORKERS": "scan.max_workers",
    "VPCTRACKER_PROCESSES": "scan.processes",
    "VPCTRACKER_ACCOUNTS_PER_PROCESS": "scan.accounts_per_process",
    "VPCTRACKER_LEASE_WAIT_SECONDS": "scan.lease_wait_seconds",
    "VPCTRACKER_HOME_REGION": "scan.home_region",
    "VPCTRACKER_RESERVED_CIDRS": "reserved_cidrs",
    "VPCTRACKER_HEADROOM_USED_PCT": "headroom.used_pct",
    "VPCTRACKER_HEADROOM_SUBNET_FREE_PCT": "headroom.subnet_free_pct",
    "VPCTRACKER_LEDGER_TABLE": "table.ledger_name",
    "VPCTRACKER_NOTIFY_TOPIC_ARN": "notify.topic_arn",
    "VPCTRACKER_NOTIFY_MAX_MESSAGES": "notify.max_messages",
    "VPCTRACKER_STALE_AFTER_DAYS": "scan.stale_after_days",
    "VPCTRACKER_NOTIFY_PRESIGN_HOURS": "notify.presign_hours",
    "VPCTRACKER_REPORT_BUCKET": "report.bucket",
    "VPCTRACKER_REPORT_PREFIX": "report.prefix",
    "VPCTRACKER_REPORT_KMS_KEY_ARN": "report.kms_key_arn",
    "VPCTRACKER_REPORT_MIN_INTERVAL_MINUTES": "report.min_interval_minutes",
}
LIST_KEYS = {
    "organization.include_accounts",
    "organization.exclude_accounts",
    "organization.include_ous",
}
INT_KEYS = {
    "notify.max_messages",
    "scan.max_workers",
    "scan.processes",
    "scan.accounts_per_process",
    "scan.lease_wait_seconds",
    "table.deleted_retention_days",
    "headroom.used_pct",
    "headroom.subnet_free_pct",
    "scan.stale_after_days",
    "notify.presign_hours",
    "report.min_interval_minutes",
}


def _env_value(path: str, raw: str) -> Any:
    if path in LIST_KEYS:
        return [x.strip() for x in raw.split(",") if x.strip()]
    if path in INT_KEYS:
        number = small_int(raw.strip())
        return raw if number is None else number
    if path == "regions":
        return "all" if raw.strip() == "all" else [x.strip() for x in raw.split(",") if x.strip()]
    if path == "reserved_cidrs":
        # name=cidr,name=cidr (one routed range per entry)
        out = []
        for entry in filter(None, (e.strip() for e in raw.split(","))):
            name, sep, cidr = entry.partition("=")
            if not sep:
                raise ConfigError(f"VPCTRACKER_RESERVED_CIDRS: {brief(entry)} is not name=cidr")
            out.append({"name": name.strip(), "cidr": cidr.strip()})
        return out
    return raw


def small_int(raw: str) -> int | None:
    """`raw` as an int when it is a few ASCII digits (and a sign); else None (the config's own
    validation then names the variable). Never Python's ValueError past 4,300 digits."""
    digits = raw.removeprefix("-")
    if digits.isascii() and digits.isdigit() and len(digits) <= 9:
        return int(raw)
    return None


def config_from_env(env: Mapping[str, str], session: boto3.Session | None = None) -> Config:
    """The function's config: the document `VPCTRACKER_CONFIG_PARAMETER` or `VPCTRACKER_CONFIG_URI`
    names (if any), then every non-empty VPCTRACKER_* variable over it; errors name the
    variable or the document, and the value (never the external id's). With
    VPCTRACKER_EXTERNAL_ID_PARAMETER the external id is read from that SSM SecureString
    parameter (once per container), so it is in no environment variable."""
    data, where = _document(env, session)
    parameter = env.get(EXTERNAL_ID_PARAMETER)
    if parameter:
        if env.get("VPCTRACKER_EXTERNAL_ID"):
            raise ConfigError(f"set VPCTRACKER_EXTERNAL_ID or {EXTERNAL_ID_PARAMETER}, not both")
        if isinstance(data.get("organization"), dict) and "external_id" in data["organization"]:
            raise ConfigError(
                f"{where}: organization.external_id is set, and so is {EXTERNAL_ID_PARAMETER}: "
                "keep it in one place (the SecureString parameter)"
            )
        data.setdefault("organization", {})["external_id"] = _external_id(parameter, env, session)
    for var, path in ENV_KEYS.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        node = data
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = _env_value(path, raw)
    data.setdefault("table", {}).setdefault("region", env.get("AWS_REGION", "us-east-1"))
    try:
        return parse_config(data, "environment")
    except ConfigError as exc:
        msg = str(exc).removeprefix("environment: ")
        # Name the variable users set, not the config path it maps to; a key no set variable
        # maps to came from the document.
        for var, path in sorted(ENV_KEYS.items(), key=lambda kv: -len(kv[1])):
            if msg.startswith(path) and env.get(var):
                raise ConfigError(var + msg[len(path) :]) from None
        raise ConfigError(f"{where or 'environment'}: {msg}") from None


def _document(env: Mapping[str, str], session: boto3.Session | None) -> tuple[dict[str, Any], str]:
    """The config document's data and where it came from ({} and "" without one)."""
    named = [(var, env[var]) for var in (CONFIG_PARAMETER, CONFIG_URI) if env.get(var)]
    if not named:
        return {}, ""
    if len(named) > 1:
        raise ConfigError(f"set {CONFIG_PARAMETER} or {CONFIG_URI}, not both")
    var, text = named[0]
    try:
        where = Location.parse(text)
    except ConfigError as exc:
        raise ConfigError(f"{var}: {exc}") from None
    if where.name and var != CONFIG_PARAMETER or where.bucket and var != CONFIG_URI:
        raise ConfigError(f"{var}: {brief(text)} is not a {var.rsplit('_', 1)[1].lower()}")
    key = str(where)
    cached = _documents.get(key)
    if cached is None or time.monotonic() - cached[0] > DOCUMENT_TTL_S:
        region = env.get("VPCTRACKER_TABLE_REGION") or env.get("AWS_REGION")
        raw = read_document(session or hub_session(), where, region)
        cached = (time.monotonic(), raw)
        _documents[key] = cached
    data = config_data(cached[1], key)
    if data is None:
        return {}, key
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: top level must be a mapping of keys, got {brief(data)}")
    parse_config(data, key)  # the document alone must be valid (errors name the document)
    return data, key


def _external_id(parameter: str, env: Mapping[str, str], session: boto3.Session | None) -> str:
    if parameter not in _cold:
        ssm = (session or hub_session()).client(
            "ssm", region_name=env.get("VPCTRACKER_TABLE_REGION") or env.get("AWS_REGION")
        )
        try:
            value = RetryPolicy().call(ssm.get_parameter, Name=parameter, WithDecryption=True)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigError(
                f"{EXTERNAL_ID_PARAMETER}: cannot read {brief(parameter)}: {error_code(exc)}"
            ) from None
        _cold[parameter] = str(value["Parameter"]["Value"])
    return _cold[parameter]
