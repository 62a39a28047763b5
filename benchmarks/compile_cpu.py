"""torch.compile (inductor) on the CPU for the training step: speed-up, compile time, pay-back.

For each model, the library's trainer runs on the same random 32×32 batches (2,560 images a
"epoch", batch 128, channels_last) once eager and once with ``compile: true``. The steady speed
is the median images/s of the epochs after the first; the compile cost is the first epoch's extra
time over a steady one. Pay-back: the training images after which the compiled run is ahead,
compared with the images of a typical search trial (9,000 × epochs).

    python benchmarks/compile_cpu.py [--models resnet8 resnet20] [--epochs 6] [--threads 1]

Run it on an otherwise idle machine. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import blocknas
from blocknas.data import DataSplits, ImageSet
from blocknas.train import EpochMetrics, TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
IMAGES = 2560


def _splits() -> DataSplits:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (IMAGES, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (IMAGES,), generator=gen)
    classes = tuple(str(i) for i in range(10))
    val = ImageSet(images[:256], labels[:256], classes)
    return DataSplits(
        ImageSet(images, labels, classes), val, None, (0.5,) * 3, (0.25,) * 3, "random"
    )


def _run(model_path: Path, compiled: bool, epochs: int) -> dict[str, float]:
    model = blocknas.build_model(model_path, num_classes=10)
    seconds: list[float] = []

    def record(m: EpochMetrics) -> None:
        seconds.append(m.train_seconds)

    cfg = TrainConfig(epochs=epochs, batch_size=128, device="cpu", compile=compiled, seed=0)
    fit(model, _splits(), cfg, progress=False, callback=record)
    steady = statistics.median(seconds[1:])
    return {"steady_images_per_s": IMAGES / steady, "first_epoch_extra_s": seconds[0] - steady}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet8", "resnet20"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--trial-epochs", type=int, default=9, help="a typical search trial")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    for name in args.models:
        path = (
            Path(name) if name.endswith(".yaml") else ROOT / "configs" / "models" / f"{name}.yaml"
        )
        eager = _run(path, False, args.epochs)
        start = time.perf_counter()
        compiled = _run(path, True, args.epochs)
        speedup = compiled["steady_images_per_s"] / eager["steady_images_per_s"]
        cost = compiled["first_epoch_extra_s"] - eager["first_epoch_extra_s"]
        gain_per_image = 1 / eager["steady_images_per_s"] - 1 / compiled["steady_images_per_s"]
        payback = cost / gain_per_image if gain_per_image > 0 else float("inf")
        trial = 9000 * args.trial_epochs
        row = {
            "model": path.stem, "threads": args.threads,
            "eager_images_per_s": round(eager["steady_images_per_s"]),
            "compiled_images_per_s": round(compiled["steady_images_per_s"]),
            "speedup": round(speedup, 3), "compile_s": round(cost, 1),
            "payback_images": round(payback) if payback != float("inf") else None,
            "trial_images": trial, "adopt": speedup >= 1.2 and payback < trial,
            "wall_s": round(time.perf_counter() - start, 1),
        }  # fmt: skip
        rows.append(row)
        print(
            f"{path.stem}: eager {row['eager_images_per_s']:,} img/s, compiled "
            f"{row['compiled_images_per_s']:,} img/s ({speedup:.2f}x), compile {cost:.0f} s, "
            f"paid back after {row['payback_images']} images (a {args.trial_epochs}-epoch trial "
            f"trains {trial:,})",
            flush=True,
        )
    print(json.dumps({"benchmark": "compile_cpu", "torch": torch.__version__, "rows": rows}))


if __name__ == "__main__":
    main()
