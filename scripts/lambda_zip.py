"""Write the Lambda zip reproducibly and name it by its content: dist/vpctracker-lambda-<hash>.zip.

The same tree gives the same bytes (sorted entries, fixed timestamps and modes), so the name
changes exactly when the code or a dependency does; the hub stack's CodeKey then changes too,
and CloudFormation deploys the new code (a fixed key would leave the old code running).
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

EPOCH = (1980, 1, 1, 0, 0, 0)
# The Lambda runtime the zip is built for (wheels and byte code); iam/hub.yaml uses it.
RUNTIME = "python3.13"


def write_zip(tree: Path, out_dir: Path) -> Path:
    """Zip `tree` into `out_dir`; return the content-addressed path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "vpctracker-lambda.tmp.zip"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:16]
    final = out_dir / f"vpctracker-lambda-{digest}.zip"
    tmp.replace(final)
    return final


if __name__ == "__main__":
    print(write_zip(Path(sys.argv[1]), Path(sys.argv[2])))
