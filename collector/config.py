"""Stage 1 — configuration: `config.yaml` validated into frozen pydantic models."""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from collector.safety import brief, counted, one_line

# Their home before collector.shapes: still importable from here.
from collector.shapes import AccountId as AccountId
from collector.shapes import RegionShape as RegionShape
from collector.shapes import Shaped as Shaped

# Anchored with `\Z` (`$` also matches before a final newline: "123456789012\n" would pass) and
# ASCII-only (`\d` and `\w` otherwise take any script's digits and letters, which AWS refuses).
ACCOUNT_ID_RE = re.compile(r"^\d{12}\Z", re.ASCII)
# Every region name AWS has published follows this shape (us-east-1, us-gov-west-1,
# cn-northwest-1, ap-southeast-5, us-isob-east-1); a typo such as "us-east1" does not.
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}\Z", re.ASCII)
OU_ID_RE = re.compile(r"^ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}\Z", re.ASCII)
ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}\Z", re.ASCII)
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}\Z", re.ASCII)
TABLE_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{3,255}\Z", re.ASCII)
# What STS accepts as ExternalId: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}\Z", re.ASCII)
# Keys whose values are never repeated in a message, valid or not.
SECRET_KEYS = frozenset({"organization.external_id"})
MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; a megabyte is not a config


class ConfigError(Exception):
    """A configuration or usage problem, already phrased as one line for the user."""


def check_account_id(value: str) -> str:
    """Return `value` if it is a 12-digit AWS account id, else raise ValueError."""
    if not ACCOUNT_ID_RE.match(value):
        raise ValueError("not a 12-digit AWS account id")
    return value


def check_region_shape(value: str) -> str:
    """Return `value` if it is shaped like an AWS region name, else raise ValueError.

    For data other programs wrote (table items): a region newer than this botocore is valid.
    """
    if not REGION_RE.match(value):
        raise ValueError("not an AWS region name (e.g. us-east-1)")
    return value


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows for EC2, in every partition (loaded once, on first use).
    From the hub's endpoints, which keep EC2's whole (tests/unit/test_scan_model.py): a
    session of botocore's own parses every service's, 7 MB, to answer it. Read from the
    endpoints alone: a session's `get_available_regions` parses EC2's whole service model
    (12 MB of RSS, 33 ms) only to learn its endpoint prefix, which is `ec2`."""
    from botocore.regions import EndpointResolver

    from collector.hub import hub_core

    resolver = EndpointResolver(hub_core().get_component("data_loader").load_data("endpoints"))
    return frozenset(
        r
        for partition in resolver.get_available_partitions()
        for r in resolver.get_available_endpoints("ec2", partition)
    )


def check_region(value: str) -> str:
    """Return `value` if it is a region botocore knows (any partition), else raise ValueError.

    For names people type (config, --region, events): a typo such as `eu-wset-1` has the
    right shape, and would otherwise end as a failed (or, before, skipped) target in every
    account of every run. A region newer than the installed botocore needs a botocore upgrade.
    """
    check_region_shape(value)
    if value not in known_regions():
        close = difflib.get_close_matches(value, sorted(known_regions()), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(f"unknown AWS region{hint}")
    return value


def check_cidr(value: str) -> str:
    """Return the normalised network of `value` (IPv4 or IPv6), else raise ValueError."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"not a valid CIDR block ({exc})") from None


def _check_pattern(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"not a valid {what}")
        return value

    return AfterValidator(check)


RegionName = Annotated[str, AfterValidator(check_region)]
Cidr = Annotated[str, AfterValidator(check_cidr)]
OuId = Annotated[str, _check_pattern(OU_ID_RE, "organizational unit id (ou-xxxx-xxxxxxxx)")]
ExternalId = Annotated[
    str, _check_pattern(EXTERNAL_ID_RE, "external id (2-1224 characters of A-Za-z0-9_+=,.@:/-)")
]


class _Strict(BaseModel):
    # strict=True: YAML `max_workers: "8"` or `include_accounts: [123456789012]` (an int)
    # are reported as wrong types rather than silently coerced.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class OrganizationConfig(_Strict):
    """Which accounts to scan and how to get into them."""

    role_name: Annotated[str, _check_pattern(ROLE_NAME_RE, "IAM role name")] = "VPCTrackerReadOnly"
    external_id: ExternalId | None = None
    session_name: Annotated[str, _check_pattern(SESSION_NAME_RE, "role session name")] = (
        "vpctracker"
    )
    include_accounts: list[AccountId] = []
    exclude_accounts: list[AccountId] = []
    include_ous: list[OuId] = []


class TableConfig(_Strict):
    """The central DynamoDB table, and the ledger table beside it."""

    name: Annotated[str, _check_pattern(TABLE_NAME_RE, "DynamoDB table name")] = "VPCTracker"
    region: RegionName = "us-east-1"
    # How long an item marked Deleted stays before DynamoDB TTL removes it.
    deleted_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # Known findings, the notification outbox and changes live in their own table, so reads
    # of the whole inventory never read them (a Scan reads every item of a table, and a sparse
    # index cannot be read strongly consistent). null: `<name>-ledger`.
    ledger_name: Annotated[str, _check_pattern(TABLE_NAME_RE, "DynamoDB table name")] | None = None
    # false: a VPC or connectivity item whose scan changed nothing but `LastSeen` is not written
    # again; each account's scan times are recorded once (store.scanned) and readers derive
    # `LastSeen` from them. true keeps every item's stored `LastSeen` current, as before.
    rewrite_unchanged: bool = True

    @property
    def ledger(self) -> str:
        """The ledger table's name."""
        return self.ledger_name or f"{self.name}-ledger"


class ScanConfig(_Strict):
    """How the fan-out runs."""

    max_workers: Annotated[int, Field(ge=1, le=256)] = 64
    # Processes that make the fan-out's calls (collector/scan/processes.py); the run keeps
    # `max_workers` calls in flight across them. Unset: the CPUs this process may use.
    processes: Annotated[int, Field(ge=1, le=64)] | None = None
    # No more processes than one per this many accounts: a worker costs about half a second
    # of CPU to start, more than a small run (a live update's one account) saves.
    accounts_per_process: Annotated[int, Field(ge=1, le=100_000)] = 50
    # How long a run waits for an account another run is collecting before it reports that
    # account failed (LeaseHeld) rather than race it.
    lease_wait_seconds: Annotated[int, Field(ge=0, le=900)] = 60
    # Region used for account-level EC2 calls (DescribeRegions); defaults to table.region.
    home_region: RegionName | None = None
    # A live item no successful scan of its target has seen for this long is stale: listed
    # apart, no current finding, still taken for `allocate`.
    stale_after_days: Annotated[int, Field(ge=1, le=365)] = 7


class HeadroomConfig(_Strict):
    """When a VPC or a subnet counts as running out of addresses."""

    # A VPC whose subnets' addresses are this much in use (percent) is reported.
    used_pct: Annotated[int, Field(ge=1, le=100)] = 80
    # A subnet with this share of its usable addresses or fewer still free (percent).
    subnet_free_pct: Annotated[int, Field(ge=0, le=100)] = 10


class ReservedCidr(_Strict):
    """A routed range that is not a VPC (on-prem, partner) and must not be reused."""

    cidr: Cidr
    name: Annotated[str, Field(min_length=1, max_length=128)]
    # Reached through VPN / Direct Connect attachments: overlapping it in a TGW route table
    # that has such an attachment is a conflict, not a latent overlap.
    on_prem: bool = False


class ExpectedOverlap(_Strict):
    """A range many VPCs reuse on purpose (pod networking, never routed between VPCs): blocks
    inside it are not findings unless some network reaches two of them."""

    cidr: Cidr
    reason: Annotated[str, Field(min_length=1, max_length=256)]


class OverlapsConfig(_Strict):
    """How overlaps are judged."""

    expected: list[ExpectedOverlap] = []


# SNS topic ARN: arn:<partition>:sns:<region>:<account>:<name>.
TOPIC_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?\Z",
    re.ASCII,
)


class NotifyConfig(_Strict):
    """Where new, changed and resolved findings are announced."""

    # null: findings are recorded and their announcements kept pending (in the ledger's
    # outbox) for the next run that has a topic (the function's nightly or event run).
    topic_arn: Annotated[str, _check_pattern(TOPIC_ARN_RE, "SNS topic ARN")] | None = None
    # One recording publishes at most this many messages; the rest go into one digest.
    max_messages: Annotated[int, Field(ge=1, le=100)] = 10
    # With a report bucket: each message links the report with a presigned URL valid this many
    # hours (SigV4 allows 7 days); null: the console link only (readers sign in).
    presign_hours: Annotated[int, Field(ge=1, le=168)] | None = None


# An S3 bucket name (the general-purpose rules: 3-63 characters, lowercase, digits, . and -).
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z", re.ASCII)
KMS_KEY_RE = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}\Z", re.ASCII
)
PREFIX_RE = re.compile(r"^([A-Za-z0-9_.-]+/)*\Z", re.ASCII)


class ReportConfig(_Strict):
    """Where the nightly run publishes the HTML report, the inventory and the audit JSON."""

    # null: not published. The hub stack's ReportBucket sets it for the function.
    bucket: Annotated[str, _check_pattern(BUCKET_RE, "S3 bucket name")] | None = None
    # Keys start with this (empty, or path segments each ending in /).
    prefix: Annotated[str, _check_pattern(PREFIX_RE, "key prefix (segments ending in /)")] = ""
    # Objects are encrypted with this KMS key; null: S3-managed keys (SSE-S3).
    kms_key_arn: Annotated[str, _check_pattern(KMS_KEY_RE, "KMS key ARN")] | None = None
    # A live update refreshes latest/ at most this often (a burst is one upload).
    min_interval_minutes: Annotated[int, Field(ge=0, le=1440)] = 15


class Config(_Strict):
    """The whole validated `config.yaml`."""

    organization: OrganizationConfig = OrganizationConfig()
    # List first: for a list input, the first error reported is about its bad item.
    regions: Annotated[list[RegionName], Field(min_length=1)] | Literal["all"] = "all"
    table: TableConfig = TableConfig()
    scan: ScanConfig = ScanConfig()
    reserved_cidrs: list[ReservedCidr] = []
    headroom: HeadroomConfig = HeadroomConfig()
    overlaps: OverlapsConfig = OverlapsConfig()
    notify: NotifyConfig = NotifyConfig()
    report: ReportConfig = ReportConfig()

    @field_validator("regions", mode="before")
    @classmethod
    def _regions_all_or_list(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "all":
            raise ValueError("must be 'all' or a list of region names")
        return value

    @property
    def home_region(self) -> str:
        """Region for account-level EC2 calls such as DescribeRegions."""
        return self.scan.home_region or self.table.region


def format_validation_error(exc: ValidationError, source: str) -> str:
    """Render the first pydantic error as one line: `source: key.path: value: problem`."""
    err = exc.errors(include_url=False)[0]
    loc = _format_loc(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return one_line(f"{source}: unknown key '{brief(loc, 80)[1:-1]}'")
    if err["type"] == "missing":
        return one_line(f"{source}: {loc}: required key is missing")
    # A union reports one error per branch (`regions[0]` and `regions` for one mistake):
    # count other keys only, not the reported key's parents.
    locs = {_format_loc(e["loc"]) for e in exc.errors(include_url=False)}
    others = len({x for x in locs if x != loc and not loc.startswith(x)})
    more = f" (and {counted(others, 'more problem')})" if others else ""
    if err["type"] == "string_type" and isinstance(err["input"], int):
        # YAML reads an unquoted 123456789012 as a number (and 012345670123 as an octal one).
        msg = "write it in quotes, e.g. '012345678901': unquoted, YAML reads digits as a number"
    # Say what is wrong with a secret, never what it is.
    got = "" if loc in SECRET_KEYS else f" (got {brief(err['input'])})"
    return one_line(f"{source}: {loc}: {msg}{got}{more}")


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        # Pydantic names union branches in the location ("list[...]", "literal['all']");
        # users only know the YAML key path.
        if isinstance(part, str) and ("[" in part or "(" in part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def parse_config(data: Any, source: str = "config") -> Config:
    """Validate an already-loaded mapping; raise ConfigError with one readable line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of keys, got {brief(data)}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file; every problem becomes a one-line ConfigError."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found (pass --config PATH)") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
    return parse_config(config_data(raw, str(p)), str(p))


def config_data(raw: bytes, source: str) -> Any:
    """A config document's YAML as data (not yet validated), read exactly as `load_config` reads
    a file: the same size cap, encoding and loader, whether it comes from a file, an SSM
    parameter or an S3 object; problems are one-line ConfigErrors naming `source`."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{source}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config file"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(one_line(f"{source}: YAML syntax error{where}: {problem}")) from None


# A config is a few levels deep; thousands of `[` would exhaust Python's stack in the composer.
MAX_DEPTH = 32
# The longest integer a config needs (a retention in days) has a few digits; Python refuses to
# parse more than 4,300 (a ValueError no YAML error handler expects).
MAX_INT_DIGITS = 18


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses what no config needs and a hostile file could use: aliases (nine
    lines of nested aliases, a "billion laughs", expand to gigabytes in anything that walks the
    result), nesting past `MAX_DEPTH`, integers past `MAX_INT_DIGITS` digits, and a key given
    twice in one mapping (YAML would keep the last one silently)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed in a config", mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {brief(key)} given twice", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> Any:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of {digits} digits is not a config value", node.start_mark
            )
        return super().construct_yaml_int(node)


_ConfigLoader.add_constructor("tag:yaml.org,2002:int", _ConfigLoader.construct_yaml_int)
