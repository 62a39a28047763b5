"""Each batched op against PIL (what the reference runs) and torchvision.transforms.v2.functional,
image by image, with one magnitude per image. Parametrised over the op table, so a new op
without a reference here fails."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from blocknas.data import OPS
from blocknas.data import _ops as ops

from ._images import from_pil, to_pil

GREY = 128


def _grey(im: Image.Image) -> int | tuple[int, ...]:
    return GREY if im.mode == "L" else (GREY,) * 3


def _affine(coeffs: Callable[[float], tuple[float, ...]], resample: Image.Resampling):
    return lambda im, m: im.transform(
        im.size, Image.Transform.AFFINE, coeffs(m), resample, fillcolor=_grey(im)
    )


# op → (PIL reference(image, magnitude), magnitude range in the op's unit, tolerance in levels).
# Integer ops (LUTs, nearest-neighbour geometry) must match exactly. The float ops reproduce
# Pillow's float32 blend and float64 bicubic, and match exactly today; 1 level leaves room for
# a compiler that fuses a multiply-add differently.
PIL_REFERENCE = {
    "Identity": (lambda im, m: im, (0, 0), 0),
    "AutoContrast": (lambda im, m: ImageOps.autocontrast(im), (0, 0), 0),
    "Equalize": (lambda im, m: ImageOps.equalize(im), (0, 0), 0),
    "Invert": (lambda im, m: ImageOps.invert(im), (0, 0), 0),
    "Solarize": (lambda im, m: ImageOps.solarize(im, m), (0, 256), 0),
    "Posterize": (lambda im, m: ImageOps.posterize(im, int(m)), (1, 8.99), 0),
    "Rotate": (lambda im, m: im.rotate(m, fillcolor=_grey(im)), (-30, 30), 0),
    "TranslateX": (_affine(lambda m: (1, 0, m, 0, 1, 0), Image.Resampling.NEAREST), (-15, 15), 0),
    "TranslateY": (_affine(lambda m: (1, 0, 0, 0, 1, m), Image.Resampling.NEAREST), (-15, 15), 0),
    "ShearX": (_affine(lambda m: (1, m, 0, 0, 1, 0), Image.Resampling.BICUBIC), (-0.3, 0.3), 1),
    "ShearY": (_affine(lambda m: (1, 0, 0, m, 1, 0), Image.Resampling.BICUBIC), (-0.3, 0.3), 1),
    "Color": (lambda im, m: ImageEnhance.Color(im).enhance(m), (0.1, 1.9), 1),
    "Contrast": (lambda im, m: ImageEnhance.Contrast(im).enhance(m), (0.1, 1.9), 1),
    "Brightness": (lambda im, m: ImageEnhance.Brightness(im).enhance(m), (0.1, 1.9), 1),
    "Sharpness": (lambda im, m: ImageEnhance.Sharpness(im).enhance(m), (0.1, 1.9), 1),
}


def _magnitudes(n: int, low: float, high: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64)


def _reference(fn: Callable, images: torch.Tensor, mags: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [from_pil(fn(to_pil(im), float(m))) for im, m in zip(images, mags, strict=True)]
    )


def test_every_op_has_a_reference() -> None:
    assert set(OPS) == set(PIL_REFERENCE)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("kind", ["rgb", "gray"])
def test_op_matches_pil(name: str, kind: str, request: pytest.FixtureRequest) -> None:
    images = request.getfixturevalue(f"{kind}_images")
    pil_fn, (low, high), tol = PIL_REFERENCE[name]
    mags = _magnitudes(len(images), low, high)
    out = OPS[name](images, mags, GREY)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    diff = (out.int() - _reference(pil_fn, images, mags).int()).abs()
    assert int(diff.max()) <= tol, f"{name}: max diff {int(diff.max())} > {tol}"


def test_nearest_shear_matches_pil(rgb_images: torch.Tensor) -> None:
    mags = _magnitudes(len(rgb_images), -0.99, 0.99)
    ref_fn = _affine(lambda m: (1, m, 0, 0, 1, 0), Image.Resampling.NEAREST)
    out = ops.NEAREST_SHEARS["ShearX"](rgb_images, mags, GREY)
    assert torch.equal(out, _reference(ref_fn, rgb_images, mags))


# torchvision.transforms.v2.functional on one image: op → (reference, magnitudes, max level
# difference, max share of pixels that differ). torchvision blends and stretches in float
# without Pillow's integer grey and rounding (≤ 1 level) and rotates with grid_sample, whose
# rounding picks a neighbouring source pixel for a few pixels (≤ 0.1 %).
def _tv_shear(m: float) -> Callable:
    return lambda im, _: TF.affine(
        im, angle=0.0, translate=[0, 0], scale=1.0, shear=[math.degrees(math.atan(m)), 0.0],
        fill=[GREY] * im.shape[0], center=[0, 0],
    )  # fmt: skip


TORCHVISION_REFERENCE = {
    "AutoContrast": (lambda im, m: TF.autocontrast(im), (0, 0), 1, 1.0),
    "Equalize": (lambda im, m: TF.equalize(im), (0, 0), 0, 0.0),
    "Invert": (lambda im, m: TF.invert(im), (0, 0), 0, 0.0),
    "Solarize": (lambda im, m: TF.solarize(im, m), (0, 255), 0, 0.0),
    "Posterize": (lambda im, m: TF.posterize(im, int(m)), (1, 8.99), 0, 0.0),
    "Brightness": (lambda im, m: TF.adjust_brightness(im, m), (0.1, 1.9), 1, 1.0),
    "Color": (lambda im, m: TF.adjust_saturation(im, m), (0.1, 1.9), 1, 1.0),
    "Contrast": (lambda im, m: TF.adjust_contrast(im, m), (0.1, 1.9), 1, 1.0),
    "Sharpness": (lambda im, m: TF.adjust_sharpness(im, m), (0.1, 1.9), 1, 1.0),
    "Rotate": (
        lambda im, m: TF.rotate(im, m, fill=[GREY] * im.shape[0]), (-30, 30), 255, 0.001
    ),
    "TranslateX": (
        lambda im, m: TF.affine(
            im, angle=0.0, translate=[-int(m), 0], scale=1.0, shear=[0.0, 0.0],
            fill=[GREY] * im.shape[0],
        ),
        (-15, 15), 0, 0.0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TORCHVISION_REFERENCE))
def test_op_matches_torchvision(name: str, rgb_images: torch.Tensor) -> None:
    fn, (low, high), tol, share = TORCHVISION_REFERENCE[name]
    mags = _magnitudes(len(rgb_images), low, high, seed=5)
    if name == "TranslateX":
        mags = mags.trunc()
    out = OPS[name](rgb_images, mags, GREY)
    ref = torch.stack([fn(im, float(m)) for im, m in zip(rgb_images, mags, strict=True)])
    diff = (out.int() - ref.int()).abs()
    assert int(diff.max()) <= tol
    assert float((diff > 0).float().mean()) <= share


def test_nearest_shear_matches_torchvision(rgb_images: torch.Tensor) -> None:
    mags = _magnitudes(len(rgb_images), -0.3, 0.3, seed=6)
    out = ops.NEAREST_SHEARS["ShearX"](rgb_images, mags, GREY)
    ref = torch.stack([_tv_shear(float(m))(im, m) for im, m in zip(rgb_images, mags, strict=True)])
    assert torch.equal(out, ref)


def test_batch_equals_one_image_at_a_time(rgb_images: torch.Tensor) -> None:
    """Per-image statistics (histograms, means) must not leak across the batch."""
    mags = _magnitudes(len(rgb_images), 0.2, 1.8)
    for name in ("Equalize", "AutoContrast", "Contrast", "Sharpness", "ShearX"):
        batch = OPS[name](rgb_images, mags, GREY)
        single = torch.cat(
            [OPS[name](im[None], m[None], GREY) for im, m in zip(rgb_images, mags, strict=True)]
        )
        assert torch.equal(batch, single), name


def test_cutout_matches_pil_rectangle(rgb_images: torch.Tensor) -> None:
    h, w = rgb_images.shape[-2:]
    size = (int(0.45 * w), int(0.45 * h))
    g = torch.Generator().manual_seed(0)
    centre = torch.stack(
        [torch.randint(0, w + 1, (len(rgb_images),), generator=g),
         torch.randint(0, h + 1, (len(rgb_images),), generator=g)], dim=1
    )  # fmt: skip
    out = ops.cutout(rgb_images, centre, size, GREY)
    for im, (x, y), got in zip(rgb_images, centre.tolist(), out, strict=True):
        ref = to_pil(im)
        box = (max(0, x - size[0] // 2), max(0, y - size[1] // 2),
               min(w, x + size[0] // 2), min(h, y + size[1] // 2))  # fmt: skip
        ImageDraw.Draw(ref).rectangle(box, fill=(GREY,) * 3)
        assert torch.equal(got, from_pil(ref))


def test_translate_is_a_padded_crop(rgb_images: torch.Tensor) -> None:
    g = torch.Generator().manual_seed(1)
    dx = torch.randint(-4, 5, (len(rgb_images),), generator=g)
    dy = torch.randint(-4, 5, (len(rgb_images),), generator=g)
    out = ops.translate(rgb_images, dx, dy, fill=0)
    h, w = rgb_images.shape[-2:]
    for im, a, b, got in zip(rgb_images, dx.tolist(), dy.tolist(), out, strict=True):
        ref = TF.crop(TF.pad(im, [4, 4, 4, 4], fill=0), 4 + b, 4 + a, h, w)
        assert torch.equal(got, ref)


def test_hflip_only_where_asked(rgb_images: torch.Tensor) -> None:
    mask = torch.arange(len(rgb_images)) % 3 == 0
    out = ops.hflip(rgb_images, mask)
    assert torch.equal(out[mask], rgb_images[mask].flip(-1))
    assert torch.equal(out[~mask], rgb_images[~mask])


def test_resized_crop_matches_torchvision_inside(rgb_images: torch.Tensor) -> None:
    """Same bilinear sampling as TF.resized_crop (antialias off) away from the crop's edge, where
    grid_sample reads the neighbour outside the box instead of clamping to it; ≤ 1 level."""
    h, w = rgb_images.shape[-2:]
    boxes = torch.tensor([[2, 3, 20, 16], [0, 0, 32, 32], [10, 5, 12, 12], [4, 4, 24, 28]] * 10)
    boxes = boxes[: len(rgb_images)].double()
    out = ops.resized_crop(rgb_images, boxes, (h, w))
    for im, (t, left, bh, bw), got in zip(rgb_images, boxes.long().tolist(), out, strict=True):
        ref = TF.resized_crop(im, t, left, bh, bw, [h, w], antialias=False)
        inner = (got.int() - ref.int())[:, 2:-2, 2:-2].abs()
        assert int(inner.max()) <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(OPS))
def test_op_same_on_cuda(name: str, rgb_images: torch.Tensor) -> None:
    _, (low, high), tol = PIL_REFERENCE[name]
    mags = _magnitudes(len(rgb_images), low, high)
    cpu = OPS[name](rgb_images, mags, GREY)
    gpu = OPS[name](rgb_images.cuda(), mags, GREY)
    assert gpu.is_cuda
    assert int((gpu.cpu().int() - cpu.int()).abs().max()) <= tol
