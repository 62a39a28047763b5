"""Fault benchmark: N `blocknas worker` processes on one study, M of them SIGKILLed mid-trial at
random moments (each replaced by a fresh worker, as a lost machine would be); then count what
the study kept.

    python benchmarks/faults.py [--workers 3] [--kills 3] [--trials 10] [--seed 0]
                                [--storage postgresql://USER:PASSWORD@HOST:PORT/DB]

Without --storage (or $BLOCKNAS_STORAGE) the study lives in a temporary SQLite file. Trials
train tiny models on sklearn's digits for one epoch, so a run takes minutes on two cores.

Figures: trials finished (must equal the budget), failed-and-retried (killed trials whose
parameters were run again), lost (budget not met, or a killed trial neither finished nor
re-run: must be 0), over budget (must be 0). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from blocknas.search.storage import mask_url, open_storage
from blocknas.search.workers import WORKER_ATTR

# One epoch on digits with a two-layer space: each trial takes seconds, so kills land mid-trial.
TINY_SEARCH = {
    "name": "faults",
    "data": {"dataset": "digits"},
    "train": {"epochs": 1, "batch_size": 64},
    "objectives": ["accuracy", "params"],
    "sampler": "random",
    "early_stopping": {"enabled": False},
    "space": {
        "stem": {"Conv": {"out": {"choices": [8, 16]}, "kernel": 3}},
        "stages": {
            "count": 1,
            "repeat": 1,
            "out": {"choices": [8, 16, 24]},
            "nc": {"Conv": {"kernel": {"choices": [1, 3]}}},
            "rc": {"MaxPool": {}},
        },
        "head": {"dropout": {"float": [0.0, 0.2]}},
    },
}


def _cli(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "blocknas", *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )


def _trials(url: str, study: str) -> list[FrozenTrial]:
    storage = open_storage(url)
    try:
        return optuna.load_study(study_name=study, storage=storage).get_trials()
    finally:
        storage.engine.dispose()


def _finished(trials: list[FrozenTrial]) -> int:
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)


def _owner(trial: FrozenTrial) -> int | None:
    worker = str(trial.user_attrs.get(WORKER_ATTR, ""))
    return int(worker.rsplit(":", 1)[1]) if ":" in worker else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="blocknas-faults-"))
    url = args.storage or f"sqlite:///{work / 'study.db'}"
    study = f"faults-{uuid.uuid4().hex[:8]}"
    config = work / "search.yaml"
    config.write_text(yaml.safe_dump(TINY_SEARCH))
    log = work / "workers.log"
    created = _cli(
        "study", "create", str(config), "--storage", url, "--study", study,
        "--n-trials", str(args.trials), "--heartbeat-interval", str(args.heartbeat),
        "--grace-period", str(args.grace), log=log,
    )  # fmt: skip
    if created.wait() != 0:
        raise SystemExit(f"study create failed; see {log}")
    start = time.monotonic()
    workers = [_cli("worker", "--storage", url, "--study", study, log=log)
               for _ in range(args.workers)]  # fmt: skip
    killed_trials: list[int] = []
    kills = 0
    while kills < args.kills and any(w.poll() is None for w in workers):
        time.sleep(rng.uniform(args.min_gap, args.max_gap))
        trials = _trials(url, study)
        if _finished(trials) >= args.trials:
            break
        busy = {_owner(t): t.number for t in trials if t.state is TrialState.RUNNING}
        targets = [w for w in workers if w.poll() is None and w.pid in busy]
        if not targets:
            continue
        victim = rng.choice(targets)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        killed_trials.append(busy[victim.pid])
        kills += 1
        print(f"{time.monotonic() - start:6.1f} s  killed worker {victim.pid} in trial "
              f"{busy[victim.pid]}; starting a replacement", flush=True)  # fmt: skip
        workers.append(_cli("worker", "--storage", url, "--study", study, log=log))
    codes = [w.wait() for w in workers]
    seconds = time.monotonic() - start
    trials = _trials(url, study)
    return _figures(trials, killed_trials, codes, args, seconds, url, log)


def _figures(
    trials: list[FrozenTrial], killed: list[int], codes: list[int], args: argparse.Namespace,
    seconds: float, url: str, log: Path,
) -> dict[str, Any]:  # fmt: skip
    by_number = {t.number: t for t in trials}
    # A retry's history ends with the number of the trial it re-runs.
    retry_of = {t.system_attrs["retry_history"][-1]: t for t in trials
                if t.system_attrs.get("retry_history")}  # fmt: skip
    finished = _finished(trials)
    retried = limit = lost_kills = finished_before_kill = 0
    for number in killed:
        trial = by_number[number]
        if trial.state is not TrialState.FAIL:
            finished_before_kill += 1  # it was told between the look and the kill
        elif number in retry_of:
            retried += 1
        elif trial.system_attrs.get("failed_trial") is not None:
            limit += 1  # a retry killed again: re-run once only, by design; a new trial replaces it
        else:
            lost_kills += 1
    numbers = [t.number for t in trials]
    return {
        "storage": url.split(":", 1)[0],
        "workers": args.workers,
        "kills": len(killed),
        "budget": args.trials,
        "trials_finished": finished,
        "failed_and_retried": retried,
        "killed_retry_again_not_rerun": limit,
        "killed_after_finishing": finished_before_kill,
        "failed_other": sum(t.state is TrialState.FAIL for t in trials)
        - (len(killed) - finished_before_kill),
        "lost": max(0, args.trials - finished) + lost_kills,
        "over_budget": max(0, finished - args.trials),
        "duplicate_numbers": len(numbers) - len(set(numbers)),
        "left_running_or_waiting": sum(
            t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials
        ),
        "workers_failed": sum(c not in (0, -signal.SIGKILL) for c in codes),
        "seconds": round(seconds, 1),
        "grace_period_s": args.grace,
        "url": mask_url(url),
        "log": str(log),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage", default=os.environ.get("BLOCKNAS_STORAGE"))
    parser.add_argument("--heartbeat", type=int, default=1, help="heartbeat interval, seconds")
    parser.add_argument("--grace", type=int, default=5, help="grace period, seconds")
    parser.add_argument("--min-gap", type=float, default=2.0, help="seconds between kills, min")
    parser.add_argument("--max-gap", type=float, default=10.0, help="seconds between kills, max")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    figures = run(args)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
