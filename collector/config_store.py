"""Where the deployed configuration lives: one `config.yaml` document in an SSM parameter or an
S3 object, which the function reads and `vpctracker config push` writes (so the CLI and the
function can never disagree about the organization).

A location is `ssm:/name` (or a bare `/name`: an SSM parameter name starts with `/` here) or
`s3://bucket/key`. The document is validated exactly as a file is (`config_data` +
`parse_config`) before it is written, and after it is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collector.config import (
    MAX_CONFIG_BYTES,
    Config,
    ConfigError,
    config_data,
    load_config,
    parse_config,
)
from collector.errors import RetryPolicy, error_code
from collector.hub import hub_session
from collector.safety import brief

_SSM_NAME = re.compile(r"/[a-zA-Z0-9_.\-/]{1,1010}\Z", re.ASCII)
_S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(\S{1,1024})\Z", re.ASCII)


@dataclass(frozen=True)
class Location:
    """An SSM parameter (`name`) or an S3 object (`bucket`, `key`) holding the document."""

    name: str = ""
    bucket: str = ""
    key: str = ""

    @classmethod
    def parse(cls, text: str) -> Location:
        """`ssm:/vpctracker/config`, `/vpctracker/config` or `s3://bucket/key`."""
        value = text.strip()
        ssm = value.removeprefix("ssm:")
        if _SSM_NAME.match(ssm):
            return cls(name=ssm)
        m = _S3_URI.match(value)
        if m:
            return cls(bucket=m.group(1), key=m.group(2))
        raise ConfigError(
            f"config location {brief(text)}: not ssm:/name (an SSM parameter whose name starts "
            "with /) or s3://bucket/key"
        )

    def __str__(self) -> str:
        return f"ssm:{self.name}" if self.name else f"s3://{self.bucket}/{self.key}"


def check_document(raw: bytes, where: Location) -> Config:
    """Pure: the document validated as a config file is (ConfigError naming `where`)."""
    return parse_config(config_data(raw, str(where)), str(where))


def read_document(session: boto3.Session, where: Location, region: str | None = None) -> bytes:
    """The document's bytes (an SSM SecureString is decrypted); ConfigError when it cannot be
    read, naming the location and the AWS error code (never its contents)."""
    retry = RetryPolicy()
    try:
        if where.name:
            ssm = session.client("ssm", region_name=region)
            answer: Any = retry.call(ssm.get_parameter, Name=where.name, WithDecryption=True)
            return str(answer["Parameter"]["Value"]).encode("utf-8")
        s3 = session.client("s3", region_name=region)
        obj: Any = retry.call(s3.get_object, Bucket=where.bucket, Key=where.key)
        body = obj["Body"].read(MAX_CONFIG_BYTES + 1)
        return bytes(body)
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(f"{where}: cannot read the configuration: {error_code(exc)}") from None


def write_document(
    session: boto3.Session, where: Location, raw: bytes, region: str | None = None
) -> None:
    """Store the document (validated first by the caller). An SSM parameter over 4 KB needs the
    advanced tier: `Intelligent-Tiering` picks standard when it fits."""
    retry = RetryPolicy()
    try:
        if where.name:
            ssm = session.client("ssm", region_name=region)
            retry.call(
                ssm.put_parameter,
                Name=where.name,
                Value=raw.decode("utf-8"),
                Type="String",
                Overwrite=True,
                Tier="Intelligent-Tiering",
                Description="VPCTracker config.yaml (vpctracker config push)",
            )
            return
        s3 = session.client("s3", region_name=region)
        retry.call(
            s3.put_object,
            Bucket=where.bucket,
            Key=where.key,
            Body=raw,
            ContentType="application/yaml",
        )
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(f"{where}: cannot write the configuration: {error_code(exc)}") from None


def is_location(text: str) -> bool:
    """`--config` names a deployed document (ssm:/..., s3://...), not a file."""
    return text.startswith(("ssm:", "s3://"))


def read_config_bytes(source: str, session: boto3.Session) -> bytes:
    """The bytes of a config file or of a deployed document."""
    if is_location(source):
        return read_document(session, Location.parse(source))
    try:
        with open(source, "rb") as f:
            return f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found (pass --config PATH)") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config file: {exc.strerror}") from None


def load(source: str, session: boto3.Session | None) -> Config:
    """`--config`: a file (as `load_config`) or a deployed document (`ssm:/...`, `s3://...`,
    read in the AWS configuration chain's region), validated the same way."""
    if not is_location(source):
        return load_config(source)
    where = Location.parse(source)
    return check_document(read_document(session or hub_session(), where), where)
