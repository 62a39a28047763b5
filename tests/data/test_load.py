"""load_data: datasets, stratified seeded splits, the decode cache, and bad input."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blocknas.data import DataWarning, _cache, _datasets, load_data, load_data_config
from blocknas.errors import DataError

from ._images import from_pil, synthetic
from .conftest import CIFAR_TRAIN

MakeFolder = Callable[..., Path]


def _images(n: int, seed: int, h: int = 12, w: int = 12, channels: int = 3) -> list[torch.Tensor]:
    return list(synthetic(n, channels, h, w, seed))


def _proportions(labels: torch.Tensor, k: int) -> np.ndarray:
    return (torch.bincount(labels, minlength=k).double() / len(labels)).numpy()


# --- digits ---------------------------------------------------------------------------------


def test_digits_splits(tmp_path: Path) -> None:
    cfg = load_data_config({"dataset": "digits"})
    s = load_data(cfg, cache_dir=tmp_path)
    assert s.name == "digits" and s.num_classes == 10 and s.in_channels == 1 and s.image_size == 8
    assert s.train.images.dtype == torch.uint8 and s.train.labels.dtype == torch.int64
    assert int(s.train.images.max()) == 255 and int(s.train.images.min()) == 0
    assert s.test is not None
    assert len(s.train) + len(s.val) + len(s.test) == 1797
    assert len(s.test) == round(0.2 * 1797)
    assert len(s.train) == int((1797 - len(s.test)) * 0.9)
    whole = _proportions(torch.cat([s.train.labels, s.val.labels, s.test.labels]), 10)
    for part in (s.train, s.val, s.test):
        assert np.abs(_proportions(part.labels, 10) - whole).max() < 0.02  # stratified
    assert len(s.mean) == len(s.std) == 1 and 0.1 < s.mean[0] < 0.6
    assert not list(tmp_path.iterdir())  # digits is built in memory, no cache file


def test_splits_identical_across_runs_and_seed_dependent() -> None:
    a = load_data(load_data_config({"dataset": "digits", "subset": 600}), use_cache=False)
    b = load_data(load_data_config({"dataset": "digits", "subset": 600}), use_cache=False)
    c = load_data(
        load_data_config({"dataset": "digits", "subset": 600, "seed": 1}), use_cache=False
    )
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    assert not torch.equal(a.train.images, c.train.images)
    assert len(a.train) + len(a.val) == 600
    assert a.test is not None and torch.equal(a.test.images, c.test.images) is False


def test_subset_fraction_and_resize() -> None:
    cfg = load_data_config({"dataset": "digits", "subset": 0.5, "img_size": 16, "test_ratio": 0})
    s = load_data(cfg, use_cache=False)
    assert s.test is None and s.image_size == 16
    assert len(s.train) + len(s.val) == round(0.5 * 1797)
    assert torch.bincount(torch.cat([s.train.labels, s.val.labels])).min() >= 85


def test_subset_larger_than_the_data() -> None:
    with pytest.raises(DataError, match="asks for 5000 images"):
        load_data(load_data_config({"dataset": "digits", "subset": 5000}), use_cache=False)


# --- image folders ----------------------------------------------------------------------------


def test_imagefolder_decodes_like_pil(make_folder: MakeFolder, tmp_path: Path) -> None:
    imgs = {"b_cat": _images(6, 0), "a_dog": _images(6, 1)}
    root = make_folder(imgs, fmt="png")
    cfg = load_data_config(
        {"dataset": "imagefolder", "path": str(root), "test_ratio": 0, "val_ratio": 0.5}
    )
    s = load_data(cfg, cache_dir=tmp_path / "cache")
    assert s.train.classes == ("a_dog", "b_cat")  # sorted folder names
    every = torch.cat([s.train.images, s.val.images])
    labels = torch.cat([s.train.labels, s.val.labels])
    expected = {bytes(im.numpy().tobytes()): 1 for im in imgs["b_cat"]}
    expected |= {bytes(im.numpy().tobytes()): 0 for im in imgs["a_dog"]}
    got = {bytes(im.numpy().tobytes()): int(y) for im, y in zip(every, labels, strict=True)}
    assert got == expected  # PNG is lossless: exact pixels, right labels


def test_jpeg_and_resize_close_to_pil(make_folder: MakeFolder, tmp_path: Path) -> None:
    imgs = {"a": _images(4, 2, h=24, w=40), "b": _images(4, 3, h=24, w=40)}
    root = make_folder(imgs, fmt="jpg")
    cfg = load_data_config(
        {
            "dataset": "imagefolder",
            "path": str(root),
            "img_size": 16,
            "test_ratio": 0,
            "val_ratio": 0.5,
        }
    )
    s = load_data(cfg, cache_dir=tmp_path / "cache")
    assert s.image_size == 16
    # reference: PIL decode, SquarePad (8 px black top and bottom), bilinear resize
    path = sorted((root / "a").iterdir())[0]
    pil = Image.open(path).convert("RGB")
    padded = Image.new("RGB", (40, 40))
    padded.paste(pil, (0, 8))
    ref = from_pil(padded.resize((16, 16), Image.Resampling.BILINEAR))
    every = torch.cat([s.train.images, s.val.images])
    best = min(int((im.int() - ref.int()).abs().max()) for im in every)
    assert best <= 3  # JPEG decoders and resize kernels differ by a few levels at most


def test_unreadable_files_are_skipped_with_a_count(make_folder: MakeFolder, tmp_path: Path) -> None:
    root = make_folder({"a": _images(5, 0), "b": _images(5, 1)})
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    (root / "b" / ".DS_Store").write_bytes(b"\x00\x01")  # hidden: ignored silently
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root), "test_ratio": 0})
    with pytest.warns(DataWarning, match="skipped 2 file") as rec:
        s = load_data(cfg, cache_dir=tmp_path / "cache")
    assert "notes.txt" in str(rec[0].message) and "broken.jpg" in str(rec[0].message)
    assert len(s.train) + len(s.val) == 10
    with pytest.warns(DataWarning, match="skipped 2 file"):  # again from the cache
        load_data(cfg, cache_dir=tmp_path / "cache")


def test_grayscale_among_rgb_is_converted(make_folder: MakeFolder, tmp_path: Path) -> None:
    gray = _images(2, 5, channels=1)
    root = make_folder({"a": _images(4, 0) + gray, "b": _images(6, 1)})
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root), "test_ratio": 0})
    with pytest.warns(DataWarning, match="converted 2 grayscale"):
        s = load_data(cfg, cache_dir=tmp_path / "cache")
    assert s.in_channels == 3
    every = torch.cat([s.train.images, s.val.images])
    as_rgb = gray[0].expand(3, -1, -1)
    assert any(torch.equal(im, as_rgb) for im in every)


def test_all_grayscale_stays_one_channel(make_folder: MakeFolder, tmp_path: Path) -> None:
    root = make_folder({"a": _images(5, 0, channels=1), "b": _images(5, 1, channels=1)})
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root), "test_ratio": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        s = load_data(cfg, cache_dir=tmp_path / "cache")
    assert s.in_channels == 1 and len(s.mean) == 1


@pytest.mark.parametrize(
    ("layout", "needle"),
    [
        ("missing", "data path does not exist"),
        ("no_classes", "no class folders"),
        ("empty_class", "is empty"),
        ("unreadable_class", "has no readable image"),
        ("mixed_sizes", "not all the same square size"),
    ],
)
def test_structural_problems_are_data_errors(
    make_folder: MakeFolder, tmp_path: Path, layout: str, needle: str
) -> None:
    root = tmp_path / "missing"
    if layout == "no_classes":
        root = tmp_path / "flat"
        root.mkdir()
        (root / "x.png").write_bytes(b"")
    elif layout == "empty_class":
        root = make_folder({"a": _images(3, 0)})
        (root / "b").mkdir()
    elif layout == "unreadable_class":
        root = make_folder({"a": _images(3, 0), "b": [b"junk", b"more junk"]})
    elif layout == "mixed_sizes":
        root = make_folder({"a": _images(3, 0), "b": _images(3, 1, h=10, w=14)})
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root), "test_ratio": 0})
    with pytest.raises(DataError, match=needle), warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        load_data(cfg, cache_dir=tmp_path / "cache")


def test_split_layout_uses_val_and_test_folders(make_folder: MakeFolder, tmp_path: Path) -> None:
    make_folder({"a": _images(4, 0), "b": _images(4, 1)}, name="taco/train")
    make_folder({"a": _images(2, 2), "b": _images(2, 3)}, name="taco/val")
    make_folder({"b": _images(3, 4)}, name="taco/test")
    cfg = load_data_config({"dataset": "imagefolder", "path": str(tmp_path / "taco")})
    s = load_data(cfg, cache_dir=tmp_path / "cache")
    assert (len(s.train), len(s.val), len(s.test or [])) == (8, 4, 3)
    assert s.test is not None and set(s.test.labels.tolist()) == {1}  # "b" in train's class list
    make_folder({"c": _images(2, 5)}, name="taco/test")
    with pytest.raises(DataError, match="not one of the training classes"):
        load_data(cfg, cache_dir=tmp_path / "cache")


# --- the cache ------------------------------------------------------------------------------


def test_second_load_reads_the_cache(
    make_folder: MakeFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder({"a": _images(6, 0), "b": _images(6, 1)})
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root), "img_size": 8})
    first = load_data(cfg, cache_dir=tmp_path / "cache")
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(names) == 2 and names[0].endswith("-8.bnd") and names[1].endswith("-native.bnd")

    def no_decode(*args: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(_datasets, "decode_files", no_decode)
    second = load_data(cfg, cache_dir=tmp_path / "cache")
    assert torch.equal(first.train.images, second.train.images)
    other = load_data(cfg.model_copy(update={"img_size": 6}), cache_dir=tmp_path / "cache")
    assert other.image_size == 6  # resized from the cached native decode, no decode
    (root / "a" / "new.png").write_bytes((root / "a" / "000.png").read_bytes())
    with pytest.raises(AssertionError, match="decoded again"):  # the folder changed
        load_data(cfg, cache_dir=tmp_path / "cache")


def test_unreadable_cache_entry_is_rebuilt(make_folder: MakeFolder, tmp_path: Path) -> None:
    root = make_folder({"a": _images(6, 0), "b": _images(6, 1)})
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root)})
    first = load_data(cfg, cache_dir=tmp_path / "cache")
    for entry in (tmp_path / "cache").iterdir():
        entry.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable cache entry"):
        again = load_data(cfg, cache_dir=tmp_path / "cache")
    assert torch.equal(first.train.images, again.train.images)


# --- cifar ----------------------------------------------------------------------------------


def test_cifar_absent_offline_is_a_clear_error(tmp_path: Path) -> None:
    cfg = load_data_config({"dataset": "cifar10", "path": str(tmp_path), "download": False})
    with pytest.raises(DataError, match=r"CIFAR-10 not found under .* download is off"):
        load_data(cfg, cache_dir=tmp_path / "cache")


def test_cifar_failed_download_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision import datasets

    def offline(self: object, *args: object, **kwargs: object) -> None:
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(datasets.CIFAR100, "download", offline)
    cfg = load_data_config({"dataset": "cifar100", "path": str(tmp_path)})
    with pytest.raises(DataError, match=r"CIFAR-100 not found under .* download failed"):
        load_data(cfg, cache_dir=tmp_path / "cache")


def test_cifar_from_torchvision_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The torchvision path, with a stand-in for the (download-only) CIFAR-10 files."""
    from torchvision import datasets

    class FakeCifar:
        base_folder = "cifar-10-batches-py"

        def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
            self.classes = [f"c{i}" for i in range(10)]
            n = 200 if train else 50
            g = np.random.default_rng(0 if train else 1)
            self.data = g.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            self.targets = [i % 10 for i in range(n)]

    monkeypatch.setattr(datasets, "CIFAR10", FakeCifar)
    cfg = load_data_config({"dataset": "cifar10", "path": str(tmp_path), "img_size": 16})
    s = load_data(cfg, cache_dir=tmp_path / "cache")
    assert s.test is not None and len(s.test) == 50 and len(s.train) + len(s.val) == 200
    assert s.image_size == 16 and s.mean == (0.4914, 0.4822, 0.4465)


def test_cifar_path_with_image_folders(make_folder: MakeFolder, tmp_path: Path) -> None:
    make_folder({"a": _images(5, 0), "b": _images(5, 1)}, name="cifar/train")
    cfg = load_data_config(
        {"dataset": "cifar10", "path": str(tmp_path / "cifar"), "download": False}
    )
    s = load_data(cfg, cache_dir=tmp_path / "cache")
    assert s.name == "cifar10" and s.mean == (0.4914, 0.4822, 0.4465)


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR_TRAIN.is_dir(), reason="shared CIFAR-10 folder not found")
def test_small_cifar10_config(tmp_path: Path) -> None:
    """configs/data/cifar10_small.yaml on the 50,000 shared JPEGs (decodes them all once)."""
    cfg = load_data_config(Path(__file__).resolve().parents[2] / "configs/data/cifar10_small.yaml")
    s = load_data(cfg, cache_dir=tmp_path)
    assert s.test is not None
    assert (len(s.train), len(s.val), len(s.test)) == (9000, 1000, 10000)
    assert torch.bincount(s.train.labels).tolist() == [900] * 10
    assert s.train.images.shape[1:] == (3, 32, 32)


def test_cache_entry_round_trip(tmp_path: Path) -> None:
    images = torch.randint(0, 256, (5, 3, 4, 6), dtype=torch.uint8)
    labels = torch.arange(5)
    _cache.write_entry(tmp_path / "e.bnd", {"images": images, "labels": labels}, {"n": [1, "x"]})
    tensors, meta = _cache.read_entry(tmp_path / "e.bnd")
    assert torch.equal(tensors["images"], images) and torch.equal(tensors["labels"], labels)
    assert meta == {"n": [1, "x"]}
    (tmp_path / "cut.bnd").write_bytes((tmp_path / "e.bnd").read_bytes()[:-7])
    with pytest.raises(ValueError, match="cut short"):
        _cache.read_entry(tmp_path / "cut.bnd")
