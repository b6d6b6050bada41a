"""dynalite: an independent DynamoDB implementation (npm), started on 127.0.0.1 per session.

`make dynalite` (run by `make test`) installs it into .cache/dynalite. The tests skip, visibly,
only when Node.js itself is absent; a missing install with Node.js present is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CLI = Path(os.environ.get("VPCTRACKER_DYNALITE_DIR", ROOT / ".cache" / "dynalite")) / (
    "node_modules/dynalite/cli.js"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def dynalite_url() -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the dynalite contract tests need it")
    if not CLI.exists():
        pytest.fail(f"dynalite is not installed at {CLI}: run `make dynalite`")
    port = _free_port()
    proc = subprocess.Popen(
        [
            node,
            str(CLI),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                proc.kill()
                pytest.fail(f"dynalite did not start: {err}")
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
