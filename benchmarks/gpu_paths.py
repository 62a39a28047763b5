"""The CUDA paths: batched augmentation on the GPU, and training with and without mixed precision.

Measured side by side in one run, on a CUDA machine, on a CIFAR-10 JPEG folder at 32×32:

1. Augmentation: the reference train policy (RandAugment n_select 2, level 9, then flip and
   Cutout) applied to batches of 256 uint8 images, per sample, on the CPU (all cores given to
   torch) and on the GPU; images/s and the ratio.
2. Training: ``fit`` of the reference CNN (benchmarks/reference_cnn.yaml) on the folder with the
   RandAugment policy, augmentation on the GPU, for float32, float16 autocast (AMP, the default
   on CUDA), and AMP with contiguous instead of channels_last tensors; median images/s of the
   epochs after the first, and the final validation accuracy of each.

    python benchmarks/gpu_paths.py --root ../shared/data/cifar10/train [--epochs 4]

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
from typing import Any

import torch

import blocknas
from blocknas.data import build_policy, load_data, load_data_config, train_policy
from blocknas.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10" / "train"
REFERENCE_CNN = Path(__file__).with_name("reference_cnn.yaml")


def augmentation_rate(images: torch.Tensor, device: str, batches: int, batch: int) -> float:
    """Images/s of the reference train policy on ``device``, after two warm-up batches."""
    policy = build_policy("randaugment", n_select=2, level=9)
    gen = torch.Generator().manual_seed(0)
    data = images.to(device)
    n = len(data)

    def run(i: int) -> None:
        lo = (i * batch) % (n - batch)
        policy(data[lo : lo + batch], gen)

    for i in range(2):
        run(i)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(batches):
        run(i)
    if device == "cuda":
        torch.cuda.synchronize()
    return batches * batch / (time.perf_counter() - start)


def training(splits: Any, data_cfg: Any, epochs: int, **keys: Any) -> dict[str, float]:
    cfg = TrainConfig(epochs=epochs, batch_size=128, lr=0.05, device="cuda", seed=0, **keys)
    torch.manual_seed(0)
    model = blocknas.build_model(REFERENCE_CNN)
    result = fit(model, splits, cfg, train_policy=train_policy(data_cfg), progress=False)
    rates = [m.images_per_s for m in result.history[1:]] or [result.history[0].images_per_s]
    return {
        "images_per_s": round(statistics.median(rates), 1),
        "val_accuracy": round(result.history[-1].val_accuracy, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=40, help="augmentation batches timed")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("error: this benchmark needs a CUDA device")
    torch.set_num_threads(os.cpu_count() or 1)
    data_cfg = load_data_config({
        "dataset": "imagefolder", "path": str(args.root), "val_ratio": 0.1, "test_ratio": 0.0,
        "augment": {"train": "randaugment", "n_select": 2, "level": 9},
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        splits = load_data(data_cfg, cache_dir=Path(cache))
        decode_s = time.perf_counter() - start
    images = splits.train.images
    print(f"{len(images):,} training images decoded in {decode_s:.1f} s; "
          f"{torch.cuda.get_device_name()}; torch {torch.__version__}", flush=True)  # fmt: skip

    cpu = augmentation_rate(images, "cpu", max(4, args.batches // 4), 256)
    gpu = augmentation_rate(images, "cuda", args.batches, 256)
    print(f"augmentation: CPU ({torch.get_num_threads()} threads) {cpu:,.0f} img/s, "
          f"GPU {gpu:,.0f} img/s, GPU/CPU {gpu / cpu:.1f}x", flush=True)  # fmt: skip

    runs = {
        "float32": {"amp": False},
        "amp": {"amp": True},
        "amp_contiguous": {"amp": True, "channels_last": False},
    }
    trained = {}
    for name, keys in runs.items():
        trained[name] = training(splits, data_cfg, args.epochs, **keys)
        print(f"training {name}: {trained[name]['images_per_s']:,.0f} img/s, "
              f"val accuracy {trained[name]['val_accuracy']:.4f}", flush=True)  # fmt: skip
    figures = {
        "benchmark": "gpu_paths",
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "train_images": len(images),
        "decode_s": round(decode_s, 2),
        "augment_cpu_images_per_s": round(cpu, 1),
        "augment_gpu_images_per_s": round(gpu, 1),
        "augment_gpu_over_cpu": round(gpu / cpu, 2),
        "cpu_threads": torch.get_num_threads(),
        "training": trained,
        "amp_over_float32": round(
            trained["amp"]["images_per_s"] / trained["float32"]["images_per_s"], 2
        ),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
