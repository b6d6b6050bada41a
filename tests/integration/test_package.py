"""`make package`: the Lambda zip holds the runtime and nothing from the test toolchain."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ZIP = ROOT / "dist" / "vpctracker-lambda.zip"
# Lambda limits: 50 MB zipped for direct upload, 250 MB unzipped.
MAX_ZIPPED, MAX_UNZIPPED = 50 * 2**20, 250 * 2**20


@pytest.mark.slow
def test_package_contents_and_size(tmp_path: Path) -> None:
    subprocess.run(["make", "package"], cwd=ROOT, check=True, capture_output=True, timeout=600)
    with zipfile.ZipFile(ZIP) as z:
        names = z.namelist()
        unzipped = sum(i.file_size for i in z.infolist())
        z.extractall(tmp_path)
    tops = {n.split("/", 1)[0] for n in names}
    assert {
        "collector",
        "boto3",
        "botocore",
        "pydantic",
        "pydantic_core",
        "tenacity",
        "yaml",
    } <= tops
    assert "collector/handler.py" in names
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
        [sys.executable, "-S", "-c", probe, str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "handler"
