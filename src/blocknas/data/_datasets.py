"""Dataset sources, looked up by name: each returns its own train / val / test parts, decoded.

- ``digits``: scikit-learn's bundled 8×8 digits (1,797 images, 1 channel, 0..16 scaled to
  0..255); built in memory, faster than a cache read.
- ``cifar10`` / ``cifar100``: torchvision's python version under ``path`` (downloaded there when
  absent and ``download`` is on), with its own test split. A ``path`` that holds image folders
  instead (``train/<class>/…``, optionally ``test/<class>/…``) is read as such.
- ``imagefolder``: ``path/<class>/<images>``, or ``path/{train,val,test}/<class>/<images>``
  (the TACO layout), whose ``val`` and ``test`` folders are used as the splits.

Which of the two layouts a folder has is ``layout`` in the config; ``auto`` detects it from the
sub-folders, and :func:`resolve_layout` fixes the detected one in the config a run folder saves,
so that a later folder in the data root (``runs/``) cannot turn ``train/ val/ test/`` into
four classes when the run is resumed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from blocknas.data._cache import Cache, fingerprint
from blocknas.data._config import DataConfig
from blocknas.data._decode import (
    FolderIndex,
    PixelLimit,
    decode_files,
    scan_folder,
    square_resize,
    stack_resized,
    warn_skipped,
)
from blocknas.data._types import ImageSet
from blocknas.errors import DataError

__all__ = ["DATASETS", "KNOWN_STATS", "Source", "register_dataset", "resolve_layout"]

#: Normalisation (mean, std) per channel in [0, 1] units, as the reference's DATASET selects.
KNOWN_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclass(frozen=True)
class Source:
    """What a dataset provides before subset and splits: its train part and any own val/test."""

    name: str
    train: ImageSet
    val: ImageSet | None = None
    test: ImageSet | None = None
    stats: str | None = None  # a KNOWN_STATS name for "auto"; None: computed from train


Loader = Callable[[DataConfig, Cache], Source]
DATASETS: dict[str, Loader] = {}


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator: registers ``loader(cfg, cache) -> Source`` under ``name``."""

    def deco(fn: Loader) -> Loader:
        DATASETS[name] = fn
        return fn

    return deco


def _resized(images: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or tuple(images.shape[-2:]) == (size, size):
        return images
    return square_resize(images, size)


@register_dataset("digits")
def _digits(cfg: DataConfig, cache: Cache) -> Source:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).mul(255.0 / 16.0).round_().to(torch.uint8).unsqueeze(1)
    labels = torch.from_numpy(bunch.target).long()
    classes = tuple(str(c) for c in bunch.target_names)
    return Source("digits", ImageSet(_resized(x.contiguous(), cfg.img_size), labels, classes))


# --- image folders ---------------------------------------------------------------------------


def _usable(entry: tuple[dict[str, torch.Tensor], dict[str, Any]], index: FolderIndex) -> bool:
    """Whether a cache entry fits the folder it is named for (one image per readable file)."""
    tensors, meta = entry
    try:
        n = len(index.files) - len(meta["skipped"])
        int(meta["converted"])
        images, labels = tensors["images"], tensors["labels"]
    except (KeyError, TypeError, ValueError):
        return False
    return images.ndim == 4 and images.shape[0] == labels.shape[0] == n and labels.ndim == 1


def load_folder(
    root: Path,
    size: int | None,
    cache: Cache,
    *,
    classes: tuple[str, ...] | None = None,
    limit: PixelLimit | None = None,
) -> ImageSet:
    """Decodes (or reads from the cache) one class-folder tree at ``size``.

    The cache holds the decoded images at their own size when they share one (so another
    img_size is a resize, not a decode) and each resized version asked for. An entry that does
    not fit the folder is rebuilt.
    """
    index = scan_folder(root, classes)
    base = f"folder-{index.fingerprint}"
    keys = ([f"{base}-{size}"] if size is not None else []) + [f"{base}-native"]
    entry = None
    for key in keys:
        entry = cache.load(key)
        if entry is not None and not _usable(entry, index):
            warnings.warn(
                f"ignoring cache entry {cache.path(key)}: it does not match {root} (rebuilding it)",
                stacklevel=2,
            )
            entry = None
        if entry is not None:
            break
    if entry is None:
        decoded = decode_files(index, limit)
        tensors = {"labels": torch.tensor(decoded.labels, dtype=torch.long)}
        meta: dict[str, Any] = {
            "skipped": [list(s) for s in decoded.skipped],
            "converted": decoded.converted,
        }
        if len({tuple(im.shape) for im in decoded.images}) == 1:
            tensors["images"] = torch.stack(decoded.images)
            cache.save(f"{base}-native", tensors, meta)
        else:
            tensors["images"] = stack_resized(decoded.images, size, root)
            cache.save(f"{base}-{size}", tensors, meta)
        entry = tensors, meta
    tensors, meta = entry
    warn_skipped(root, [(str(p), str(why)) for p, why in meta["skipped"]], int(meta["converted"]))
    images = tensors["images"]
    if size is not None and tuple(images.shape[-2:]) != (size, size):
        images = square_resize(images, size)
        cache.save(f"{base}-{size}", {**tensors, "images": images}, meta)
    elif size is None and images.shape[-1] != images.shape[-2]:
        raise DataError(f"{root}: images are {images.shape[-1]}×{images.shape[-2]}; set img_size")
    return ImageSet(images, tensors["labels"], index.classes)


def _has_class_folders(path: Path) -> bool:
    return path.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())


def _split_layout(root: Path) -> bool:
    """True for root/{train,val,test}/<class>/… (only those three sub-folders, train present)."""
    subdirs = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return (
        "train" in subdirs
        and subdirs <= {"train", "val", "test"}
        and _has_class_folders(root / "train")
    )


def _detect_layout(root: Path) -> str | None:
    """``split`` or ``classes`` for an image folder root, None when it is not a folder."""
    if not root.is_dir():
        return None
    return "split" if _split_layout(root) else "classes"


def resolve_layout(cfg: DataConfig) -> DataConfig:
    """``cfg`` with ``layout: auto`` replaced by the layout its folder has now (unchanged when
    there is no folder, or for cifar read from torchvision's files).

    >>> saved = resolve_layout(cfg).to_dict()  # what a run folder keeps  # doctest: +SKIP
    """
    if cfg.layout != "auto" or cfg.path is None:
        return cfg
    layout = _detect_layout(Path(cfg.path))
    if layout is None or (cfg.dataset != "imagefolder" and layout != "split"):
        return cfg
    return cfg.model_copy(update={"layout": layout})


def _folder_source(
    name: str, root: Path, cfg: DataConfig, cache: Cache, stats: str | None
) -> Source:
    if not root.exists():
        raise DataError(f"data path does not exist: {root}")
    limit = PixelLimit(cfg.max_image_pixels, _how_to_raise(cfg))
    layout = cfg.layout if cfg.layout != "auto" else _detect_layout(root)
    if layout == "split":
        if not _has_class_folders(root / "train"):
            raise DataError(
                f"{root}: layout split needs class folders under {root / 'train'} "
                "(train/<class>/…, optionally val/ and test/)"
            )
        train = load_folder(root / "train", cfg.img_size, cache, limit=limit)
        size = train.images.shape[-1] if cfg.img_size is None else cfg.img_size
        parts = {
            part: load_folder(root / part, size, cache, classes=train.classes, limit=limit)
            for part in ("val", "test")
            if (root / part).is_dir()
        }
        return Source(name, train, parts.get("val"), parts.get("test"), stats)
    return Source(name, load_folder(root, cfg.img_size, cache, limit=limit), stats=stats)


def _how_to_raise(cfg: DataConfig) -> str:
    where = f" ({cfg.source})" if cfg.source else ""
    return f"raise {cfg.key_name('max_image_pixels')} in the data config{where}"


@register_dataset("imagefolder")
def _imagefolder(cfg: DataConfig, cache: Cache) -> Source:
    assert cfg.path is not None  # the config requires it
    root = Path(cfg.path)
    return _folder_source(f"imagefolder:{root.name}", root, cfg, cache, None)


# --- CIFAR through torchvision ---------------------------------------------------------------


def _cifar(cfg: DataConfig, cache: Cache, name: str) -> Source:
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    label = "CIFAR-10" if name == "cifar10" else "CIFAR-100"
    root = Path(cfg.path) if cfg.path is not None else _default_root(cache)
    if cfg.layout != "auto" or (root.is_dir() and _split_layout(root)):
        return _folder_source(name, root, cfg, cache, name)
    parts = _torchvision_cifar(cls, root, cfg.download, label)
    stat_lines = [
        f"{p.name}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}" for p in _files(root, cls)
    ]
    key = f"{name}-{fingerprint(stat_lines)}"
    sets = []
    for part, (x, y, classes) in zip(("train", "test"), parts, strict=True):
        if cfg.img_size is not None and x.shape[-1] != cfg.img_size:
            entry = cache.load(f"{key}-{part}-{cfg.img_size}")
            if entry is None or not _same_count(entry[0], len(y)):
                entry = {"images": square_resize(x, cfg.img_size)}, {}
                cache.save(f"{key}-{part}-{cfg.img_size}", *entry)
            x = entry[0]["images"]
        sets.append(ImageSet(x, y, classes))
    return Source(name, sets[0], None, sets[1], name)


def _same_count(tensors: dict[str, torch.Tensor], n: int) -> bool:
    images = tensors.get("images")
    return images is not None and images.ndim == 4 and images.shape[0] == n


def _default_root(cache: Cache) -> Path:
    if cache.root is None:
        raise DataError("a cifar dataset needs a path when no cache folder is used")
    return cache.root / "datasets"


def _files(root: Path, cls: Any) -> list[Path]:
    folder = root / cls.base_folder
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _torchvision_cifar(
    cls: Any, root: Path, download: bool, label: str
) -> list[tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]]:
    def build(dl: bool) -> list[tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]]:
        out = []
        for train in (True, False):
            ds = cls(str(root), train=train, download=dl)
            x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
            out.append((x, torch.tensor(ds.targets, dtype=torch.long), tuple(ds.classes)))
        return out

    try:
        return build(False)
    except RuntimeError:
        pass  # not there (or corrupted): download if allowed
    where = root / cls.base_folder
    if not download:
        raise DataError(
            f"{label} not found under {root} (expected {where}) and download is off; "
            f"put the python version there, or point path at image folders"
        )
    try:
        return build(True)
    except Exception as exc:  # URLError, timeouts, disk full: all one message for the user
        raise DataError(
            f"{label} not found under {root} and the download failed ({exc}); "
            f"offline, copy {cls.base_folder} into {root} or point path at image folders"
        ) from None


@register_dataset("cifar10")
def _cifar10(cfg: DataConfig, cache: Cache) -> Source:
    return _cifar(cfg, cache, "cifar10")


@register_dataset("cifar100")
def _cifar100(cfg: DataConfig, cache: Cache) -> Source:
    return _cifar(cfg, cache, "cifar100")
