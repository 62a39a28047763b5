"""Image helpers for the data tests."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def synthetic(n: int, channels: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Gradients, blocks and noise: flat areas, edges and textures, like photos have."""
    g = torch.Generator().manual_seed(seed)
    ys = torch.linspace(0, 1, h).view(1, 1, h, 1)
    xs = torch.linspace(0, 1, w).view(1, 1, 1, w)
    a = torch.rand(n, channels, 1, 1, generator=g)
    b = torch.rand(n, channels, 1, 1, generator=g)
    base = 255 * (a * ys + b * xs) / 2
    blocks = (torch.rand(n, channels, h // 4 + 1, w // 4 + 1, generator=g) > 0.7) * 90
    blocks = blocks.repeat_interleave(4, 2).repeat_interleave(4, 3)[..., :h, :w]
    noise = torch.randint(0, 40, (n, channels, h, w), generator=g)
    return (base + blocks + noise).clamp(0, 255).to(torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    arr = image.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def from_pil(image: Image.Image) -> torch.Tensor:
    arr = torch.from_numpy(np.array(image))
    return arr.unsqueeze(0) if arr.ndim == 2 else arr.permute(2, 0, 1)
