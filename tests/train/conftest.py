"""Digits-sized fixtures for the trainer tests: small fixed splits and a tiny convnet."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from blocknas.data import DataSplits, ImageSet


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and lose much on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy((bunch.images * (255 / 16)).round().astype(np.uint8))
    return images.unsqueeze(1), torch.from_numpy(bunch.target.astype(np.int64))


def digits_splits() -> DataSplits:
    """600 / 200 / 200 images of sklearn's 8×8 digits, fixed split."""
    images, labels = _digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    classes = tuple(str(i) for i in range(10))

    def part(lo: int, hi: int) -> ImageSet:
        idx = order[lo:hi]
        return ImageSet(images[idx].contiguous(), labels[idx].contiguous(), classes)

    return DataSplits(
        train=part(0, 600),
        val=part(600, 800),
        test=part(800, 1000),
        mean=(0.3,),
        std=(0.35,),
        name="digits",
    )


@pytest.fixture(scope="session")
def digits() -> DataSplits:
    return digits_splits()


def make_net(seed: int = 0, dropout: float = 0.1) -> nn.Module:
    """About 3k parameters; dropout so that resumption must restore the random state."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(16, 10),
    )


@pytest.fixture
def net() -> nn.Module:
    return make_net()
