"""Epochs and CPU-seconds to a target validation accuracy on CIFAR-10, recipe against recipe.

Each run trains one model with one recipe through the library's ``train_run`` and records the
first epoch (and the process CPU-seconds, all threads) at which validation accuracy reached the
target, and the best accuracy. Recipes:

    today     the recipe ResNet-8 was measured with (SGD + Nesterov, lr 0.2, batch 128, one-cycle
              with 5 % warm-up, weight decay 5e-4, label smoothing 0.1)
    fast      ``recipe: fast`` with the same optimiser, learning rate, batch and weight decay
    fast-no-KEY   (with --ablate) ``fast`` with one of the preset's keys back at its default

Settings: ``full`` trains on 45,000 of ../shared/data/cifar10/train and validates on the other
5,000; ``proxy`` is the search's: a stratified 10,000-image subset (9,000 / 1,000) drawn after a
20 % test hold-out, as configs/search/cifar10_small.yaml. Augmentation: pad-4 crop and flip.

    python benchmarks/time_to_accuracy.py --model resnet8 --setting full --epochs 20 \\
        --recipes today fast --out RUN_DIR [--ablate] [--threads 1]

Every finished run is appended to RUN_DIR/runs.jsonl and skipped when the same command runs
again, so a long comparison can be stopped and continued. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

import blocknas
from blocknas.train import EpochMetrics, TrainConfig, train_run
from blocknas.train._recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]
CIFAR = (ROOT / ".." / "shared" / "data" / "cifar10" / "train").resolve()
MODELS = {"resnet8": 0.85, "resnet20": 0.91}  # name → default target accuracy

SETTINGS: dict[str, dict[str, Any]] = {
    "full": {"val_ratio": 0.1, "test_ratio": 0.0},
    "proxy": {"subset": 10000, "val_ratio": 0.1, "test_ratio": 0.2},
}
# The optimiser keys both recipes share; the rest is the recipe.
SHARED = {"optimizer": "sgd", "lr": 0.2, "batch_size": 128, "weight_decay": 5e-4}
TODAY = {**SHARED, "nesterov": True, "schedule": "onecycle", "label_smoothing": 0.1}


def recipes(names: list[str], ablate: bool) -> dict[str, dict[str, Any]]:
    """Training keys of each named recipe (``--ablate`` adds fast with each key reverted)."""
    table = {"today": TODAY, "fast": {**SHARED, "recipe": "fast"}}
    out = {name: table[name] for name in names}
    if ablate:
        default = TrainConfig()
        for key in RECIPES["fast"]:
            out[f"fast-no-{key}"] = {**table["fast"], key: getattr(default, key)}
    return out


def data_config(setting: str, seed: int, path: Path) -> dict[str, Any]:
    return {
        "dataset": "imagefolder",
        "path": str(path),
        "img_size": 32,
        "seed": seed,
        "stats": "cifar10",
        **SETTINGS[setting],
        # Pad-4 crop and flip (RandAugment with no ops): the usual CIFAR augmentation.
        "augment": {"train": "randaugment", "n_select": 0, "cutout": 0.0, "crop_padding": 4},
    }


class Clock:
    """Epoch callback: prints each epoch and notes when the target was first reached."""

    def __init__(self, target: float) -> None:
        self.target = target
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        self.reached: dict[str, float] | None = None
        self.curve: list[float] = []

    def __call__(self, m: EpochMetrics) -> bool:
        cpu = time.process_time() - self.cpu
        self.curve.append(round(m.val_accuracy, 4))
        print(f"  epoch {m.epoch}: val {m.val_accuracy:.4f}  {m.images_per_s:,.0f} img/s  "
              f"cpu {cpu:,.0f} s", flush=True)  # fmt: skip
        if self.reached is None and m.val_accuracy >= self.target:
            self.reached = {"epoch": m.epoch, "cpu_s": round(cpu, 1),
                            "wall_s": round(time.perf_counter() - self.wall, 1)}  # fmt: skip
        return False


def run_one(model: str, setting: str, recipe: dict[str, Any], args: argparse.Namespace,
            folder: Path) -> dict[str, Any]:  # fmt: skip
    path = ROOT / "configs" / "models" / f"{model}.yaml" if model in MODELS else Path(model)
    target = args.target if args.target is not None else MODELS.get(model, 0.85)
    clock = Clock(target)
    train = {**recipe, "epochs": args.epochs, "seed": args.seed, "device": "cpu"}
    data = {**data_config(setting, args.seed, args.cifar), "train": train}
    result = train_run(path, data, folder,
                       progress=False, callback=clock)  # fmt: skip
    return {
        "params": blocknas.profile(blocknas.build_model(path, num_classes=10)).params,
        "target": target,
        "reached": clock.reached,
        "best_val_accuracy": round(result.val.accuracy, 4),
        "best_epoch": result.best_epoch,
        "curve": clock.curve,
        "cpu_s": round(time.process_time() - clock.cpu, 1),
        "wall_s": round(time.perf_counter() - clock.wall, 1),
        "images_per_s": round(result.images_per_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True,
                        help="resnet8, resnet20 or a model YAML (repeatable)")  # fmt: skip
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="full")
    parser.add_argument("--recipes", nargs="+", choices=["today", "fast"], default=["today", "fast"])
    parser.add_argument("--ablate", action="store_true", help="fast with each key reverted")
    parser.add_argument("--only", nargs="+", help="run only these recipe names (e.g. fast-no-tta)")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                        help="a training key for every recipe (e.g. compile=true)")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--target", type=float, help="default: 0.85 ResNet-8, 0.91 ResNet-20")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="results folder (resumable)")
    parser.add_argument("--cifar", type=Path, default=CIFAR, help="CIFAR-10 train folder")
    args = parser.parse_args()
    if not args.cifar.is_dir():
        raise SystemExit(f"CIFAR-10 images not found at {args.cifar}")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "runs.jsonl"
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            row = json.loads(line)
            done[row["key"]] = row
    extra = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.extra)}
    tag = "".join(f"+{k}={v}" for k, v in sorted(extra.items()))
    rows = []
    for model in args.model:
        for name, base in recipes(args.recipes, args.ablate).items():
            if args.only and name not in args.only:
                continue
            recipe, name = {**base, **extra}, name + tag
            key = f"{Path(model).stem}/{args.setting}/{name}/e{args.epochs}/s{args.seed}"
            if key not in done:
                print(f"{key}: {recipe}", flush=True)
                folder = args.out / key.replace("/", "-")
                if folder.exists():  # an interrupted run starts over
                    import shutil

                    shutil.rmtree(folder)
                row = {"key": key, "model": model, "setting": args.setting, "recipe": name,
                       "threads": args.threads,
                       **run_one(model, args.setting, recipe, args, folder)}  # fmt: skip
                with log.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                done[key] = row
                print(f"{key}: reached {row['reached']}, best {row['best_val_accuracy']}",
                      flush=True)  # fmt: skip
            rows.append(done[key])
    print(json.dumps({"benchmark": "time_to_accuracy", "torch": torch.__version__, "runs": rows}))


if __name__ == "__main__":
    main()
