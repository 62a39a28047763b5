"""SIGTERM handled like Ctrl-C: one line, exit status 143, the previous handler restored."""

from __future__ import annotations

import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

import blocknas.model
from blocknas._signals import Terminated, exit_status, interrupts_once, sigterm_interrupts
from blocknas.cli import main


def test_sigterm_raises_terminated_inside_the_block_only() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs before os.kill returns
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_nothing_changes() -> None:
    seen: list[object] = []

    def worker() -> None:
        with sigterm_interrupts():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]


def test_exit_status_names_the_signal() -> None:
    assert exit_status(Terminated()) == ("terminated", 143)
    assert exit_status(KeyboardInterrupt()) == ("interrupted", 130)


@pytest.mark.parametrize(
    ("interrupt", "word", "status"),
    [("sigterm", "terminated", 143), ("ctrl-c", "interrupted", 130)],
)
def test_an_interrupted_command_says_so_in_one_line(
    interrupt: str, word: str, status: int, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def stopped(*args: object, **kwargs: object) -> None:
        if interrupt == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr(blocknas.model, "load_model_spec", stopped)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["inspect", "configs/models/mobilenetv2.yaml"]) == status
    assert capsys.readouterr().err.strip() == word
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(
    ("block", "signum", "exc"),
    [
        (sigterm_interrupts, signal.SIGTERM, Terminated),
        (interrupts_once, signal.SIGTERM, Terminated),
        (interrupts_once, signal.SIGINT, KeyboardInterrupt),
    ],
)
def test_an_interrupt_that_lands_in_a_finaliser_is_delivered_again(
    block: Callable[[], AbstractContextManager[None]], signum: int, exc: type[BaseException]
) -> None:
    """Python drops an exception raised in a weakref callback ("Exception ignored in"); a
    signal handled there must still interrupt the main thread."""

    class Thing:
        pass

    def finaliser(ref: object) -> None:
        os.kill(os.getpid(), signum)  # its handler raises here, inside the callback

    reached_end = False
    with pytest.raises(exc), block():
        thing = Thing()
        ref = weakref.ref(thing, finaliser)
        del thing  # the callback runs now; its exception is unraisable
        time.sleep(2)  # the interruption arrives again meanwhile
        reached_end = ref is not None
    assert not reached_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
