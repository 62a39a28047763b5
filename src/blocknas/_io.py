"""File I/O shared by every module: the one YAML reader and atomic writes.

Configs are read here with a :class:`yaml.SafeLoader` subclass and nowhere else, so no config is
ever executed, a key written twice is an error rather than a silent override, and a file is
bounded in size before it is read; every write of a result or checkpoint goes through a temporary
file in the same folder and ``os.replace``, so a reader sees the old file or the new one, never a
partial one.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from blocknas.errors import ConfigError, OutputError

__all__ = [
    "MAX_YAML_ENV",
    "atomic_file",
    "atomic_path",
    "cannot_write",
    "env_number",
    "make_dir",
    "max_yaml_bytes",
    "parse_yaml",
    "read_yaml",
    "read_yaml_mapping",
    "write_json",
    "write_text",
]


# Model, data and search configs are a few KB; 4 MiB leaves room for a generated one (thousands of
# rows) while a runaway file (tens of MB of YAML become gigabytes of Python objects) is refused
# before its text is read. Raised with the environment variable below.
MAX_YAML_ENV = "BLOCKNAS_MAX_YAML_MIB"
_DEFAULT_MAX_YAML_MIB = 4
# Nodes a document may stand for once its aliases are expanded: a few KB of ``&a [*b, *b, ...]``
# lines ("billion laughs") expand to more than memory holds in whoever walks the result.
_MAX_YAML_NODES = 1_000_000


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and documents that expand without bound."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue  # ``<<: *base`` may override keys on purpose
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document that refers to itself through an alias, or whose nodes, counted through
    every alias, exceed ``_MAX_YAML_NODES``."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:  # iterative: nesting depth must not reach Python's recursion limit
        node = stack[-1]
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if id(node) not in entered:
            entered.add(id(node))
            for child in children:
                if id(child) in entered and id(child) not in sizes:  # an ancestor: a cycle
                    raise yaml.constructor.ConstructorError(
                        None, None, "an alias (*name) refers to a value that contains it",
                        child.start_mark,
                    )  # fmt: skip
            stack.extend(c for c in children if id(c) not in entered)
            continue
        stack.pop()
        if id(node) in sizes:
            continue
        total = 1 + sum(sizes.get(id(c), 0) for c in children)
        if total > _MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"the document expands to more than {_MAX_YAML_NODES:,} values through its "
                "aliases (*name)",
                node.start_mark,
            )  # fmt: skip
        sizes[id(node)] = total


def parse_yaml(text: str, source: str | None = None) -> Any:
    """Parse YAML text as every config is parsed (safe, no duplicate keys, bounded expansion);
    a problem is a one-line ConfigError naming ``source`` and the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: nothing is executed
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise ConfigError(f"invalid YAML: {problem}{where}", source=source) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", source=source) from None


def env_number(
    var: str, what: str, valid: Callable[[float], bool], environ: Mapping[str, str] | None = None
) -> float | None:
    """The number in environment variable ``var`` (None when it is unset or blank). Anything
    but a finite number that passes ``valid`` is a one-line ConfigError saying that ``var``
    must be ``what``."""
    raw = (os.environ if environ is None else environ).get(var)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and valid(value)):
        raise ConfigError(f"{var} must be {what}, got {raw!r}")
    return value


def max_yaml_bytes() -> int:
    """The size cap of a YAML file: ``BLOCKNAS_MAX_YAML_MIB`` MiB (default 4)."""
    mib = env_number(MAX_YAML_ENV, "a positive number of MiB", lambda v: v > 0)
    return int((_DEFAULT_MAX_YAML_MIB if mib is None else mib) * 2**20)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file safely; a missing, unreadable, oversized or malformed file, or one with a
    key written twice, is a one-line ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("no such file", source=str(path))
    limit = max_yaml_bytes()
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data = fh.read(limit + 1) if size <= limit else b""
        if size > limit or len(data) > limit:  # the second: a file that grew while read
            raise ConfigError(
                f"the file is {max(size, len(data)):,} bytes, over the limit of {limit:,} bytes "
                f"({limit / 2**20:.3g} MiB) for a YAML config; raise it with {MAX_YAML_ENV}",
                source=str(path),
            )
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from None
    return parse_yaml(text, str(path))


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
