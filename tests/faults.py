"""Fault injection into the real code path through botocore event hooks.

Errors are produced the way AWS produces them: a raw protocol body (XML for query/EC2 APIs,
JSON for DynamoDB/Organizations) with an HTTP status, parsed by botocore's own response
parser for the operation, so the code under test sees exactly the ClientError botocore raises.

Hooks are registered on a boto3 Session's event system; `member_session()` shares that system,
so hub and member-account clients are both covered. Which account a member-account call acts
for is recovered from the access key the call is signed with (learned from AssumeRole).
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.model import OperationModel
from botocore.parsers import create_parser


class RawBody(io.BytesIO):
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
    # json / rest-json: DynamoDB prefixes the code with its namespace, as real DynamoDB does.
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

    service: str
    operation: str
    kind: str  # "error" | "connection" | "timeout"
    code: str = ""
    status: int = 400
    message: str = "injected fault"
    times: int | None = None  # None = every matching call
    probability: float = 1.0
    account: str | None = None
    region: str | None = None
    fired: int = 0


@dataclass
class Faults:
    """Install with `Faults(session).install()`; add rules; read `injected` afterwards."""

    session: boto3.Session
    seed: int = 0
    rules: list[Rule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    key_to_account: dict[str, str] = field(default_factory=dict)
    unprocessed_fraction: float = 0.0
    vpc_page_size: int | None = None
    vpc_mutator: Callable[[str, str, list[dict[str, Any]]], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

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
    ) -> Rule:
        """Answer matching calls with an AWS error `code` (HTTP `status`)."""
        rule = Rule(
            service, operation, "error", code, status, message, times, probability, account, region
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
        """Fail matching calls with a connection reset or a read timeout."""
        rule = Rule(service, operation, kind, times=times, probability=probability)
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
        ev.register("after-call.dynamodb.BatchWriteItem", self._after_batch_write)
        return self

    # ----- matching ----------------------------------------------------------------------
    def _who(
        self, request_signer: Any, params: dict[str, Any], service: str
    ) -> tuple[str | None, str]:
        region = request_signer.region_name
        if service == "sts":
            arn = params.get("RoleArn", "")
            return (arn.split(":")[4] if arn.count(":") >= 5 else None), region
        creds = getattr(request_signer, "_credentials", None)
        try:
            key = creds.get_frozen_credentials().access_key if creds else None
        except RuntimeError:
            key = None
        return self.key_to_account.get(key or ""), region

    def _match(
        self, service: str, operation: str, kinds: tuple[str, ...], account: str | None, region: str
    ) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.kind not in kinds or rule.service != service:
                    continue
                if rule.operation not in (operation, "*"):
                    continue
                if rule.account and rule.account != account:
                    continue
                if rule.region and rule.region != region:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                self.injected[rule.code or rule.kind] += 1
                return rule
        return None

    # ----- hooks -------------------------------------------------------------------------
    def _before_parameter_build(
        self, params: dict[str, Any], model: OperationModel, context: dict[str, Any], **_: Any
    ) -> None:
        # The API-level parameters (before serialization), for the hooks that follow.
        context["fault_params"] = params
        if model.name == "BatchWriteItem" and self.unprocessed_fraction:
            self._hold_back(params, context)

    def _before_call(
        self, model: OperationModel, context: dict[str, Any], request_signer: Any, **_: Any
    ) -> Any:
        service = model.service_model.service_name
        account, region = self._who(request_signer, context.get("fault_params", {}), service)
        context["fault_account"] = account
        context["fault_region"] = region
        rule = self._match(service, model.name, ("error",), account, region)
        if rule is None:
            return None
        # Short-circuit the call: the server never sees it, so a throttled write is really
        # not written. botocore raises the ClientError from this parsed response.
        http = AWSResponse("https://fault.invalid/", rule.status, {}, RawBody(b""))
        return http, parsed_error(model, rule.code, rule.message, rule.status)

    def _before_send(self, request: Any, **_: Any) -> None:
        # Network faults are matched by service and operation (from the wire request).
        service = _service_from_target(request)
        if service is None:
            return None
        rule = self._match(service[0], service[1], ("connection", "timeout"), None, "")
        if rule is None:
            return None
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
        if self.vpc_mutator is not None:
            self.vpc_mutator(
                context.get("fault_account") or "", context.get("fault_region", ""), vpcs
            )
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

    def _hold_back(self, params: dict[str, Any], context: dict[str, Any]) -> None:
        held: dict[str, list[Any]] = {}
        for table, reqs in params["RequestItems"].items():
            keep, hold = [], []
            for r in reqs:
                (hold if self._rng.random() < self.unprocessed_fraction else keep).append(r)
            if not keep and hold:  # DynamoDB always makes some progress on a batch
                keep.append(hold.pop())
            params["RequestItems"][table] = keep
            if hold:
                held[table] = hold
                self.injected["UnprocessedItems"] += len(hold)
        context["fault_held"] = held

    def _after_batch_write(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        held = context.get("fault_held")
        if held:
            unprocessed = parsed.setdefault("UnprocessedItems", {})
            for table, reqs in held.items():
                unprocessed.setdefault(table, []).extend(reqs)


def _service_from_target(request: Any) -> tuple[str, str] | None:
    target = request.headers.get("X-Amz-Target")
    if isinstance(target, bytes):
        target = target.decode()
    if target and "." in target:
        prefix, op = target.rsplit(".", 1)
        return ("dynamodb" if prefix.startswith("DynamoDB") else "organizations"), op
    body = request.body
    if isinstance(body, bytes):
        body = body.decode(errors="ignore")
    if isinstance(body, str) and "Action=" in body:
        action = body.split("Action=", 1)[1].split("&", 1)[0]
        service = "sts" if action in ("AssumeRole", "GetCallerIdentity") else "ec2"
        return service, action
    return None
