"""The botocore data member sessions load (collector/assets/botocore): EC2's service model cut
to the operations a scan calls, and the endpoints cut to EC2's; and hub sessions'
(collector/assets/hub): the endpoints cut to the services the hub calls, and those services'
models without their documentation. Each is read by botocore exactly as the whole is. Pure: no
endpoint is called."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.session
import pytest
from botocore import xform_name
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.regions import EndpointResolver

from collector.config import known_regions
from collector.credentials import SCAN_MODELS, _models
from collector.hub import HUB_MODELS, HUB_SERVICES, at_least, cut_from, hub_core, hub_session
from collector.scan.scanner import SCAN_OPERATIONS
from scripts.scan_model import (
    botocore_loader,
    lean_endpoints,
    lean_model,
    undocumented_model,
)


@pytest.fixture(scope="module")
def whole() -> dict[str, Any]:
    """The installed botocore's EC2 model (botocore's own data only)."""
    return dict(botocore_loader().load_service_model("ec2", "service-2"))


def _walk(shape: Shape, seen: set[str]) -> Iterator[Any]:
    """Everything botocore reads of a shape to serialize or parse it, recursively (each named
    shape once: EC2's shapes do not recurse, but the walk must not depend on it)."""
    yield shape.name, shape.type_name, shape.serialization, shape.metadata
    if shape.name in seen:
        return
    seen.add(shape.name)
    if shape.type_name == "structure":
        yield sorted(shape.required_members)
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            yield name
            yield from _walk(member, seen)
    elif shape.type_name == "list":
        yield from _walk(shape.member, seen)  # type: ignore[attr-defined]
    elif shape.type_name == "map":
        yield from _walk(shape.key, seen)  # type: ignore[attr-defined]
        yield from _walk(shape.value, seen)  # type: ignore[attr-defined]


def _read(op: OperationModel) -> list[Any]:
    shapes = [s for s in (op.input_shape, op.output_shape) if s is not None]
    return [
        op.name,
        op.http,
        op.metadata,
        op.context_parameters,
        op.static_context_parameters,
        op.auth_type,
        op.auth,
        op.request_compression,
        [e.name for e in op.error_shapes],
        *(list(_walk(s, set())) for s in shapes),
    ]


def test_the_lean_model_is_read_as_the_whole_model_for_each_scan_operation(
    whole: dict[str, Any],
) -> None:
    full, lean = ServiceModel(whole, "ec2"), ServiceModel(lean_model(whole, SCAN_OPERATIONS), "ec2")
    wanted = {o for o in full.operation_names if xform_name(o) in SCAN_OPERATIONS}
    assert set(lean.operation_names) == wanted
    assert len(lean.operation_names) == len(SCAN_OPERATIONS)
    for name in lean.operation_names:
        # Every shape an operation names is there (botocore raises on a missing one), and
        # read the same: members, types, wire names, limits.
        assert _read(lean.operation_model(name)) == _read(full.operation_model(name)), name
    for attr in ("metadata", "protocol", "protocols", "api_version", "endpoint_prefix"):
        assert getattr(lean, attr) == getattr(full, attr), attr
    assert lean.service_id == full.service_id
    assert lean.signature_version == full.signature_version


def _docs(node: Any) -> Iterator[str]:
    """Every documentation text in a model (a member named "documentation" is a dict)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("documentation", "documentationUrl") and isinstance(value, str):
                yield value
            yield from _docs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _docs(value)


def test_the_lean_model_keeps_no_documentation_and_no_shape_no_operation_needs(
    whole: dict[str, Any],
) -> None:
    lean = lean_model(whole, SCAN_OPERATIONS)
    assert not list(_docs(lean))
    full = ServiceModel(lean, "ec2")
    reached: set[str] = set()
    for name in full.operation_names:
        op = full.operation_model(name)
        for shape in (op.input_shape, op.output_shape):
            if shape is not None:
                list(_walk(shape, reached))
    assert reached == set(lean["shapes"])


def test_a_member_named_documentation_is_a_member_not_a_comment() -> None:
    model = {
        "metadata": {"protocol": "ec2"},
        "documentation": "the service",
        "operations": {
            "DescribeVpcs": {
                "name": "DescribeVpcs",
                "input": {"shape": "In"},
                "documentation": "an operation",
            },
            "CreateVpc": {"name": "CreateVpc", "input": {"shape": "Other"}},
        },
        "shapes": {
            "In": {
                "type": "structure",
                "members": {
                    "documentation": {"shape": "S", "documentation": "a member's"},
                    "Tags": {"shape": "L"},
                },
                "documentation": "a shape's",
            },
            "L": {"type": "list", "member": {"shape": "S", "documentation": "x"}},
            "S": {"type": "string"},
            "Other": {"type": "string"},
        },
    }
    assert lean_model(model, {"describe_vpcs"}) == {
        "metadata": {"protocol": "ec2"},
        "operations": {"DescribeVpcs": {"name": "DescribeVpcs", "input": {"shape": "In"}}},
        "shapes": {
            "In": {
                "type": "structure",
                "members": {"documentation": {"shape": "S"}, "Tags": {"shape": "L"}},
            },
            "L": {"type": "list", "member": {"shape": "S"}},
            "S": {"type": "string"},
        },
    }


def test_the_undocumented_model_keeps_every_operation_and_shape_and_no_documentation() -> None:
    model = {
        "version": "2.0",
        "metadata": {"protocol": "json"},
        "documentation": "the service",
        "clientContextParams": {"Accelerate": {"type": "boolean", "documentation": "read"}},
        "operations": {
            "GetItem": {
                "name": "GetItem",
                "input": {"shape": "In", "documentation": "its input"},
                "output": {"shape": "S", "documentation": "its output"},
                "errors": [{"shape": "Throttled", "documentation": "when throttled"}],
                "documentation": "an operation",
                "documentationUrl": "https://example.com",
            },
        },
        "shapes": {
            "In": {
                "type": "structure",
                "members": {"documentation": {"shape": "S", "documentation": "a member's"}},
                "documentation": "a shape's",
            },
            "S": {"type": "string"},
            "Throttled": {"type": "structure", "members": {}, "exception": True},
            # No operation names it: still one of the client's exceptions.
            "Unnamed": {
                "type": "structure",
                "members": {},
                "exception": True,
                "documentation": "x",
            },
        },
    }
    assert undocumented_model(model) == {
        "version": "2.0",
        "metadata": {"protocol": "json"},
        "clientContextParams": {"Accelerate": {"type": "boolean", "documentation": "read"}},
        "operations": {
            "GetItem": {
                "name": "GetItem",
                "input": {"shape": "In"},
                "output": {"shape": "S"},
                "errors": [{"shape": "Throttled"}],
            },
        },
        "shapes": {
            "In": {"type": "structure", "members": {"documentation": {"shape": "S"}}},
            "S": {"type": "string"},
            "Throttled": {"type": "structure", "members": {}, "exception": True},
            "Unnamed": {"type": "structure", "members": {}, "exception": True},
        },
    }


@pytest.fixture(scope="module")
def hub_models() -> dict[str, dict[str, Any]]:
    """The installed botocore's model of each hub service (its own loader)."""
    loader = botocore_loader()
    return {s: dict(loader.load_service_model(s, "service-2")) for s in sorted(HUB_SERVICES)}


def _service_read(model: ServiceModel) -> list[Any]:
    """What botocore reads of a service model beside its operations: its metadata and its
    exceptions (a client's `exceptions` lists every exception shape, named or not)."""
    return [
        *(getattr(model, a) for a in ("metadata", "protocol", "api_version", "endpoint_prefix")),
        model.service_id,
        model.signature_version,
        [(p.name, p.type, p.documentation) for p in model.client_context_parameters],
        sorted(s.name for s in model.error_shapes),
        sorted(model.shape_names),
    ]


@pytest.mark.parametrize("service", sorted(HUB_SERVICES))
def test_the_undocumented_model_is_read_as_the_whole_model(
    hub_models: dict[str, dict[str, Any]], service: str
) -> None:
    whole = hub_models[service]
    lean = undocumented_model(whole)
    # A client context parameter's documentation is read by key (`ClientContextParameter`,
    # S3's): kept, and compared below.
    assert not list(_docs({k: v for k, v in lean.items() if k != "clientContextParams"}))
    full, ours = ServiceModel(whole, service), ServiceModel(lean, service)
    assert ours.operation_names == full.operation_names
    assert _service_read(ours) == _service_read(full)
    for name in full.operation_names:
        assert _read(ours.operation_model(name)) == _read(full.operation_model(name)), name


def test_the_cut_is_made_from_botocore_s_own_data_only() -> None:
    """Not from `~/.aws/models`, which a default loader searches first: a developer's own
    models there would be cut into the package."""
    assert botocore_loader().search_paths == [Loader.BUILTIN_DATA_PATH]
    assert Loader.CUSTOMER_DATA_PATH in Loader().search_paths  # what the default would read


def _shipped(path: str, folder: str = SCAN_MODELS) -> dict[str, Any]:
    shipped = Path(folder) / path
    assert shipped.is_file(), f"no {shipped}: run `make scan-model`"
    return dict(json.loads(shipped.read_text()))


def _exactly_if_cut_from_this_botocore() -> None:
    """A fresh install may bring a newer botocore than the files were cut from: then only
    the compatibility tests below apply (a newer botocore adds to EC2's model and regions)."""
    if cut_from() != botocore.__version__:
        pytest.skip(f"cut from botocore {cut_from()}, {botocore.__version__} installed")


def test_the_shipped_model_is_the_installed_botocore_model_cut(whole: dict[str, Any]) -> None:
    _exactly_if_cut_from_this_botocore()
    version = whole["metadata"]["apiVersion"]
    assert _shipped(f"ec2/{version}/service-2.json") == lean_model(whole, SCAN_OPERATIONS), (
        "the shipped EC2 model is not the installed botocore's: run `make scan-model`"
    )


def _within(shipped: Shape, installed: Shape, seen: set[str]) -> Iterator[str]:
    """What of `shipped` the installed model reads otherwise: a type, a wire name, a member
    it lacks. Members the installed model adds are not looked at."""
    if (shipped.type_name, shipped.serialization) != (installed.type_name, installed.serialization):
        yield f"{shipped.name}: {shipped.type_name} {shipped.serialization}"
    if shipped.name in seen:
        return
    seen.add(shipped.name)
    if shipped.type_name == "structure":
        theirs = installed.members  # type: ignore[attr-defined]
        for name, member in shipped.members.items():  # type: ignore[attr-defined]
            if name not in theirs:
                yield f"{shipped.name}.{name}: not in the installed model"
            else:
                yield from _within(member, theirs[name], seen)
    elif shipped.type_name == "list":
        yield from _within(shipped.member, installed.member, seen)  # type: ignore[attr-defined]
    elif shipped.type_name == "map":
        yield from _within(shipped.key, installed.key, seen)  # type: ignore[attr-defined]
        yield from _within(shipped.value, installed.value, seen)  # type: ignore[attr-defined]


def _reads_as_installed(shipped: ServiceModel, installed: ServiceModel) -> None:
    """Each operation of `shipped` is one `installed` has, at the same HTTP route, and each
    field it describes is one the installed model reads the same way."""
    for name in shipped.operation_names:
        ours, theirs = shipped.operation_model(name), installed.operation_model(name)
        assert ours.http == theirs.http, name
        for a, b in (
            (ours.input_shape, theirs.input_shape),
            (ours.output_shape, theirs.output_shape),
        ):
            assert (a is None) == (b is None), name
            if a is not None and b is not None:
                assert list(_within(a, b, set())) == [], name


def test_the_shipped_model_reads_each_scan_operation_as_the_installed_botocore(
    whole: dict[str, Any],
) -> None:
    """Whatever botocore is installed: the shipped model has the scan's operations, and each
    field it describes is one the installed model reads the same way."""
    (version,) = [p.name for p in (Path(SCAN_MODELS) / "ec2").iterdir()]
    shipped = ServiceModel(_shipped(f"ec2/{version}/service-2.json"), "ec2")
    installed = ServiceModel(whole, "ec2")
    assert {xform_name(o) for o in shipped.operation_names} == SCAN_OPERATIONS
    _reads_as_installed(shipped, installed)


def _shipped_hub_model(service: str) -> tuple[str, dict[str, Any]]:
    """A hub service's shipped model: its API version, and the model."""
    folder = Path(HUB_MODELS) / service
    versions = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    assert len(versions) == 1, f"{folder}: {versions} (run `make scan-model`)"
    return versions[0], _shipped(f"{service}/{versions[0]}/service-2.json", HUB_MODELS)


@pytest.mark.parametrize("service", sorted(HUB_SERVICES))
def test_the_shipped_hub_models_are_the_installed_botocore_models_undocumented(
    hub_models: dict[str, dict[str, Any]], service: str
) -> None:
    _exactly_if_cut_from_this_botocore()
    version, shipped = _shipped_hub_model(service)
    assert version == hub_models[service]["metadata"]["apiVersion"]
    assert shipped == undocumented_model(hub_models[service]), (
        f"the shipped {service} model is not the installed botocore's: run `make scan-model`"
    )


@pytest.mark.parametrize("service", sorted(HUB_SERVICES))
def test_the_shipped_hub_models_read_each_operation_as_the_installed_botocore(
    hub_models: dict[str, dict[str, Any]], service: str
) -> None:
    """Whatever botocore is installed: each operation the shipped model has, the installed
    one has and reads the same way, field by field (operations it adds later are not in
    ours: the tool calls none of them)."""
    shipped = ServiceModel(_shipped_hub_model(service)[1], service)
    installed = ServiceModel(hub_models[service], service)
    assert set(shipped.operation_names) <= set(installed.operation_names)
    _reads_as_installed(shipped, installed)


@pytest.fixture(scope="module")
def endpoints() -> dict[str, Any]:
    """The installed botocore's endpoints of every service (its own loader)."""
    return dict(botocore_loader().load_data("endpoints"))


def _answer(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """What a call returns, or the name of what it raised: the same refusal is the same answer."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__


def _resolved(resolver: EndpointResolver, service: str, partition: str, region: str) -> list[Any]:
    return [
        _answer(
            resolver.construct_endpoint,
            service,
            region,
            partition_name=partition,
            use_fips_endpoint=fips,
            use_dualstack_endpoint=dualstack,
        )
        for fips in (False, True)
        for dualstack in (False, True)
    ]


# Each cut: where it ships, and the services whose endpoints it keeps.
CUTS = [
    pytest.param(SCAN_MODELS, frozenset({"ec2"}), id="member"),
    pytest.param(HUB_MODELS, HUB_SERVICES, id="hub"),
]


@pytest.mark.parametrize(("folder", "services"), CUTS)
def test_the_lean_endpoints_resolve_their_services_as_the_whole_endpoints_do(
    endpoints: dict[str, Any], folder: str, services: frozenset[str]
) -> None:
    # Each its own copy: botocore's resolver writes what it resolved into the data it holds.
    full = EndpointResolver(copy.deepcopy(endpoints))
    lean = EndpointResolver(copy.deepcopy(lean_endpoints(endpoints, services)))
    assert lean.get_available_partitions() == full.get_available_partitions()
    for partition in endpoints["partitions"]:
        name = partition["partition"]
        for service in sorted(services):
            named = partition["services"].get(service, {}).get("endpoints", {})
            # Every region the partition names, every endpoint the service names (FIPS ones
            # too), and a region botocore knows only by the partition's pattern.
            for region in sorted({*partition["regions"], *named, "xx-nowhere-9"}):
                assert _resolved(lean, service, name, region) == _resolved(
                    full, service, name, region
                ), (service, name, region)
            for tags in (None, ["fips"], ["dualstack"]):
                for non_regional in (False, True):
                    args = (service, name, non_regional, tags)
                    assert lean.get_available_endpoints(*args) == full.get_available_endpoints(
                        *args
                    )
        for region in partition["regions"]:
            assert _answer(lean.get_partition_for_region, region) == _answer(
                full.get_partition_for_region, region
            )
        assert lean.get_partition_dns_suffix(name) == full.get_partition_dns_suffix(name)
    kept = {s for p in lean_endpoints(endpoints, services)["partitions"] for s in p["services"]}
    assert kept <= services
    assert kept == services & {s for p in endpoints["partitions"] for s in p["services"]}


@pytest.mark.parametrize(("folder", "services"), CUTS)
def test_the_shipped_endpoints_are_the_installed_botocore_endpoints_cut(
    endpoints: dict[str, Any], folder: str, services: frozenset[str]
) -> None:
    _exactly_if_cut_from_this_botocore()
    assert _shipped("endpoints.json", folder) == lean_endpoints(endpoints, services), (
        "the shipped endpoints are not the installed botocore's: run `make scan-model`"
    )


@pytest.mark.parametrize(("folder", "services"), CUTS)
def test_the_shipped_endpoints_resolve_their_services_as_the_installed_botocore(
    endpoints: dict[str, Any], folder: str, services: frozenset[str]
) -> None:
    """Whatever botocore is installed: every endpoint the shipped data names resolves as the
    installed data resolves it, host, protocols and signing (regions it adds later are found
    by their partition's pattern). FIPS and dual-stack variants are left out: a newer botocore
    adds some (measured: 1.40.0's data against 1.44.8's), and the URL of a call is the
    endpoint rules' (botocore's own file), not these."""
    shipped = _shipped("endpoints.json", folder)
    ours, theirs = EndpointResolver(shipped), EndpointResolver(copy.deepcopy(endpoints))

    def plain(resolver: EndpointResolver, service: str, region: str, partition: str) -> Any:
        found = _answer(resolver.construct_endpoint, service, region, partition_name=partition)
        return (
            {k: v for k, v in found.items() if k != "variants"}
            if isinstance(found, dict)
            else found
        )

    for partition in copy.deepcopy(shipped)["partitions"]:
        name = partition["partition"]
        assert set(partition["services"]) <= services, name
        for service in sorted(services):
            named = partition["services"].get(service, {}).get("endpoints", {})
            for region in sorted({*partition["regions"], *named}):
                assert plain(ours, service, region, name) == plain(theirs, service, region, name), (
                    service,
                    name,
                    region,
                )


def test_member_sessions_load_the_cut_data() -> None:
    loader = _models(None)
    for name in ("endpoints", "ec2/2016-11-15/service-2"):
        _, path = loader.load_data_with_path(name)
        assert Path(path).is_relative_to(SCAN_MODELS), (name, path)


def test_hub_sessions_load_the_cut_endpoints_and_models() -> None:
    session = hub_session()
    loader = session._session.get_component("data_loader")
    _, path = loader.load_data_with_path("endpoints")
    assert Path(path).is_relative_to(HUB_MODELS)
    for service in sorted(HUB_SERVICES):
        version = session.client(service, region_name="us-east-1").meta.service_model.api_version
        _, path = loader.load_data_with_path(f"{service}/{version}/service-2")
        assert Path(path).is_relative_to(HUB_MODELS), (service, path)


def test_a_botocore_older_than_the_cut_reads_its_own_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """An older botocore may read a newer model otherwise: botocore 1.34.0 sends SQS's calls
    in the query protocol of its own model, and with the cut's (SQS has since moved to JSON)
    in JSON. So the hub's data is searched only with a botocore at least as new as the one
    it was cut from."""

    def searched(version: str) -> bool:
        monkeypatch.setattr(botocore, "__version__", version)
        loader = hub_session()._session.get_component("data_loader")
        return HUB_MODELS in loader.search_paths

    assert searched(cut_from())
    assert searched("99.0.0")
    assert not searched("1.34.0")
    monkeypatch.setenv("AWS_DATA_PATH", "/somewhere/of/mine")
    assert hub_core().get_component("data_loader").search_paths[0] == "/somewhere/of/mine"


@pytest.mark.parametrize(
    ("installed", "cut", "expected"),
    [
        ("1.44.8", "1.44.8", True),
        ("1.44.10", "1.44.8", True),  # numbers, not text
        ("1.45.0", "1.44.8", True),
        ("2.0.0", "1.44.8", True),
        ("1.44.7", "1.44.8", False),
        ("1.9.99", "1.44.8", False),
        ("nonsense", "1.44.8", False),  # cannot tell: botocore's own data
        ("1.44.8", "", False),  # no record of the cut
    ],
)
def test_at_least(installed: str, cut: str, expected: bool) -> None:
    assert at_least(installed, cut) is expected


_SOURCES = Path(__file__).parents[2] / "collector"


def test_every_client_the_package_makes_is_of_a_hub_service() -> None:
    """A hub client of a service the cut leaves out would find no endpoint data of its own:
    its service is in `HUB_SERVICES` (and `make scan-model` cuts the data again)."""
    named = {
        m
        for f in _SOURCES.rglob("*.py")
        for m in re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']""", f.read_text())
    }
    assert named  # the pattern does find the package's clients
    assert named <= HUB_SERVICES, named - HUB_SERVICES


def test_every_session_the_package_makes_is_a_hub_session() -> None:
    """Each `boto3.Session` reads the endpoints it is given: one made elsewhere than
    `hub_session` would parse every service's (7 MB) again."""
    made = [f.name for f in _SOURCES.rglob("*.py") if "boto3.Session(" in f.read_text()]
    assert made == ["hub.py"]
    # botocore sessions too: the hub's (`hub_core`) and the member sessions, each with a
    # loader of the cut data; `config.known_regions` made one of its own before b1c0c3c.
    core = ("botocore.session.Session(", "get_session(")
    made = [f.name for f in _SOURCES.rglob("*.py") if any(c in f.read_text() for c in core)]
    assert sorted(made) == ["credentials.py", "hub.py"]


def test_hub_clients_resolve_as_boto3_s_own_session_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end, no call made: each hub service's client, in regions of every kind (the
    commercial, GovCloud and China partitions, an opt-in region, one known only by its
    partition's pattern), gets the URL, region, signing region and name, and partition that
    boto3's own session gives it."""
    # Credentials, no profile or endpoint: tests/conftest.py.
    for name in ("AWS_DATA_PATH", "AWS_USE_FIPS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    ours, theirs = hub_session(), boto3.Session()

    def seen(client: Any) -> tuple[Any, ...]:
        signer = client._request_signer
        meta = client.meta
        return (meta.endpoint_url, meta.region_name, meta.partition, signer._region_name,
                signer._signing_name)  # fmt: skip

    regions = ("us-east-1", "eu-west-1", "il-central-1", "us-gov-west-1", "cn-north-1")
    for service in sorted(HUB_SERVICES):
        for region in (*regions, "xx-nowhere-9"):
            assert seen(ours.client(service, region_name=region)) == seen(
                theirs.client(service, region_name=region)
            ), (service, region)


def test_the_regions_config_checks_against_are_botocore_s_whole_data_s() -> None:
    """`config.known_regions` reads them from the hub's cut endpoints (EC2's kept whole)."""
    whole = botocore.session.Session()  # botocore's own data only
    assert known_regions() == {
        r for p in whole.get_available_partitions() for r in whole.get_available_regions("ec2", p)
    }
    _, path = hub_core().get_component("data_loader").load_data_with_path("endpoints")
    assert Path(path).is_relative_to(HUB_MODELS)


def test_the_regions_are_read_without_parsing_a_service_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session's `get_available_regions` parses EC2's whole service model (12 MB of RSS,
    33 ms) only to read its endpoint prefix; every process that checks a region (a config's
    `regions`, `--region`, each live event's) would hold it for nothing."""
    parsed: list[str] = []
    load = Loader.load_service_model

    def spy(self: Loader, service_name: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(service_name)
        return load(self, service_name, *args, **kwargs)

    monkeypatch.setattr(Loader, "load_service_model", spy)
    known_regions.cache_clear()
    try:
        assert "eu-west-1" in known_regions()
    finally:
        known_regions.cache_clear()
    assert parsed == []
