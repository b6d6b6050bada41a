"""Process setup: how many malloc arenas the C library may keep.

glibc gives threads their own malloc arenas, up to eight per core. What a thread frees stays
in its arena, so a process whose threads take turns with large short-lived buffers (a read's
segments decoding 1 MB pages, 64 scan threads reading answers) holds the sum of every arena's
peak. Python threads hold the GIL in turn, so two arenas cost them little contention; the
memory and CPU measured both ways are in docs/benchmarks.md.

Each process of the tool (the console script, the Lambda function, a scan worker) calls
`limit_arenas()` before it starts threads: glibc fixes the limit when the first thread asks for
an arena. `MALLOC_ARENA_MAX` in the environment (which glibc reads at start) wins; other C
libraries (musl, macOS) have no such arenas and are left alone.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Mapping
from typing import Any

ARENAS = 2
ENV = "MALLOC_ARENA_MAX"
_M_ARENA_MAX = -8  # glibc's malloc.h


def set_arena_limit(environ: Mapping[str, str], libc: Any) -> bool:
    """Ask `libc` for at most `ARENAS` arenas, unless `environ` sets glibc's own variable.

    True when the limit was set."""
    if ENV in environ:
        return False
    mallopt = getattr(libc, "mallopt", None)
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, ARENAS))


def is_glibc() -> bool:
    """Whether this process's C library is glibc (the only one with these arenas)."""
    try:
        return "glibc" in (os.confstr("CS_GNU_LIBC_VERSION") or "")
    except (ValueError, OSError):  # no such name on this platform
        return False


@functools.cache
def limit_arenas() -> bool:
    """`set_arena_limit` for this process's C library, once; False where it is not glibc."""
    if not is_glibc():
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: its C library's among them
    except OSError:
        return False
    return set_arena_limit(os.environ, libc)
