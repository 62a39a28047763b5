"""The compute cut that a rung schedule allows, whatever the rung signal.

In the stopping form of asynchronous successive halving that blocknas runs, a trial is judged
once, when it reaches a rung, against the entries that reached it before, and goes on when it is
inside the top ⌈n/η⌉ of those n; with fewer than η entries every trial goes on. How much training
that saves depends on how many trials a search has and on the order in which good and bad
candidates come, not only on how well the rung accuracy predicts the final one. This script
measures it for candidates of random quality: each trial draws a quality q (standard normal, plus
``drift`` times its trial number, for a sampler whose candidates improve as the search goes on),
reports q at every rung of its bracket (a perfect rung signal: the same order at every rung), and
:meth:`blocknas.search.early_stopping.MOASHA.decide`, the search's own rule, stops it or lets it
on (the stopping replay of ``early_stopping_whatif.py``). ``--form promotion`` measures the
promotion form instead (trials wait at a rung until they are in its top ⌊n/η⌋; the promotion
replay of the same script). The figure is the mean over ``--repeats`` searches of
(trials × max_epochs) / epochs trained.

    python benchmarks/asha_cut_bound.py --schedule 3:27:3 --trials 25 40 100 --drift 0 0.03
    python benchmarks/asha_cut_bound.py --schedule 3:27:3 --trials 25 40 100 --form promotion

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
from early_stopping_whatif import (  # the sibling script (this folder is on sys.path)
    Curve,
    _promotion_epochs,
    _schedule,
    _stopping_epochs,
)

from blocknas.search.early_stopping import MOASHA, EarlyStoppingConfig

_FORMS = {"stopping": _stopping_epochs, "promotion": _promotion_epochs}


def expected_cut(
    config: EarlyStoppingConfig, trials: int, drift: float, rng: np.random.Generator,
    form: str = "stopping",
) -> float:  # fmt: skip
    """Compute cut of one search of ``trials`` candidates of random quality."""
    qualities = rng.standard_normal(trials) + drift * np.arange(trials)
    curves = [Curve(number=n, values=(float(q),), rung_metric=(float(q),) * config.max_epochs)
              for n, q in enumerate(qualities)]  # fmt: skip
    trained = _FORMS[form](curves, MOASHA(config, ["maximize"]), accuracy=0)
    return trials * config.max_epochs / sum(trained)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", action="append", type=_schedule, default=[],
                        help="min_epochs:max_epochs:eta (repeatable; default 3:27:3); the tie-break "
                        "does not matter here")  # fmt: skip
    parser.add_argument("--trials", type=int, nargs="+", default=[25, 40, 100])
    parser.add_argument("--drift", type=float, nargs="+", default=[0.0],
                        help="quality gained per trial, in standard deviations of the "
                        "candidates' spread")  # fmt: skip
    parser.add_argument(
        "--form",
        choices=sorted(_FORMS),
        default="stopping",
        help="the form of successive halving (see the search's early stopping)",
    )
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if any(n < 1 for n in args.trials) or args.repeats < 1:
        parser.error("--trials and --repeats must be positive")
    schedules = args.schedule or [_schedule("3:27:3")]

    rows: list[dict[str, Any]] = []
    for config in schedules:
        label = f"{config.min_epochs}:{config.max_epochs}:{config.eta}"
        for drift in args.drift:
            for trials in args.trials:
                rng = np.random.default_rng([args.seed, trials])
                cuts = [expected_cut(config, trials, drift, rng, args.form)
                        for _ in range(args.repeats)]  # fmt: skip
                row = {"schedule": label, "form": args.form, "rungs": list(config.decision_rungs()),
                       "drift": drift, "trials": trials,
                       "cut_mean": round(float(np.mean(cuts)), 3),
                       "cut_p10": round(float(np.percentile(cuts, 10)), 3),
                       "cut_p90": round(float(np.percentile(cuts, 90)), 3)}  # fmt: skip
                rows.append(row)
                print(f"{label} {args.form} drift {drift:g}, {trials} trials: cut {row['cut_mean']:.2f}x "
                      f"(10-90 %: {row['cut_p10']:.2f}-{row['cut_p90']:.2f}x)", flush=True)  # fmt: skip
    print(json.dumps({"benchmark": "asha_cut_bound", "repeats": args.repeats, "rows": rows}))


if __name__ == "__main__":
    main()
