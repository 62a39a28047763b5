"""Early stopping: training compute and hypervolume of a search with and without MO-ASHA.

For each dataset and seed, the search of the dataset's config (same space, sampler and seed) runs
twice with the same trial budget: once with the early-stopping schedule, once with it switched off
(every trial trains ``max_epochs``). Two ways of pairing the runs:

- ``--pairing replay`` (default): the same search, trial for trial. One run samples its trials
  with the config's sampler; the other trains exactly the same candidates in the same order
  (queued with ``enqueue_trial``), so that the difference between the two is only what early
  stopping did. Which run samples alternates between seeds: with early stopping on (its sampler
  sees the stopped trials) on odd seeds, without on even seeds. Every trial trains with the same
  seed, so a trial that runs to the end gets the same result in both.
- ``--pairing independent``: each run samples its own trials; after the sampler's random start
  the two searches see different results and diverge, which adds the sampler's luck to the
  difference.

With ``independent`` the order of the two runs alternates between seeds so that machine load
and warm-up favour neither. ``--form promotion`` (early stopping's promotion form) replays with
the early-stopping run sampling on every seed: its continuations of paused trials must run as
they are chosen, not behind a queue of replayed candidates. For each run:

- total training compute: the sum of the epochs, of the MAC-epochs (each epoch weighted by the
  model's multiply-accumulates per image: proportional to training FLOPs) and of the training
  seconds of every trial (with ``--data-fraction`` each epoch counts as the share of the
  training set it used);
- the final normalised hypervolume of the feasible Pareto front, on the config's fixed objective
  bounds (accuracy 0-1 on the validation split the objective uses; parameters on log10 between
  the objective's range);
- the hypervolume as a function of wall time (trial completion times), so that the two runs are
  compared at equal wall time T = the shorter run's total time.

Targets: compute cut >= 3x, final hypervolume within 2 % of the search without early stopping,
and a higher hypervolume at equal wall time.

    python benchmarks/early_stopping.py --dataset digits --seeds 0 1 2 3 4 5 --trials 40 \
        --min-epochs 1 --max-epochs 18
    python benchmarks/early_stopping.py --dataset cifar10_small --seeds 0 --trials 20 \
        --min-epochs 1 --max-epochs 9 --set data.path=/data/cifar10_10k --set data.subset=null
    python benchmarks/early_stopping.py --dataset cifar10_tiny --seeds 6 --trials 45 \
        --min-epochs 3 --max-epochs 27 --full-run RUN_DIR   # a finished seed-6 search, ES off

``cifar10_small`` reads ../shared/data/cifar10/train (a 10,000-image subset of it) unless
``--set data.path=...`` names another folder; on 2 CPU cores it takes about a day, on one GPU
minutes per seed. ``--out DIR --reuse`` keeps the run folders, reuses finished ones and resumes
the ones whose process was stopped;
``--full-run RUN_DIR`` (one seed, the run's own) pairs an early-stopping run with a search
without it that was already run, replaying its first ``--trials`` candidates (in the promotion
form they are proposed one at a time, as a sampler would, so that continuations run as they are
chosen); the full run's time is then the sum of its trials' times, one after the other, since
its own clock may include stops or other workers. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import itertools
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "search"
DATASETS = {
    "digits": CONFIGS / "digits.yaml",
    "cifar10_tiny": CONFIGS / "cifar10_tiny.yaml",  # ≤ 60k parameters: CPU-sized
    "cifar10_small": CONFIGS / "cifar10_small.yaml",
}
COMPUTE_TARGET = 3.0  # no-ES compute / ES compute (MAC-epochs; also shown in epochs)
HV_TOLERANCE_PCT = 2.0  # ES final hypervolume at most this much below no-ES


def _config(
    raw: dict[str, Any], *, seed: int, trials: int, early_stopping: bool, schedule: dict[str, Any]
) -> dict:
    """The dataset's search with the benchmark's seed and budget, one job, ES on or off;
    ``schedule`` overrides keys of the config's early-stopping entry (min_epochs, max_epochs,
    eta, tie_break); a max_epochs given there is also the training length."""
    cfg = copy.deepcopy(raw)
    cfg.update(seed=seed, n_trials=trials, timeout=None, n_jobs=1)
    if "max_epochs" in schedule:
        cfg["train"] = dict(cfg.get("train") or {}, epochs=schedule["max_epochs"])
    sampler = cfg.get("sampler", "tpe")
    sampler = dict(sampler) if isinstance(sampler, dict) else {"name": sampler}
    sampler["seed"] = seed
    cfg["sampler"] = sampler
    es = cfg.get("early_stopping")
    es = dict(es) if isinstance(es, dict) else {}
    es.update(schedule, enabled=early_stopping)  # same max_epochs either way
    cfg["early_stopping"] = es
    return cfg


def _apply(raw: dict[str, Any], settings: list[str]) -> dict[str, Any]:
    """The config with ``key.sub=value`` settings applied (values parsed as YAML)."""
    cfg = copy.deepcopy(raw)
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --set {item!r}: expected KEY=VALUE, e.g. data.subset=5000")
        *parents, last = key.split(".")
        node = cfg
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(text)
    return cfg


def _epochs(t: Any) -> float:
    """Training compute of a trial in passes over the training set (a trial that continues a
    paused one counts only the epochs it trained itself)."""
    attrs = t.user_attrs
    if "trained_data_epochs" in attrs:
        return float(attrs["trained_data_epochs"])
    if "data_epochs" in attrs:  # epochs weighted by their data fraction
        return float(attrs["data_epochs"])
    if "epochs" in attrs:
        return int(attrs["epochs"])
    return int(attrs.get("stopped_at_rung") or 0)  # a pruned trial without the record


def _measure(run_dir: Path, first: int | None = None, summed: bool = False) -> dict[str, Any]:
    """Compute, rung counts and the hypervolume trace of a finished run folder.

    The trace's clock is the wall clock from the first start, or with ``summed`` one worker
    running the trials one after the other (the sum of their times; for a run whose clock
    includes a stop or other workers). With ``first``, only the run's first ``first``
    candidates (:func:`_candidates`) count, in trial order, on the summed clock.
    """
    from optuna.trial import TrialState

    from blocknas.search import load_run
    from blocknas.search._progress import front_summary
    from blocknas.search.early_stopping import rung_summary
    from blocknas.search.storage import is_continuation

    study, cfg = load_run(run_dir)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    if first is None:
        trials.sort(key=lambda t: t.datetime_complete)
    else:
        trials, summed = _candidates(trials)[:first], True
    if summed:
        ends = list(itertools.accumulate(_trial_seconds(t) for t in trials))
    else:
        t0 = min(t.datetime_start for t in trials)
        ends = [(t.datetime_complete - t0).total_seconds() for t in trials]
    trace = []  # (seconds since the first trial started, hypervolume after that trial)
    for i in range(1, len(trials) + 1):
        trace.append((round(ends[i - 1], 2), front_summary(trials[:i], cfg)[1]))
    return {
        "trials": len(trials),
        "candidates": sum(not is_continuation(t) for t in trials if t.state is not TrialState.FAIL),
        "complete": sum(t.state is TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state is TrialState.PRUNED for t in trials),
        "failed": sum(t.state is TrialState.FAIL for t in trials),
        "epochs": round(sum(_epochs(t) for t in trials), 2),
        "mac_epochs": sum(_epochs(t) * float(t.user_attrs.get("macs", 0.0)) for t in trials),
        "train_seconds": round(
            sum(float(t.user_attrs.get("train_seconds", 0.0)) for t in trials), 2
        ),
        "hypervolume": trace[-1][1],
        "trace": trace,
        "rungs": {str(k): list(v) for k, v in rung_summary(trials).items()},
    }


def _lost(t: FrozenTrial) -> bool:
    """Whether ``t`` was lost: failed without a reason, because its worker stopped (a trial
    that fails by itself records its ``fail_reason``)."""
    from optuna.trial import TrialState

    return t.state is TrialState.FAIL and "fail_reason" not in t.user_attrs


def _trial_seconds(t: FrozenTrial) -> float:
    """A trial's time on the summed clock: start to end, or 0 for a lost one (it ends when the
    next run noticed, so its span holds the stop; its re-run, a later trial, does the work)."""
    return 0.0 if _lost(t) else (t.datetime_complete - t.datetime_start).total_seconds()


def _hv_at(trace: list[tuple[float, float]], seconds: float) -> float:
    """Hypervolume of the trials completed within ``seconds`` (0 before the first one)."""
    hv = 0.0
    for t, value in trace:
        if t > seconds + 1e-9:
            break
        hv = value
    return hv


def _queue(cfg: dict[str, Any], out: Path, leader: Path) -> None:
    """Create ``out``'s study with the candidates of the run in ``leader`` queued, in its order
    (:func:`_run_candidates`)."""
    from blocknas.search.config import load_search_config
    from blocknas.search.study import create_search_study

    out.mkdir(parents=True, exist_ok=True)
    study = create_search_study(
        load_search_config(cfg), storage=f"sqlite:///{(out / 'study.db').resolve()}"
    )
    for t in _run_candidates(leader):
        study.enqueue_trial(dict(t.params), user_attrs={"replay_of": t.number})


def _candidates(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The candidates a run tried, in trial order: a trial whose worker was lost is left out
    (its re-run, later in the order, stands for it; a lost one that was never re-run has no
    outcome), and so is one that continues a paused trial (the same candidate)."""
    from blocknas.search.storage import is_continuation, reruns

    rerun = reruns(trials)
    return [
        t for t in sorted(trials, key=lambda t: t.number)
        if t.number not in rerun and not is_continuation(t) and not _lost(t)
    ]  # fmt: skip


def _run_candidates(run: Path) -> list[FrozenTrial]:
    """:func:`_candidates` of the finished trials of the run folder ``run``."""
    from blocknas.search import load_run

    study, _ = load_run(run)
    return _candidates([t for t in study.get_trials(deepcopy=False) if t.state.is_finished()])


class _Replay(optuna.samplers.BaseSampler):
    """Proposes the candidates of an earlier run, in its order: the k-th trial this sampler
    samples gets the parameters of the k-th candidate.

    Queued trials (continuations of paused trials, re-runs of lost ones) carry their own
    parameters and are not sampled, so they run when the search chooses them; queuing every
    candidate up front would put them behind the whole queue. Which candidate is next is counted
    in the storage, so a resumed run goes on where it stopped.
    """

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        self._candidates = candidates
        self._index: dict[int, int] = {}  # trial number -> candidate

    def infer_relative_search_space(self, study: Any, trial: FrozenTrial) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: FrozenTrial, space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, name: str, distribution: Any
    ) -> Any:
        from blocknas.search.storage import is_continuation, reruns

        if trial.number not in self._index:
            trials = study.get_trials(deepcopy=False)
            retries = set(reruns(trials).values())
            self._index[trial.number] = sum(
                t.number < trial.number and not is_continuation(t) and t.number not in retries
                for t in trials
            )
        index = self._index[trial.number]
        if index >= len(self._candidates):
            raise SystemExit(f"error: the replayed run has {len(self._candidates)} candidates")
        if name not in self._candidates[index]:
            raise SystemExit(f"error: candidate {index} of the replayed run has no {name!r}")
        return self._candidates[index][name]


def _run(
    cfg: dict[str, Any], out: Path, *, reuse: bool, leader: Path | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run one search into ``out`` (replaying the trials of ``leader`` when given; proposed by
    ``sampler`` instead of the config's when given).

    With ``reuse``, a finished run in ``out`` is measured as it is and an unfinished one (its
    process was stopped) is resumed: its finished trials are kept, the lost one is re-run
    (``"resumed": true``). A run measured from its folder has its trials' summed times as its
    clock, which leaves out a stop.
    """
    from blocknas.search import run_search

    if reuse and (out / "study.db").is_file():
        result = _measure_finished(out)
        if result["candidates"] >= cfg["n_trials"]:
            return result
        print(f"resuming {out.name}: {result['candidates']} of {cfg['n_trials']} trials done",
              flush=True)  # fmt: skip
        run_search(cfg, out_dir=out, progress=False, report=False, resume=True, sampler=sampler)
        result = _measure_finished(out)
        result["resumed"] = True
        return result
    if out.exists():
        shutil.rmtree(out)
    if leader is not None:
        _queue(cfg, out, leader)
    start = time.perf_counter()
    run_search(
        cfg, out_dir=out, progress=False, report=False, resume=leader is not None, sampler=sampler
    )
    result = _measure(out)
    result["wall_s"] = round(time.perf_counter() - start, 2)
    return result


def _measure_finished(run_dir: Path, first: int | None = None) -> dict[str, Any]:
    """``_measure`` of a run made earlier, on the summed clock (its own may include a stop):
    its wall time is the sum of its trials' times (with ``first``, of its first ``first``
    candidates)."""
    result = _measure(run_dir, first, summed=True)
    result["wall_s"] = result["trace"][-1][0]
    return result


def _check_full_run(run: Path, seeds: list[int], pairing: str, trials: int) -> None:
    """``--full-run`` needs replay pairing, one seed, the run's own, no early stopping and at
    least ``trials`` candidates."""
    from blocknas.search import load_run

    if pairing != "replay" or len(seeds) != 1:
        raise SystemExit("error: --full-run needs --pairing replay and exactly one seed")
    _, cfg = load_run(run)
    if cfg.seed != seeds[0] or cfg.early_stopping.enabled:
        raise SystemExit(
            f"error: --full-run {run}: a search with seed {cfg.seed} and early stopping "
            f"{'on' if cfg.early_stopping.enabled else 'off'}; needs seed {seeds[0]}, off"
        )
    done = _run_candidates(run)
    if len(done) < trials:
        raise SystemExit(
            f"error: --full-run {run}: {len(done)} finished candidates, fewer than --trials {trials}"
        )


def _given(run: Path) -> _Replay:
    """A sampler proposing the finished candidates of ``run``, in its order."""
    return _Replay([dict(t.params) for t in _run_candidates(run)])


def _pin_cores(n: int) -> int:
    """Restrict this process to ``n`` cores, so that the search's per-worker torch threads
    (cores / jobs) are ``n`` and both runs of a pair get the same compute."""
    try:
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[: max(1, n)])
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        return os.cpu_count() or 1


def _pct(new: float, old: float) -> float:
    return round(100.0 * (new - old) / old, 2) if old > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=30, help="trial budget of each search")
    parser.add_argument("--threads", type=int, default=1, help="cores (torch threads) to use")
    parser.add_argument(
        "--pairing", choices=["replay", "independent"], default="replay",
        help="replay: both runs train the same candidates (see above); independent: each samples",
    )  # fmt: skip
    parser.add_argument("--min-epochs", type=int, default=None, help="override the first rung")
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="override the training length (last rung)"
    )
    parser.add_argument("--eta", type=int, default=None, help="override the config's eta")
    parser.add_argument(
        "--tie-break", choices=["hypervolume", "crowding", "epsnet"], default=None,
        help="override the tie-breaker inside a rung's front",
    )  # fmt: skip
    parser.add_argument(
        "--form", choices=["stopping", "promotion"], default=None,
        help="override the form of successive halving (see blocknas.search.early_stopping)",
    )  # fmt: skip
    parser.add_argument(
        "--data-fraction", action="store_true",
        help="train the epochs before each decision rung on a stratified share of the data",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set data.path=/data/cifar10 --set data.subset=null",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="keep the run folders here")
    parser.add_argument(
        "--full-run", type=Path, default=None,
        help="a finished search without early stopping (of the one seed given) whose candidates "
        "the early-stopping run replays",
    )  # fmt: skip
    parser.add_argument(
        "--reuse", action="store_true",
        help="reuse finished run folders under --out (e.g. the searches without early stopping, "
        "which do not depend on --min-epochs/--eta) and resume unfinished ones",
    )  # fmt: skip
    args = parser.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    threads = _pin_cores(args.threads)
    raw = yaml.safe_load(DATASETS[args.dataset].read_text())
    raw["base_dir"] = str(CONFIGS)  # relative data paths, as in the config file
    raw = _apply(raw, args.set)
    root = args.out or Path(tempfile.mkdtemp(prefix=f"blocknas-es-{args.dataset}-"))
    root.mkdir(parents=True, exist_ok=True)
    overrides = {
        k: v
        for k, v in (
            ("min_epochs", args.min_epochs), ("max_epochs", args.max_epochs), ("eta", args.eta),
            ("tie_break", args.tie_break), ("data_fraction", args.data_fraction),
            ("form", args.form),
        )
        if v
    }  # fmt: skip
    schedule = dict(raw.get("early_stopping") or {}, **overrides)
    tag = "".join(f"-{k}{v}" for k, v in sorted(overrides.items()))
    # --set changes both runs: their folders carry a digest of the settings.
    sets = "-set" + hashlib.sha1("\n".join(sorted(args.set)).encode()).hexdigest()[:8]
    sets = sets if args.set else ""
    print(f"{args.dataset}: {args.trials} trials per search, seeds {args.seeds}, "
          f"{threads} thread(s), early stopping {schedule}, pairing {args.pairing}",
          flush=True)  # fmt: skip

    promotion = schedule.get("form") == "promotion"
    if args.full_run is not None:
        _check_full_run(args.full_run, args.seeds, args.pairing, args.trials)
    rows: list[dict[str, Any]] = []
    for i, seed in enumerate(args.seeds):
        replay = args.pairing == "replay"
        # Replay: the run that samples goes first (ES on odd seeds); else alternate the order.
        order = (seed % 2 == 1, seed % 2 == 0) if replay else ((True, False), (False, True))[i % 2]
        if replay and promotion:
            order = (True, False)
        if args.full_run is not None:
            order = (False, True)
        runs: dict[bool, dict[str, Any]] = {}
        leader: Path | None = None
        for es in order:
            cfg = _config(raw, seed=seed, trials=args.trials, early_stopping=es, schedule=overrides)
            if not es and args.full_run is not None:
                out = args.full_run
                runs[es] = _measure_finished(out, first=args.trials)
            elif promotion and args.full_run is not None:
                name = f"es{tag}-given-{args.full_run.name}-first{args.trials}"
                out = root / f"seed{seed}-{name}{sets}"
                runs[es] = _run(cfg, out, reuse=args.reuse, sampler=_given(args.full_run))
            else:
                # Folder names say everything the run depends on, so that --reuse stays correct.
                name = "es" + tag if es else f"full-epochs{(cfg.get('train') or {}).get('epochs')}"
                if replay:
                    name += "-sampled" if leader is None else f"-replaying-{leader.name}"
                out = root / f"seed{seed}-{name}{sets}"
                runs[es] = _run(cfg, out, reuse=args.reuse, leader=leader)
            leader = out if replay else None
            r = runs[es]
            print(f"seed {seed} {'ES  ' if es else 'full'}: {r['trials']} trials "
                  f"({r['complete']} complete, {r['pruned']} stopped, {r['failed']} failed), "
                  f"{r['epochs']:g} epochs, {r['train_seconds']:.0f} s training, "
                  f"{r['wall_s']:.0f} s wall, HV {r['hypervolume']:.4f}", flush=True)  # fmt: skip
        on, off = runs[True], runs[False]
        equal_t = min(on["trace"][-1][0], off["trace"][-1][0])
        row = {
            "seed": seed,
            "sampled_by": (
                "given" if args.full_run else ("es" if order[0] else "full") if replay else "each"
            ),
            "epochs_es": on["epochs"],
            "epochs_full": off["epochs"],
            "compute_ratio_epochs": round(off["epochs"] / max(on["epochs"], 1e-9), 2),
            "compute_ratio_macs": round(off["mac_epochs"] / max(on["mac_epochs"], 1e-9), 2),
            "compute_ratio_seconds": round(
                off["train_seconds"] / max(on["train_seconds"], 1e-9), 2
            ),
            "wall_ratio": round(off["wall_s"] / max(on["wall_s"], 1e-9), 2),
            "hv_es": round(on["hypervolume"], 4),
            "hv_full": round(off["hypervolume"], 4),
            "hv_diff_pct": _pct(on["hypervolume"], off["hypervolume"]),
            "equal_time_s": equal_t,
            "hv_es_at_equal_time": round(_hv_at(on["trace"], equal_t), 4),
            "hv_full_at_equal_time": round(_hv_at(off["trace"], equal_t), 4),
            "complete_es": on["complete"],
            "complete_full": off["complete"],
            # Resumed runs are timed on their trials' summed times, which leave out the stop.
            "resumed": [name for name, r in (("es", on), ("full", off)) if r.get("resumed")],
            "rungs_es": on["rungs"],
            "trace_es": on["trace"],
            "trace_full": off["trace"],
        }
        rows.append(row)
        stopped = " ".join(f"e{k}: {s} stopped of {n} reached" for k, (n, s) in on["rungs"].items())
        print(f"seed {seed} rungs (ES): {stopped or 'none reached'}", flush=True)
        print(f"seed {seed}: compute cut {row['compute_ratio_epochs']:.2f}x (epochs), "
              f"HV diff {row['hv_diff_pct']:+.2f} %, at T = {equal_t:.0f} s HV ES "
              f"{row['hv_es_at_equal_time']:.4f} / full {row['hv_full_at_equal_time']:.4f}",
              flush=True)  # fmt: skip

    print()
    print("| seed | epochs ES / full | compute cut (epochs) | (MAC-epochs) | (train s) | "
          "HV ES / full | HV diff | T equal (s) | HV at T: ES / full |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['epochs_es']:g} / {r['epochs_full']:g} | "
              f"{r['compute_ratio_epochs']:.2f}× | {r['compute_ratio_macs']:.2f}× | "
              f"{r['compute_ratio_seconds']:.2f}× | "
              f"{r['hv_es']:.4f} / {r['hv_full']:.4f} | {r['hv_diff_pct']:+.2f} % | "
              f"{r['equal_time_s']:.0f} | "
              f"{r['hv_es_at_equal_time']:.4f} / {r['hv_full_at_equal_time']:.4f} |")  # fmt: skip

    def mean(key: str) -> float:
        return round(statistics.mean(r[key] for r in rows), 4)

    figures: dict[str, Any] = {
        "benchmark": "early_stopping",
        "dataset": args.dataset,
        "trials": args.trials,
        "seeds": args.seeds,
        "early_stopping": schedule,
        "pairing": args.pairing,
        "threads": threads,
        "mean_compute_ratio_epochs": mean("compute_ratio_epochs"),
        "mean_compute_ratio_macs": mean("compute_ratio_macs"),
        "mean_compute_ratio_seconds": mean("compute_ratio_seconds"),
        "mean_hv_diff_pct": mean("hv_diff_pct"),
        "mean_hv_es_at_equal_time": mean("hv_es_at_equal_time"),
        "mean_hv_full_at_equal_time": mean("hv_full_at_equal_time"),
        "per_seed": [{k: v for k, v in r.items() if not k.startswith("trace")} for r in rows],
        "traces": {r["seed"]: {"es": r["trace_es"], "full": r["trace_full"]} for r in rows},
    }
    figures["targets"] = {
        "compute_cut_ge_3x": figures["mean_compute_ratio_macs"] >= COMPUTE_TARGET,
        "compute_cut_ge_3x_in_epochs": figures["mean_compute_ratio_epochs"] >= COMPUTE_TARGET,
        "hv_within_2pct": all(r["hv_diff_pct"] >= -HV_TOLERANCE_PCT for r in rows),
        "hv_higher_at_equal_time": all(
            r["hv_es_at_equal_time"] > r["hv_full_at_equal_time"] for r in rows
        ),
    }
    print(f"mean compute cut {figures['mean_compute_ratio_epochs']:.2f}× (epochs), "
          f"{figures['mean_compute_ratio_macs']:.2f}× (MAC-epochs), "
          f"{figures['mean_compute_ratio_seconds']:.2f}× (train s); mean HV diff "
          f"{figures['mean_hv_diff_pct']:+.2f} %; targets {figures['targets']}")  # fmt: skip
    figures["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
    figures["runs_dir"] = str(root)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
