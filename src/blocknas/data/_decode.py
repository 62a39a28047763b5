"""Image folders: scan class sub-folders, decode every file once, square-pad and resize.

Decoding runs in a thread pool over chunks of files: each chunk reads its files and decodes the
JPEGs in one ``torchvision.io.decode_jpeg`` call (a list in, a list out); other formats go through
``decode_image`` and, for what torchvision cannot read (BMP, TIFF), PIL. A file that cannot be
read or decoded is skipped and counted; structural problems (no class folders, an empty class
folder, a missing path, fewer than two classes) are :class:`DataError`, and so is a file whose
header claims more than ``max_pixels`` pixels, refused before anything is decoded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from blocknas.data._cache import fingerprint
from blocknas.data._config import DEFAULT_MAX_IMAGE_PIXELS
from blocknas.data._header import image_size
from blocknas.errors import DataError

__all__ = [
    "DataWarning",
    "DecodedFolder",
    "FolderIndex",
    "PixelLimit",
    "decode_files",
    "scan_folder",
    "square_resize",
]

_JPEG = b"\xff\xd8\xff"
_CHUNK = 512  # files per decode task: large enough to amortise the call, small enough to balance


class DataWarning(UserWarning):
    """Input was usable but not clean: skipped files, converted grayscale images."""


@dataclass(frozen=True)
class FolderIndex:
    """The files of a class-folder tree, in a fixed order (class, then path)."""

    root: Path
    classes: tuple[str, ...]
    files: tuple[str, ...]  # relative to root
    labels: tuple[int, ...]
    fingerprint: str


def _class_dirs(root: Path) -> list[str]:
    if not root.exists():
        raise DataError(f"data path does not exist: {root}")
    if not root.is_dir():
        raise DataError(f"data path is not a folder: {root}")
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def _walk(folder: Path, prefix: str, found: list[tuple[str, int, int]]) -> None:
    """Appends (relative path, size, mtime) of the files under folder; hidden names skipped."""
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                _walk(Path(e.path), f"{prefix}{e.name}/", found)
            elif e.is_file():
                st = e.stat()
                found.append((prefix + e.name, st.st_size, st.st_mtime_ns))


def scan_folder(root: Path, classes: Sequence[str] | None = None) -> FolderIndex:
    """Lists ``root/<class>/**/<file>`` (hidden names skipped) with a fingerprint of the listing.

    classes: the class list to index labels by (a val/test folder follows its train folder);
    by default the sorted sub-folder names.
    """
    names = _class_dirs(root)
    if not names:
        raise DataError(
            f"no class folders in {root}: expected one sub-folder per class, "
            f"such as {root / 'cat' / '0001.jpg'}"
        )
    if classes is None and len(names) < 2:
        # A one-class classifier reaches 100 % by predicting that class: nothing is learnt.
        raise DataError(
            f"{root} has one class folder ('{names[0]}'): a classifier needs at least 2 classes, "
            "one sub-folder each"
        )
    known = tuple(classes) if classes is not None else tuple(names)
    stray = [n for n in names if n not in known]
    if stray:
        raise DataError(f"{root}: class folder '{stray[0]}' is not one of the training classes")
    files: list[str] = []
    labels: list[int] = []
    lines: list[str] = ["classes\t" + "\t".join(known)]  # labels index into this list

    def listing(name: str) -> list[tuple[str, int, int]]:
        found: list[tuple[str, int, int]] = []
        try:
            _walk(root / name, f"{name}/", found)
        except OSError as exc:
            raise DataError(f"cannot list {exc.filename or root / name}: {exc.strerror}") from None
        return found

    # one stat per file; the calls wait on the kernel, so class folders are listed in parallel
    with ThreadPoolExecutor(min(8, len(names))) as pool:
        listings = list(pool.map(listing, names))
    for name, found in zip(names, listings, strict=True):
        if not found:
            raise DataError(f"class folder {root / name} is empty: every class needs images")
        found.sort()
        label = known.index(name)
        for rel, size, mtime in found:
            files.append(rel)
            labels.append(label)
            lines.append(f"{rel}\t{size}\t{mtime}")
    return FolderIndex(root, known, tuple(files), tuple(labels), fingerprint(lines))


def _decode_one(data: Tensor) -> Tensor:
    import torchvision.io as tio

    # torchvision decodes every frame of an animated GIF (frames × H × W); PIL the first only.
    if hasattr(tio, "decode_image") and bytes(data[:3].tolist()) != b"GIF":
        try:
            return tio.decode_image(data, mode=tio.ImageReadMode.UNCHANGED)
        except (RuntimeError, ValueError):
            pass
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data.numpy().tobytes())) as im:  # BMP, TIFF, ...
        im = im.convert("L" if im.mode in ("1", "L", "I", "I;16", "F") else "RGB")
        arr = np.asarray(im)
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def _to_gray_or_rgb(img: Tensor, data: Tensor) -> Tensor:
    """1 or 3 channels: gray + alpha keeps the gray; 4 channels (RGBA, CMYK) are decoded again
    as RGB, which drops alpha and converts CMYK."""
    c = img.shape[0]
    if c in (1, 3):
        return img
    if c == 2:
        return img[:1]
    import torchvision.io as tio

    if hasattr(tio, "decode_image"):
        return tio.decode_image(data, mode=tio.ImageReadMode.RGB)
    return _decode_one(data)


@dataclass(frozen=True)
class PixelLimit:
    """The decompression-bomb limit and how the user raises it (named in the error)."""

    max_pixels: int
    how_to_raise: str = "raise max_image_pixels in the data config"

    def check(self, path: str, data: np.ndarray) -> None:
        size = image_size(data.data)
        if size is not None and size[0] * size[1] > self.max_pixels:
            w, h = size
            raise DataError(
                f"{path}: the image is {w}×{h} ({w * h:,} pixels), over the limit of "
                f"{self.max_pixels:,} pixels; if it is genuine, {self.how_to_raise}"
            )


def _decode_chunk(paths: Sequence[str], limit: PixelLimit) -> list[Tensor | str]:
    import torchvision.io as tio

    datas: list[Tensor | str] = []
    for p in paths:
        try:
            raw = np.fromfile(p, dtype=np.uint8)
        except OSError as exc:
            datas.append(f"unreadable ({exc.strerror or exc})")
            continue
        limit.check(p, raw)  # before any decoder sees the file
        datas.append(torch.from_numpy(raw))
    out: list[Tensor | str | None] = [None] * len(paths)
    jpeg = [
        i
        for i, d in enumerate(datas)
        if isinstance(d, Tensor) and d.numel() > 3 and bytes(d[:3].tolist()) == _JPEG
    ]
    if jpeg and hasattr(tio, "decode_jpeg"):
        try:
            decoded = tio.decode_jpeg([datas[i] for i in jpeg])  # type: ignore[misc]
            for i, img in zip(jpeg, decoded, strict=True):
                out[i] = img
        except RuntimeError:
            pass  # one bad JPEG fails the whole call: decode this chunk file by file instead
    for i, d in enumerate(datas):
        if out[i] is not None:
            continue
        if isinstance(d, str):
            out[i] = d
            continue
        try:
            out[i] = _decode_one(d)
        except Exception:
            out[i] = "not a readable image"
    result: list[Tensor | str] = []
    for i, r in enumerate(out):
        assert r is not None
        if isinstance(r, Tensor):
            try:
                r = _to_gray_or_rgb(r, datas[i])  # type: ignore[arg-type]
            except RuntimeError:
                r = f"unsupported channel layout ({r.shape[0]} channels)"
        result.append(r)
    return result


@dataclass(frozen=True)
class DecodedFolder:
    """Decoded images (one tensor per file, C×H×W uint8, C = 1 or 3), skipped files removed."""

    images: list[Tensor]
    labels: list[int]
    skipped: list[tuple[str, str]]  # (relative path, reason)
    converted: int  # grayscale images turned to RGB because the others are RGB


def _threads() -> int:
    # Reading many small files waits on the disk: more threads than cores keep it busy.
    return min(16, 8 * (os.cpu_count() or 1))


def decode_files(index: FolderIndex, limit: PixelLimit | None = None) -> DecodedFolder:
    """Decodes every file of the index in a thread pool; warns once about skipped files.

    limit: files whose header claims more pixels are a DataError (default: 100 megapixels).
    """
    from PIL import Image

    prefix = str(index.root) + os.sep  # pathlib's "/" costs a second per 50,000 files
    paths = [prefix + f for f in index.files]
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    decode = partial(_decode_chunk, limit=limit or PixelLimit(DEFAULT_MAX_IMAGE_PIXELS))
    pool = ThreadPoolExecutor(_threads())
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 deprecates its image decoders in favour of TorchCodec, which is not a
            # dependency here; they are still the fastest batched JPEG decoder at hand, and PIL
            # takes over (``_decode_one``) once they are gone.
            warnings.filterwarnings("ignore", "The image decoding", DeprecationWarning)
            # The pixel limit above is the check; PIL's own, lower warning would only repeat it.
            warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
            results = [r for chunk in pool.map(decode, chunks) for r in chunk]
    finally:
        # after an error (a file over the pixel limit), the chunks not started are dropped
        pool.shutdown(cancel_futures=True)
    images: list[Tensor] = []
    labels: list[int] = []
    skipped: list[tuple[str, str]] = []
    for rel, label, r in zip(index.files, index.labels, results, strict=True):
        if isinstance(r, str):
            skipped.append((rel, r))
        else:
            images.append(r)
            labels.append(label)
    present = set(labels)
    for label, name in enumerate(index.classes):
        if label not in present and any(lab == label for lab in index.labels):
            raise DataError(f"class folder {index.root / name} has no readable image")
    converted = 0
    if images and any(im.shape[0] == 3 for im in images):
        for i, im in enumerate(images):
            if im.shape[0] == 1:
                images[i] = im.expand(3, -1, -1)
                converted += 1
    return DecodedFolder(images, labels, skipped, converted)


def warn_skipped(root: Path, skipped: Sequence[tuple[str, str]], converted: int) -> None:
    """One warning with the counts and the first few files."""
    if skipped:
        shown = ", ".join(f"{p} ({why})" for p, why in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        warnings.warn(
            f"{root}: skipped {len(skipped)} file(s) that are not readable images: {shown}{more}",
            DataWarning,
            stacklevel=3,
        )
    if converted:
        warnings.warn(
            f"{root}: converted {converted} grayscale image(s) to RGB to match the others",
            DataWarning,
            stacklevel=3,
        )


def square_resize(images: Tensor, size: int) -> Tensor:
    """The reference's SquarePad (black, int((max − side)/2) each side) then bilinear Resize.

    images: uint8 N×C×H×W of one size. Antialiased, like PIL's resize that the reference uses.
    """
    from torchvision.transforms.v2 import functional as F

    h, w = images.shape[-2:]
    side = max(h, w)
    pad_x, pad_y = int((side - w) / 2), int((side - h) / 2)
    if pad_x or pad_y:
        images = F.pad(images, [pad_x, pad_y, pad_x, pad_y], fill=0)
    if images.shape[-2:] == (size, size):
        return images.contiguous()
    out = torch.empty(images.shape[0], images.shape[1], size, size, dtype=torch.uint8)
    step = 2048
    for i in range(0, images.shape[0], step):
        out[i : i + step] = F.resize(images[i : i + step], [size, size], antialias=True)
    return out


def stack_resized(images: Sequence[Tensor], size: int | None, root: Path) -> Tensor:
    """One N×C×S×S tensor: images grouped by shape, each group square-padded and resized."""
    if not images:
        raise DataError(f"{root}: no readable images")
    shapes = {tuple(im.shape) for im in images}
    if size is None:
        if len(shapes) > 1 or images[0].shape[-1] != images[0].shape[-2]:
            eg = ", ".join(f"{s[-1]}×{s[-2]}" for s in sorted(shapes)[:3])
            raise DataError(f"{root}: images are not all the same square size ({eg}); set img_size")
        return torch.stack(list(images))
    c = images[0].shape[0]
    out = torch.empty(len(images), c, size, size, dtype=torch.uint8)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(tuple(im.shape), []).append(i)
    for idx in by_shape.values():
        group = torch.stack([images[i] for i in idx])
        out[torch.tensor(idx)] = square_resize(group, size)
    return out
