"""BatchLoader: device-side batches, normalisation, per-epoch reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blocknas.data import (
    BatchLoader,
    ImageSet,
    build_policy,
    load_data,
    load_data_config,
    make_loaders,
    train_policy,
)
from blocknas.data._load import stratified_indices
from blocknas.errors import ConfigError


def _indexed(n: int = 250, channels: int = 3) -> ImageSet:
    """Image i (n <= 250) is filled with i (channel c adds c), label i % 7: batches can be
    checked."""
    values = torch.arange(n)
    images = values.view(n, 1, 1, 1).expand(n, channels, 8, 8).clone()
    images += torch.arange(channels).view(1, channels, 1, 1)
    return ImageSet(images.clamp(max=255).to(torch.uint8), torch.arange(n) % 7, tuple("abcdefg"))


def _loader(data: ImageSet, **kw: object) -> BatchLoader:
    c = data.images.shape[1]
    args = {"mean": (0.5,) * c, "std": (0.25,) * c, "shuffle": True, "seed": 3, **kw}
    return BatchLoader(data, 32, **args)  # type: ignore[arg-type]


def test_batches_are_normalised_and_labels_follow_images() -> None:
    data = _indexed()
    loader = _loader(data, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.2))
    seen = []
    for x, y in loader:
        assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape[1:] == (3, 8, 8)
        pixels = x * torch.tensor([0.5, 0.25, 0.2]).view(1, 3, 1, 1) + torch.tensor(
            [0.1, 0.2, 0.3]
        ).view(1, 3, 1, 1)
        value = torch.round(pixels[:, 0, 0, 0] * 255).long()
        assert torch.allclose(pixels * 255, torch.round(pixels * 255), atol=1e-3)
        assert torch.equal(value % 7, y)
        seen.append(value)
    assert sorted(torch.cat(seen).tolist()) == list(range(250))  # every image once


def test_len_and_drop_last() -> None:
    data = _indexed(100)
    assert len(_loader(data)) == 4 and sum(1 for _ in _loader(data)) == 4
    assert len(_loader(data, drop_last=True)) == 3
    assert [len(y) for _, y in _loader(data, drop_last=True)] == [32, 32, 32]


def test_epochs_are_pure_functions_of_seed_and_epoch() -> None:
    data = _indexed()
    policy = build_policy("randaugment", level=None)
    a, b = _loader(data, policy=policy), _loader(data, policy=policy)
    a.set_epoch(2)
    b.set_epoch(2)
    first = [x for x, _ in a]
    assert all(torch.equal(p, q) for p, q in zip(first, [x for x, _ in b], strict=True))
    assert all(torch.equal(p, q) for p, q in zip(first, [x for x, _ in a], strict=True))  # again
    b.set_epoch(3)
    assert not torch.equal(first[0], next(iter(b))[0])
    c = _loader(data, policy=policy, seed=4)
    c.set_epoch(2)
    assert not torch.equal(first[0], next(iter(c))[0])


def test_background_workers_give_the_same_batches() -> None:
    data = _indexed()
    policy = build_policy("randaugment", level=None)
    here = [(x, y) for x, y in _loader(data, policy=policy, chunk=2)]
    ahead = [(x, y) for x, y in _loader(data, policy=policy, chunk=2, workers=2)]
    assert len(here) == len(ahead) == 8
    for (x1, y1), (x2, y2) in zip(here, ahead, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    for i, _ in enumerate(_loader(data, policy=policy, workers=1)):
        if i == 2:
            break  # stopping early shuts the threads down


def test_chunks_cover_every_image_once() -> None:
    for chunk in (1, 3, 16):
        seen = torch.cat([y for _, y in _loader(_indexed(250), chunk=chunk, shuffle=False)])
        assert torch.equal(seen, torch.arange(250) % 7)
        assert len(list(_loader(_indexed(250), chunk=chunk, drop_last=True))) == 7


def test_unshuffled_order_and_channels_last() -> None:
    data = _indexed()
    loader = _loader(data, shuffle=False, channels_last=True)
    x, y = next(iter(loader))
    assert torch.equal(y, torch.arange(32) % 7)
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_threads_restored_after_each_batch() -> None:
    before = torch.get_num_threads()
    loader = _loader(_indexed(), policy=build_policy("randaugment"), threads=1)
    for _ in loader:
        assert torch.get_num_threads() == before


def test_channel_count_mismatch() -> None:
    with pytest.raises(ConfigError, match="3 channels"):
        BatchLoader(_indexed(), 8, mean=(0.5,), std=(0.2,))


def test_make_loaders_from_a_config() -> None:
    cfg = load_data_config({"dataset": "digits", "train": {"batch_size": 100}})
    splits = load_data(cfg, use_cache=False)
    train, val, test = make_loaders(splits, cfg)
    assert test is not None and train.policy is not None and val.policy is None
    assert len(train) == len(splits.train) // 100 and len(val) == -(-len(splits.val) // 100)
    x, _ = next(iter(train))
    assert x.shape == (100, 1, 8, 8)
    assert abs(float(x.mean())) < 0.5  # normalised with the train split's own statistics


def test_train_policy_none_is_no_augmentation() -> None:
    assert train_policy(load_data_config({"augment": {"train": "none"}})) is None
    assert train_policy(load_data_config({"augment": {"train": "none", "crop_padding": 2}}))


@pytest.mark.parametrize(
    ("labels", "count"),
    [
        (np.repeat(np.arange(10), 4000), 10000),
        (np.array([0] * 5 + [1] * 5), 1),
        ([0] * 7 + [1] * 3, 5),
    ],
)
def test_stratified_indices(labels: list[int] | np.ndarray, count: int) -> None:
    labels = np.asarray(labels)
    kept, rest = stratified_indices(labels, count, seed=0)
    assert len(kept) == count and len(rest) == len(labels) - count
    assert len(np.intersect1d(kept, rest)) == 0
    share = np.bincount(labels[kept], minlength=labels.max() + 1)
    target = np.bincount(labels) * count / len(labels)
    assert np.abs(share - target).max() < 1  # as close to proportional as integers allow
    again, _ = stratified_indices(labels, count, seed=0)
    assert np.array_equal(kept, again)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_match_cpu() -> None:
    data = _indexed()
    policy = build_policy("randaugment")
    cpu = [x for x, _ in _loader(data, policy=policy)]
    gpu = [x for x, _ in _loader(data, policy=policy, device="cuda")]
    assert gpu[0].is_cuda
    for p, q in zip(cpu, gpu, strict=True):
        assert torch.allclose(p, q.cpu(), atol=2 / 255 / 0.25)
