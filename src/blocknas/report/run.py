"""A finished (or running) search as the report code sees it: objectives and trial records.

The run folder and study layout are those of the search (``study.db`` or ``storage.txt``, the
``blocknas`` study attribute, ``trials/NNNN/model.yaml``). Everything here only reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blocknas._io import parse_yaml, trial_dir
from blocknas.errors import ConfigError, StorageError
from blocknas.search.storage import CONTINUES_ATTR

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = [
    "SIZE_OBJECTIVES",
    "Objective",
    "RunData",
    "TrialRecord",
    "architecture_summary",
    "load_run_data",
    "open_study",
    "study_storage",
    "trial_dir",
]

# Objectives measured in counts or milliseconds: they span orders of magnitude, so plots and
# the knee point compare them on a log scale.
SIZE_OBJECTIVES = ("params", "macs", "latency_ms")
_QUALITY = ("accuracy", "f1")
_ATTR_METRICS = ("val_accuracy", "val_f1", "test_accuracy", "test_f1")
# Search-time metric a quality objective stands for (the objectives are measured on validation).
_QUALITY_ATTR = {"accuracy": "val_accuracy", "f1": "val_f1"}
_MASKED = "***"


@dataclass(frozen=True)
class Objective:
    """One objective of the study, in the study's order."""

    name: str
    direction: str  # "maximize" or "minimize"

    @property
    def log_scale(self) -> bool:
        return self.name in SIZE_OBJECTIVES


@dataclass(frozen=True)
class TrialRecord:
    """What the report needs of one trial (values keyed by objective name).

    ``values`` is empty unless the trial is COMPLETE. ``metrics`` holds the validation/test
    figures the search recorded. ``model_path`` is ``RUN_DIR/trials/NNNN/model.yaml`` when that
    file exists; ``model_config`` is the parsed model config (from the trial's attributes).
    """

    number: int
    state: str
    values: Mapping[str, float] = field(default_factory=dict)
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    model_config: Mapping[str, Any] | None = None
    model_path: Path | None = None
    feasible: bool = True
    epochs: int | None = None
    started: datetime | None = None
    completed: datetime | None = None
    fail_reason: str | None = None
    continues: int | None = None  # the paused trial this one continues (promotion form)

    def get(self, name: str) -> float | None:
        """An objective or measurement by name: objective value, then params / macs /
        latency_ms, then a recorded metric; ``accuracy`` and ``f1`` fall back to the
        validation figures."""
        if name in self.values:
            return self.values[name]
        if name in SIZE_OBJECTIVES:
            value = getattr(self, name)
            return None if value is None else float(value)
        if name in self.metrics:
            return self.metrics[name]
        attr = _QUALITY_ATTR.get(name)
        return self.metrics.get(attr) if attr else None

    @property
    def architecture(self) -> str:
        """One line per backbone row, e.g. ``2× InvertedResidualv2(out=24, expand=6, stride=2)``."""
        return architecture_summary(self.model_config) if self.model_config else "(unknown)"


@dataclass(frozen=True)
class RunData:
    """A search: its folder, study name, objectives and every trial, ordered by number."""

    run_dir: Path | None
    study_name: str
    objectives: tuple[Objective, ...]
    trials: tuple[TrialRecord, ...]
    search_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def quality(self) -> str:
        """The accuracy-like quantity plots and picks rank by: the ``accuracy`` objective,
        else ``f1``, else the recorded validation accuracy."""
        for name in _QUALITY:
            if name in self.objective_names:
                return name
        return "val_accuracy"

    def completed(self) -> list[TrialRecord]:
        """COMPLETE, feasible trials with finite values for every objective."""
        names = self.objective_names
        return [
            t
            for t in self.trials
            if t.state == "COMPLETE"
            and t.feasible
            and all(n in t.values and math.isfinite(t.values[n]) for n in names)
        ]

    def stopped(self) -> list[TrialRecord]:
        """Trials stopped early (PRUNED) with the figures of the epoch they stopped at; a trial
        paused at a rung and continued by another one (early stopping's promotion form) is
        that other trial's candidate, not a stopped one."""
        continued = {t.continues for t in self.trials if t.continues is not None}
        return [
            t
            for t in self.trials
            if t.state == "PRUNED" and t.number not in continued and t.get(self.quality) is not None
        ]

    def infeasible(self) -> list[TrialRecord]:
        """COMPLETE trials that violate a hard constraint and were trained anyway (a search
        skips training those it can reject from their size: they have no accuracy to show)."""
        return [
            t
            for t in self.trials
            if t.state == "COMPLETE" and not t.feasible and (t.epochs is None or t.epochs > 0)
        ]

    def values(self, trials: Sequence[TrialRecord]) -> np.ndarray:
        """Objective matrix of ``trials``, shape (n, m), columns in objective order."""
        names = self.objective_names
        return np.array([[t.values[n] for n in names] for t in trials], dtype=float).reshape(
            len(trials), len(names)
        )

    def front(self) -> list[TrialRecord]:
        """The Pareto front of the completed, feasible trials over all objectives."""
        from blocknas.search.pareto import pareto_mask

        done = self.completed()
        if not done:
            return []
        mask = pareto_mask(self.values(done), self.directions)
        return [t for t, on in zip(done, mask, strict=True) if on]

    def trial(self, number: int) -> TrialRecord:
        for t in self.trials:
            if t.number == number:
                return t
        raise StorageError(f"study {self.study_name!r} has no trial {number}")

    def model_defaults(self) -> dict[str, int]:
        """input_channel, input_size and num_classes of the search's models, read from the
        most accurate completed trial's model config (empty when no trial has one)."""
        ranked = sorted(
            (t for t in self.completed() if t.model_config),
            key=lambda t: -(t.get(self.quality) or 0.0),
        )
        candidates = ranked or [t for t in self.trials if t.model_config]
        if not candidates:
            return {}
        cfg = candidates[0].model_config or {}
        keys = ("input_channel", "input_size", "num_classes")
        return {k: int(cfg[k]) for k in keys if isinstance(cfg.get(k), int)}


def architecture_summary(config: Mapping[str, Any]) -> str:
    """Backbone rows of a model config, one per line: ``n× Block(arg=value, ...)``."""
    rows = config.get("backbone") or []
    lines = []
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) != 3:
            lines.append(str(row))
            continue
        repeat, block, args = row
        if isinstance(args, Mapping):
            inner = ", ".join(f"{k}={v}" for k, v in args.items() if v is not None)
        else:
            inner = ", ".join(str(v) for v in args or [])
        lines.append(f"{repeat}× {block}({inner})")
    return "\n".join(lines)


def study_storage(run_dir: str | Path, storage: str | None = None) -> str:
    """The storage URL of a run: ``storage`` when given, else ``RUN_DIR/study.db``, else the URL
    in ``RUN_DIR/storage.txt`` (which must not have its password masked)."""
    if storage:
        return storage
    run = Path(run_dir)
    db = run / "study.db"
    if db.is_file():
        return f"sqlite:///{db.resolve()}"
    text = run / "storage.txt"
    if text.is_file():
        url = text.read_text().strip()
        if _MASKED in url:
            raise StorageError(
                f"{text} holds the storage URL with its password masked; pass the full URL "
                "with --storage"
            )
        return url
    if not run.is_dir():
        raise StorageError(f"{run} is not a folder")
    raise StorageError(f"{run} is not a search run folder: no study.db or storage.txt")


def open_study(
    run_dir: str | Path, *, storage: str | None = None, study_name: str | None = None
) -> optuna.Study:
    """Load a run's Optuna study. Without ``study_name`` the storage must hold exactly one.

    Opened as every blocknas command opens a study (:func:`blocknas.search.storage.open_storage`:
    the URL checked, its password masked in errors), and for reading: a missing, empty or
    foreign database file is an error, never a new or changed file."""
    import optuna
    import sqlalchemy.exc

    from blocknas.search.storage import load_existing_study, mask_url, open_storage

    url = study_storage(run_dir, storage)
    backend = open_storage(url, must_exist=True)
    try:
        names = optuna.get_all_study_names(storage=backend)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        raise StorageError(
            f"cannot read the study storage {mask_url(url)} of {run_dir}: {mask_url(str(exc).splitlines()[0])}"
        ) from None
    if study_name is None:
        if len(names) != 1:
            listed = ", ".join(sorted(names)) or "none"
            raise StorageError(
                f"{run_dir}: the storage holds {len(names)} studies ({listed}); name one"
            )
        study_name = names[0]
    elif study_name not in names:
        raise StorageError(f"{run_dir}: no study named {study_name!r} (found: {', '.join(names)})")
    return load_existing_study(backend, study_name)


def load_run_data(
    run_dir: str | Path | None = None,
    *,
    study: optuna.Study | None = None,
    storage: str | None = None,
    study_name: str | None = None,
) -> RunData:
    """Read a search: from ``study`` when given (the search passes its own), else from the
    run folder's storage. ``run_dir`` locates ``trials/NNNN/model.yaml``; it defaults to the
    ``run_dir`` recorded in the study.

    >>> run = load_run_data("runs/digits-20250101-120000")  # doctest: +SKIP
    >>> [t.number for t in run.front()]  # doctest: +SKIP
    """
    if study is None:
        if run_dir is None:
            raise StorageError("give a run folder or a study")
        study = open_study(run_dir, storage=storage, study_name=study_name)
    meta = study.user_attrs.get("blocknas") or {}
    if run_dir is None and meta.get("run_dir"):
        run_dir = meta["run_dir"]
    objectives = _objectives(meta, study)
    folder = Path(run_dir) if run_dir is not None else None
    trials = tuple(
        _record(t, objectives, folder)
        for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    )
    return RunData(
        run_dir=folder,
        study_name=study.study_name,
        objectives=objectives,
        trials=trials,
        search_config=meta.get("search_config") or {},
    )


def _objectives(meta: Mapping[str, Any], study: optuna.Study) -> tuple[Objective, ...]:
    directions = [d.name.lower() for d in study.directions]
    declared = meta.get("objectives")
    if not declared:
        raise StorageError(
            f"study {study.study_name!r} was not written by a blocknas search "
            "(no 'blocknas' study attribute naming its objectives)"
        )
    if len(declared) != len(directions):
        raise StorageError(
            f"study {study.study_name!r} declares {len(declared)} objectives "
            f"but has {len(directions)} directions"
        )
    return tuple(Objective(str(o["name"]), d) for o, d in zip(declared, directions, strict=True))


def _record(t: FrozenTrial, objectives: Sequence[Objective], run_dir: Path | None) -> TrialRecord:
    attrs = t.user_attrs
    values: dict[str, float] = {}
    if t.state.name == "COMPLETE" and t.values is not None:
        values = {o.name: float(v) for o, v in zip(objectives, t.values, strict=True)}
    path = trial_dir(run_dir, t.number) / "model.yaml" if run_dir is not None else None
    # Optuna's own constraint record first; the "constraints" attribute mirrors it as a list.
    constraints = list(t.constraints.values()) or list(attrs.get("constraints") or [])
    return TrialRecord(
        number=t.number,
        state=t.state.name,
        values=values,
        params=_int(attrs.get("params", values.get("params"))),
        macs=_int(attrs.get("macs", values.get("macs"))),
        latency_ms=_float(attrs.get("latency_ms", values.get("latency_ms"))),
        metrics={k: float(attrs[k]) for k in _ATTR_METRICS if _float(attrs.get(k)) is not None},
        model_config=_model_config(attrs.get("model_yaml"), path),
        model_path=path if path is not None and path.is_file() else None,
        feasible=all(float(c) <= 0 for c in constraints),
        epochs=_int(attrs.get("epochs")),
        started=t.datetime_start,
        completed=t.datetime_complete,
        fail_reason=attrs.get("fail_reason"),
        continues=_int(attrs.get(CONTINUES_ATTR)),
    )


def _model_config(text: Any, path: Path | None) -> Mapping[str, Any] | None:
    if not isinstance(text, str) and path is not None and path.is_file():
        text = path.read_text()
    if not isinstance(text, str):
        return None
    try:
        data = parse_yaml(text, str(path) if path is not None else None)
    except ConfigError:
        return None
    return data if isinstance(data, Mapping) else None


def _int(value: Any) -> int | None:
    f = _float(value)
    return None if f is None else round(f)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
