"""collector.arenas: each process of the tool asks glibc for few malloc arenas, unless the user
set glibc's own variable; and it takes effect (counted by glibc itself, in a fresh process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.arenas import ARENAS, ENV, is_glibc, set_arena_limit


class _Libc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


def test_the_limit_is_asked_of_the_c_library() -> None:
    libc = _Libc()
    assert set_arena_limit({}, libc) is True
    assert libc.calls == [(-8, ARENAS)]  # M_ARENA_MAX


def test_the_user_s_own_setting_wins() -> None:
    libc = _Libc()
    assert set_arena_limit({ENV: "8"}, libc) is False
    assert libc.calls == []


def test_a_c_library_without_arenas_is_left_alone() -> None:
    assert set_arena_limit({}, object()) is False


# Threads that each hold a few malloc'd buffers at once (bytearrays past pymalloc's size), then
# glibc's own account of its arenas (`malloc_info`: one <heap> element each).
_COUNT = r"""
import ctypes, os, sys, tempfile, threading
from collector.arenas import limit_arenas
if sys.argv[1] == "limit":
    assert limit_arenas()
elif sys.argv[1] == "function":  # an event the function refuses (no table named) still counts
    from collector.handler import handler
    assert handler({}, None)["ok"] is False
elif sys.argv[1] == "worker":  # a scan worker whose coordinator is gone before it starts
    from collector.scan.worker import main
    gone, closed = os.pipe()
    os.close(closed)
    try:
        main([str(gone), str(os.pipe()[1]), "--workers", "4"])
    except EOFError:
        pass
elif sys.argv[1] == "console":
    from collector.cli.main import entry
    sys.argv = ["vpctracker", "--help"]
    try:
        entry()
    except SystemExit:
        pass
libc = ctypes.CDLL(None)
libc.fdopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
together = threading.Barrier(8)
held = []
def hold():
    together.wait()
    held.append([bytearray(64 * 1024) for _ in range(4)])
    together.wait()
threads = [threading.Thread(target=hold) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
with tempfile.TemporaryFile() as f:
    out = libc.fdopen(os.dup(f.fileno()), b"w")
    libc.malloc_info(0, out)
    libc.fclose(out)
    f.seek(0)
    print(f.read().count(b"<heap nr="))
"""


def _arenas(how: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [sys.executable, "-c", _COUNT, how],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(out.stdout.split()[-1])  # the count, printed last


@pytest.mark.skipif(not is_glibc(), reason="malloc arenas are glibc's")
def test_a_process_that_limits_its_arenas_keeps_that_many() -> None:
    assert _arenas("default") > ARENAS  # eight threads at once: more arenas, by default
    assert _arenas("limit") <= ARENAS


@pytest.mark.skipif(not is_glibc(), reason="malloc arenas are glibc's")
@pytest.mark.parametrize("entry", ["function", "console", "worker"])
def test_the_function_the_console_script_and_a_worker_limit_their_arenas_first(
    entry: str,
) -> None:
    assert _arenas(entry) <= ARENAS
