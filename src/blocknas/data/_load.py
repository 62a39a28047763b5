"""``load_data``: a DataConfig → decoded, split DataSplits.

Order of the splits, all stratified and seeded with ``cfg.seed`` (so identical across runs and
across the trials of a search):
1. test: the dataset's own test split (cifar, a ``test/`` folder); otherwise ``test_ratio`` of
   the training pool is held out (digits and plain image folders; 0 means no test split).
2. subset: ``subset`` images (a count or a fraction) of what remains — the "small cifar10".
3. val: the dataset's own ``val/`` folder, otherwise ``val_ratio`` of the subset;
   train keeps int(N·(1 − val_ratio)) images, as the reference does. ``val_ratio`` 0 (the
   reference template's default) needs a ``val/`` folder: without one it is a DataError.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from blocknas.data._cache import Cache, default_cache_dir
from blocknas.data._config import DataConfig
from blocknas.data._datasets import DATASETS, KNOWN_STATS
from blocknas.data._types import DataSplits, ImageSet
from blocknas.errors import DataError

__all__ = ["channel_stats", "load_data", "stratified_indices", "stratified_split"]


def _take(data: ImageSet, index: np.ndarray) -> ImageSet:
    idx = torch.from_numpy(index).long()
    return ImageSet(data.images.index_select(0, idx), data.labels[idx], data.classes)


def stratified_indices(
    labels: np.ndarray, count: int, seed: int | Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, rest) indices: ``count`` of them kept, each class in proportion, chosen at random.

    Per class: the floor of its share, the remaining places going to the largest remainders
    (ties to the lower class index); then a seeded permutation within each class. Written here
    rather than taken from scikit-learn's ``train_test_split`` because that refuses splits with
    fewer places than classes (small folders, small validation parts) and its draws may change
    between releases, while a search needs the same split for every trial and every run.
    """
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * (count / len(labels))
    take = np.floor(exact).astype(np.int64)
    order = np.lexsort((np.arange(len(classes)), -(exact - take)))
    take[order[: count - int(take.sum())]] += 1
    rng = np.random.Generator(np.random.PCG64(seed))
    kept, rest = [], []
    for cls, k in zip(classes, take, strict=True):
        members = rng.permutation(np.flatnonzero(labels == cls))
        kept.append(members[:k])
        rest.append(members[k:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(rest))


def stratified_split(
    data: ImageSet, keep: int | float, seed: int | Sequence[int], what: str
) -> tuple[ImageSet, ImageSet]:
    """(kept, rest): ``keep`` images (a count or a fraction), class proportions preserved.

    ``seed``: an integer or a sequence of them (e.g. ``(seed, epoch)``), mixed by NumPy's
    ``SeedSequence``.
    """
    n = len(data)
    count = keep if isinstance(keep, int) else round(keep * n)
    if count > n:
        raise DataError(f"{what}: asks for {count} images but only {n} are available")
    kept, rest = stratified_indices(data.labels.numpy(), count, seed)
    return _take(data, kept), _take(data, rest)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units (chunked float64 sums)."""
    c = images.shape[1]
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    for i in range(0, images.shape[0], 4096):
        x = images[i : i + 4096].to(torch.float64)
        s += x.sum(dim=(0, 2, 3))
        s2 += x.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s / count
    std = (s2 / count - mean.square()).clamp(min=1e-12).sqrt()
    return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


def load_data(
    cfg: DataConfig, *, cache_dir: Path | None = None, use_cache: bool = True
) -> DataSplits:
    """Loads, decodes (once, then from the cache) and splits the dataset of ``cfg``.

    cache_dir: defaults to ``$BLOCKNAS_CACHE`` or ``~/.cache/blocknas``.

    >>> splits = load_data(load_data_config({"dataset": "digits"}))
    >>> splits.train.images.shape  # uint8 N×1×8×8
    """
    cache = Cache((cache_dir or default_cache_dir()) if use_cache else None)
    source = DATASETS[cfg.dataset](cfg, cache)
    pool, test = source.train, source.test
    if test is None and cfg.test_ratio > 0:
        keep = len(pool) - max(1, round(cfg.test_ratio * len(pool)))
        pool, test = stratified_split(pool, keep, cfg.seed, "test_ratio")
    if cfg.subset is not None:
        pool, _ = stratified_split(pool, cfg.subset, cfg.seed, "subset")
    if source.val is not None:
        train, val = pool, source.val
    elif cfg.val_ratio == 0:
        raise DataError(_no_validation(cfg))
    else:
        train, val = stratified_split(
            pool, int(len(pool) * (1 - cfg.val_ratio)), cfg.seed, "val_ratio"
        )
    mean, std = _stats(cfg, source.stats, train)
    return DataSplits(train=train, val=val, test=test, mean=mean, std=std, name=source.name)


def _no_validation(cfg: DataConfig) -> str:
    key = cfg.key_name("val_ratio")
    where = f"{cfg.source}: " if cfg.source else ""
    fix = "set it to a fraction such as 0.1 to hold out that share of the training images"
    if cfg.path is not None and cfg.path.is_dir():
        return (
            f"{where}{key} is 0 but {cfg.path} has no val/ folder: {fix}, "
            "or lay the data out as train/<class>/…, val/<class>/…"
        )
    return f"{where}{key} is 0 but {cfg.dataset} has no validation split of its own: {fix}"


def _stats(
    cfg: DataConfig, known: str | None, train: ImageSet
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    name = known if cfg.stats == "auto" else cfg.stats
    channels = int(train.images.shape[1])
    if name is None:
        return channel_stats(train.images)
    mean, std = KNOWN_STATS[name]
    if len(mean) != channels:
        raise DataError(f"stats {name!r} are for {len(mean)} channels; the images have {channels}")
    return mean, std
