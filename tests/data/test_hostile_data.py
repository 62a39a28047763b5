"""Hostile and awkward data input: reference configs with VAL_RATIO 0, decompression bombs,
damaged cache entries, one-class folders, class-count mismatches, and data roots that change
between a run and its resume."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from blocknas.data import _cache, _decode, load_data, load_data_config, resolve_layout
from blocknas.data._header import image_size
from blocknas.errors import ConfigError, DataError
from blocknas.train import EpochMetrics, resume_run, train_run

from ._images import synthetic, to_pil

MakeFolder = Callable[..., Path]


def _images(n: int, seed: int, size: int = 8) -> list[torch.Tensor]:
    return list(synthetic(n, 3, size, size, seed))


def _write(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def _split_root(make_folder: MakeFolder, parts: tuple[str, ...] = ("train", "val")) -> Path:
    """data/{train,val,...}/{a,b}/*.png, 8×8 RGB."""
    for i, part in enumerate(parts):
        n = 8 if part == "train" else 3
        make_folder({"a": _images(n, 10 * i), "b": _images(n, 10 * i + 1)}, name=f"data/{part}")
    return _root_of(make_folder)


def _root_of(make_folder: MakeFolder) -> Path:
    return Path(make_folder({}, name="data"))


# --- reference data configs -------------------------------------------------------------------

TACO: dict[str, Any] = {
    "DATA_PATH": "data",
    "DATASET": "TACO",
    "IMG_SIZE": 8,
    "AUG_TRAIN": "simple_augment_train",
    "AUG_TEST": "simple_augment_test",
    "AUG_TRAIN_PARAMS": None,
    "AUG_TEST_PARAMS": None,
    "BATCH_SIZE": 4,
    "EPOCHS": 1,
    "VAL_RATIO": 0.0,
    "INIT_LR": 0.05,
    "FP16": True,
}


def test_val_ratio_zero_loads_with_a_val_folder(make_folder: MakeFolder, tmp_path: Path) -> None:
    _split_root(make_folder)
    cfg = load_data_config(_write(tmp_path / "taco.yaml", {**TACO, "SEED": 7}))
    assert cfg.val_ratio == 0.0
    splits = load_data(cfg, cache_dir=tmp_path / "cache")
    assert len(splits.val) == 6 and len(splits.train) + len(splits.test or []) == 16
    # SEED is the run's one seed: the data's splits and the trainer's initialisation alike.
    assert cfg.seed == 7 and cfg.train["seed"] == 7


def test_val_ratio_zero_without_a_val_folder_names_the_reference_key(
    make_folder: MakeFolder, tmp_path: Path
) -> None:
    _split_root(make_folder, parts=("train",))
    path = _write(tmp_path / "taco.yaml", TACO)
    with pytest.raises(DataError) as err:
        load_data(load_data_config(path), cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "VAL_RATIO is 0" in message and str(path) in message and "val/" in message
    assert "val_ratio" not in message.replace(str(tmp_path), "") and "\n" not in message


def test_own_form_val_ratio_zero_names_the_own_key() -> None:
    cfg = load_data_config({"dataset": "digits", "val_ratio": 0})
    with pytest.raises(DataError, match=r"^val_ratio is 0 but digits has no validation split"):
        load_data(cfg, use_cache=False)


@pytest.mark.parametrize(
    ("change", "key", "internal"),
    [
        ({"IMG_SIZE": 0}, "IMG_SIZE", "img_size"),
        ({"VAL_RATIO": 1.5}, "VAL_RATIO", "val_ratio"),
        ({"SEED": "x"}, "SEED", "seed"),
        ({"MAX_IMAGE_PIXELS": 0}, "MAX_IMAGE_PIXELS", "max_image_pixels"),
        ({"BATCH_SIZE": 0}, "BATCH_SIZE", "batch_size"),
        ({"EPOCHS": "many"}, "EPOCHS", "epochs"),
        ({"INIT_LR": -0.1}, "INIT_LR", "lr"),
        ({"FP16": "sometimes"}, "FP16", "amp"),
        ({"AUG_TRAIN": "randaugment_train", "AUG_TRAIN_PARAMS": {"n_select": 20}},
         "AUG_TRAIN_PARAMS.n_select", "augment"),
        ({"DATA_PATH": None}, "DATA_PATH", "path"),
    ],
)  # fmt: skip
def test_reference_errors_name_the_key_written(
    tmp_path: Path, change: dict[str, Any], key: str, internal: str
) -> None:
    path = _write(tmp_path / "d.yaml", {**TACO, **change})
    with pytest.raises(ConfigError) as err:
        load_data_config(path)
    message = str(err.value)
    assert str(path) in message and key in message
    assert internal not in message.replace(key, "")


@pytest.mark.parametrize("policy", ["custom_aug", "albu_heavy_train"])
def test_unsupported_policy_names_stay_clear(tmp_path: Path, policy: str) -> None:
    path = _write(tmp_path / "d.yaml", {**TACO, "AUG_TRAIN": policy})
    with pytest.raises(ConfigError, match=f"AUG_TRAIN: unsupported value '{policy}'"):
        load_data_config(path)


def test_reference_train_values_read_like_the_trainer_reads_them() -> None:
    # YAML 1.1 reads 1e-3 as a string; the trainer's lax float accepts it, so does the check.
    cfg = load_data_config({**TACO, "INIT_LR": "1e-3", "DATA_PATH": "/nowhere"})
    assert cfg.train["lr"] == 0.001


# --- decompression bombs ----------------------------------------------------------------------


def _png_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width × height, then a tiny IDAT: what a
    decoder would allocate for is in the header, not in the file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _jpeg_claiming(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    to_pil(_images(1, 0)[0]).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("JPEG", {}), ("GIF", {}), ("WEBP", {}), ("WEBP", {"lossless": True}),
     ("BMP", {}), ("TIFF", {})],
)  # fmt: skip
def test_header_size_of_every_format(fmt: str, options: dict[str, Any]) -> None:
    for mode in ("RGB", "RGBA") if fmt == "WEBP" else ("RGB",):
        buf = io.BytesIO()
        Image.new(mode, (37, 23), (10, 20, 30)).save(buf, fmt, **options)
        assert image_size(memoryview(np.frombuffer(buf.getvalue(), np.uint8))) == (37, 23)


@pytest.mark.parametrize("claim", [_png_claiming, _jpeg_claiming])
def test_bomb_is_refused_from_its_header_before_decoding(
    make_folder: MakeFolder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    claim: Callable[[int, int], bytes],
) -> None:
    root = make_folder({"a": _images(3, 0), "b": _images(3, 1)})
    bomb = root / "b" / "bomb.img"
    bomb.write_bytes(claim(30000, 30000))
    assert bomb.stat().st_size < 10_000

    def no_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("the decoder ran")

    monkeypatch.setattr(_decode, "_decode_one", no_decode)
    import torchvision.io as tio

    monkeypatch.setattr(tio, "decode_jpeg", no_decode)
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root), "img_size": 8})
    with pytest.raises(DataError) as err:
        load_data(cfg, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert str(bomb) in message and "30000×30000" in message and "900,000,000" in message
    assert "100,000,000" in message and "raise max_image_pixels" in message


def test_pixel_limit_is_a_config_key(make_folder: MakeFolder, tmp_path: Path) -> None:
    root = make_folder({"a": _images(2, 0, size=20), "b": _images(2, 1, size=20)}, name="data")
    own = {"dataset": "imagefolder", "path": str(root), "img_size": 8}
    with pytest.raises(DataError, match=r"20×20 \(400 pixels\), over the limit of 399 pixels"):
        load_data(load_data_config({**own, "max_image_pixels": 399}), use_cache=False)
    assert len(load_data(load_data_config({**own, "max_image_pixels": 400}), use_cache=False).val)
    # A reference-format file is told its own key, and its file.
    path = _write(tmp_path / "ref.yaml", {**TACO, "DATASET": "IMAGEFOLDER",
                                          "VAL_RATIO": 0.2, "MAX_IMAGE_PIXELS": 399})  # fmt: skip
    with pytest.raises(DataError, match=f"raise MAX_IMAGE_PIXELS in the data config \\({path}\\)"):
        load_data(load_data_config(path), use_cache=False)


def test_animated_gif_decodes_its_first_frame_only(make_folder: MakeFolder) -> None:
    frames = [to_pil(im) for im in _images(6, 3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    root = make_folder({"a": [buf.getvalue()] * 2, "b": [buf.getvalue()] * 2}, fmt="gif")
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root), "val_ratio": 0.5,
                            "test_ratio": 0})  # fmt: skip
    splits = load_data(cfg, use_cache=False)
    assert tuple(splits.train.images.shape[1:]) == (3, 8, 8)


# --- damaged cache entries ----------------------------------------------------------------------


def _rewrite_header(entry: Path, change: Callable[[dict[str, Any]], None]) -> None:
    raw = entry.read_bytes()
    (size,) = struct.unpack("<Q", raw[8:16])
    header = json.loads(raw[16 : 16 + size])
    change(header)
    blob = json.dumps(header).encode()
    entry.write_bytes(raw[:8] + struct.pack("<Q", len(blob)) + blob + raw[16 + size :])


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h["tensors"]["images"].update(shape=[10**12, 3, 8, 8]),  # huge claim
        lambda h: h["tensors"]["images"].update(shape=[-1, 3, 8, 8]),
        lambda h: h["tensors"]["images"].update(dtype="complex128"),
        lambda h: h.update(tensors=[]),
        # consistent with the file's size but not with the folder: twice the images, half height
        lambda h: h["tensors"]["images"].update(
            shape=[2 * h["tensors"]["images"]["shape"][0], 3, 4, 8]
        ),
    ],
)
def test_damaged_cache_header_is_rebuilt(
    make_folder: MakeFolder, tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    root = make_folder({"a": _images(6, 0), "b": _images(6, 1)})
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root)})
    first = load_data(cfg, cache_dir=tmp_path / "cache")
    (entry,) = (tmp_path / "cache").iterdir()
    _rewrite_header(entry, change)
    with pytest.warns(UserWarning, match="rebuilding|cut short|unknown dtype|malformed"):
        again = load_data(cfg, cache_dir=tmp_path / "cache")
    assert torch.equal(first.train.images, again.train.images)
    tensors, _ = _cache.read_entry(entry)  # rewritten whole
    assert tuple(tensors["images"].shape) == (12, 3, 8, 8)


def test_header_length_past_the_end_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.bnd"
    path.write_bytes(b"BNDATA02" + struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(ValueError, match="past the end"):
        _cache.read_entry(path)


# --- class counts -------------------------------------------------------------------------------


def test_one_class_folder_is_a_data_error(make_folder: MakeFolder) -> None:
    root = make_folder({"only": _images(4, 0)})
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root)})
    with pytest.raises(DataError, match=f"^{root} has one class folder \\('only'\\)"):
        load_data(cfg, use_cache=False)


def test_one_class_train_folder_of_a_split_layout(make_folder: MakeFolder) -> None:
    make_folder({"only": _images(4, 0)}, name="data/train")
    make_folder({"only": _images(2, 1)}, name="data/val")
    root = _root_of(make_folder)
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root)})
    with pytest.raises(DataError, match="train has one class folder"):
        load_data(cfg, use_cache=False)


MODEL: dict[str, Any] = {
    "input_channel": 3,
    "backbone": [
        [1, "Conv", {"out": 4, "kernel": 3}],
        [1, "GlobalAvgPool", {}],
        [1, "Flatten", {}],
        [1, "Linear", {"out": 5}],
    ],
}


@pytest.fixture
def _cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOCKNAS_CACHE", str(tmp_path / "cache"))


@pytest.mark.usefixtures("_cache_env")
def test_declared_num_classes_must_match_the_data(make_folder: MakeFolder, tmp_path: Path) -> None:
    _split_root(make_folder)
    data = {"dataset": "imagefolder", "path": str(tmp_path / "data"), "train": {"epochs": 1}}
    with pytest.raises(ConfigError, match=r"predicts 3 classes but .* has 2; set num_classes: 2"):
        train_run({**MODEL, "num_classes": 3}, data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    # Without num_classes the data sets the classifier's width, as before.
    train_run(MODEL, data, tmp_path / "run", {"batch_size": 4}, progress=False)
    assert yaml.safe_load((tmp_path / "run" / "model.yaml").read_text())["num_classes"] == 2


# --- the layout recorded with a run -------------------------------------------------------------


@pytest.mark.usefixtures("_cache_env")
def test_resume_uses_the_recorded_layout(make_folder: MakeFolder, tmp_path: Path) -> None:
    root = _split_root(make_folder, parts=("train", "val", "test"))
    data = {"dataset": "imagefolder", "path": str(root),
            "train": {"epochs": 2, "batch_size": 4}}  # fmt: skip

    def interrupt(m: EpochMetrics) -> None:
        if m.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(MODEL, data, tmp_path / "run", progress=False, callback=interrupt)
    saved = load_data_config(tmp_path / "run" / "data.yaml")
    assert saved.layout == "split"
    make_folder({"x": _images(1, 9)}, name="data/runs")  # an unrelated folder appears
    # Detected anew, the root now reads as class folders train/ val/ test/ runs/ ...
    assert load_data(load_data_config(data), use_cache=False).num_classes == 4
    # ... but the run keeps its two classes and finishes.
    result = resume_run(tmp_path / "run", progress=False)
    assert [m.epoch for m in result.history] == [1, 2]
    assert load_data(saved, use_cache=False).num_classes == 2


def test_layout_split_without_train_is_a_data_error(make_folder: MakeFolder) -> None:
    root = make_folder({"a": _images(2, 0), "b": _images(2, 1)})
    cfg = load_data_config({"dataset": "imagefolder", "path": str(root), "layout": "split"})
    with pytest.raises(DataError, match="layout split needs class folders under"):
        load_data(cfg, use_cache=False)
    assert resolve_layout(cfg.model_copy(update={"layout": "auto"})).layout == "classes"
