"""Augmentation policies on batches: each image draws its own ops and magnitudes.

A policy is called as ``policy(images_uint8, generator)`` and returns new uint8 images. All random
draws come from ``generator`` (on its own device, normally the CPU, so a seed gives the same
augmentation on CPU and CUDA); images that drew the same op are gathered and the op runs once on
the group (:func:`apply_grouped`), so the work is vectorised while the choices stay per image.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor

from blocknas.data import _ops
from blocknas.errors import ConfigError

__all__ = [
    "POLICIES",
    "RANDAUGMENT_SPACE",
    "AugmentPolicy",
    "AutoAugment",
    "Compose",
    "Cutout",
    "HorizontalFlip",
    "PadCrop",
    "RandAugment",
    "RandomResizedCrop",
    "TrivialAugmentWide",
    "apply_grouped",
    "build_policy",
    "fixed_level",
    "mirrors_images",
    "register_policy",
]


@runtime_checkable
class AugmentPolicy(Protocol):
    """Maps a uint8 batch N×C×H×W to an augmented uint8 batch of the same shape."""

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor: ...


# --- random draws: always on the generator's device, results moved where needed ------------


def _rand(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float64)


def _randint(generator: torch.Generator, high: int, *shape: int) -> Tensor:
    return torch.randint(high, shape, generator=generator, device=generator.device)


def _signs(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.where(_rand(generator, *shape) < 0.5, -1.0, 1.0).to(torch.float64)


def apply_grouped(
    images: Tensor,
    op_index: Tensor,
    magnitude: Tensor,
    fns: Sequence[_ops.OpFn],
    fill: int,
) -> Tensor:
    """Applies ``fns[op_index[i]]`` with ``magnitude[i]`` to image i, one call per op.

    The batch is sorted by op so that each group is a contiguous slice; the results are written
    back in the original order.
    """
    op_index = op_index.cpu()
    order = torch.argsort(op_index, stable=True)
    counts = torch.bincount(op_index, minlength=len(fns)).tolist()
    dev_order = order.to(images.device, non_blocking=True)
    x = images.index_select(0, dev_order)
    mags = magnitude.cpu()[order]
    out = torch.empty_like(x)
    start = 0
    for fn, count in zip(fns, counts, strict=True):
        if count:
            stop = start + count
            out[start:stop] = fn(x[start:stop], mags[start:stop], fill)
            start = stop
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    return out.index_select(0, inverse.to(images.device, non_blocking=True))


# --- the reference RandAugment -------------------------------------------------------------


class _Range(NamedTuple):
    """An op's magnitude m = level·(high − low)/n_level + low, and how m becomes its argument."""

    op: str
    low: float
    high: float
    signed: bool = False  # ±m, the sign drawn per application
    unit: str = ""  # "factor": 1 ± m; "width"/"height": m times the image side, in pixels


#: The reference's RandAugment list, in its order.
RANDAUGMENT_SPACE: tuple[_Range, ...] = (
    _Range("Identity", 0.0, 0.0),
    _Range("AutoContrast", 0.0, 0.0),
    _Range("Equalize", 0.0, 0.0),
    _Range("Rotate", 0.0, 30.0),  # +m degrees: the reference draws no sign here
    _Range("Solarize", 256.0, 0.0),
    _Range("Color", 0.0, 0.9, signed=True, unit="factor"),
    _Range("Posterize", 8.0, 4.0),
    _Range("Contrast", 0.0, 0.9, signed=True, unit="factor"),
    _Range("Brightness", 0.0, 0.9, signed=True, unit="factor"),
    _Range("Sharpness", 0.0, 0.9, signed=True, unit="factor"),
    _Range("ShearX", 0.0, 0.3, signed=True),
    _Range("ShearY", 0.0, 0.3, signed=True),
    _Range("TranslateX", 0.0, 150.0 / 331.0, signed=True, unit="width"),
    _Range("TranslateY", 0.0, 150.0 / 331.0, signed=True, unit="height"),
)


def _space_arguments(
    space: Sequence[_Range], op: Tensor, level: Tensor, sign: Tensor, n_level: int, h: int, w: int
) -> Tensor:
    """Op arguments for (op, level, sign) triples of any shape, all on the CPU, in float64."""

    def column(values: list[float]) -> Tensor:
        return torch.tensor(values, dtype=torch.float64)[op]

    low = column([r.low for r in space])
    high = column([r.high for r in space])
    m = level * (high - low) / n_level + low
    m = m * torch.where(column([float(r.signed) for r in space]) > 0, sign, 1.0)
    side = {"width": float(w), "height": float(h)}
    m = m * column([side.get(r.unit, 1.0) for r in space])
    return m + column([1.0 if r.unit == "factor" else 0.0 for r in space])


def fixed_level(level: object, n_level: int) -> int | None:
    """The reference rule: an int in 1..n_level is used as is; anything else means random."""
    if isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= n_level:
        return level
    return None


@dataclass(frozen=True)
class RandAugment:
    """Per image: ``n_select`` distinct ops drawn uniformly from :data:`RANDAUGMENT_SPACE`.

    level: an int in 1..n_level is used for every op; otherwise (None, 0, out of range) a level
    is drawn uniformly from 0..n_level for each op of each image.
    """

    n_select: int = 2
    level: int | None = 14
    n_level: int = 31
    fill: int = 128

    def __post_init__(self) -> None:
        if not 0 <= self.n_select <= len(RANDAUGMENT_SPACE):
            raise ConfigError(
                f"n_select must be in 0..{len(RANDAUGMENT_SPACE)}, not {self.n_select}"
            )
        if self.n_level < 1:
            raise ConfigError(f"n_level must be >= 1, not {self.n_level}")

    def sample(
        self, n: int, height: int, width: int, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """Draws (ops, args), both N × n_select on the CPU: indices into
        :data:`RANDAUGMENT_SPACE` (distinct within an image) and the ops' arguments."""
        k = self.n_select
        ops = _rand(generator, n, len(RANDAUGMENT_SPACE)).argsort(dim=1)[:, :k]
        level = fixed_level(self.level, self.n_level)
        if level is None:
            levels = _randint(generator, self.n_level + 1, n, k).to(torch.float64)
        else:
            levels = torch.full((n, k), float(level), dtype=torch.float64, device=generator.device)
        signs = _signs(generator, n, k)
        ops = ops.cpu()
        args = _space_arguments(
            RANDAUGMENT_SPACE, ops, levels.cpu(), signs.cpu(), self.n_level, height, width
        )
        return ops, args

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, h, w = images.shape
        if n == 0 or self.n_select == 0:
            return images
        ops, args = self.sample(n, h, w, generator)
        fns = [_ops.OPS[r.op] for r in RANDAUGMENT_SPACE]
        for slot in range(self.n_select):
            images = apply_grouped(images, ops[:, slot], args[:, slot], fns, self.fill)
        return images


# --- torchvision's AutoAugment family, run by the batched ops -------------------------------


class _TorchvisionSpace(NamedTuple):
    """torchvision's op table for one image size, as tensors: one row of bins per op."""

    names: tuple[str, ...]
    bins: Tensor  # (ops, num_bins) torchvision magnitudes; 0 where an op takes none
    signed: Tensor  # (ops,) bool
    scale: Tensor  # (ops,) to our units: Solarize bins are fractions of 255
    offset: Tensor  # (ops,) enhancement factors are 1 + m
    pixels: Tensor  # (ops,) bool: translations, int(m) pixels, positive = right/down

    def arguments(self, op: Tensor, bin_index: Tensor, signs: Tensor) -> Tensor:
        """Arguments of the :data:`blocknas.data._ops.OPS` functions, per image."""
        v = self.bins[op, bin_index]
        v = torch.where(self.signed[op], v * signs, v) * self.scale[op] + self.offset[op]
        return torch.where(self.pixels[op], -torch.trunc(v), v)

    def fns(self) -> list[_ops.OpFn]:
        return [_ops.NEAREST_SHEARS.get(n, _ops.OPS[n]) for n in self.names]  # torchvision's


@functools.lru_cache(maxsize=32)
def _torchvision_space(transform: str, num_bins: int, h: int, w: int) -> _TorchvisionSpace:
    """Reads ``torchvision.transforms.v2.<transform>``'s op table (magnitude bins, signed).

    The table (and AutoAugment's sub-policies) are read from torchvision rather than copied, so
    the policies stay torchvision's; only the application is blocknas's, per image and batched.
    """
    from torchvision.transforms import v2

    space = getattr(getattr(v2, transform), "_AUGMENTATION_SPACE", None)
    if not isinstance(space, dict):  # pragma: no cover - a torchvision that moved its tables
        raise RuntimeError(f"torchvision.transforms.v2.{transform} has no augmentation table")
    names = tuple(dict.fromkeys(["Identity", *space]))
    rows, signed = [], []
    for name in names:
        fn, sg = space.get(name, (lambda *_: None, False))
        values = fn(num_bins, h, w)
        rows.append(torch.zeros(num_bins) if values is None else torch.as_tensor(values))
        signed.append(sg)

    def per_op(f: Callable[[str], float]) -> Tensor:
        return torch.tensor([f(n) for n in names], dtype=torch.float64)

    enhance = ("Brightness", "Color", "Contrast", "Sharpness")
    return _TorchvisionSpace(
        names=names,
        bins=torch.stack(rows).to(torch.float64),
        signed=torch.tensor(signed),
        scale=per_op(lambda n: 255.0 if n == "Solarize" else 1.0),
        offset=per_op(lambda n: 1.0 if n in enhance else 0.0),
        pixels=per_op(lambda n: float(n.startswith("Translate"))) > 0,
    )


@dataclass(frozen=True)
class TrivialAugmentWide:
    """torchvision's TrivialAugmentWide: one op and one magnitude bin per image, wide ranges."""

    num_bins: int = 31
    fill: int = 0

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, h, w = images.shape
        if n == 0:
            return images
        space = _torchvision_space("TrivialAugmentWide", self.num_bins, h, w)
        op = _randint(generator, len(space.names), n).cpu()
        bins = _randint(generator, self.num_bins, n).cpu()
        args = space.arguments(op, bins, _signs(generator, n).cpu())
        return apply_grouped(images, op, args, space.fns(), self.fill)


@dataclass(frozen=True)
class AutoAugment:
    """torchvision's AutoAugment sub-policies (``cifar10``, ``imagenet`` or ``svhn``), per image:
    each image picks a sub-policy, then applies its two steps with their probabilities."""

    policy: str = "cifar10"
    fill: int = 0

    def __post_init__(self) -> None:
        from torchvision.transforms import v2

        known = [p.value for p in v2.AutoAugmentPolicy]
        if self.policy.lower() not in known:
            raise ConfigError(f"unknown AutoAugment policy {self.policy!r}; known: {known}")

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        from torchvision.transforms import v2

        n, _, h, w = images.shape
        if n == 0:
            return images
        subpolicies = v2.AutoAugment(v2.AutoAugmentPolicy(self.policy.lower()))._policies
        space = _torchvision_space("AutoAugment", 10, h, w)  # its magnitudes index 10 bins
        pick = _randint(generator, len(subpolicies), n).cpu()
        for step in range(2):
            op_of = torch.tensor([space.names.index(sp[step][0]) for sp in subpolicies])
            prob_of = torch.tensor([sp[step][1] for sp in subpolicies], dtype=torch.float64)
            bin_of = torch.tensor([sp[step][2] or 0 for sp in subpolicies])
            apply = _rand(generator, n).cpu() <= prob_of[pick]
            op = torch.where(apply, op_of[pick], 0)  # 0 is Identity
            args = space.arguments(op, bin_of[pick], _signs(generator, n).cpu())
            images = apply_grouped(images, op, args, space.fns(), self.fill)
        return images


# --- crops, flips, cutout ----------------------------------------------------------------


@dataclass(frozen=True)
class HorizontalFlip:
    """Mirrors each image with probability p."""

    p: float = 0.5

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return _ops.hflip(images, _rand(generator, images.shape[0]) < self.p)


@dataclass(frozen=True)
class Cutout:
    """The reference Cutout: with probability p, a grey box of fraction·w by fraction·h.

    The centre is a uniform integer in [0, w] × [0, h]; the box is clipped to the image.
    """

    p: float = 0.8
    fraction: float = 0.45  # level 9 on the reference's 10-level scale of 0 → 0.5
    fill: int = 128

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, h, w = images.shape
        apply = _rand(generator, n) <= self.p
        cx = _randint(generator, w + 1, n)
        cy = _randint(generator, h + 1, n)
        far = -(10**6)  # a centre this far away draws no box
        centre = torch.stack([torch.where(apply, cx, far), torch.where(apply, cy, far)], dim=1)
        size = (int(self.fraction * w), int(self.fraction * h))
        return _ops.cutout(images, centre, size, self.fill)


@dataclass(frozen=True)
class PadCrop:
    """Random crop of the original size from the image padded by ``padding`` pixels of fill."""

    padding: int = 4
    fill: int = 0

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n = images.shape[0]
        dx = _randint(generator, 2 * self.padding + 1, n) - self.padding
        dy = _randint(generator, 2 * self.padding + 1, n) - self.padding
        return _ops.translate(images, dx, dy, self.fill)


@dataclass(frozen=True)
class RandomResizedCrop:
    """torchvision's RandomResizedCrop box rule on the image enlarged ``upscale`` times.

    The reference resizes to 1.2·IMG, then crops (scale 0.08–1, aspect 0.75–1) and resizes back to
    IMG; both resamplings are folded into one bilinear sample (:func:`_ops.resized_crop`).
    """

    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (0.75, 1.0)
    upscale: float = 1.2
    attempts: int = 10

    def boxes(self, n: int, height: int, width: int, generator: torch.Generator) -> Tensor:
        """(N, 4) top, left, height, width on a ``height``×``width`` canvas."""
        area = height * width
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        target = area * (
            self.scale[0] + (self.scale[1] - self.scale[0]) * _rand(generator, n, self.attempts)
        )
        aspect = torch.exp(log_r[0] + (log_r[1] - log_r[0]) * _rand(generator, n, self.attempts))
        bw = torch.round(torch.sqrt(target * aspect))
        bh = torch.round(torch.sqrt(target / aspect))
        ok = (bw > 0) & (bw <= width) & (bh > 0) & (bh <= height)
        first = ok.to(torch.int8).argmax(dim=1, keepdim=True)
        bw, bh = bw.gather(1, first).squeeze(1), bh.gather(1, first).squeeze(1)
        top = torch.floor(_rand(generator, n) * (height - bh + 1))
        left = torch.floor(_rand(generator, n) * (width - bw + 1))
        found = ok.any(dim=1)
        # torchvision's fallback: the central crop with the ratio clamped into range
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fw, fh = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            fw, fh = round(height * self.ratio[1]), height
        else:
            fw, fh = width, height
        fb = torch.tensor([(height - fh) // 2, (width - fw) // 2, fh, fw], dtype=torch.float64)
        box = torch.stack([top, left, bh, bw], dim=1)
        return torch.where(found.unsqueeze(1), box, fb.to(box.device))

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, h, w = images.shape
        canvas = (round(self.upscale * h), round(self.upscale * w))
        return _ops.resized_crop(images, self.boxes(n, *canvas, generator), canvas)


@dataclass(frozen=True)
class Compose:
    """Runs policies one after the other with the same generator."""

    steps: tuple[AugmentPolicy, ...] = field(default_factory=tuple)

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        for step in self.steps:
            images = step(images, generator)
        return images


# --- registry of named train policies ---------------------------------------------------------

PolicyFactory = Callable[..., AugmentPolicy]
POLICIES: dict[str, PolicyFactory] = {}


def register_policy(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator: registers a factory ``f(**params) -> AugmentPolicy`` under ``name``."""

    def deco(factory: PolicyFactory) -> PolicyFactory:
        POLICIES[name] = factory
        return factory

    return deco


def _pipeline(
    main: AugmentPolicy | None,
    *,
    crop_padding: int = 0,
    flip: bool = True,
    cutout: float = 0.0,
) -> AugmentPolicy:
    steps: list[AugmentPolicy] = []
    if crop_padding:
        steps.append(PadCrop(crop_padding))
    if main is not None:
        steps.append(main)
    if flip:
        steps.append(HorizontalFlip())
    if cutout:
        steps.append(Cutout(p=cutout))
    return steps[0] if len(steps) == 1 else Compose(tuple(steps))  # Compose(()): nothing to do


@register_policy("none")
def _none(
    *, crop_padding: int = 0, flip: bool = False, cutout: float | None = None
) -> AugmentPolicy:
    """No augmentation, unless a crop, flip or Cutout is asked for."""
    return _pipeline(None, crop_padding=crop_padding, flip=flip, cutout=cutout or 0.0)


@register_policy("simple")
def _simple(
    *, crop_padding: int = 0, flip: bool = True, cutout: float | None = None
) -> AugmentPolicy:
    """The reference ``simple_augment_train``: RandomResizedCrop then flip."""
    return _pipeline(
        RandomResizedCrop(), crop_padding=crop_padding, flip=flip, cutout=cutout or 0.0
    )


@register_policy("randaugment")
def _randaugment(
    *,
    n_select: int = 2,
    level: int | None = 14,
    n_level: int = 31,
    crop_padding: int = 0,
    flip: bool = True,
    cutout: float | None = None,
) -> AugmentPolicy:
    """The reference ``randaugment_train``: RandAugment, flip, Cutout (p = 0.8 unless given)."""
    main = RandAugment(n_select=n_select, level=level, n_level=n_level)
    cut = 0.8 if cutout is None else cutout
    return _pipeline(main, crop_padding=crop_padding, flip=flip, cutout=cut)


@register_policy("autoaugment")
def _autoaugment(
    *,
    policy: str = "cifar10",
    crop_padding: int = 0,
    flip: bool = True,
    cutout: float | None = None,
) -> AugmentPolicy:
    """torchvision's AutoAugment (CIFAR-10 sub-policies by default), then a flip."""
    return _pipeline(
        AutoAugment(policy), crop_padding=crop_padding, flip=flip, cutout=cutout or 0.0
    )


@register_policy("trivialaugment")
def _trivialaugment(
    *, num_bins: int = 31, crop_padding: int = 0, flip: bool = True, cutout: float | None = None
) -> AugmentPolicy:
    """torchvision's TrivialAugmentWide, then a flip."""
    main = TrivialAugmentWide(num_bins=num_bins)
    return _pipeline(main, crop_padding=crop_padding, flip=flip, cutout=cutout or 0.0)


def build_policy(name: str, **params: Any) -> AugmentPolicy:
    """A named train policy; ``params`` are the policy's keywords (see the ``augment`` config).

    >>> policy = build_policy("randaugment", n_select=2, level=None)
    >>> out = policy(images_uint8, torch.Generator().manual_seed(0))
    """
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown augmentation policy {name!r}; known: {sorted(POLICIES)}"
        ) from None
    try:
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"augmentation policy {name!r}: {exc}") from None


def mirrors_images(policy: AugmentPolicy | None) -> bool:
    """Whether ``policy`` flips images horizontally: then the training data says a mirror
    image keeps its class, and evaluating on the mirror image too (test-time augmentation) is
    sound."""
    if isinstance(policy, HorizontalFlip):
        return policy.p > 0
    if isinstance(policy, Compose):
        return any(mirrors_images(step) for step in policy.steps)
    return False
