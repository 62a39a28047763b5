"""Training speed on an idle machine and with one core taken by another process.

Each configuration (torch threads × OpenMP wait policy; threads ``auto`` is what the training
commands choose by default, one per idle core) runs in a fresh process, because the
wait policy is read once when OpenMP starts. It trains ResNet-8 (configs/models/resnet8.yaml) on
random 32×32 batches through the library's trainer, first alone, then while a competitor process
trains the same network on one thread, and reports training images/s of both and their ratio.

    python benchmarks/busy_core.py [--seconds 40] [--threads 1 2 auto] [--policies default PASSIVE]

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


def _child(threads: str, seconds: float) -> None:
    """Train for ``seconds`` and print the images/s of the epochs after the first."""
    import torch

    import blocknas
    from blocknas._threads import training_threads
    from blocknas.data import DataSplits, ImageSet
    from blocknas.train import TrainConfig, fit

    torch.set_num_threads(training_threads(None if threads == "auto" else int(threads))[0])
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
    print(json.dumps({"images_per_s": sorted(steady)[len(steady) // 2],
                      "threads": torch.get_num_threads()}))  # fmt: skip


def _run(threads: str, policy: str, seconds: float) -> tuple[float, int]:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run(
        [sys.executable, __file__, "--child", threads, "--seconds", str(seconds)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return float(figures["images_per_s"]), int(figures["threads"])


def _competitor(seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, __file__, "--child", "1", "--seconds", str(seconds)],
        env=env, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--threads", nargs="+", default=["1", "2", "auto"])
    parser.add_argument("--policies", nargs="+", default=["default", "PASSIVE"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.seconds)
        return
    rows = []
    for threads in args.threads:
        for policy in args.policies:
            idle, idle_threads = _run(threads, policy, args.seconds)
            rival = _competitor(args.seconds + 30)
            time.sleep(5)  # let the competitor pass its start-up
            try:
                busy, busy_threads = _run(threads, policy, args.seconds)
            finally:
                rival.kill()
                rival.wait()
            row = {
                "threads": threads, "threads_idle_busy": [idle_threads, busy_threads],
                "wait_policy": policy, "idle_images_per_s": round(idle),
                "busy_images_per_s": round(busy), "busy_over_idle": round(busy / idle, 3),
            }  # fmt: skip
            rows.append(row)
            print(
                f"threads {threads:>4} ({idle_threads} idle, {busy_threads} busy), OMP_WAIT_POLICY "
                f"{policy:>8}: idle {idle:7,.0f} img/s, one core busy {busy:7,.0f} img/s "
                f"({busy / idle:.2f}x)",
                flush=True,
            )
    print(json.dumps({"benchmark": "busy_core", "model": "resnet8", "rows": rows}))


if __name__ == "__main__":
    main()
