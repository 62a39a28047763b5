"""Trainer throughput against a minimal hand-written loop: same model, batches and threads.

Both loops consume the same pre-built, normalised in-memory batches, so the figure isolates what
the trainer adds per step (schedule, running metrics, divergence checks, progress bookkeeping).
Rounds alternate trainer and hand loop; each reports the median training images/s over its
epochs after the first. Also measures channels_last against contiguous on this CPU.

    python benchmarks/train_throughput.py [--threads 2] [--rounds 3] [--epochs 4]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

import blocknas
from blocknas.data import DataSplits, ImageSet
from blocknas.train import TrainConfig, fit

REFERENCE_CNN = Path(__file__).with_name("reference_cnn.yaml")  # 4 conv-BN-ReLU, pool, linear
# A ~6k-parameter net on 8×8 single-channel digits: the per-step overhead matters most here.
TINY_DIGITS: dict[str, Any] = {
    "input_channel": 1,
    "input_size": 8,
    "num_classes": 10,
    "backbone": [
        [1, "Conv", {"out": 16, "kernel": 3}],
        [1, "Conv", {"out": 32, "kernel": 3, "stride": 2}],
        [1, "Conv", {"out": 16, "kernel": 1}],
        [1, "GlobalAvgPool", {}],
        [1, "Flatten", {}],
        [1, "Linear", {"out": 10}],
    ],
}


class ListBatches:
    """A fixed list of batches with the trainer's batch-source interface."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.batches = batches

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(self.batches)


def make_batches(
    channels: int, size: int, batch: int, steps: int, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch, channels, size, size, generator=gen),
         torch.randint(0, 10, (batch,), generator=gen))
        for _ in range(steps)
    ]  # fmt: skip


def build(spec: dict[str, Any] | Path, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return blocknas.build_model(spec)


def trainer_ips(
    spec: dict[str, Any] | Path,
    train: list[tuple[torch.Tensor, torch.Tensor]],
    epochs: int,
    channels_last: bool = False,
) -> float:
    val = train[:1]
    x0 = train[0][0]
    dummy = ImageSet(torch.zeros(len(train) * x0.shape[0], *x0.shape[1:], dtype=torch.uint8),
                     torch.zeros(len(train) * x0.shape[0], dtype=torch.int64),
                     tuple(str(i) for i in range(10)))  # fmt: skip
    splits = DataSplits(dummy, dummy, None, (0.5,) * x0.shape[1], (0.5,) * x0.shape[1], "bench")

    def loader(data: ImageSet, batch_size: int, *, shuffle: bool, **_: Any) -> ListBatches:
        return ListBatches(train if shuffle else val)

    cfg = TrainConfig(epochs=epochs, batch_size=x0.shape[0], lr=0.05, device="cpu",
                      channels_last=channels_last)  # fmt: skip
    result = fit(build(spec), splits, cfg, progress=False, loader=loader)
    return statistics.median(m.images_per_s for m in result.history[1:])


def hand_ips(
    spec: dict[str, Any] | Path, train: list[tuple[torch.Tensor, torch.Tensor]], epochs: int
) -> float:
    model = build(spec)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)  # fmt: skip
    criterion = nn.CrossEntropyLoss()
    figures = []
    for _ in range(epochs):
        start, images = time.perf_counter(), 0
        for x, y in train:
            loss = criterion(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            images += y.shape[0]
        figures.append(images / (time.perf_counter() - start))
    return statistics.median(figures[1:])


def compare(
    name: str, spec: dict[str, Any] | Path, batches: list, rounds: int, epochs: int
) -> dict:
    """Median over rounds; each round runs the two loops back to back, so the ratio of a round
    sees the same machine load on both sides, and the order alternates between rounds so that
    neither side always runs first."""
    trainer, hand = [], []
    for i in range(rounds):
        if i % 2:
            hand.append(hand_ips(spec, batches, epochs))
            trainer.append(trainer_ips(spec, batches, epochs))
        else:
            trainer.append(trainer_ips(spec, batches, epochs))
            hand.append(hand_ips(spec, batches, epochs))
    ratio = statistics.median(h / t for h, t in zip(hand, trainer, strict=True))
    t, h = statistics.median(trainer), statistics.median(hand)
    print(f"{name}: trainer {t:,.0f} img/s, hand loop {h:,.0f} img/s, "
          f"hand/trainer {ratio:.3f} (median of {rounds} rounds)")  # fmt: skip
    return {"trainer_images_per_s": round(t), "hand_images_per_s": round(h),
            "hand_over_trainer": round(ratio, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cnn_batches = make_batches(3, 32, 128, steps=24, seed=0)
    tiny_batches = make_batches(1, 8, 64, steps=60, seed=1)
    figures: dict[str, Any] = {
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "reference_cnn_bs128_32px": compare("reference CNN", REFERENCE_CNN, cnn_batches,
                                            args.rounds, args.epochs),
        "tiny_digits_bs64_8px": compare("tiny digits net", TINY_DIGITS, tiny_batches,
                                        args.rounds, args.epochs),
    }  # fmt: skip
    contiguous, last = [], []
    for _ in range(args.rounds):
        contiguous.append(trainer_ips(REFERENCE_CNN, cnn_batches, args.epochs, False))
        last.append(trainer_ips(REFERENCE_CNN, cnn_batches, args.epochs, True))
    c, cl = statistics.median(contiguous), statistics.median(last)
    print(f"CPU channels_last: {cl:,.0f} img/s vs contiguous {c:,.0f} img/s ({cl / c:.3f}x)")
    figures["cpu_channels_last_speedup"] = round(cl / c, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
