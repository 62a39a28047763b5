"""On-disk cache of decoded datasets: one raw file of tensors per entry.

Entries are named ``<dataset>-<fingerprint>-<size>.bnd``; the fingerprint covers the file list,
sizes and modification times (cheap to take, and any edit to the folder changes it) plus
:data:`FORMAT_VERSION`, so a change to decoding invalidates old entries.

The format is deliberately plain (a safetensors-like layout): an 8-byte magic, an 8-byte
little-endian header length, a JSON header (each tensor's dtype, shape and offset, and a
``meta`` mapping of plain values), then each tensor's bytes. Reading is one ``np.fromfile`` per
tensor, writing one ``tofile``: no pickle, no zip CRC over 150 MB as ``torch.save`` computes.
Writes are atomic (temporary file, then ``os.replace``); an unreadable entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
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


def read_entry(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of an entry; ValueError when the file is not one or is cut short."""
    with path.open("rb") as f:
        head = f.read(16)
        if len(head) != 16 or head[:8] != _MAGIC:
            raise ValueError("not a blocknas data cache file")
        (size,) = struct.unpack("<Q", head[8:])
        header = json.loads(f.read(size))
        start = 16 + size
        tensors = {}
        for name, spec in header["tensors"].items():
            count = int(np.prod(spec["shape"]))
            f.seek(start + spec["offset"])
            arr = np.fromfile(f, dtype=np.dtype(spec["dtype"]), count=count)
            if arr.size != count:
                raise ValueError(f"tensor {name!r} is cut short")
            tensors[name] = torch.from_numpy(arr.reshape(spec["shape"]))
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
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"ignoring unreadable cache entry {path}: {exc}", stacklevel=2)
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
