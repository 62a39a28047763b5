"""The run folder of a local search: what kind of run it holds, one search at a time in it, and
no folder left behind by a search that failed before its first trial.

* **Kind.** A search folder holds ``search.yaml``; a training run (``blocknas train``) holds
  ``train.yaml``, ``metrics.json`` and ``last.pt``. A search refuses a folder with those files,
  as ``train`` refuses one with ``search.yaml`` or ``study.db``: one folder, one kind of run.
* **One search at a time.** The search holds an ``flock`` on ``search.lock`` for its lifetime.
  The kernel releases it when the process ends, however it ends, so a killed search can be
  resumed at once; a second search on the folder meanwhile is refused with one line.
* **Nothing left by a failure.** A folder this search created is removed again when the search
  fails before its first trial starts (a bad warm start, an unreachable database, a full disk).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from blocknas.errors import ConfigError, StorageError

__all__ = ["LOCK_FILE", "TRAIN_FILES", "RunFolder", "check_out", "hold_run_folder"]

LOCK_FILE = "search.lock"
TRAIN_FILES = ("train.yaml", "metrics.json", "last.pt")  # what `blocknas train` writes


def check_out(out_dir: str | Path | None) -> Path | None:
    """``--out`` as a path; an empty one is refused (it would mean the current folder)."""
    if out_dir is None:
        return None
    if not str(out_dir).strip():
        raise ConfigError("--out is empty; give the run folder's path")
    return Path(out_dir)


@dataclass
class RunFolder:
    """A held run folder; :meth:`started` once the first trial may run (from then on a failure
    keeps the folder, which records the trials)."""

    path: Path
    created: Path | None  # the outermost folder this search created, if any
    first_trial: bool = False

    def started(self) -> None:
        self.first_trial = True


@contextlib.contextmanager
def hold_run_folder(run_dir: Path) -> Iterator[RunFolder]:
    """Create (if need be) and lock ``run_dir`` for one search; see the module docstring."""
    _refuse_training_run(run_dir)
    created = _make(run_dir)
    folder = RunFolder(run_dir, created)
    try:
        handle = _lock(run_dir)
    except BaseException:
        if created is not None and not any(run_dir.iterdir()):
            shutil.rmtree(created, ignore_errors=True)
        raise
    try:
        with handle:
            yield folder
    except BaseException:
        if created is not None and not folder.first_trial:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _refuse_training_run(run_dir: Path) -> None:
    found = [name for name in TRAIN_FILES if (run_dir / name).exists()]
    if found:
        raise ConfigError(
            f"--out {run_dir} holds a training run ({found[0]}), not a search; "
            "choose another --out"
        )


def _make(run_dir: Path) -> Path | None:
    """Create ``run_dir`` and its missing parents; the outermost one created, or None."""
    outermost = None
    for folder in (run_dir, *run_dir.parents):
        if folder.exists():
            break
        outermost = folder
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "it is a file" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise StorageError(f"--out {run_dir}: cannot create the run folder: {reason}") from None
    return outermost


def _lock(run_dir: Path) -> contextlib.AbstractContextManager[object]:
    """Take the folder's lock, or say which process holds it."""
    import fcntl

    path = run_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(
            f"--out {run_dir}: cannot write in the run folder: {exc.strerror or exc}"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        who = f" (process {holder})" if holder.isdigit() else ""
        raise StorageError(
            f"--out {run_dir} is in use by another search{who}; wait for it to end or choose "
            "another --out"
        ) from None
    with contextlib.suppress(OSError):  # the pid only improves the message above
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    return _closing(fd)


@contextlib.contextmanager
def _closing(fd: int) -> Iterator[object]:
    try:
        yield fd
    finally:
        os.close(fd)  # releases the flock
