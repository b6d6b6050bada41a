"""Write the botocore data member and hub sessions load, cut from the installed botocore's:

- EC2's model with only the operations a scan calls (`collector.scan.scanner.SCAN_OPERATIONS`),
  the shapes they reach, and no documentation;
- the endpoints of every partition with only EC2's (member sessions make EC2 clients only);
- the endpoints of every partition with only the services the hub calls
  (`collector.hub.HUB_SERVICES`), and each of those services' model whole but without its
  documentation, for hub sessions (`collector.hub.HUB_MODELS`).

    python -m scripts.scan_model      # or: make scan-model

Why: botocore parses EC2's whole model (830 operations, 4,400 shapes) into every process that
makes an EC2 client, and the endpoints of every service into every session that makes a
client, and keeps both: about 22 and 7 MB of a scanning process's peak, for nine operations of
one service (docs/benchmarks.md). Most of a model is documentation, which only feeds
docstrings: a hub session with DynamoDB, STS and Organizations clients holds 2 MB less
without it (docs/benchmarks.md, "The hub's service models without their documentation").
The files go under collector/assets/botocore/, which member sessions search before
botocore's own data (credentials.SCAN_MODELS), and collector/assets/hub/, which hub sessions
search (collector.hub.HUB_MODELS).
tests/unit/test_scan_model.py compares them with the installed botocore: exactly when it is
the one they were cut from (`cut-from.json`), for compatibility otherwise. Run this again
after upgrading botocore.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

import botocore
from botocore import xform_name
from botocore.loaders import Loader

from collector.credentials import SCAN_MODELS
from collector.hub import CUT_FROM, HUB_MODELS, HUB_SERVICES
from collector.scan.scanner import SCAN_OPERATIONS

# Keys that only feed docstrings; botocore reads nothing else from them.
_DOCS = ("documentation", "documentationUrl")
# Where a shape names other shapes: a structure's members, a list's member, a map's key/value.
_REFS = ("member", "key", "value")


def _undocumented(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in _DOCS}


def _shape(shape: dict[str, Any]) -> dict[str, Any]:
    """A shape without its documentation or its references' (a member may itself be named
    "documentation": members are names, not keys of the model)."""
    out = _undocumented(shape)
    if "members" in out:
        out["members"] = {name: _undocumented(ref) for name, ref in out["members"].items()}
    for key in _REFS:
        if key in out:
            out[key] = _undocumented(out[key])
    return out


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    """An operation without its documentation or its references' (input, output, errors)."""
    out = _undocumented(op)
    for key in ("input", "output"):
        if key in out:
            out[key] = _undocumented(out[key])
    if "errors" in out:
        out["errors"] = [_undocumented(ref) for ref in out["errors"]]
    return out


def _named(node: dict[str, Any]) -> list[str]:
    """The shapes an operation or a shape names."""
    refs = [node.get(k) for k in ("input", "output", *_REFS)]
    refs += node.get("errors", [])
    refs += list(node.get("members", {}).values())
    return [r["shape"] for r in refs if r]


def lean_model(model: dict[str, Any], operations: Collection[str]) -> dict[str, Any]:
    """Pure: `model` (a botocore service-2 model) with only the operations whose client method
    is in `operations`, the shapes they reach, and no documentation."""
    ops = {
        name: _operation(op)
        for name, op in model["operations"].items()
        if xform_name(name) in operations
    }
    wanted = [s for op in ops.values() for s in _named(op)]
    shapes: dict[str, dict[str, Any]] = {}
    while wanted:
        name = wanted.pop()
        if name not in shapes:
            shapes[name] = _shape(model["shapes"][name])
            wanted += _named(shapes[name])
    # Shapes in the model's order: the file reads like botocore's.
    ordered = {name: shapes[name] for name in model["shapes"] if name in shapes}
    top = _undocumented(model)
    return {**top, "operations": ops, "shapes": ordered}


def undocumented_model(model: dict[str, Any]) -> dict[str, Any]:
    """Pure: `model` (a botocore service-2 model) with every operation and every shape (an
    exception shape no operation names is still one of the client's exceptions), and no
    documentation but its client context parameters' (botocore reads theirs by key: S3's)."""
    return {
        **_undocumented(model),
        "operations": {name: _operation(op) for name, op in model["operations"].items()},
        "shapes": {name: _shape(shape) for name, shape in model["shapes"].items()},
    }


def lean_endpoints(endpoints: dict[str, Any], services: Collection[str]) -> dict[str, Any]:
    """Pure: botocore's endpoints data (every partition's regions and services) with only the
    endpoints of `services` in each partition; the partitions' own data (regions, DNS suffix,
    region pattern, defaults) whole."""
    partitions = [
        {
            **partition,
            "services": {k: v for k, v in partition["services"].items() if k in services},
        }
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1) + "\n"
    path.write_text(text)
    print(f"{path} ({len(text):,} bytes)")


def _write_model(folder: str, service: str, model: dict[str, Any]) -> None:
    """`model` as `service`'s service-2 under `folder`, in its API version's folder (the
    only one: an older version's would ship for nothing)."""
    version = model["metadata"]["apiVersion"]
    for old in (Path(folder) / service).glob("*"):
        if old.name != version:
            shutil.rmtree(old)
    _write(Path(folder) / service / version / "service-2.json", model)


def botocore_loader() -> Loader:
    """A loader of the installed botocore's own data only: not `~/.aws/models`, which a default
    loader searches first (a developer's own models there would be cut into the package), nor
    `AWS_DATA_PATH`."""
    return Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)


def main() -> None:
    """Write the cut data for the installed botocore (each service's latest API version), and
    which botocore all of it was cut from (`cut-from.json`, for tests/unit/test_scan_model.py)."""
    loader = botocore_loader()
    # Which botocore the files were cut from: a fresh install may bring another one.
    _write(CUT_FROM, {"botocore": botocore.__version__})
    ec2 = loader.load_service_model("ec2", "service-2")
    _write_model(SCAN_MODELS, "ec2", lean_model(ec2, SCAN_OPERATIONS))
    for service in sorted(HUB_SERVICES):
        model = loader.load_service_model(service, "service-2")
        _write_model(HUB_MODELS, service, undocumented_model(model))
    endpoints = loader.load_data("endpoints")
    _write(Path(SCAN_MODELS) / "endpoints.json", lean_endpoints(endpoints, {"ec2"}))
    _write(Path(HUB_MODELS) / "endpoints.json", lean_endpoints(endpoints, HUB_SERVICES))


if __name__ == "__main__":
    main()
