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
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["Terminated", "exit_status", "interrupts_once", "sigterm_interrupts"]


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (see :func:`sigterm_interrupts`)."""


# How long after a dropped interruption it is sent again: enough for the finaliser to return.
_RESEND_S = 0.01


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _redeliver_swallowed() -> Iterator[None]:
    """A signal handler raises wherever the main thread is, and that may be a finaliser (a
    weakref callback, ``__del__``: SQLAlchemy's registry runs them during garbage collection),
    where Python prints the exception as "Exception ignored in ..." and drops it, so the
    interruption is lost. Inside the block such an interruption is delivered again: the same
    signal is sent once more a moment later, when the finaliser has returned (a handler cannot
    raise out of this hook itself)."""
    previous = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        exc = unraisable.exc_value
        main = threading.current_thread() is threading.main_thread()
        if not (isinstance(exc, KeyboardInterrupt) and main):
            previous(unraisable)
            return
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        if not callable(signal.getsignal(signum)):  # ignored after a first interruption
            signal.signal(signum, _interrupt_once)
        resend = threading.Timer(_RESEND_S, os.kill, (os.getpid(), signum))
        resend.daemon = True
        resend.start()

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


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
        with _redeliver_swallowed():
            yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


@contextlib.contextmanager
def interrupts_once() -> Iterator[None]:
    """Inside the block the first SIGINT or SIGTERM interrupts the main thread (as Ctrl-C, or
    :class:`Terminated`); later ones are ignored, so that a second signal cannot break off the
    clean-up the first one started. A search's worker process gets both when Ctrl-C reaches
    its terminal's group and the search passes the interruption on.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _interrupt_once) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _redeliver_swallowed():
            yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def exit_status(exc: KeyboardInterrupt) -> tuple[str, int]:
    """The word and exit status for an interrupted command: Ctrl-C 130, SIGTERM 143."""
    if isinstance(exc, Terminated):
        return "terminated", 128 + signal.SIGTERM
    return "interrupted", 128 + signal.SIGINT
