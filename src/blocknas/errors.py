"""Errors a user can cause. The CLI prints them as one line and exits with status 2."""

from __future__ import annotations


class BlocknasError(Exception):
    """Base class of every error caused by user input (configs, paths, options)."""


class ConfigError(BlocknasError):
    """A config file is invalid. The message names the file, the row (if any) and the problem."""

    def __init__(self, message: str, *, source: str | None = None, row: int | None = None) -> None:
        self.source = source
        self.row = row
        self.detail = message
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"backbone row {row}")
        prefix = ": ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class DataError(BlocknasError):
    """A dataset is missing, empty or malformed."""


class TrainingError(BlocknasError):
    """Training could not go on (divergence, out of memory)."""


class StorageError(BlocknasError):
    """A study storage could not be opened or does not match."""


class OutputError(BlocknasError, OSError):
    """A result could not be written: the message names the path and the reason (disk full,
    read-only file system, a file where a folder should be). It is an OSError too, so code that
    tolerates a failed write (a cache) still catches it; ``errno`` is the system's code."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno

    def __str__(self) -> str:
        return str(self.args[0])
