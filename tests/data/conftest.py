"""Fixtures for the data tests: real CIFAR images when the shared data is there, small folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from ._images import from_pil, synthetic, to_pil

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CIFAR_TRAIN = SHARED / "data" / "cifar10" / "train"


@pytest.fixture(scope="session")
def rgb_images() -> torch.Tensor:
    """40 uint8 RGB images, 32×32: CIFAR JPEGs when the shared data is present, else synthetic,
    plus 8 noise images and 2 flat ones (edge cases for equalize and autocontrast)."""
    parts = []
    if CIFAR_TRAIN.is_dir():
        classes = sorted(p for p in CIFAR_TRAIN.iterdir() if p.is_dir())
        files = [sorted(c.iterdir())[i] for c in classes for i in range(3)]
        parts.append(torch.stack([from_pil(Image.open(f).convert("RGB")) for f in files]))
    else:
        parts.append(synthetic(30, 3, 32, 32, seed=1))
    g = torch.Generator().manual_seed(2)
    parts.append(torch.randint(0, 256, (8, 3, 32, 32), generator=g, dtype=torch.uint8))
    flat = torch.full((2, 3, 32, 32), 77, dtype=torch.uint8)
    flat[1, :, :4] = 200
    parts.append(flat)
    return torch.cat(parts)


@pytest.fixture(scope="session")
def gray_images() -> torch.Tensor:
    """12 one-channel images, 20×28 (not square, to catch height/width mix-ups)."""
    return synthetic(12, 1, 20, 28, seed=3)


@pytest.fixture
def make_folder(tmp_path: Path) -> Callable[..., Path]:
    """make_folder({"cat": [img, ...], "dog": [...]}, fmt="png") writes class folders of images
    (uint8 C×H×W tensors, or bytes written as they are) and returns the root."""

    def make(
        classes: dict[str, list[torch.Tensor | bytes]], fmt: str = "png", name: str = "imgs"
    ) -> Path:
        root = tmp_path / name
        for cls, items in classes.items():
            folder = root / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i, item in enumerate(items):
                if isinstance(item, bytes):
                    (folder / f"{i:03d}.{fmt}").write_bytes(item)
                else:
                    to_pil(item).save(folder / f"{i:03d}.{fmt}", quality=95)
        return root

    return make
