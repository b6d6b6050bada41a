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
calls none).
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import botocore.session
from botocore.loaders import create_loader

# Every service a hub client is made for (tests/unit/test_scan_model.py reads the package's
# sources and holds them to this list): a client of any other would resolve its endpoint by
# the partition's defaults, not botocore's data.
HUB_SERVICES = frozenset({"dynamodb", "ec2", "organizations", "s3", "sns", "sqs", "ssm", "sts"})
HUB_MODELS = str(Path(__file__).parent / "assets" / "hub")


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
    core.register_component(
        "data_loader", create_loader(os.pathsep.join(p for p in (data_path, HUB_MODELS) if p))
    )
    return core
