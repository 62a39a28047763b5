"""A worker with a toy objective (sleep, two numbers) on blocknas's storage layer, for tests of the
claim / heartbeat / retry protocol in real processes without training anything.

    python tests/scale/toy_worker.py --storage URL --study NAME [--seconds 1.0] [--n-jobs 1]
"""

from __future__ import annotations

import argparse
import sys
import time

from blocknas.errors import BlocknasError
from blocknas.search.storage import open_study
from blocknas.search.workers import Budget, run_trials


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--seconds", type=float, default=1.0, help="how long each trial runs")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--reconnect-timeout", type=float, default=60.0)
    args = parser.parse_args()

    def objective(trial: object) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)  # type: ignore[attr-defined]
        k = trial.suggest_int("k", 1, 1000)  # type: ignore[attr-defined]
        time.sleep(args.seconds)
        return x, float(k)

    try:
        study = open_study(args.storage, args.study)
        ran = run_trials(
            study,
            objective,
            Budget.from_study(study),
            n_jobs=args.n_jobs,
            reconnect_timeout=args.reconnect_timeout,
            poll_interval=0.3,
        )
    except BlocknasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"ran {ran}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
