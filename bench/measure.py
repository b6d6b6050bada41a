"""The bench's measurements of a process: its CPU (and its ended children's), its peak RSS, and
the memory of its children sampled while they run (the collector's worker processes)."""

from __future__ import annotations

import contextlib
import resource
import threading
from pathlib import Path


def status_mb(status: str, field: str) -> float:
    """A line of a /proc status text (`VmRSS:`, `VmHWM:`), in MB (0 when absent)."""
    for line in status.splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux's VmHWM belongs to this program alone: `ru_maxrss` of a
    child carries its parent's peak at fork (a measuring parent holding 100k VPCs showed
    through as 1.8 GB)."""
    with contextlib.suppress(OSError):
        if hwm := status_mb(Path("/proc/self/status").read_text(), "VmHWM:"):
            return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu() -> float:
    """CPU of this process and of its children that ended (the collector's worker processes
    are waited for before a run returns)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def pages_mb(pid: str) -> tuple[float, float]:
    """(private, shared) resident MB of a process, from /proc/<pid>/smaps_rollup."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            fields[name] = int(rest.split()[0]) / 1024
    private = fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0)
    return private, fields.get("Shared_Clean", 0.0) + fields.get("Shared_Dirty", 0.0)


class ChildPeaks:
    """Memory of this process and its children, sampled while they run.

    - `peaks`, `own`: each child's peak RSS and this process's: VmHWM (a child's own high
      water mark after exec; `ru_maxrss` of children can carry this process's, see above), or
      the highest RSS sampled if that is higher.
    - `together`: the peak of all of them at once, their RSS summed at each sample. The sum of
      each process's peak overstates what a run needs when the peaks come at different times
      (a coordinator's end-of-run read comes after its workers have left).
    - `shared_once`: the same, with the pages the processes share counted once, as the kernel
      holds them (the interpreter, its libraries): each one's private pages, plus the shared
      pages of the one that maps most. Every process of a run is the same interpreter, and a
      worker loads a subset of its coordinator's libraries, so those are one set.
    """

    def __init__(self, every_s: float = 0.2) -> None:
        self.peaks: dict[int, float] = {}
        self.own = 0.0  # this process's, as `peaks` are the children's
        self.together = 0.0
        self.shared_once = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)
        self._thread.start()

    def _children(self) -> list[int]:
        pids: list[int] = []
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError):
                pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            rss = private = shared = 0.0
            for pid in ["self", *map(str, self._children())]:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    mine, theirs = pages_mb(pid)
                except OSError:  # it left between the listing and the read
                    continue
                # A process's peak is its VmHWM or the highest RSS sampled, whichever is
                # higher: VmHWM was seen reading 0.3 MB below an RSS sampled earlier (the
                # kernel does not update it on every way memory is given back).
                now = status_mb(status, "VmRSS:")
                rss += now
                private += mine
                shared = max(shared, theirs)
                peak = max(now, status_mb(status, "VmHWM:"))
                if pid == "self":
                    self.own = max(self.own, peak)
                else:
                    self.peaks[int(pid)] = max(self.peaks.get(int(pid), 0.0), peak)
            self.together = max(self.together, rss)
            self.shared_once = max(self.shared_once, private + shared)

    def stop(self) -> dict[int, float]:
        """Stop sampling; each child's peak in MB."""
        self._stop.set()
        self._thread.join()
        return self.peaks
