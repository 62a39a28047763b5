"""Data throughput: the reference-style pipeline against blocknas's batch stream (not a test).

Measured in one run, on one machine, on the CIFAR-10 JPEG folder at 32×32:

1. blocknas's load of the 50,000 images: first (decode, into an empty cache folder; the files
   themselves may already sit in the OS page cache) and cached (a second ``load_data``).
2. The reference-style pipeline: ``ImageFolder`` + PIL ``RandAugment(2, 9)`` + flip +
   ``ToTensor`` + ``Normalize`` in a ``DataLoader`` with 2 workers, over a 10,000-image random
   subset (the full 50,000 would take minutes at this rate; images/s does not depend on it).
3. blocknas's augmented batch stream: ``BatchLoader`` with the reference ``randaugment_train``
   policy (RandAugment n_select 2, level 9, then flip and Cutout), one epoch of 45,000 images.
4. The share of a training step spent in augmentation, for the reference CNN (4 conv-BN-ReLU
   layers 16/32/64/128, strides 1/2/2/2, global pool, linear), timed inside a training loop fed
   by that stream; and the CNN's images/s on ready-made batches, for comparison.

Both sides run under the same ``torch.set_num_threads`` (``--threads``, default 1: this machine
is shared, and with 2 threads OpenMP waits on a busy core have cost 3–10× on small ops; pass 2
on an idle machine). The DataLoader workers use one thread each, as PyTorch sets them. On a busy
machine the reference's three processes get a larger share of the CPU than blocknas's one, so
images per CPU-second (workers included) are reported beside images/s, with the load average.

    python benchmarks/data_throughput.py [--root ../shared/data/cifar10/train] [--threads 1]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from blocknas.data import BatchLoader, build_policy, load_data, load_data_config

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10" / "train"
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
TARGETS = {"stream_speedup": 10.0, "augment_share_of_step": 0.15, "cached_load_s": 3.0}


def reference_cnn() -> nn.Module:
    def layer(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    return nn.Sequential(
        *layer(3, 16, 1), *layer(16, 32, 2), *layer(32, 64, 2), *layer(64, 128, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )  # fmt: skip


def measure_reference(root: Path, images: int, batch_size: int, workers: int) -> dict[str, float]:
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets
    from torchvision import transforms as T

    tfm = T.Compose(
        [
            T.RandAugment(2, 9),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(CIFAR_MEAN, CIFAR_STD),
        ]
    )
    folder = datasets.ImageFolder(str(root), transform=tfm)
    pick = torch.randperm(len(folder), generator=torch.Generator().manual_seed(0))[:images]
    loader = DataLoader(
        Subset(folder, pick.tolist()), batch_size=batch_size, shuffle=True, num_workers=workers
    )
    cpu = _cpu_seconds()
    start = time.perf_counter()
    seen = sum(len(y) for _, y in loader)  # worker start-up included, as in every epoch
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu  # the exhausted loader has joined its workers: they count
    return {"images": seen, "images_per_s": seen / seconds, "images_per_cpu_s": seen / cpu}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (DataLoader workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class TimedPolicy:
    """Wraps a policy and adds up the seconds spent in it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        start = time.perf_counter()
        out = self.inner(images, generator)
        self.seconds += time.perf_counter() - start
        return out


def measure_stream(loader: BatchLoader) -> dict[str, float]:
    cpu = _cpu_seconds()
    start = time.perf_counter()
    seen = sum(len(y) for _, y in loader)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    return {"images": seen, "images_per_s": seen / seconds, "images_per_cpu_s": seen / cpu}


def measure_training(
    loader: BatchLoader, timed: TimedPolicy, steps: int, warmup: int
) -> dict[str, float]:
    model = reference_cnn().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    batches = iter(loader)
    for _ in range(warmup):
        step(*next(batches))
    timed.seconds = 0.0
    start = time.perf_counter()
    ready = []
    for _ in range(steps):
        x, y = next(batches)
        step(x, y)
        ready.append((x, y))
    with_data = time.perf_counter() - start
    augment = timed.seconds
    start = time.perf_counter()
    for x, y in ready:  # the same batches again, already made: the model's own speed
        step(x, y)
    model_only = time.perf_counter() - start
    n = steps * loader.batch_size
    return {
        "augment_share_of_step": augment / with_data,
        "augment_ms_per_batch": 1e3 * augment / steps,
        "step_ms": 1e3 * with_data / steps,
        "train_images_per_s_augmented": n / with_data,
        "train_images_per_s_ready_batches": n / model_only,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--reference-images", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    if not args.root.is_dir():
        raise SystemExit(f"no CIFAR-10 folder at {args.root} (pass --root)")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    print(f"threads {args.threads}, cpus {os.cpu_count()}, load average {load_before:.1f}")

    cfg = load_data_config(
        {"dataset": "imagefolder", "path": str(args.root.resolve()), "img_size": 32,
         "test_ratio": 0.0, "val_ratio": 0.1, "stats": "cifar10"}
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        load_data(cfg, cache_dir=Path(cache))
        first = time.perf_counter() - start
        start = time.perf_counter()
        splits = load_data(cfg, cache_dir=Path(cache))
        cached = time.perf_counter() - start
    total = len(splits.train) + len(splits.val)
    print(f"load of {total} images: first {first:.2f} s, cached {cached:.2f} s")

    ref = measure_reference(args.root, args.reference_images, args.batch_size, args.workers)
    print(
        f"reference pipeline: {ref['images_per_s']:.0f} images/s, "
        f"{ref['images_per_cpu_s']:.0f} per CPU-second ({ref['images']} images)"
    )

    policy = TimedPolicy(build_policy("randaugment", n_select=2, level=9))
    loader = BatchLoader(
        splits.train, args.batch_size, policy=policy, mean=splits.mean, std=splits.std,
        shuffle=True, drop_last=True, channels_last=True, seed=0,
    )  # fmt: skip
    stream = measure_stream(loader)
    print(
        f"blocknas stream: {stream['images_per_s']:.0f} images/s, "
        f"{stream['images_per_cpu_s']:.0f} per CPU-second ({stream['images']} images)"
    )

    loader.set_epoch(1)
    train = measure_training(loader, policy, args.steps, warmup=5)
    print(
        f"reference CNN: {train['step_ms']:.1f} ms/step with data, augmentation "
        f"{train['augment_ms_per_batch']:.1f} ms = {100 * train['augment_share_of_step']:.1f} %; "
        f"{train['train_images_per_s_augmented']:.0f} images/s fed by the stream, "
        f"{train['train_images_per_s_ready_batches']:.0f} on ready batches"
    )

    speedup = stream["images_per_s"] / ref["images_per_s"]
    result = {
        "threads": args.threads,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "reference_images": ref["images"],
        "reference_workers": args.workers,
        "reference_images_per_s": round(ref["images_per_s"], 1),
        "blocknas_images_per_s": round(stream["images_per_s"], 1),
        "stream_speedup": round(speedup, 2),
        "reference_images_per_cpu_s": round(ref["images_per_cpu_s"], 1),
        "blocknas_images_per_cpu_s": round(stream["images_per_cpu_s"], 1),
        "stream_speedup_per_cpu_s": round(stream["images_per_cpu_s"] / ref["images_per_cpu_s"], 2),
        "images_loaded": total,
        "first_load_s": round(first, 3),
        "cached_load_s": round(cached, 3),
        **{k: round(v, 4) for k, v in train.items()},
        "targets": TARGETS,
        "met": {
            "stream_speedup": speedup >= TARGETS["stream_speedup"],
            "augment_share_of_step": train["augment_share_of_step"]
            <= TARGETS["augment_share_of_step"],
            "cached_load_s": cached <= TARGETS["cached_load_s"],
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
