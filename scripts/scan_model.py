"""Write the EC2 model a member session loads: the installed botocore's, cut to the operations
a scan calls (`collector.scan.scanner.SCAN_OPERATIONS`), without documentation.

    python -m scripts.scan_model      # or: make scan-model

Why: botocore parses EC2's whole model (830 operations, 4,400 shapes) into every process that
makes an EC2 client, and keeps it: about 22 MB of a scanning process's peak, for nine
operations (docs/benchmarks.md). The cut model goes under collector/assets/botocore/ec2/<api
version>/, which member sessions search before botocore's own data (credentials.SCAN_MODELS).
tests/unit/test_scan_model.py fails when it is not the installed botocore's model cut, as after
an upgrade of botocore: run this again then.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from botocore import xform_name
from botocore.loaders import Loader

from collector.credentials import SCAN_MODELS
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
        name: _undocumented(op)
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


def main() -> None:
    """Write the cut model for the installed botocore's latest EC2 API version."""
    model = Loader().load_service_model("ec2", "service-2")
    path = Path(SCAN_MODELS) / "ec2" / model["metadata"]["apiVersion"] / "service-2.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(lean_model(model, SCAN_OPERATIONS), indent=1) + "\n"
    path.write_text(text)
    print(f"{path} ({len(text):,} bytes)")


if __name__ == "__main__":
    main()
