"""The one check of a ``--threads`` option, for every command that has one.

``torch.set_num_threads`` starts that many OpenMP threads at the next parallel operation; a
typo such as 100000 makes a process that cannot start them fail in the middle of its work (a
search trial left RUNNING). More threads than usable cores only slow small models down.
"""

from __future__ import annotations

import os

from blocknas.errors import ConfigError

__all__ = ["check_threads", "usable_cores"]


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
