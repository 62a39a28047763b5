"""Data contracts shared by datasets, the batch loader, the trainer and the search."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImageSet:
    """A decoded split held in memory.

    images: uint8 tensor, N×C×H×W, already resized to the config's image size.
    labels: int64 tensor, N.
    classes: class names, index = label.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test splits of one dataset, plus what a model needs to know of them."""

    train: ImageSet
    val: ImageSet
    test: ImageSet | None
    mean: tuple[float, ...]  # per channel, in [0, 1] units
    std: tuple[float, ...]
    name: str

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])
