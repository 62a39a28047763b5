"""Training speed on an idle machine and with one core taken by another process.

Each configuration (torch threads × OpenMP wait policy) runs in a fresh process, because the
wait policy is read once when OpenMP starts. It trains ResNet-8 (configs/models/resnet8.yaml) on
random 32×32 batches through the library's trainer, first alone, then while a competitor process
trains the same network on one thread, and reports training images/s of both and their ratio.

    python benchmarks/busy_core.py [--seconds 40] [--threads 1 2] [--policies default PASSIVE]

Run it on an otherwise idle machine. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESNET8 = ROOT / "configs" / "models" / "resnet8.yaml"


def _child(threads: int, seconds: float) -> None:
    """Train for ``seconds`` and print the images/s of the epochs after the first."""
    import torch

    import blocknas
    from blocknas.data import DataSplits, ImageSet
    from blocknas.train import TrainConfig, fit

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    n = 2560
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (n,), generator=gen)
    classes = tuple(str(i) for i in range(10))
    part = ImageSet(images, labels, classes)
    small = ImageSet(images[:128], labels[:128], classes)
    splits = DataSplits(part, small, None, mean=(0.5,) * 3, std=(0.25,) * 3, name="random")
    model = blocknas.build_model(RESNET8, num_classes=10)
    rates: list[float] = []
    start = time.perf_counter()

    def until_time(m: Any) -> bool:
        rates.append(m.images_per_s)
        return time.perf_counter() - start > seconds

    cfg = TrainConfig(epochs=1000, batch_size=128, device="cpu", seed=0)
    fit(model, splits, cfg, progress=False, callback=until_time)
    steady = rates[1:] or rates
    print(json.dumps({"images_per_s": sorted(steady)[len(steady) // 2], "epochs": len(rates)}))


def _run(threads: int, policy: str, seconds: float) -> float:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(threads), "--seconds", str(seconds)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(json.loads(out.stdout.strip().splitlines()[-1])["images_per_s"])


def _competitor(seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, __file__, "--child", "1", "--seconds", str(seconds)],
        env=env, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--policies", nargs="+", default=["default", "PASSIVE"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.seconds)
        return
    rows = []
    for threads in args.threads:
        for policy in args.policies:
            idle = _run(threads, policy, args.seconds)
            rival = _competitor(args.seconds + 30)
            time.sleep(5)  # let the competitor pass its start-up
            try:
                busy = _run(threads, policy, args.seconds)
            finally:
                rival.kill()
                rival.wait()
            row = {
                "threads": threads, "wait_policy": policy, "idle_images_per_s": round(idle),
                "busy_images_per_s": round(busy), "busy_over_idle": round(busy / idle, 3),
            }  # fmt: skip
            rows.append(row)
            print(
                f"threads {threads}, OMP_WAIT_POLICY {policy:>8}: idle {idle:7,.0f} img/s, "
                f"one core busy {busy:7,.0f} img/s ({busy / idle:.2f}x)",
                flush=True,
            )
    print(json.dumps({"benchmark": "busy_core", "model": "resnet8", "rows": rows}))


if __name__ == "__main__":
    main()
