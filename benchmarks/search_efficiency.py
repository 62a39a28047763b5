"""Search efficiency: hypervolume against wall time for TPE (blocknas's default), NSGA-II and
random search on the digits space (configs/search/digits.yaml).

Each seed runs the three samplers one after the other in this process (rotating their order so
that machine load and warm-up favour none), with the same trial budget, early stopping and
hypervolume bounds. For every run the hypervolume of the feasible Pareto front is traced as
trials finish. The target: the default sampler reaches random search's final hypervolume in at
most half of random search's time (ratio <= 0.5). Trials-to-reach is reported too, since wall
time on a shared machine is noisy.

    python benchmarks/search_efficiency.py [--seeds 3] [--trials 60] [--max-epochs N] [--early-stopping]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "search" / "digits.yaml"
SAMPLERS = ("tpe", "nsga2", "random")


def _config(
    raw: dict[str, Any],
    sampler: str,
    seed: int,
    trials: int,
    max_epochs: int | None,
    stopping: bool,
) -> dict:
    cfg = json.loads(json.dumps(raw))  # deep copy
    cfg.update(seed=seed, n_trials=trials, timeout=None, n_jobs=1)
    default = raw.get("sampler") if isinstance(raw.get("sampler"), dict) else {}
    cfg["sampler"] = dict(default, name=sampler) if sampler == "tpe" else {"name": sampler}
    if sampler == "nsga2":
        # Generations of ~a fifth of the budget: several generations fit in a short search.
        cfg["sampler"]["population_size"] = max(4, trials // 5)
    cfg["sampler"]["seed"] = seed
    epochs = max_epochs or int(cfg["train"]["epochs"])
    cfg["train"]["epochs"] = epochs
    # MO-ASHA as in its own default schedule: first rung after 2 epochs, keep the best third.
    es = {"min_epochs": min(2, epochs), "max_epochs": epochs, "eta": 3}
    cfg["early_stopping"] = es if stopping else False
    return cfg


def _trace(run_dir: Path) -> dict[str, Any]:
    """Hypervolume after each finished trial, against seconds since the first trial started."""
    from optuna.trial import TrialState

    from blocknas.search import load_run
    from blocknas.search._progress import front_summary

    study, cfg = load_run(run_dir)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    trials.sort(key=lambda t: t.datetime_complete)
    t0 = min(t.datetime_start for t in trials)
    points = []
    for i in range(1, len(trials) + 1):
        _, hv = front_summary(trials[:i], cfg)
        seconds = (trials[i - 1].datetime_complete - t0).total_seconds()
        points.append((seconds, hv))
    complete = sum(t.state is TrialState.COMPLETE for t in trials)
    return {"points": points, "complete": complete, "trials": len(trials)}


def _reach(points: list[tuple[float, float]], target: float) -> tuple[float, float]:
    """(seconds, trials) until the hypervolume first reaches ``target``; inf if never."""
    for i, (seconds, hv) in enumerate(points, 1):
        if hv >= target - 1e-12:
            return seconds, i
    return math.inf, math.inf


def _run(cfg: dict[str, Any], out: Path) -> dict[str, Any]:
    from blocknas.search import run_search

    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(cfg))
    start = time.perf_counter()
    # One thread: digits models are far too small to gain from more, and on a shared machine
    # a second OpenMP thread that is descheduled stalls every parallel region.
    run_search(path, out_dir=out, progress=False, report=False, threads=1)
    trace = _trace(out)
    trace["wall_s"] = time.perf_counter() - start
    return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--max-epochs", type=int, default=None, help="default: the config's")
    parser.add_argument(
        "--early-stopping", action="store_true", help="stop trials at MO-ASHA rungs (min 2, η 3)"
    )
    parser.add_argument("--out", type=Path, default=None, help="keep the run folders here")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    raw = yaml.safe_load(CONFIG.read_text())
    root = args.out or Path(tempfile.mkdtemp(prefix="blocknas-search-efficiency-"))
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in SAMPLERS}
    for seed in range(args.seeds):
        order = SAMPLERS[seed % 3 :] + SAMPLERS[: seed % 3]
        for sampler in order:
            stopping = args.early_stopping
            cfg = _config(raw, sampler, seed, args.trials, args.max_epochs, stopping)
            trace = _run(cfg, root / f"{sampler}-seed{seed}")
            final = trace["points"][-1]
            print(f"seed {seed} {sampler:>6}: final hypervolume {final[1]:.4f} after "
                  f"{final[0]:.0f} s, {trace['complete']} complete of {trace['trials']} trials",
                  flush=True)  # fmt: skip
            results[sampler].append(trace)
    figures: dict[str, Any] = {"seeds": args.seeds, "trials": args.trials,
                               "max_epochs": args.max_epochs,
                               "early_stopping": args.early_stopping}  # fmt: skip
    for sampler in SAMPLERS:
        time_ratios, trial_ratios, finals = [], [], []
        for seed in range(args.seeds):
            rand = results["random"][seed]["points"]
            target, total_s = rand[-1][1], rand[-1][0]
            seconds, trials = _reach(results[sampler][seed]["points"], target)
            time_ratios.append(seconds / total_s if total_s > 0 else math.inf)
            trial_ratios.append(trials / len(rand))
            finals.append(results[sampler][seed]["points"][-1][1])
        figures[sampler] = {
            "final_hypervolume": [round(v, 4) for v in finals],
            "time_to_random_final_ratio": [round(r, 3) for r in time_ratios],
            "median_time_ratio": round(statistics.median(time_ratios), 3),
            "median_trials_ratio": round(statistics.median(trial_ratios), 3),
        }
        print(f"{sampler:>6}: final HV {statistics.mean(finals):.4f} (mean), reaches random's "
              f"final HV in {statistics.median(time_ratios):.2f}× random's time and "
              f"{statistics.median(trial_ratios):.2f}× its trials (medians)")  # fmt: skip
    figures["target_ratio"] = 0.5
    figures["default_meets_target"] = figures["tpe"]["median_time_ratio"] <= 0.5
    figures["machine"] = {"cpu_count": torch.get_num_threads(), "platform": platform.platform()}
    figures["runs_dir"] = str(root)
    print(json.dumps(_finite(figures)))


def _finite(value: Any) -> Any:
    """JSON has no infinity: a sampler that never reached the target gets null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
