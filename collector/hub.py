"""The hub session: the one the tool's own AWS calls come from (its tables, the organization,
STS, SQS, SNS, SSM, S3), as opposed to member sessions (`collector.credentials`).

It is boto3's session, reading botocore's endpoints cut to `HUB_SERVICES` and those services'
models without their documentation (`make scan-model` writes both). A botocore session parses
the endpoints of every AWS service into memory once it makes a client, and keeps them: 7 MB of
the coordinator's, a live event's and every command's memory, for the eight services the tool
calls (docs/benchmarks.md, "Two processes under 200 MB at once", part 2). It parses a
service's whole model for its first client and keeps that too: most of it documentation,
which only feeds docstrings (docs/benchmarks.md, "The hub's service models without their
documentation"). Every operation of each model is kept: a hub client makes any call the
botocore they were cut from knows (operations a newer botocore adds are not in them; the tool
calls none). Beside an older botocore than that one, hub sessions read botocore's own data
(`at_least`).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import boto3
import botocore
import botocore.session
from botocore.loaders import create_loader

# Every service a hub client is made for (tests/unit/test_scan_model.py reads the package's
# sources and holds them to this list): a client of any other would resolve its endpoint by
# the partition's defaults, not botocore's data.
HUB_SERVICES = frozenset({"dynamodb", "ec2", "organizations", "s3", "sns", "sqs", "ssm", "sts"})
HUB_MODELS = str(Path(__file__).parent / "assets" / "hub")
# Which botocore the data was cut from (`make scan-model` writes it beside the member cut;
# the tests read it through `cut_from`).
CUT_FROM = Path(__file__).parent / "assets" / "botocore" / "cut-from.json"


def hub_session(profile: str | None = None) -> boto3.Session:
    """A boto3 session of `profile` (None: the standard chain's, AWS_PROFILE included) whose
    loader searches `AWS_DATA_PATH` (a user's own data wins), then `HUB_MODELS`, then
    botocore's and boto3's data (what `HUB_MODELS` does not hold: endpoint rules, paginators,
    and a model of a newer API version than ours, which then wins whole)."""
    return boto3.Session(botocore_session=hub_core(profile))


def hub_core(profile: str | None = None) -> botocore.session.Session:
    """The botocore session under `hub_session`, for what needs botocore's data but no client
    (the regions `config` checks names against). Each its own loader: a boto3 session appends
    its data folder to its loader's search paths."""
    core = botocore.session.Session(profile=profile)
    data_path = core.get_config_variable("data_path")
    ours = HUB_MODELS if at_least(botocore.__version__, cut_from()) else None
    searched = os.pathsep.join(p for p in (data_path, ours) if p)
    core.register_component("data_loader", create_loader(searched or None))
    return core


def at_least(installed: str, cut: str) -> bool:
    """Pure: whether botocore `installed` is at least `cut` (major, minor, patch as numbers);
    False when either cannot be read. The hub's data is read only then: an older botocore
    may read a newer model otherwise (botocore 1.34.0 with 1.44.8's SQS model sends JSON,
    the protocol that model declares, not the query protocol of its own; docs/benchmarks.md);
    a newer one is held to read ours the same way by tests/unit/test_scan_model.py."""
    mine, theirs = _release(installed), _release(cut)
    return mine is not None and theirs is not None and mine >= theirs


def _release(version: str) -> tuple[int, int, int] | None:
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return None if found is None else (int(found[1]), int(found[2]), int(found[3]))


@functools.cache
def cut_from() -> str:
    """The botocore version the shipped data was cut from ("" when it cannot be read)."""
    try:
        return str(json.loads(CUT_FROM.read_text())["botocore"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
