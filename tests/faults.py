"""Fault injection into the real code path through botocore event hooks.

Errors are produced the way AWS produces them: a raw protocol body (XML for query/EC2 APIs,
JSON for DynamoDB/Organizations) with an HTTP status, parsed by botocore's own response
parser for the operation, so the code under test sees exactly the ClientError botocore raises.
Network faults raise botocore's own ConnectionClosedError / ReadTimeoutError from the send step,
so botocore's retry handler sees them as it would a real reset or timeout.

Hooks are registered on a boto3 Session's event system; `member_session()` shares that system,
so hub and member-account clients are both covered. Which account a member-account call acts
for is recovered from the access key the call is signed with (learned from AssumeRole).

Every decision is a deterministic function of (seed, rule, call identity, n-th such call), not
of a shared random stream, so a seeded schedule injects the same faults whatever order the
threads happen to run in.
"""

from __future__ import annotations

import io
import json
import threading
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.model import OperationModel
from botocore.parsers import create_parser

ACCOUNT_LEVEL = "*"  # the region of faults that hit a whole account (AssumeRole, its Query)


class RawBody(io.BytesIO):
    """A urllib3-like raw body for AWSResponse."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        if data:
            yield data


def error_body(protocol: str, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    """The wire body AWS sends for an error in `protocol`, and its content type."""
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>fault-injected</RequestID></Response>"
        )
        return body.encode(), {"content-type": "text/xml"}
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>fault-injected</RequestId>"
            "</ErrorResponse>"
        )
        return body.encode(), {"content-type": "text/xml"}
    # JSON protocols: DynamoDB prefixes the code with its namespace, as real DynamoDB does.
    return (
        json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
        ).encode(),
        {"content-type": "application/x-amz-json-1.0", "x-amzn-errortype": code},
    )


def parsed_error(model: OperationModel, code: str, message: str, status: int) -> dict[str, Any]:
    """What botocore's parser makes of a real error response for `model`."""
    protocol = model.service_model.protocol
    body, headers = error_body(protocol, code, message)
    parser = create_parser(protocol)
    parsed: dict[str, Any] = parser.parse(
        {"status_code": status, "headers": headers, "body": body}, model.output_shape
    )
    parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = status
    return parsed


@dataclass
class Rule:
    """One fault: where (service/operation, optional account/region), what, and how often."""

    service: str  # or "*"
    operation: str  # or "*"
    kind: str  # "error" | "connection" | "timeout" | "raw"
    code: str = ""
    status: int = 400
    message: str = "injected fault"
    times: int | None = None  # None = no cap
    probability: float = 1.0
    account: str | None = None
    region: str | None = None
    once_per_target: bool = False
    body: bytes = b""  # kind "raw": the whole HTTP answer's body (and `status`, `content_type`)
    content_type: str = "text/html"
    fired: int = 0
    fired_targets: set[tuple[str | None, str]] = field(default_factory=set)


Mutator = Callable[[str, str, list[dict[str, Any]], Callable[[str], float]], list[str]]


@dataclass
class Faults:
    """Install with `Faults(session).install()`; add rules; read `injected` afterwards."""

    session: boto3.Session
    seed: int = 0
    rules: list[Rule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    # (account, region) -> codes injected there; region "*" for account-level calls.
    injected_at: defaultdict[tuple[str | None, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    key_to_account: dict[str, str] = field(default_factory=dict)
    unprocessed_fraction: float = 0.0
    vpc_page_size: int | None = None
    # (account, region, vpcs, roll) -> VpcIds it corrupted; roll(tag) is a deterministic [0, 1).
    vpc_mutator: Mutator | None = None
    corrupted: list[tuple[str, str, str]] = field(default_factory=list)
    # (account, region) -> the OptInStatus that account's DescribeRegions reports for region.
    region_status: dict[tuple[str, str], str] = field(default_factory=dict)
    enabled: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _calls: Counter[str] = field(default_factory=Counter)

    # ----- configuration ---------------------------------------------------------------
    def error(
        self,
        service: str,
        operation: str,
        code: str,
        *,
        status: int = 400,
        times: int | None = None,
        probability: float = 1.0,
        account: str | None = None,
        region: str | None = None,
        message: str = "injected fault",
        once_per_target: bool = False,
    ) -> Rule:
        """Answer matching calls with an AWS error `code` (HTTP `status`)."""
        rule = Rule(
            service,
            operation,
            "error",
            code,
            status,
            message,
            times,
            probability,
            account,
            region,
            once_per_target,
        )
        self.rules.append(rule)
        return rule

    def network(
        self,
        service: str,
        operation: str,
        kind: str = "connection",
        *,
        times: int | None = None,
        probability: float = 1.0,
    ) -> Rule:
        """Fail matching calls with a connection reset (`connection`) or a read timeout."""
        rule = Rule(service, operation, kind, times=times, probability=probability)
        self.rules.append(rule)
        return rule

    def raw(
        self,
        service: str,
        operation: str,
        status: int,
        body: bytes,
        *,
        name: str,
        content_type: str = "text/html",
        probability: float = 1.0,
        account: str | None = None,
        region: str | None = None,
        times: int | None = None,
    ) -> Rule:
        """Answer matching calls with a whole HTTP response (a proxy's page, say), which
        botocore parses as it would a real one; `name` is the error code it should surface as
        (the name counted in `injected`)."""
        rule = Rule(
            service,
            operation,
            "raw",
            name,
            status,
            times=times,
            probability=probability,
            account=account,
            region=region,
            body=body,
            content_type=content_type,
        )
        self.rules.append(rule)
        return rule

    def install(self) -> Faults:
        """Register the hooks on the session (before any client is created)."""
        ev = self.session.events
        ev.register_first("before-parameter-build", self._before_parameter_build)
        ev.register_first("before-call", self._before_call)
        ev.register_first("before-send", self._before_send)
        ev.register("after-call.sts.AssumeRole", self._learn_key)
        ev.register("after-call.ec2.DescribeVpcs", self._after_describe_vpcs)
        ev.register("after-call.ec2.DescribeRegions", self._after_describe_regions)
        ev.register("after-call.dynamodb.BatchWriteItem", self._after_batch_write)
        return self

    def roll(self, *parts: object) -> float:
        """A deterministic number in [0, 1) for this seed and these parts."""
        text = "|".join(map(str, (self.seed, *parts)))
        return zlib.crc32(text.encode()) / 2**32

    # ----- matching ----------------------------------------------------------------------
    def _who(
        self, service: str, operation: str, params: dict[str, Any], request_signer: Any
    ) -> tuple[str | None, str]:
        if service == "sts" and operation == "AssumeRole":
            arn = params.get("RoleArn", "")
            return (arn.split(":")[4] if arn.count(":") >= 5 else None), ACCOUNT_LEVEL
        if service == "dynamodb" and operation == "Query":
            owner = params.get("ExpressionAttributeValues", {}).get(":o", {}).get("S")
            return owner, ACCOUNT_LEVEL
        creds = getattr(request_signer, "_credentials", None)
        try:
            key = creds.get_frozen_credentials().access_key if creds else None
        except RuntimeError:
            key = None
        return self.key_to_account.get(key or ""), request_signer.region_name

    def _match(
        self,
        service: str,
        operation: str,
        kinds: tuple[str, ...],
        account: str | None,
        region: str,
    ) -> Rule | None:
        if not self.enabled:
            return None
        with self._lock:
            for idx, rule in enumerate(self.rules):
                if rule.kind not in kinds or rule.service not in (service, "*"):
                    continue
                if rule.operation not in (operation, "*"):
                    continue
                if (rule.account and rule.account != account) or (
                    rule.region and rule.region != region
                ):
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.once_per_target and (account, region) in rule.fired_targets:
                    continue
                call_key = f"{idx}|{service}|{operation}|{account}|{region}"
                n = self._calls[call_key]
                self._calls[call_key] += 1
                if self.roll(call_key, n) >= rule.probability:
                    continue
                rule.fired += 1
                rule.fired_targets.add((account, region))
                name = rule.code or (
                    "ConnectionClosedError" if rule.kind == "connection" else "ReadTimeoutError"
                )
                self.injected[name] += 1
                self.injected_at[(account, region)][name] += 1
                return rule
        return None

    # ----- hooks -------------------------------------------------------------------------
    def _before_parameter_build(
        self, params: dict[str, Any], model: OperationModel, context: dict[str, Any], **_: Any
    ) -> None:
        # The API-level parameters (before serialization), for the hooks that follow.
        context["fault_params"] = params
        if model.name == "BatchWriteItem" and self.unprocessed_fraction and self.enabled:
            self._hold_back(params, context)

    def _before_call(
        self, model: OperationModel, context: dict[str, Any], request_signer: Any, **_: Any
    ) -> Any:
        service = model.service_model.service_name
        account, region = self._who(
            service, model.name, context.get("fault_params", {}), request_signer
        )
        context["fault_service"] = service
        context["fault_operation"] = model.name
        context["fault_account"] = account
        context["fault_region"] = region
        rule = self._match(service, model.name, ("error",), account, region)
        if rule is None:
            return None
        # Short-circuit the call: the server never sees it, so a throttled write is really
        # not written. botocore raises the ClientError from this parsed response.
        http = AWSResponse("https://fault.invalid/", rule.status, {}, RawBody(b""))
        return http, parsed_error(model, rule.code, rule.message, rule.status)

    def _before_send(self, request: Any, **_: Any) -> Any:
        ctx = getattr(request, "context", None) or {}
        if "fault_service" not in ctx:
            return None
        rule = self._match(
            ctx["fault_service"],
            ctx["fault_operation"],
            ("connection", "timeout", "raw"),
            ctx.get("fault_account"),
            ctx.get("fault_region", ""),
        )
        if rule is None:
            return None
        if rule.kind == "raw":
            # A whole HTTP answer, parsed by botocore as it would parse a proxy's reply.
            headers = {"content-type": rule.content_type}
            return AWSResponse(request.url, rule.status, headers, RawBody(rule.body))
        if rule.kind == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        raise ConnectionClosedError(endpoint_url=request.url)

    def _learn_key(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        creds = parsed.get("Credentials")
        arn = context.get("fault_params", {}).get("RoleArn", "")
        if creds and arn:
            with self._lock:
                self.key_to_account[creds["AccessKeyId"]] = arn.split(":")[4]

    def _after_describe_vpcs(
        self, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        vpcs = parsed.get("Vpcs")
        if vpcs is None:
            return
        account = context.get("fault_account") or ""
        region = context.get("fault_region", "")
        if self.vpc_mutator is not None and self.enabled:
            with self._lock:
                key = f"mutate|{account}|{region}"
                n = self._calls[key]
                self._calls[key] += 1
            hit = self.vpc_mutator(account, region, vpcs, lambda tag: self.roll(key, n, tag))
            with self._lock:
                self.corrupted.extend((account, region, vid) for vid in hit)
                self.injected["malformed"] += len(hit)
        if self.vpc_page_size:
            # EC2 may return fewer items than MaxResults with a NextToken; emulate real
            # server-side paging over moto's full answer (moto does not page DescribeVpcs).
            params = context.get("fault_params", {})
            start = int(params.get("NextToken") or 0)
            size = min(self.vpc_page_size, params.get("MaxResults") or self.vpc_page_size)
            parsed["Vpcs"] = vpcs[start : start + size]
            if start + size < len(vpcs):
                parsed["NextToken"] = str(start + size)
                self.injected["vpc-page"] += 1
            else:
                parsed.pop("NextToken", None)

    def _after_describe_regions(
        self, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        account = context.get("fault_account") or ""
        for region in parsed.get("Regions", []):
            status = self.region_status.get((account, region.get("RegionName", "")))
            if status is not None:
                region["OptInStatus"] = status

    def _hold_back(self, params: dict[str, Any], context: dict[str, Any]) -> None:
        held: dict[str, list[Any]] = {}
        # A new dict, never the caller's: a retried call must send everything again.
        params["RequestItems"] = dict(params["RequestItems"])
        for table, reqs in params["RequestItems"].items():
            keep, hold = [], []
            for r in reqs:
                item_key = json.dumps(r, sort_keys=True)
                with self._lock:
                    n = self._calls[item_key]
                    self._calls[item_key] += 1
                held_back = self.roll("unprocessed", item_key, n) < self.unprocessed_fraction
                (hold if held_back else keep).append(r)
            if not keep and hold:  # DynamoDB always makes some progress on a batch
                keep.append(hold.pop())
            params["RequestItems"][table] = keep
            if hold:
                held[table] = hold
                with self._lock:
                    self.injected["UnprocessedItems"] += len(hold)
        context["fault_held"] = held

    def _after_batch_write(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        held = context.get("fault_held")
        if held:
            unprocessed = parsed.setdefault("UnprocessedItems", {})
            for table, reqs in held.items():
                unprocessed.setdefault(table, []).extend(reqs)
