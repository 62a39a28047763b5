"""SIGTERM handled like Ctrl-C.

Schedulers stop a job with SIGTERM before they kill it (Kubernetes, SLURM preemption, systemd,
``kill PID``). By default SIGTERM ends Python at once: a search worker's running trial would stay
RUNNING until its heartbeat grace period ran out and another worker re-ran it. Raising
:class:`Terminated`, a :class:`KeyboardInterrupt`, in the main thread instead sends it down the
Ctrl-C path that every command already has: a search worker fails its trial and queues the
parameters for another worker at once, ``blocknas train`` says how to resume, and the command
exits with 143 (128 + SIGTERM) after one line.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["Terminated", "exit_status", "sigterm_interrupts"]


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (see :func:`sigterm_interrupts`)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`Terminated` in the main thread; the previous
    handler is restored after it.

    Only the main thread can set a signal handler; entered from another one it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_status(exc: KeyboardInterrupt) -> tuple[str, int]:
    """The word and exit status for an interrupted command: Ctrl-C 130, SIGTERM 143."""
    if isinstance(exc, Terminated):
        return "terminated", 128 + signal.SIGTERM
    return "interrupted", 128 + signal.SIGINT
