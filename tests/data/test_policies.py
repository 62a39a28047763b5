"""Policies: per-image draws, vectorised application, reproducibility, the reference's rules."""

from __future__ import annotations

import pytest
import torch

from blocknas.data import OPS, POLICIES, build_policy
from blocknas.data._policies import (
    RANDAUGMENT_SPACE,
    AutoAugment,
    Cutout,
    RandAugment,
    RandomResizedCrop,
    TrivialAugmentWide,
    fixed_level,
)
from blocknas.errors import ConfigError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def batch(rgb_images: torch.Tensor) -> torch.Tensor:
    return rgb_images.repeat(4, 1, 1, 1)[:128].contiguous()


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_keeps_shape_and_is_reproducible(name: str, batch: torch.Tensor) -> None:
    policy = build_policy(name)
    a = policy(batch, _gen(3))
    assert a.dtype == torch.uint8 and a.shape == batch.shape
    assert torch.equal(a, policy(batch, _gen(3)))
    if name != "none":
        assert not torch.equal(a, policy(batch, _gen(4)))


def test_randaugment_draws_per_image_distinct_ops() -> None:
    ops, args = RandAugment(n_select=2, level=None).sample(128, 32, 32, _gen())
    assert ops.shape == args.shape == (128, 2)
    assert bool((ops[:, 0] != ops[:, 1]).all()), "an image drew the same op twice"
    pairs = {tuple(p) for p in ops.tolist()}
    assert len(pairs) > 60  # 182 ordered pairs possible; one per image would be a batch-wide op
    assert set(ops.flatten().tolist()) == set(range(len(RANDAUGMENT_SPACE)))


def test_randaugment_equals_its_ops_applied_image_by_image(batch: torch.Tensor) -> None:
    """Grouping by op, sorting and scattering back must give each image its own ops."""
    policy = RandAugment(n_select=2, level=None)
    out = policy(batch, _gen(7))
    ops, args = policy.sample(len(batch), 32, 32, _gen(7))
    for i in range(len(batch)):
        x = batch[i : i + 1]
        for slot in range(2):
            fn = OPS[RANDAUGMENT_SPACE[int(ops[i, slot])].op]
            x = fn(x, args[i : i + 1, slot], 128)
        assert torch.equal(out[i], x[0]), f"image {i}"


def test_randaugment_fixed_level_gives_the_reference_magnitudes() -> None:
    ops, args = RandAugment(n_select=3, level=14, n_level=31).sample(256, 32, 40, _gen(1))
    m = {r.op: 14 * (r.high - r.low) / 31 + r.low for r in RANDAUGMENT_SPACE}
    for op_index, arg in zip(ops.flatten().tolist(), args.flatten().tolist(), strict=True):
        r = RANDAUGMENT_SPACE[op_index]
        expected = m[r.op] * {"width": 40, "height": 32}.get(r.unit, 1)
        got = arg - 1.0 if r.unit == "factor" else arg
        if r.signed:
            got = abs(got)
        assert got == pytest.approx(expected), r.op
    signs = {
        RANDAUGMENT_SPACE[o].op: a > 0
        for o, a in zip(ops.flatten().tolist(), args.flatten().tolist(), strict=True)
    }
    assert signs["Rotate"] is True  # the reference rotates by +m only


@pytest.mark.parametrize("level", [None, 0, 14.0, 32, -1, True])
def test_randaugment_random_level_when_not_an_int_in_range(level: object) -> None:
    assert fixed_level(level, 31) is None
    policy = RandAugment(n_select=14, level=level, n_level=31)  # type: ignore[arg-type]
    ops, args = policy.sample(1000, 32, 32, _gen(2))  # every op for each image
    rotate = args[ops == [r.op for r in RANDAUGMENT_SPACE].index("Rotate")]
    levels = torch.round(rotate / 30 * 31)
    assert set(levels.tolist()) == set(range(32))  # 0..n_level, each drawn


def test_fixed_level_rule() -> None:
    assert fixed_level(14, 31) == 14
    assert fixed_level(1, 31) == 1 and fixed_level(31, 31) == 31


def test_policies_on_grayscale(gray_images: torch.Tensor) -> None:
    for name in POLICIES:
        out = build_policy(name)(gray_images, _gen())
        assert out.shape == gray_images.shape


def test_cutout_probability_and_size(batch: torch.Tensor) -> None:
    big = batch.repeat(8, 1, 1, 1)  # 1024 images
    out = Cutout(p=0.8)(big, _gen(5))
    changed = (out != big).flatten(1).any(1).float().mean().item()
    assert 0.72 < changed < 0.88  # a few boxes land on grey pixels or off the image
    grey = (out == 128).all(1)  # N×H×W
    assert int(grey.sum(dim=(1, 2)).max()) <= (14 + 1) ** 2  # int(0.45·32) = 14, corners included


def test_random_resized_crop_boxes_follow_torchvision_rules() -> None:
    rrc = RandomResizedCrop()
    boxes = rrc.boxes(4000, 38, 38, _gen(9))
    top, left, h, w = boxes.unbind(1)
    assert bool(((top >= 0) & (left >= 0) & (top + h <= 38) & (left + w <= 38)).all())
    area = h * w / (38 * 38)
    assert float(area.min()) >= 0.06 and float(area.max()) <= 1.0
    ratio = w / h
    assert float(ratio.min()) > 0.7 and float(ratio.max()) < 1.06  # 0.75..1 before rounding


def test_simple_policy_flips_and_crops(batch: torch.Tensor) -> None:
    out = build_policy("simple")(batch, _gen(1))
    textured = batch.flatten(1).float().std(1) > 20  # a crop of a flat image stays the same
    # the full canvas without a flip is the one draw that leaves an image as it was
    assert (out != batch).flatten(1).any(1)[textured].float().mean() > 0.9


def test_torchvision_policies_vary_per_image(batch: torch.Tensor) -> None:
    flat = torch.full((256, 3, 32, 32), 100, dtype=torch.uint8)
    flat[:, 0, :, :16] = 30  # an edge, so geometry and colour ops leave different traces
    for policy in (TrivialAugmentWide(), AutoAugment("cifar10"), AutoAugment("imagenet")):
        out = policy(flat, _gen(2))
        distinct = {bytes(im.numpy().tobytes()) for im in out}
        assert len(distinct) > 20, type(policy).__name__


def test_unknown_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="known"):
        build_policy("randaugmnet")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        build_policy("simple", n_select=2)
    with pytest.raises(ConfigError, match="AutoAugment policy"):
        AutoAugment("mnist")
    with pytest.raises(ConfigError, match="n_select"):
        RandAugment(n_select=15)


def test_same_draws_whatever_the_image_device(batch: torch.Tensor) -> None:
    """Draws come from the generator, so two image copies give the same augmentation."""
    policy = build_policy("randaugment", level=None, crop_padding=2)
    assert torch.equal(policy(batch.clone(), _gen(11)), policy(batch, _gen(11)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_cuda_matches_cpu(name: str, batch: torch.Tensor) -> None:
    policy = build_policy(name)
    cpu = policy(batch, _gen(5))
    gpu = policy(batch.cuda(), _gen(5))
    assert gpu.is_cuda
    diff = (gpu.cpu().int() - cpu.int()).abs()
    # blends and bilinear crops may round differently on the GPU; integer ops are exact
    assert float((diff > 1).float().mean()) < 1e-3
