"""The search report: ``pareto.png``, ``report.html``, ``pareto.csv`` and ``pareto.json`` in
the run folder, written by ``blocknas report`` and at the end of every search."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from blocknas._io import atomic_path, make_dir, write_text
from blocknas.errors import BlocknasError
from blocknas.report import picks as pk
from blocknas.report.baselines import Baseline, TrainFn, load_baselines, zoo_configs
from blocknas.report.front import hypervolume_history
from blocknas.report.html import render_html
from blocknas.report.plots import plot_pareto
from blocknas.report.run import RunData, load_run_data
from blocknas.report.tables import pareto_csv, pareto_json

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEFAULT_REFERENCE",
    "ReportFiles",
    "pick_trial",
    "reference_baseline",
    "standard_picks",
    "write_report",
]

DEFAULT_REFERENCE = "mobilenetv2"


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote, and the picks and notes it shows."""

    html: Path
    png: Path
    csv: Path
    json: Path
    picks: tuple[pk.Pick, ...] = ()
    baselines: tuple[Baseline, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def reference_baseline(baselines: Sequence[Baseline], name: str | None) -> Baseline | None:
    """The baseline ratios are taken against: ``name`` when given (it must be among
    ``baselines``), else the default reference if present, else the first trained, else the
    first."""
    by_name = {b.name: b for b in baselines}
    if name is not None:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise BlocknasError(f"unknown baseline {name!r}; available: {known}")
        return by_name[name]
    if DEFAULT_REFERENCE in by_name:
        return by_name[DEFAULT_REFERENCE]
    trained = [b for b in baselines if b.trained]
    ordered = trained or list(baselines)
    return ordered[0] if ordered else None


def standard_picks(
    run: RunData,
    baselines: Sequence[Baseline] = (),
    *,
    reference: str | None = None,
    tolerance_points: float = 1.0,
    max_params: int | None = None,
) -> tuple[list[pk.Pick], list[str]]:
    """The report's picks — most accurate, knee, smallest within ``tolerance_points`` of the
    reference baseline (when it is trained), most accurate within ``max_params`` — and notes
    on the picks that could not be made."""
    trials = run.completed()
    if not trials:
        return [], ["no completed trial yet: nothing to pick"]
    ref = reference_baseline(baselines, reference)
    metric = run.quality
    out = [pk.best_accuracy(trials, metric=metric, baseline=ref)]
    notes: list[str] = []
    if ref is not None and ref.get(metric) is not None:
        acc = ref.get(metric)
        assert acc is not None
        try:
            out.append(pk.smallest_within(trials, acc, tolerance_points, metric=metric,
                                          of=ref.name, baseline=ref))  # fmt: skip
        except BlocknasError as exc:
            notes.append(f"smallest within {tolerance_points:g} points of {ref.name}: {exc}")
    elif ref is not None:
        notes.append(
            f"smallest model as accurate as {ref.name}: needs the baseline trained "
            "(blocknas report RUN_DIR --baselines)"
        )
    out.append(pk.knee(trials, run.objectives, baseline=ref))
    if max_params is not None:
        try:
            out.append(pk.max_params(trials, max_params, metric=metric, baseline=ref))
        except BlocknasError as exc:
            notes.append(str(exc))
    return out, notes


def write_report(
    run_dir: str | Path | None = None,
    *,
    study: optuna.Study | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    train_baselines: bool = False,
    zoo: str | Path | None = None,
    baseline_names: Sequence[str] | None = None,
    reference: str | None = None,
    tolerance_points: float = 1.0,
    max_params: int | None = None,
    out_dir: str | Path | None = None,
    latency: bool = True,
    progress: bool = False,
    train_fn: TrainFn | None = None,
) -> ReportFiles:
    """Write the report of a search into ``out_dir`` (default: the run folder).

    Baselines are the zoo's models at the search's input shape. Without ``train_baselines``
    they show their size only, plus the accuracy of any already trained in
    ``RUN_DIR/baselines/<name>``; with it, the missing ones are first trained with the search's
    recipe (this takes as long as training those models).

    >>> files = write_report("runs/digits-20250101-120000")  # doctest: +SKIP
    >>> files.html  # doctest: +SKIP
    PosixPath('runs/digits-20250101-120000/report.html')
    """
    run = load_run_data(run_dir, study=study, storage=storage, study_name=study_name)
    target = Path(out_dir) if out_dir is not None else run.run_dir
    if target is None:
        raise BlocknasError("the study records no run folder; give one")
    make_dir(target)
    baselines = load_baselines(
        run, zoo=zoo, names=baseline_names, train=train_baselines, latency=latency,
        progress=progress, train_fn=train_fn,
    )  # fmt: skip
    picks, notes = standard_picks(
        run, baselines, reference=reference, tolerance_points=tolerance_points,
        max_params=max_params,
    )  # fmt: skip
    if baselines and not any(b.trained for b in baselines):
        notes.append(
            "baselines show their size only (parameters, MACs, latency at the search's input "
            "shape); `blocknas report RUN_DIR --baselines` trains them with the search's recipe"
        )
    files = ReportFiles(
        html=target / "report.html", png=target / "pareto.png", csv=target / "pareto.csv",
        json=target / "pareto.json", picks=tuple(picks), baselines=tuple(baselines),
        notes=tuple(notes),
    )  # fmt: skip
    with atomic_path(files.png) as tmp:
        plot_pareto(run, baselines, tmp)
    write_text(files.html, render_html(run, picks, baselines, notes))
    write_text(files.csv, pareto_csv(run))
    data = pareto_json(run, picks, baselines, hypervolume_history(run))
    write_text(files.json, json.dumps(data | {"notes": notes}, indent=1) + "\n")
    return files


def pick_trial(
    run_dir: str | Path,
    *,
    best_accuracy: bool = False,
    smallest_within: float | None = None,
    knee: bool = False,
    max_params: int | None = None,
    max_macs: int | None = None,
    max_latency_ms: float | None = None,
    of: str | None = None,
    train_baselines: bool = False,
    zoo: str | Path | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    train_fn: TrainFn | None = None,
) -> pk.Pick:
    """Answer one question about a run (exactly one of ``best_accuracy``, ``smallest_within``
    (tolerance in points below baseline ``of``), ``knee``, or limits), with ratios to
    baseline ``of`` (default: the default reference when the zoo has it).

    >>> pick_trial("runs/x", smallest_within=1.0, of="mobilenetv2").trial.number  # doctest: +SKIP
    """
    budget = any(v is not None for v in (max_params, max_macs, max_latency_ms))
    chosen = [best_accuracy, smallest_within is not None, knee, budget]
    if sum(chosen) != 1:
        raise BlocknasError(
            "choose exactly one of --best-accuracy, --smallest-within, --knee or "
            "limits (--max-params, --max-macs, --max-latency-ms)"
        )
    if smallest_within is not None and of is None:
        raise BlocknasError("--smallest-within needs the baseline to match: --of NAME")
    run = load_run_data(run_dir, storage=storage, study_name=study_name)
    trials = run.completed()
    if not trials:
        raise BlocknasError(f"{run_dir}: no completed trial to pick from")
    name = of if of is not None else (DEFAULT_REFERENCE if DEFAULT_REFERENCE in zoo_configs(zoo)
                                      else None)  # fmt: skip
    names = [name] if name is not None else []
    ref = None
    if names:
        found = load_baselines(run, zoo=zoo, names=names, train=train_baselines,
                               train_fn=train_fn)  # fmt: skip
        ref = found[0]
    metric = run.quality
    if best_accuracy:
        return pk.best_accuracy(trials, metric=metric, baseline=ref)
    if knee:
        return pk.knee(trials, run.objectives, baseline=ref)
    if smallest_within is not None:
        assert ref is not None
        acc = ref.get(metric)
        if acc is None:
            raise BlocknasError(
                f"baseline {ref.name} has not been trained, so its {metric} is unknown; add "
                "--baselines to train it with the search's recipe"
            )
        return pk.smallest_within(trials, acc, smallest_within, metric=metric, of=ref.name,
                                  baseline=ref)  # fmt: skip
    return pk.within_budget(trials, max_params=max_params, max_macs=max_macs,
                            max_latency_ms=max_latency_ms, metric=metric, baseline=ref)  # fmt: skip
