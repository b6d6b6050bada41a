"""A scan worker process imports what a scan needs, nothing more: each worker holds its
imports for the whole run, beside the coordinator's, and they are most of its memory
(docs/benchmarks.md, "Two processes under 200 MB at once", part 1)."""

from __future__ import annotations

import subprocess
import sys

# What a worker does before its first request: import its module, then make the scanner it
# serves with, and one of the scanner's EC2 clients.
_WORKER = """
import sys
from collector.errors import RetryPolicy
from collector.scan import worker
scanner = worker.make_scanner(None, 4, RetryPolicy())
scanner.clients.ec2("eu-west-1")
print("\\n".join(sorted(sys.modules)))
"""


def _worker_modules() -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _WORKER],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": ""},
    )
    return set(done.stdout.split())


def test_a_scan_worker_imports_neither_boto3_nor_the_config_schema() -> None:
    modules = _worker_modules()
    assert "collector.scan.scanner" in modules  # the probe did import a worker
    # boto3 (1.8 MB imported): a worker makes botocore sessions only. The config's schema and
    # YAML (1.3 MB): the coordinator reads the config; a worker is sent what it needs.
    assert not {"boto3", "yaml", "collector.config"} & modules
