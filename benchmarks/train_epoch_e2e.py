"""One training epoch end to end (data + augmentation + step) against a reference-style pipeline.

Both sides train the reference CNN (4 conv-BN-ReLU layers 16/32/64/128, strides 1/2/2/2, global
pool, linear) on the same 10,000 CIFAR-10 JPEGs (1,000 per class from ../shared/data) with
RandAugment (2 ops, level 14 of 31), flip and Cutout-like erasing, batch 128, same threads:

- reference style: torchvision ImageFolder + PIL RandAugment + DataLoader(2 workers), a plain
  SGD loop; every epoch decodes and augments every JPEG in the workers;
- blocknas: ``load_data`` (decoded once into a cached uint8 tensor) + the batched augmentation
  policy + ``blocknas.train.fit``; the figure is the trainer's training images/s per epoch
  (validation excluded on both sides).

    python benchmarks/train_epoch_e2e.py [--epochs 2] [--threads 2]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import blocknas
from blocknas.data import load_data, load_data_config, train_policy
from blocknas.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
CIFAR = ROOT / ".." / "shared" / "data" / "cifar10" / "train"
PER_CLASS = 1000
BATCH = 128

REFERENCE_CNN = Path(__file__).with_name("reference_cnn.yaml")  # 4 conv-BN-ReLU, pool, linear


def link_subset(dst: Path) -> Path:
    """A folder of links to the first PER_CLASS images of each class."""
    for cls in sorted(p.name for p in CIFAR.resolve().iterdir() if p.is_dir()):
        (dst / cls).mkdir(parents=True)
        for f in sorted((CIFAR / cls).iterdir())[:PER_CLASS]:
            os.symlink(f.resolve(), dst / cls / f.name)
    return dst


def build_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return blocknas.build_model(REFERENCE_CNN)


def reference_epochs(root: Path, epochs: int) -> list[float]:
    """Images/s of each epoch of the reference-style pipeline."""
    from torchvision import datasets, transforms

    tf = transforms.Compose([
        transforms.Resize((32, 32)),
        transforms.RandAugment(num_ops=2, magnitude=14, num_magnitude_bins=31,
                               fill=[128, 128, 128]),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        # The reference's Cutout: a grey box 45 % of the side, with probability 0.8.
        transforms.RandomErasing(p=0.8, scale=(0.2, 0.2), ratio=(1.0, 1.0), value=0),
    ])  # fmt: skip
    loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(str(root), transform=tf),
        batch_size=BATCH, shuffle=True, drop_last=True, num_workers=2,
    )  # fmt: skip
    model = build_model()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    figures = []
    for _ in range(epochs):
        start, images = time.perf_counter(), 0
        for x, y in loader:
            loss = criterion(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            images += y.shape[0]
        figures.append(images / (time.perf_counter() - start))
        print(f"reference-style epoch: {figures[-1]:,.0f} img/s", flush=True)
    return figures


def blocknas_epochs(root: Path, cache: Path, epochs: int) -> tuple[list[float], float]:
    """Images/s of each trainer epoch, and the one-time decode (and cache) seconds."""
    cfg = load_data_config({
        "dataset": "imagefolder", "path": str(root), "val_ratio": 0.01, "test_ratio": 0.0,
        "augment": {"train": "randaugment", "n_select": 2, "level": 14, "n_level": 31},
    })  # fmt: skip
    start = time.perf_counter()
    splits = load_data(cfg, cache_dir=cache)
    decode = time.perf_counter() - start
    train_cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr=0.05, device="cpu")
    result = fit(build_model(), splits, train_cfg, train_policy=train_policy(cfg), progress=False)
    figures = [m.images_per_s for m in result.history]
    for f in figures:
        print(f"blocknas epoch: {f:,.0f} img/s", flush=True)
    return figures, decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not CIFAR.is_dir():
        raise SystemExit(f"CIFAR-10 images not found at {CIFAR}")
    with tempfile.TemporaryDirectory() as tmp:
        root = link_subset(Path(tmp) / "cifar10k")
        ours, decode = blocknas_epochs(root, Path(tmp) / "cache", args.epochs)
        ref = reference_epochs(root, args.epochs)
    o, r = statistics.median(ours), statistics.median(ref)
    print(f"blocknas {o:,.0f} img/s vs reference-style {r:,.0f} img/s: {o / r:.2f}x "
          f"(one-time decode of 10,000 JPEGs: {decode:.1f} s)")  # fmt: skip
    print(json.dumps({
        "images": 10 * PER_CLASS, "threads": args.threads, "epochs": args.epochs,
        "blocknas_images_per_s": [round(v) for v in ours],
        "reference_images_per_s": [round(v) for v in ref],
        "speedup": round(o / r, 2), "decode_once_s": round(decode, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
