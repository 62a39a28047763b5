"""Early stopping, what if: other rung schedules replayed on finished searches without it.

A search run without early stopping records every trial's validation accuracy after each epoch
(``trials/NNNN/metrics.json``). Training is deterministic for a given trial seed, so a trial that
early stopping would have let through to a rung reaches it with exactly these values, and the
decisions MO-ASHA would have taken on the same candidates, in the same order, can be replayed
without training anything: this script feeds the recorded rung values, trial by trial, to
:meth:`blocknas.search.early_stopping.MOASHA.decide` (the rule the search itself applies) and
reports for each schedule the training epochs and the final hypervolume of the trials that
would have finished, against the run as it is. That is what ``benchmarks/early_stopping.py
--pairing replay`` measures on even seeds (the search without early stopping samples, the other
replays its candidates); ``--compare`` checks it against such a replayed run. The wall-time
comparison is estimated from the recorded times: a replayed trial takes its recorded seconds
for the epochs it trains plus its recorded time outside training (building, profiling,
evaluation), and the hypervolume at equal time is the run's at the moment the replay ends.

``--resample K --trials N`` pools the finished trials of all given runs and replays K searches
of N trials drawn from the pool (with replacement, in random order): how the loss of
hypervolume depends on the number of trials, which one run cannot show. ``--first N`` replays
each run as it stood after its first N trials (by trial number), the same question asked of
one long search.

Compute is counted two ways: epochs (passes over the training set, whatever the model) and
MAC-epochs (each epoch weighted by the model's multiply-accumulates per image, i.e. proportional
to training FLOPs: a stopped 50k-parameter model saves more than a stopped 5k one).

``--form promotion`` replays the promotion form of asynchronous successive halving instead of
the stopping form the search runs: a trial waits at a rung and is continued when it is inside the
top ⌊n/η⌋ of the rung, later arrivals included (one worker), as a search with ``form:
promotion`` does: it checkpoints a paused trial and resumes it to the same curve.

``--save-curves FILE`` writes the curves of the given runs (and each run's search config) to a
JSON file, under 1 kB a trial; such a file can stand in for its runs in later calls, so that a
replay does not need the run folders (or the CPU-days behind them).

    python benchmarks/early_stopping_whatif.py RUN_DIR [RUN_DIR ...] \
        --schedule 1:9:3 --schedule 3:9:3 [--compare ES_RUN_DIR ...] [--resample 30 --trials 48]
    python benchmarks/early_stopping_whatif.py RUN_DIR ... --schedule 3:27:3 --save-curves C.json
    python benchmarks/early_stopping_whatif.py C.json --schedule 3:27:3

A schedule is ``min_epochs:max_epochs:eta``, optionally ``:tie_break`` (hypervolume, the
default, crowding or epsnet); max_epochs must be the runs' training length.
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Curve:
    """One finished trial of a run without early stopping."""

    number: int
    values: tuple[float, ...]  # final objective values, in the search's order
    rung_metric: tuple[float, ...]  # the accuracy objective's metric after each epoch
    epoch_seconds: tuple[float, ...] = ()  # each epoch's recorded time
    overhead: float = 0.0  # the trial's wall time outside its epochs
    macs: float = 0.0  # multiply-accumulates per image (forward)


@dataclass(frozen=True)
class Run:
    """The curves of one run and its search config (raw, as in the run's search.yaml)."""

    name: str
    curves: list[Curve]
    config: dict[str, Any]

    @property
    def cfg(self) -> Any:
        from blocknas.search.config import load_search_config

        return load_search_config(self.config)


def _curves(run_dir: Path) -> Run:
    """Finished feasible trials of a run, in trial order, and the run's search config."""
    import yaml
    from optuna.trial import TrialState

    from blocknas._io import trial_dir
    from blocknas.search import load_run
    from blocknas.search.study import CONFIG_FILE, feasible

    study, cfg = load_run(run_dir)
    names = [o.name for o in cfg.objectives]
    key = {"accuracy": "val_accuracy", "f1": "val_f1"}
    metric = next(key[n] for n in names if n in key)
    curves = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if t.state is not TrialState.COMPLETE or not feasible(t):
            continue  # stopped, failed, or infeasible (never trained, never on the front)
        metrics = json.loads((trial_dir(run_dir, t.number) / "metrics.json").read_text())
        epochs = metrics.get("epochs") or []
        seconds = tuple(e["seconds"] for e in epochs)
        wall = (t.datetime_complete - t.datetime_start).total_seconds()
        curves.append(Curve(t.number, tuple(t.values), tuple(e[metric] for e in epochs),
                            seconds, max(wall - sum(seconds), 0.0),
                            float(t.user_attrs.get("macs", 0.0))))  # fmt: skip
    config = yaml.safe_load((run_dir / CONFIG_FILE).read_text())
    return Run(run_dir.name, curves, config)


def _load(path: Path) -> list[Run]:
    """The runs of a run folder, or of a file written by ``--save-curves``."""
    if path.is_dir():
        return [_curves(path)]
    try:
        saved = json.loads(path.read_text())
        return [
            Run(r["name"], [_curve(c) for c in r["curves"]], r["config"]) for r in saved["runs"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{path}: not a run folder nor a --save-curves file ({exc})") from None


def _curve(saved: dict[str, Any]) -> Curve:
    sequences = ("values", "rung_metric", "epoch_seconds")
    return Curve(**{k: tuple(v) if k in sequences else v for k, v in saved.items()})


def _save(runs: list[Run], path: Path) -> None:
    from blocknas._io import write_text

    data = {"runs": [{"name": r.name, "config": r.config,
                      "curves": [asdict(c) for c in r.curves]} for r in runs]}  # fmt: skip
    write_text(path, json.dumps(data, separators=(",", ":")) + "\n")


def _rung_row(curve: Curve, accuracy: int, epoch: int) -> list[float]:
    """The trial's values at a rung: the accuracy objective read after ``epoch`` epochs."""
    row = list(curve.values)
    row[accuracy] = curve.rung_metric[epoch - 1]
    return row


def _stopping_epochs(curves: list[Curve], asha: Any, accuracy: int) -> list[int]:
    """Epochs each trial trains under the stopping form (the search's rule): judged once, on
    arrival at each rung, by :meth:`MOASHA.decide`."""
    schedule = asha.config
    rungs: dict[tuple[int, int], list[list[float]]] = {}
    trained = []
    for curve in curves:
        bracket = asha.bracket_for(curve.number)
        epochs = schedule.max_epochs
        for epoch in schedule.decision_rungs(bracket):
            table = rungs.setdefault((bracket, epoch), [])
            table.append(_rung_row(curve, accuracy, epoch))
            if asha.decide(np.array(table), len(table) - 1):
                epochs = epoch
                break
        trained.append(epochs)
    return trained


def _promotion_epochs(curves: list[Curve], asha: Any, accuracy: int) -> list[int]:
    """Epochs each trial trains under the promotion form of ASHA (Li et al., 2020), one worker.

    A trial that reaches a rung waits there. Before starting a new trial, the worker continues
    to the next rung a waiting trial that is inside the top ⌊n/η⌋ of its rung's n entries
    (ordered as the search orders them, :func:`blocknas.search._asha.rung_ranks`), highest rung
    first; trials still waiting when the candidates run out have stopped. A paused trial resumes
    to the same curve, as in a search with ``form: promotion`` (it checkpoints paused trials),
    which with one worker takes these decisions, up to the order in which it continues the
    candidates of one rung (by trial number there, by arrival here).
    """
    from blocknas.search._asha import rung_ranks

    schedule = asha.config
    if schedule.brackets != 1:
        raise SystemExit("--form promotion replays one bracket only")
    steps = [*schedule.decision_rungs(), schedule.max_epochs]
    entries: dict[int, list[int]] = {epoch: [] for epoch in steps[:-1]}
    promoted: set[tuple[int, int]] = set()
    trained = [0] * len(curves)

    def promotable() -> tuple[int, int] | None:
        for k in range(len(steps) - 2, -1, -1):
            members = entries[steps[k]]
            keep = len(members) // schedule.eta
            if keep == 0:
                continue
            table = np.array([_rung_row(curves[i], accuracy, steps[k]) for i in members])
            ranks = rung_ranks(table, asha.directions, schedule.tie_break, asha.scale)
            for i, rank in zip(members, ranks, strict=True):
                if rank < keep and (i, k) not in promoted:
                    return i, k
        return None

    started = 0
    while True:
        job = promotable()
        if job is not None:
            i, k = job
            promoted.add(job)
        elif started < len(curves):
            i, k = started, -1
            started += 1
        else:
            return trained
        trained[i] = steps[k + 1]
        if k + 1 < len(steps) - 1:
            entries[steps[k + 1]].append(i)


def replay(curves: list[Curve], cfg: Any, schedule: Any, form: str = "stopping") -> dict[str, Any]:
    """Epochs and final hypervolume of the same candidates with ``schedule``'s early stopping,
    in the ``form`` of successive halving: "stopping" (the search's) or "promotion"."""
    from blocknas.search.early_stopping import MOASHA
    from blocknas.search.objectives import front_hypervolume, hypervolume_scale

    objectives = cfg.objectives
    accuracy = next(j for j, o in enumerate(objectives) if o.name in ("accuracy", "f1"))
    for curve in curves:
        if len(curve.rung_metric) != schedule.max_epochs:
            raise SystemExit(
                f"trial {curve.number} trained {len(curve.rung_metric)} epochs; the schedule "
                f"needs runs of max_epochs = {schedule.max_epochs}"
            )
    asha = MOASHA(schedule, cfg.directions, scale=hypervolume_scale(objectives))
    forms = {"stopping": _stopping_epochs, "promotion": _promotion_epochs}
    trained = forms[form](curves, asha, accuracy)
    stopped: dict[int, int] = {}
    for epochs in trained:
        if epochs < schedule.max_epochs:
            stopped[epochs] = stopped.get(epochs, 0) + 1
    finished = [c.values for c, e in zip(curves, trained, strict=True) if e == schedule.max_epochs]
    epochs = sum(trained)
    es_macs = sum(e * c.macs for c, e in zip(curves, trained, strict=True))
    es_seconds = sum(
        c.overhead + sum(c.epoch_seconds[:e]) for c, e in zip(curves, trained, strict=True)
    )
    full = front_hypervolume([c.values for c in curves], objectives)[1]
    hv = front_hypervolume(finished, objectives)[1]
    full_epochs = schedule.max_epochs * len(curves)
    full_macs = schedule.max_epochs * sum(c.macs for c in curves)
    # The run without early stopping at the moment the replay ends: its trials that had
    # finished by then, one after the other as the single worker ran them.
    ends = np.cumsum([c.overhead + sum(c.epoch_seconds) for c in curves])
    by_then = [c.values for c, end in zip(curves, ends, strict=True) if end <= es_seconds]
    full_seconds = float(ends[-1]) if len(ends) else 0.0
    return {
        "trials": len(curves),
        "finished": len(finished),
        "epochs_es": epochs,
        "epochs_full": full_epochs,
        "compute_ratio": round(full_epochs / max(epochs, 1), 3),
        "compute_ratio_macs": round(full_macs / es_macs, 3) if es_macs > 0 else 0.0,
        "hv_es": round(hv, 4),
        "hv_full": round(full, 4),
        "hv_diff_pct": round(100.0 * (hv - full) / full, 2) if full > 0 else 0.0,
        "stopped": {str(k): v for k, v in sorted(stopped.items())},
        "seconds_es": round(es_seconds, 1),
        "seconds_full": round(full_seconds, 1),
        "hv_full_at_equal_time": round(front_hypervolume(by_then, objectives)[1], 4),
    }


def _measured(es_run: Path) -> dict[str, Any]:
    """Schedule, epochs and final hypervolume of a run made with early stopping, measured as
    benchmarks/early_stopping.py measures it."""
    from early_stopping import _measure  # the sibling benchmark (this folder is on sys.path)

    from blocknas.search import load_run

    es = load_run(es_run)[1].early_stopping
    measured = _measure(es_run)
    return {
        "schedule": _label(es, es.form),
        "epochs_es": measured["epochs"],
        "hv_es": round(measured["hypervolume"], 4),
    }


def _label(schedule: Any, form: str) -> str:
    """``min:max:eta[:tie_break][ (promotion)]``, as --schedule and --form give it."""
    label = f"{schedule.min_epochs}:{schedule.max_epochs}:{schedule.eta}"
    if schedule.tie_break != "hypervolume":
        label += f":{schedule.tie_break}"
    return label + (f" ({form})" if form != "stopping" else "")


def _schedule(text: str) -> Any:
    from blocknas.errors import ConfigError
    from blocknas.search.early_stopping import EarlyStoppingConfig

    parts = text.split(":")
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        low, high, eta = (int(part) for part in parts[:3])
    except ValueError:
        raise SystemExit(
            f"--schedule {text!r}: expected min_epochs:max_epochs:eta[:tie_break]"
        ) from None
    tie_break = parts[3] if len(parts) == 4 else "hypervolume"
    try:
        return EarlyStoppingConfig(min_epochs=low, max_epochs=high, eta=eta, tie_break=tie_break)
    except ConfigError as error:
        raise SystemExit(f"--schedule {text!r}: {error}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+",
                        help="run folders without early stopping, or --save-curves files")  # fmt: skip
    parser.add_argument("--schedule", action="append", default=[], type=_schedule,
                        help="min_epochs:max_epochs:eta[:tie_break] (repeatable; "
                        "tie_break: hypervolume, crowding or epsnet)")  # fmt: skip
    parser.add_argument("--form", choices=("stopping", "promotion"), default="stopping",
                        help="successive halving as the search runs it (stopping: judged once, "
                        "on arrival) or its promotion form (trials wait at a rung)")  # fmt: skip
    parser.add_argument("--compare", type=Path, nargs="*", default=[],
                        help="runs with early stopping of the same candidates as RUNS, in the "
                        "same order; shown beside the schedule they used")  # fmt: skip
    parser.add_argument("--resample", type=int, default=0, help="pooled searches to replay")
    parser.add_argument("--trials", type=int, default=40, help="trials of a pooled search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=None, metavar="N",
                        help="replay each run as it stood after its first N trials")  # fmt: skip
    parser.add_argument("--save-curves", type=Path, default=None, metavar="FILE",
                        help="write the runs' curves to FILE (JSON), to replay them later")  # fmt: skip
    args = parser.parse_args()
    if not args.schedule and args.save_curves is None:
        parser.error("give at least one --schedule (or --save-curves)")

    runs = [run for path in args.runs for run in _load(path)]
    if args.compare and len(args.compare) != len(runs):
        raise SystemExit("--compare needs one run with early stopping per run given")
    if args.save_curves is not None:
        _save(runs, args.save_curves)
        print(f"saved {sum(len(r.curves) for r in runs)} curves of {len(runs)} runs to "
              f"{args.save_curves}", flush=True)  # fmt: skip
    if args.first is not None:
        runs = [replace(r, curves=[c for c in r.curves if c.number < args.first]) for r in runs]
    configs = [r.cfg for r in runs]
    result: dict[str, Any] = {"benchmark": "early_stopping_whatif", "schedules": []}
    for schedule in args.schedule:
        label = _label(schedule, args.form)
        entry: dict[str, Any] = {"schedule": label, "rungs": list(schedule.decision_rungs())}
        per_run = []
        for i, (run, cfg) in enumerate(zip(runs, configs, strict=True)):
            row = {"run": run.name, **replay(run.curves, cfg, schedule, args.form)}
            if args.compare:
                measured = _measured(args.compare[i])
                if measured["schedule"] == label:
                    row["measured"] = measured
            per_run.append(row)
            print(f"{label} {run.name}: {row['epochs_es']} / {row['epochs_full']} "
                  f"epochs ({row['compute_ratio']:.2f}x; MAC-epochs "
                  f"{row['compute_ratio_macs']:.2f}x), HV {row['hv_es']:.4f} / "
                  f"{row['hv_full']:.4f} ({row['hv_diff_pct']:+.2f} %), stopped {row['stopped']}, "
                  f"at {row['seconds_es']:.0f} s of {row['seconds_full']:.0f} s HV {row['hv_es']:.4f}"
                  f" / {row['hv_full_at_equal_time']:.4f}"
                  + (f"; measured run: {row['measured']}" if "measured" in row else ""),
                  flush=True)  # fmt: skip
        entry["per_run"] = per_run
        for key in ("compute_ratio", "compute_ratio_macs", "hv_diff_pct"):
            entry[f"mean_{key}"] = round(float(np.mean([r[key] for r in per_run])), 3)
        entry["higher_at_equal_time"] = sum(
            r["hv_es"] > r["hv_full_at_equal_time"] for r in per_run
        )
        if args.resample:
            entry["resampled"] = _resample(runs, configs[0], schedule, args)
            print(f"{label} resampled {args.resample} x {args.trials} trials: "
                  f"{entry['resampled']}", flush=True)  # fmt: skip
        result["schedules"].append(entry)
    print(json.dumps(result))


def _resample(runs: list[Run], cfg: Any, schedule: Any, args: argparse.Namespace) -> dict:
    """``args.resample`` searches of ``args.trials`` trials drawn from the pooled curves."""
    rng = np.random.default_rng(args.seed)
    pool = [c for run in runs for c in run.curves]
    rows = []
    for _ in range(args.resample):
        drawn = [pool[j] for j in rng.integers(len(pool), size=args.trials)]
        numbered = [replace(c, number=n) for n, c in enumerate(drawn)]
        rows.append(replay(numbered, cfg, schedule, args.form))
    d = np.array([row["hv_diff_pct"] for row in rows])
    return {
        "searches": args.resample, "trials": args.trials, "pool": len(pool),
        "mean_compute_ratio": round(float(np.mean([r["compute_ratio"] for r in rows])), 3),
        "mean_compute_ratio_macs": round(
            float(np.mean([r["compute_ratio_macs"] for r in rows])), 3),
        "mean_hv_diff_pct": round(float(d.mean()), 2),
        "median_hv_diff_pct": round(float(np.median(d)), 2),
        "share_within_2pct": round(float((d >= -2.0).mean()), 3),
        "share_higher_at_equal_time": round(
            float(np.mean([r["hv_es"] > r["hv_full_at_equal_time"] for r in rows])), 3),
    }  # fmt: skip


if __name__ == "__main__":
    main()
