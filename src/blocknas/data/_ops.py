"""Batched image operations, one magnitude per image.

Every op takes ``images`` (uint8, N×C×H×W, C = 1 or 3, any device), ``magnitude`` (N values, one
per image, in the op's natural unit, see :data:`OPS`) and ``fill`` (the grey level of uncovered
pixels), and returns a new uint8 tensor of the same shape. Nothing is drawn at random here: the
policies in :mod:`blocknas.data._policies` draw the magnitudes and pick the images.

The ops reproduce Pillow's arithmetic (the reference pipeline runs on PIL images), pixel for pixel
where that is cheap: LUT ops, enhancement blends in float32 with truncation, nearest-neighbour
affine maps in Pillow's 16.16 fixed point, and Pillow's bicubic (a = -1) for the shears.
torchvision's tensor ops round differently (grid_sample, float blends), so they are not used for
the ops the reference defines; they are the comparison in the tests instead.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "OPS",
    "OpFn",
    "autocontrast",
    "brightness",
    "color",
    "contrast",
    "cutout",
    "equalize",
    "hflip",
    "identity",
    "invert",
    "posterize",
    "resized_crop",
    "rotate",
    "sharpness",
    "shear_x",
    "shear_y",
    "solarize",
    "translate",
    "translate_x",
    "translate_y",
]

OpFn = Callable[[Tensor, Tensor, int], Tensor]


def _float64(device: torch.device) -> torch.dtype:
    # Pillow computes coordinates and LUTs in double; MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _col(values: Tensor, images: Tensor, dtype: torch.dtype) -> Tensor:
    """(N,) → (N, 1, 1, 1) on the images' device."""
    return values.to(device=images.device, dtype=dtype).view(-1, 1, 1, 1)


def _select(mask: Tensor, a: Tensor | int, b: Tensor) -> Tensor:
    """a where mask (0/1 uint8, broadcastable) else b, for uint8 images.

    b + mask·(a − b) in wrapping uint8 arithmetic: on CPU this vectorises, where ``torch.where``
    and boolean masks run about ten times slower on uint8 batches.
    """
    return b + mask * (a - b)


# --- pixel-wise ops ------------------------------------------------------------------------------


def identity(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Returns the images unchanged (the same tensor)."""
    return images


def invert(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """255 - x (PIL ``ImageOps.invert``)."""
    return torch.bitwise_not(images)


def solarize(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Inverts pixels >= threshold (PIL ``ImageOps.solarize``); magnitude = threshold, any real."""
    # x >= t  <=>  x >= ceil(t) for integer x; int16 holds 256 (= "invert nothing").
    thr = _col(torch.ceil(magnitude.double()).clamp(0, 256), images, torch.int16)
    return torch.where(images >= thr, torch.bitwise_not(images), images)


def posterize(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Keeps int(magnitude) high bits of each channel (PIL ``ImageOps.posterize``), 1..8."""
    bits = torch.floor(magnitude.double()).clamp(1, 8).to(torch.int32)
    mask = (0xFF << (8 - bits)) & 0xFF
    return images & _col(mask, images, torch.uint8)


def autocontrast(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Stretches each channel to 0..255 (PIL ``ImageOps.autocontrast``, cutoff 0)."""
    dt = _float64(images.device)
    lo = images.amin(dim=(2, 3), keepdim=True).to(dt)
    hi = images.amax(dim=(2, 3), keepdim=True).to(dt)
    flat = hi <= lo  # PIL leaves such a channel as it is: scale 1, offset 0 does that
    # tensor / tensor: ``255.0 / t`` multiplies by a reciprocal and can miss PIL's value by 1 ulp.
    scale = torch.full_like(hi, 255.0) / torch.where(flat, 255.0, hi - lo)
    offset = torch.where(flat, 0.0, -lo * scale)
    return (images.to(dt) * scale + offset).clamp_(0, 255).to(torch.uint8)


def equalize(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Per-channel histogram equalisation with PIL's LUT (``ImageOps.equalize``).

    All histograms of the batch come from one ``bincount`` over offset pixel values.
    """
    n, c, h, w = images.shape
    rows = images.reshape(n * c, h * w).long()
    offsets = torch.arange(n * c, device=images.device).view(-1, 1) * 256
    hist = torch.bincount((rows + offsets).view(-1), minlength=n * c * 256).view(n * c, 256)
    last = hist.gather(1, rows.amax(dim=1, keepdim=True))  # count of the highest value present
    step = (h * w - last) // 255
    cum = torch.cumsum(hist, dim=1) - hist  # exclusive
    lut = ((step // 2 + cum) // step.clamp(min=1)).clamp_(max=255)
    lut = torch.where(step > 0, lut, torch.arange(256, device=images.device))
    return lut.gather(1, rows).to(torch.uint8).view(n, c, h, w)


# --- enhancement blends (PIL ImageEnhance) ----------------------------------------------------


def _blend(degenerate: Tensor, images: Tensor, factor: Tensor) -> Tensor:
    """PIL ``Image.blend(degenerate, image, factor)``: float32 d + f·(x − d), clipped, truncated."""
    d = degenerate.float()
    out = images.float() - d
    out.mul_(_col(factor, images, torch.float32))  # separate mul and add, as PIL (no FMA)
    out.add_(d)
    return out.clamp_(0, 255).to(torch.uint8)


def _luma(images: Tensor) -> Tensor:
    """PIL's RGB → L: (19595 R + 38470 G + 7471 B + 2^15) >> 16, as int32 N×1×H×W."""
    if images.shape[1] == 1:
        return images.to(torch.int32)
    x = images.to(torch.int32)
    return (x[:, 0:1] * 19595 + x[:, 1:2] * 38470 + x[:, 2:3] * 7471 + 0x8000) >> 16


def color(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Saturation factor (PIL ``ImageEnhance.Color``); grayscale images are unchanged."""
    if images.shape[1] == 1:
        return images
    return _blend(_luma(images), images, magnitude)


def contrast(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Contrast factor around the rounded mean luma (PIL ``ImageEnhance.Contrast``)."""
    luma = _luma(images)
    mean = luma.sum(dim=(1, 2, 3), dtype=torch.int64).to(_float64(images.device))
    mean = torch.floor(mean / luma[0].numel() + 0.5)
    return _blend(mean.view(-1, 1, 1, 1), images, magnitude)


def brightness(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Brightness factor (PIL ``ImageEnhance.Brightness``: blend with black)."""
    return _blend(torch.zeros((), device=images.device), images, magnitude)


def sharpness(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Sharpness factor (PIL ``ImageEnhance.Sharpness``: blend with ``ImageFilter.SMOOTH``).

    SMOOTH is [[1,1,1],[1,5,1],[1,1,1]]/13 rounded to nearest, border pixels copied. The integer
    sum S never sits on a .5 tie of S/13, so (S + 6) // 13 is exact whatever PIL's float order.
    """
    h, w = images.shape[-2:]
    if h < 3 or w < 3:
        return images.clone()
    x = images.to(torch.int16)  # 13 · 255 fits
    rows = x[..., :-2] + x[..., 1:-1] + x[..., 2:]  # a 3×3 box sum, separably
    box = rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]
    s = box + 4 * x[..., 1:-1, 1:-1]
    smooth = images.clone()
    smooth[..., 1:-1, 1:-1] = torch.div(s + 6, 13, rounding_mode="floor")
    return _blend(smooth, images, magnitude)


# --- geometry -------------------------------------------------------------------------------


def _gather(images: Tensor, yin: Tensor, xin: Tensor, fill: int) -> Tensor:
    """out[n, :, y, x] = images[n, :, yin, xin], or fill where (yin, xin) is outside."""
    n, c, h, w = images.shape
    x, y = xin.clamp(0, w - 1), yin.clamp(0, h - 1)
    outside = ((x != xin) | (y != yin)).to(torch.uint8).unsqueeze(1)
    index = (y * w + x).view(n, 1, h * w).expand(n, c, h * w)
    out = images.reshape(n, c, h * w).gather(2, index).view(n, c, h, w)
    return _select(outside, fill, out)


def _grid(images: Tensor, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    h, w = images.shape[-2:]
    dev = images.device
    ys = torch.arange(h, device=dev, dtype=dtype).view(1, -1, 1)
    xs = torch.arange(w, device=dev, dtype=dtype).view(1, 1, -1)
    return ys, xs


def _affine_nearest(images: Tensor, coeffs: Tensor, fill: int) -> Tensor:
    """PIL ``Image.transform(AFFINE, coeffs, NEAREST)`` per image; coeffs (N, 6) map output to input.

    This is Pillow's path for a matrix that rotates or shears: 16.16 fixed point, with output
    pixel centres at +0.5 (Geometry.c ``affine_fixed``), so the same source pixels are picked.
    """
    a = coeffs.to(dtype=torch.float64)
    a0, a1, a3, a4 = a[:, 0], a[:, 1], a[:, 3], a[:, 4]
    start = torch.stack(
        [a0, a1, a[:, 2] + a0 * 0.5 + a1 * 0.5, a3, a4, a[:, 5] + a3 * 0.5 + a4 * 0.5], dim=1
    )
    f = torch.floor(start * 65536.0 + 0.5).long().to(images.device).view(-1, 6, 1, 1).unbind(1)
    ys, xs = _grid(images)
    xx = f[2] + ys * f[1] + xs * f[0]
    yy = f[5] + ys * f[4] + xs * f[3]
    return _gather(images, yy >> 16, xx >> 16, fill)


def _shift_nearest(images: Tensor, tx: Tensor, ty: Tensor, fill: int) -> Tensor:
    """PIL affine (1, 0, tx, 0, 1, ty), nearest: Pillow's floating-point path for a matrix that
    only translates (``ImagingScaleAffine``): source = floor(t + 0.5 + output index)."""
    dt = _float64(images.device)
    ys, xs = _grid(images, dt)
    tx = tx.to(device=images.device, dtype=dt).view(-1, 1, 1)
    ty = ty.to(device=images.device, dtype=dt).view(-1, 1, 1)
    xin = torch.floor((tx + 0.5) + xs).long()
    yin = torch.floor((ty + 0.5) + ys).long()
    return _gather(images, yin, xin, fill)


def rotate(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """Rotates counter-clockwise by magnitude degrees about the centre, nearest (PIL ``rotate``)."""
    h, w = images.shape[-2:]
    rad = -torch.deg2rad(magnitude.to(torch.float64).remainder(360.0))
    cos, sin = torch.cos(rad), torch.sin(rad)
    cx, cy = w / 2.0, h / 2.0
    coeffs = torch.stack(
        [cos, sin, -cos * cx - sin * cy + cx, -sin, cos, sin * cx - cos * cy + cy], dim=1
    )
    return _affine_nearest(images, coeffs, fill)


def translate_x(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """out(x, y) = in(x + t, y), t = magnitude pixels (PIL affine (1, 0, t, 0, 1, 0), nearest)."""
    return _shift_nearest(images, magnitude, torch.zeros_like(magnitude), fill)


def translate_y(images: Tensor, magnitude: Tensor, fill: int = 128) -> Tensor:
    """out(x, y) = in(x, y + t), t = magnitude pixels (PIL affine (1, 0, 0, 0, 1, t), nearest)."""
    return _shift_nearest(images, torch.zeros_like(magnitude), magnitude, fill)


def translate(images: Tensor, dx: Tensor, dy: Tensor, fill: int = 0) -> Tensor:
    """out(x, y) = in(x + dx, y + dy) for integer shifts; a padded random crop is this."""
    return _shift_nearest(images, dx, dy, fill)


def _shear_bicubic(images: Tensor, factor: Tensor, fill: int) -> Tensor:
    """Shear along the last axis: PIL affine (1, m, 0, 0, 1, 0), bicubic, fill outside.

    Sampling rows land on pixel centres (dy = 0), so Pillow's 4×4 kernel reduces exactly to 4
    taps along x, neighbours clamped to the image; arithmetic in float64 as Pillow's doubles.
    """
    n, c, h, w = images.shape
    dt = _float64(images.device)
    m = factor.to(device=images.device, dtype=dt).view(-1, 1, 1)
    ys, xs = _grid(images, dt)
    xin = (xs + 0.5) + m * (ys + 0.5)  # N×H×W
    inside = (xin >= 0) & (xin < w)
    pos = xin - 0.5
    base = torch.floor(pos)
    d = (pos - base).unsqueeze(1)
    # tap k of pixel x sits at [..., k, x], so each tap is a run of contiguous rows
    taps_at = base.long().unsqueeze(-2) + torch.arange(-1, 3, device=images.device).view(4, 1)
    index = taps_at.clamp_(0, w - 1).view(n, 1, h, 4 * w).expand(n, c, h, 4 * w)
    taps = images.gather(3, index).view(n, c, h, 4, w).to(torch.int16)
    v1, v2, v3, v4 = taps.unbind(3)
    # Pillow's bicubic for transforms (Geometry.c) is the a = -1 cubic convolution, evaluated as
    # v2 + d·(p2 + d·(p3 + d·p4)); the p are small integers, exact in int16.
    p2 = v3 - v1
    p3 = 2 * (v1 - v2) + v3 - v4
    p4 = v2 - v1 + v4 - v3
    v = p4.to(dt).mul_(d).add_(p3).mul_(d).add_(p2).mul_(d).add_(v2)
    v = v.clamp_(0, 255).to(torch.uint8)
    return _select((~inside).to(torch.uint8).unsqueeze(1), fill, v)


def shear_x(
    images: Tensor, magnitude: Tensor, fill: int = 128, interpolation: str = "bicubic"
) -> Tensor:
    """Shear x by factor m about the top-left corner: PIL affine (1, m, 0, 0, 1, 0)."""
    if interpolation == "nearest":
        zero = torch.zeros_like(magnitude, dtype=torch.float64)
        coeffs = torch.stack([zero + 1, magnitude.double(), zero, zero, zero + 1, zero], dim=1)
        return _affine_nearest(images, coeffs, fill)
    return _shear_bicubic(images, magnitude, fill)


def shear_y(
    images: Tensor, magnitude: Tensor, fill: int = 128, interpolation: str = "bicubic"
) -> Tensor:
    """Shear y by factor m about the top-left corner: PIL affine (1, 0, 0, m, 1, 0)."""
    if interpolation == "nearest":
        zero = torch.zeros_like(magnitude, dtype=torch.float64)
        coeffs = torch.stack([zero + 1, zero, zero, magnitude.double(), zero + 1, zero], dim=1)
        return _affine_nearest(images, coeffs, fill)
    return _shear_bicubic(images.transpose(2, 3), magnitude, fill).transpose(2, 3).contiguous()


def hflip(images: Tensor, mask: Tensor) -> Tensor:
    """Mirrors the images where mask (N bools) is set."""
    return _select(_col(mask, images, torch.uint8), images.flip(-1), images)


def cutout(images: Tensor, centre: Tensor, size: tuple[int, int], fill: int = 128) -> Tensor:
    """Fills the box around centre (N×2 integer x, y) the reference way, corners included.

    Box: (max(0, x − sw//2), max(0, y − sh//2)) to (min(w, x + sw//2), min(h, y + sh//2)),
    size = (sw, sh). A centre of (−10⁶, −10⁶) leaves an image untouched.
    """
    _n, _c, h, w = images.shape
    sw, sh = size
    cen = centre.to(device=images.device, dtype=torch.long)
    x, y = cen[:, 0].view(-1, 1, 1), cen[:, 1].view(-1, 1, 1)
    ys = torch.arange(h, device=images.device).view(1, -1, 1)
    xs = torch.arange(w, device=images.device).view(1, 1, -1)
    rows = (ys >= (y - sh // 2).clamp(min=0)) & (ys <= (y + sh // 2).clamp(max=h))  # N×H×1
    cols = (xs >= (x - sw // 2).clamp(min=0)) & (xs <= (x + sw // 2).clamp(max=w))  # N×1×W
    box = (rows.to(torch.uint8) * cols.to(torch.uint8)).unsqueeze(1)
    return _select(box, fill, images)


def resized_crop(images: Tensor, boxes: Tensor, canvas: tuple[int, int]) -> Tensor:
    """Crops boxes (N×4: top, left, height, width, in canvas pixels) and resizes each to H×W.

    The canvas is the image stretched to ``canvas`` = (height, width) — the reference resizes
    to 1.2·IMG before RandomResizedCrop; here the two resamplings are folded into one bilinear
    sample of the stored image (``grid_sample``, edge pixels clamped).
    """
    n, c, h, w = images.shape
    ch, cw = canvas
    b = boxes.to(device=images.device, dtype=torch.float32)
    top, left, bh, bw = b.unbind(1)
    theta = torch.zeros(n, 2, 3, device=images.device)
    theta[:, 0, 0] = bw / cw
    theta[:, 0, 2] = (2 * left + bw) / cw - 1
    theta[:, 1, 1] = bh / ch
    theta[:, 1, 2] = (2 * top + bh) / ch - 1
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    out = F.grid_sample(
        images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


#: The op table: name → function(images, magnitude, fill). Units of the magnitude: Rotate in
#: degrees (counter-clockwise), Shear a shear factor, Translate pixels, Color/Contrast/
#: Brightness/Sharpness an enhancement factor (1 = unchanged), Posterize bits kept, Solarize a
#: threshold; the others ignore it.
OPS: dict[str, OpFn] = {
    "Identity": identity,
    "AutoContrast": autocontrast,
    "Equalize": equalize,
    "Invert": invert,
    "Rotate": rotate,
    "Solarize": solarize,
    "Posterize": posterize,
    "Color": color,
    "Contrast": contrast,
    "Brightness": brightness,
    "Sharpness": sharpness,
    "ShearX": shear_x,
    "ShearY": shear_y,
    "TranslateX": translate_x,
    "TranslateY": translate_y,
}

#: Nearest-neighbour shears, as torchvision's AutoAugment family uses them.
NEAREST_SHEARS: dict[str, OpFn] = {
    "ShearX": partial(shear_x, interpolation="nearest"),
    "ShearY": partial(shear_y, interpolation="nearest"),
}
