"""On-disk cache of decoded datasets: one raw file of tensors per entry.

Entries are named ``<dataset>-<fingerprint>-<size>.bnd``; the fingerprint covers the file list,
sizes and modification times (cheap to take, and any edit to the folder changes it) plus
:data:`FORMAT_VERSION`, so a change to decoding invalidates old entries.

The format is deliberately plain (a safetensors-like layout): an 8-byte magic, an 8-byte
little-endian header length, a JSON header (each tensor's dtype, shape and offset, and a
``meta`` mapping of plain values), then each tensor's bytes. Reading is one ``np.fromfile`` per
tensor, writing one ``tofile``: no pickle, no zip CRC over 150 MB as ``torch.save`` computes.
Writes are atomic (temporary file, then ``os.replace``); an unreadable entry, or one whose
header does not match the file's size, is rebuilt with a one-line notice.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from blocknas._io import atomic_path

__all__ = ["FORMAT_VERSION", "Cache", "default_cache_dir", "fingerprint"]

FORMAT_VERSION = "2"
_MAGIC = b"BNDATA02"
_DTYPES = {torch.uint8: "uint8", torch.int64: "int64", torch.float32: "float32"}


def default_cache_dir() -> Path:
    """``$BLOCKNAS_CACHE`` or ``~/.cache/blocknas``."""
    env = os.environ.get("BLOCKNAS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "blocknas"


def fingerprint(lines: Iterable[str]) -> str:
    """A hex digest of the lines (file name, size, mtime, ...) and the cache format version."""
    h = hashlib.sha256(f"blocknas-data-cache {FORMAT_VERSION}\n".encode())
    for line in lines:
        h.update(line.encode("utf-8", "surrogateescape"))
        h.update(b"\n")
    return h.hexdigest()[:20]


def write_entry(path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Writes tensors (uint8, int64 or float32, on the CPU) and JSON-able meta to ``path``."""
    header: dict[str, Any] = {"tensors": {}, "meta": dict(meta)}
    offset = 0
    arrays = []
    for name, t in tensors.items():
        arr = t.detach().cpu().contiguous().numpy()
        header["tensors"][name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(arr.shape),
            "offset": offset,
        }
        offset += arr.nbytes
        arrays.append(arr)
    blob = json.dumps(header).encode()
    with path.open("wb") as f:
        f.write(_MAGIC + struct.pack("<Q", len(blob)) + blob)
        for arr in arrays:
            arr.tofile(f)


def _layout(header: Any, data_bytes: int) -> list[tuple[str, np.dtype, list[int], int]]:
    """(name, dtype, shape, offset) per tensor, checked against the file: the tensors must fill
    the bytes after the header exactly, so a damaged header cannot claim more than is there."""
    if not isinstance(header, dict) or not isinstance(header.get("tensors"), dict):
        raise ValueError("the header is not a blocknas cache header")
    if not isinstance(header.get("meta"), dict):
        raise ValueError("the header has no meta mapping")
    out = []
    end = 0
    for name, spec in header["tensors"].items():
        dtype, shape, offset = spec["dtype"], spec["shape"], spec["offset"]
        if dtype not in _DTYPES.values():
            raise ValueError(f"tensor {name!r} has an unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(_count(d) for d in shape) and _count(offset)):
            raise ValueError(f"tensor {name!r} has a malformed shape or offset")
        if offset != end:
            raise ValueError(f"tensor {name!r} is not where the header says")
        end += math.prod(shape) * np.dtype(dtype).itemsize
        if end > data_bytes:  # checked per tensor, before any product grows without bound
            raise ValueError(
                f"cut short, or a damaged header: it claims {end:,} bytes of tensors, "
                f"the file holds {data_bytes:,}"
            )
        out.append((name, np.dtype(dtype), shape, offset))
    if end != data_bytes:
        raise ValueError(f"the file holds {data_bytes - end:,} bytes the header does not describe")
    return out


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def read_entry(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of an entry; ValueError when the file is not one, is cut short, or its
    header does not match its size (nothing is allocated from an unchecked header)."""
    with path.open("rb") as f:
        total = os.fstat(f.fileno()).st_size
        head = f.read(16)
        if len(head) != 16 or head[:8] != _MAGIC:
            raise ValueError("not a blocknas data cache file")
        (size,) = struct.unpack("<Q", head[8:])
        if size > total - 16:
            raise ValueError(f"the header length {size:,} is past the end of the file")
        try:
            header = json.loads(f.read(size))
            tensors_at = _layout(header, total - 16 - size)
        except (KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ValueError(f"malformed header ({type(exc).__name__}: {exc})") from None
        start = 16 + size
        tensors = {}
        for name, dtype, shape, offset in tensors_at:
            count = math.prod(shape)
            f.seek(start + offset)
            arr = np.fromfile(f, dtype=dtype, count=count)
            if arr.size != count:
                raise ValueError(f"tensor {name!r} is cut short")
            tensors[name] = torch.from_numpy(arr.reshape(shape))
    return tensors, header["meta"]


class Cache:
    """A folder of cached entries; ``Cache(None)`` caches nothing."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def path(self, name: str) -> Path | None:
        return None if self.root is None else self.root / f"{name}.bnd"

    def load(self, name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """(tensors, meta), or None when absent or unreadable (it is then rebuilt)."""
        path = self.path(name)
        if path is None or not path.is_file():
            return None
        try:
            return read_entry(path)
        except (OSError, ValueError) as exc:
            warnings.warn(
                f"ignoring unreadable cache entry {path} (rebuilding it): {exc}", stacklevel=2
            )
            return None

    def save(self, name: str, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
        """Writes atomically; a cache that cannot be written is a warning, not an error."""
        path = self.path(name)
        if path is None:
            return
        try:
            with atomic_path(path) as tmp:
                write_entry(tmp, tensors, meta)
        except OSError as exc:
            warnings.warn(f"could not write the data cache {path}: {exc}", stacklevel=2)
