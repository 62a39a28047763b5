"""File I/O shared by every module: the one YAML reader and atomic writes.

Configs are read with ``yaml.safe_load`` here and nowhere else, so no config is ever executed;
every write of a result or checkpoint goes through a temporary file in the same folder and
``os.replace``, so a reader sees the old file or the new one, never a partial one.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from blocknas.errors import ConfigError, OutputError

__all__ = [
    "atomic_file",
    "atomic_path",
    "cannot_write",
    "make_dir",
    "read_yaml",
    "read_yaml_mapping",
    "write_json",
    "write_text",
]


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file safely; a missing, unreadable or malformed file is a one-line ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("no such file", source=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise ConfigError(f"invalid YAML: {problem}{where}", source=str(path)) from None


def read_yaml_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """:func:`read_yaml`, then insist on a mapping at the top level."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"a {what} must be a mapping of keys, got {type(data).__name__}", source=str(path)
        )
    return data


# The process's umask, read once at import (reading it means setting it, which is not safe
# once threads write files).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def cannot_write(path: str | Path, exc: OSError, what: str = "write") -> OutputError:
    """The one-line error for a failed write of ``path``: it names the path the user asked
    for (not a temporary file) and the reason in words."""
    if isinstance(exc, OutputError):
        return exc
    reason = {
        errno.EISDIR: "it is a folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EEXIST: "a file of that name exists",
    }.get(exc.errno or 0) or exc.strerror or str(exc)
    return OutputError(f"cannot {what} {path}: {reason}", exc.errno)


def make_dir(path: str | Path) -> Path:
    """Create a folder (and its parents); a failure is a one-line :class:`OutputError`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(path, exc, "create the folder") from None
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` when the block succeeds.

    An OSError on the way (disk full, read-only file system, ``path`` a folder) leaves the old
    file as it was, removes the temporary one and is raised as an :class:`OutputError` naming
    ``path``: every OSError of the block is taken to be a failure to write it."""
    path = Path(path)
    make_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    os.close(fd)
    try:
        # mkstemp makes the file private (0600); a result gets the mode any new file would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_write(path, exc) from None
        raise


@contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it is synced and moved onto ``path`` on success."""
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: str | Path, text: str) -> None:
    with atomic_file(path) as fh:
        fh.write(text)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1) + "\n")


def trial_dir(run_dir: str | Path, number: int) -> Path:
    """A search run's folder for one trial: ``RUN_DIR/trials/NNNN``."""
    return Path(run_dir) / "trials" / f"{number:04d}"
