"""Threads: the one check of a ``--threads`` option, and the default a training command takes.

``torch.set_num_threads`` starts that many OpenMP threads at the next parallel operation; a
typo such as 100000 makes a process that cannot start them fail in the middle of its work (a
search trial left RUNNING). More threads than usable cores only slow small models down.

The default is one thread per *idle* core. OpenMP threads wait for each other after every
operation; when another process holds one of two cores, the thread that shares it is descheduled
for whole time slices while its partner spins, and training with 2 threads ran at 0.31× of its
idle speed (ResNet-8, benchmarks/busy_core.py) where 1 thread keeps 0.47×–0.52× of the idle
2-thread speed. ``OMP_WAIT_POLICY=PASSIVE`` was measured too: 0.49× busy, but 21 % slower idle.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from blocknas.errors import ConfigError

__all__ = ["busy_cores", "check_threads", "training_threads", "usable_cores"]

_STAT = Path("/proc/stat")


def usable_cores() -> int:
    """The cores this process may run on (its affinity in a container), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def check_threads(threads: int, option: str = "--threads") -> int:
    """``threads`` when it is 1 to the number of usable cores, else a one-line ConfigError."""
    cores = usable_cores()
    if isinstance(threads, bool) or not 1 <= threads <= cores:
        raise ConfigError(
            f"{option} {threads}: give 1 to {cores} (this machine has {cores} usable CPU core(s))"
        )
    return threads


def _cpu_times(cpus: set[int]) -> tuple[float, float]:
    """Summed (busy, total) jiffies of ``cpus`` from /proc/stat."""
    busy = total = 0.0
    for line in _STAT.read_text().splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        values = [float(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        total += sum(values)
        busy += sum(values) - values[3] - values[4]
    return busy, total


def busy_cores(sample_s: float = 0.2) -> float:
    """How many of the usable cores other work keeps busy now: measured over ``sample_s`` from
    /proc/stat (this process is idle meanwhile), else the 1-minute load average."""
    try:
        cpus = os.sched_getaffinity(0)
        b0, t0 = _cpu_times(cpus)
        time.sleep(sample_s)
        b1, t1 = _cpu_times(cpus)
    except (AttributeError, OSError, ValueError):
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0
    return len(cpus) * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def training_threads(requested: int | None = None) -> tuple[int, str | None]:
    """The threads to train with and, when a busy core made it fewer than the usable cores, a
    note saying so. ``requested`` (a ``--threads`` value) is checked and used as it is; else a
    whole number in ``OMP_NUM_THREADS`` (the usual way to pin OpenMP programs) is used."""
    if requested is not None:
        return check_threads(requested), None
    cores = usable_cores()
    pinned = os.environ.get("OMP_NUM_THREADS", "").strip()
    if pinned.isdigit() and int(pinned) >= 1:
        return min(int(pinned), cores), None
    busy = min(cores - 1, round(busy_cores()))
    if busy <= 0:
        return cores, None
    threads = cores - busy
    return threads, (
        f"{busy} of {cores} CPU cores busy with other work: training on {threads} thread(s) "
        "(--threads to choose)"
    )
