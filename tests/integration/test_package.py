"""`make package`: the Lambda zip holds the runtime and nothing from the test toolchain."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest

from collector.hub import HUB_SERVICES

ROOT = Path(__file__).parents[2]


def lambda_python() -> str:
    """A CPython 3.13, the Lambda runtime the zip is built for, found as `make package` finds
    it (LAMBDA_PYTHON, pyenv's 3.13, python3.13 on PATH): the zip is tested where it runs."""
    candidates = [
        os.environ.get("LAMBDA_PYTHON", ""),
        *sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.13*/bin/python3.13")),
        *sorted(str(p) for p in Path("/root").glob(".pyenv/versions/3.13*/bin/python3.13")),
        shutil.which("python3.13") or "",
    ]
    for exe in filter(None, candidates):
        probe = subprocess.run(
            [exe, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return exe
    pytest.fail("no CPython 3.13 to run the Lambda zip with (set LAMBDA_PYTHON)")


ZIP_RE = re.compile(r"^\S*vpctracker-lambda-[0-9a-f]{16}\.zip$", re.MULTILINE)


def make_package(where: Path) -> Path:
    """Run `make package` building in `where` (its own build/ and dist/, so tests can build side
    by side); the path of the zip it printed (a nested make adds other lines)."""
    built = subprocess.run(
        ["make", "--no-print-directory", "package", f"BUILD={where}/build", f"DIST={where}/dist"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    (path,) = ZIP_RE.findall(built.stdout)
    return ROOT / path


# Lambda limits: 50 MB zipped for direct upload, 250 MB unzipped.
MAX_ZIPPED, MAX_UNZIPPED = 50 * 2**20, 250 * 2**20


@pytest.mark.slow
def test_package_contents_and_size(tmp_path: Path) -> None:
    # Content-addressed (issue 12, observation 3): dist/vpctracker-lambda-<hash>.zip.
    ZIP = make_package(tmp_path / "one")
    again = make_package(tmp_path / "two")
    assert again.name == ZIP.name  # same code, same bytes, same key
    assert again.read_bytes() == ZIP.read_bytes()
    # Each build stays in the directories it was given: the checkout's build/ is not touched,
    # so builds (and the test processes running them) can go side by side.
    assert ZIP.parent == tmp_path / "one" / "dist"
    assert any((tmp_path / "one" / "build").iterdir())
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(ZIP) as z:
        names = z.namelist()
        unzipped = sum(i.file_size for i in z.infolist())
        z.extractall(unpacked)
    tops = {n.split("/", 1)[0] for n in names}
    assert {
        "collector",
        "boto3",
        "botocore",
        "pydantic",
        "pydantic_core",
        "tenacity",
        "yaml",
        "aws_lambda_powertools",
    } <= tops
    assert "collector/handler.py" in names
    # botocore's data cut to what a scan calls, which member sessions load
    # (credentials.SCAN_MODELS): EC2's model and the endpoints.
    model = re.compile(r"collector/assets/botocore/ec2/[\d-]+/service-2\.json")
    assert any(model.fullmatch(n) for n in names)
    assert "collector/assets/botocore/endpoints.json" in names
    assert "collector/assets/hub/endpoints.json" in names  # hub sessions' (hub.HUB_MODELS)
    for service in HUB_SERVICES:  # and their models, without documentation
        model = re.compile(rf"collector/assets/hub/{service}/[\d-]+/service-2\.json")
        assert any(model.fullmatch(n) for n in names), service
    for package in ("report", "scan", "analysis"):  # every subpackage made it into the wheel
        assert f"collector/{package}/__init__.py" in names
    for banned in (
        "moto",
        "pytest",
        "_pytest",
        "hypothesis",
        "cfnlint",
        "parliament",
        "mypy",
        "ruff",
        "tests",
    ):
        assert banned not in tops, banned
    assert ZIP.stat().st_size < MAX_ZIPPED
    assert unzipped < MAX_UNZIPPED
    # The zip alone (no site-packages) is enough to import the handler, as in Lambda.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import collector.handler as h; "
        "print(h.handler.__name__)"
    )
    out = subprocess.run(
        [lambda_python(), "-S", "-c", probe, str(unpacked)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "handler"
    # Byte code for Python 3.13 (the runtime) beside every module (issue 12, observation 7), and
    # it is what a read-only /var/task actually loads: no module of the zip is compiled from
    # source.
    sources = [n for n in names if n.endswith(".py")]
    missing = [
        n
        for n in sources
        if f"{n.rsplit('/', 1)[0] + '/' if '/' in n else ''}__pycache__/"
        f"{n.rsplit('/', 1)[-1][:-3]}.cpython-313.pyc" not in names
    ]
    assert missing == []
    verbose = subprocess.run(
        [lambda_python(), "-S", "-v", "-c", probe, str(unpacked)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    loaded = re.findall(r"# code object from '?([^'\n]+)", verbose.stderr)
    ours = [p for p in loaded if p.startswith(str(unpacked))]
    assert ours and all(p.endswith(".cpython-313.pyc") for p in ours), ours[:5]
    # The cold import, measured both ways (reported, not asserted: timing is for `make bench`).
    bare = tmp_path / "no-pyc"
    shutil.copytree(unpacked, bare, ignore=shutil.ignore_patterns("__pycache__"))
    for label, tree in (("with .pyc", unpacked), ("without .pyc", bare)):
        t0 = time.perf_counter()
        subprocess.run(
            [lambda_python(), "-S", "-c", probe, str(tree)],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        print(f"cold import of collector.handler {label}: {time.perf_counter() - t0:.2f} s")
    worker_from_the_zip(unpacked)


class _Denied(http.server.BaseHTTPRequestHandler):
    """EC2's answer to a caller it does not know: AuthFailure (not retried)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = (
            b"<Response><Errors><Error><Code>AuthFailure</Code><Message>not known</Message>"
            b"</Error></Errors><RequestID>r-1</RequestID></Response>"
        )
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def worker_from_the_zip(tree: Path) -> None:
    """Issue 26: a worker process starts from the unpacked zip alone, as on Lambda (no
    `/dev/shm` needed: pipes), and makes the target's calls: here, EC2 refuses them."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Denied)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from datetime import UTC, datetime\n"
        "from botocore.credentials import ReadOnlyCredentials\n"
        "from collector.errors import RetryPolicy\n"
        "from collector.models import Account\n"
        "from collector.scan.processes import WorkerPool\n"
        "pool = WorkerPool(1, 2, retry=RetryPolicy(attempts=1))\n"
        "creds = ReadOnlyCredentials('AKIAEXAMPLE', 'secret', None)\n"
        "target = (Account('111111111111', 'a'), 'us-east-1', creds, datetime.now(UTC))\n"
        "result = pool.submit(*target).result(timeout=120)\n"
        "pool.close()\n"
        "print(result.status.value, result.error_code)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        out = subprocess.run(
            [lambda_python(), "-S", "-c", probe, str(tree)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    finally:
        server.shutdown()
    assert out.stdout.split() == ["failed", "AuthFailure"], out.stderr[-2000:]
