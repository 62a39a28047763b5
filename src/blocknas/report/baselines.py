"""Baselines: the zoo's hand-designed models, sized for the search's data, trained on request.

A baseline is always profiled (parameters, MACs, CPU latency at batch 1) at the search's input
channels, image size and class count. Its accuracy is known only once it has been trained with
the search's recipe (:func:`load_baselines` with ``train=True``); the run folder caches both:

    RUN_DIR/baselines/<name>/profile.json   params, MACs, latency for that input shape
    RUN_DIR/baselines/<name>/metrics.json   the training run's metrics (a ``blocknas train``
                                            run folder: model.yaml, best.pt, ...)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blocknas._io import read_yaml_mapping, trial_dir, write_json
from blocknas.errors import BlocknasError, ConfigError
from blocknas.report.run import RunData

__all__ = [
    "Baseline",
    "TrainFn",
    "default_zoo",
    "load_baselines",
    "read_run_metrics",
    "search_recipe",
    "zoo_configs",
]

# train_run(model_cfg, data_cfg, out_dir, overrides, progress=...) of blocknas.train.
TrainFn = Callable[..., Any]
_METRICS = "metrics.json"
_PROFILE = "profile.json"


@dataclass(frozen=True)
class Baseline:
    """A zoo model at the search's input shape. ``metrics`` (val_accuracy, val_f1 and, with a
    test split, test_accuracy, test_f1) is empty until the baseline has been trained."""

    name: str
    config_path: Path
    params: int
    macs: int
    latency_ms: float | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    run_dir: Path | None = None

    @property
    def trained(self) -> bool:
        return bool(self.metrics)

    def get(self, name: str) -> float | None:
        """Same names as :meth:`TrialRecord.get`: accuracy / f1 mean the validation figures."""
        if name in ("params", "macs", "latency_ms"):
            value = getattr(self, name)
            return None if value is None else float(value)
        name = {"accuracy": "val_accuracy", "f1": "val_f1"}.get(name, name)
        return self.metrics.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config": str(self.config_path),
            "params": self.params,
            "macs": self.macs,
            "latency_ms": self.latency_ms,
            "metrics": dict(self.metrics),
            "trained": self.trained,
        }


def default_zoo() -> Path:
    """The ``configs/models`` folder of the source tree blocknas runs from."""
    return Path(__file__).resolve().parents[3] / "configs" / "models"


def zoo_configs(zoo: str | Path | None = None) -> dict[str, Path]:
    """Baseline name (file stem) → model config path, for every YAML file in ``zoo``."""
    folder = Path(zoo) if zoo is not None else default_zoo()
    if zoo is not None and not folder.is_dir():
        raise ConfigError("baseline zoo folder does not exist", source=str(folder))
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def search_recipe(run: RunData, *, device: str = "auto") -> tuple[Path, dict[str, Any]]:
    """The data config (with its training section) and training overrides to train a model
    the way the search trained its most accurate completed trial: that trial's
    ``trials/NNNN/data.yaml``, on ``device`` (the search's own device may not exist here)."""
    if run.run_dir is None:
        raise BlocknasError("the run has no folder, so its training recipe is unknown")
    ranked = sorted(run.completed(), key=lambda t: -(t.get(run.quality) or 0.0))
    for trial in ranked:
        data = trial_dir(run.run_dir, trial.number) / "data.yaml"
        if data.is_file():
            return data, {"device": device}
    raise BlocknasError(
        f"{run.run_dir}: no completed trial folder holds a data.yaml; baselines are trained "
        "with the search's recipe and need one"
    )


def read_run_metrics(run_dir: Path) -> dict[str, float]:
    """val_/test_ accuracy and F1 from a finished ``blocknas train`` run folder's metrics.json
    (empty when the run is missing or unfinished)."""
    path = run_dir / _METRICS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    out: dict[str, float] = {}
    for split in ("val", "test"):
        result = data.get(split)
        if isinstance(result, Mapping):
            out[f"{split}_accuracy"] = float(result["accuracy"])
            out[f"{split}_f1"] = float(result["macro_f1"])
    return out


def load_baselines(
    run: RunData,
    *,
    zoo: str | Path | None = None,
    names: Sequence[str] | None = None,
    train: bool = False,
    latency: bool = True,
    progress: bool = False,
    device: str = "auto",
    train_fn: TrainFn | None = None,
) -> list[Baseline]:
    """Profile the zoo's models at the search's input shape, with the accuracy of those already
    trained in ``RUN_DIR/baselines/<name>``; ``train=True`` first trains the missing ones with
    the search's recipe (:func:`search_recipe`).

    ``names`` restricts the zoo (unknown names are an error). ``train_fn`` replaces
    :func:`blocknas.train.train_run` (same signature).
    """
    configs = zoo_configs(zoo)
    if names is not None:
        missing = [n for n in names if n not in configs]
        if missing:
            known = ", ".join(configs) or "none"
            raise ConfigError(f"unknown baseline {missing[0]!r}; the zoo has: {known}")
        configs = {n: configs[n] for n in names}
    shape = run.model_defaults()
    out = []
    for name, path in configs.items():
        folder = run.run_dir / "baselines" / name if run.run_dir is not None else None
        model_cfg = _sized_config(path, shape)
        if train and folder is not None and not read_run_metrics(folder):
            _train(run, model_cfg, folder, progress=progress, device=device, train_fn=train_fn)
        out.append(_baseline(name, path, model_cfg, folder, latency=latency))
    return out


def _sized_config(path: Path, shape: Mapping[str, int]) -> dict[str, Any]:
    data = read_yaml_mapping(path, "model config")
    data.update(shape)  # input_channel, input_size, num_classes of the search
    return data


def _baseline(
    name: str, path: Path, model_cfg: dict[str, Any], folder: Path | None, *, latency: bool
) -> Baseline:
    cost = _cached_profile(folder, model_cfg, latency=latency)
    metrics = read_run_metrics(folder) if folder is not None else {}
    return Baseline(
        name=name,
        config_path=path,
        params=int(cost["params"]),
        macs=int(cost["macs"]),
        latency_ms=cost.get("latency_ms"),
        metrics=metrics,
        run_dir=folder if metrics else None,
    )


def _cached_profile(
    folder: Path | None, model_cfg: Mapping[str, Any], *, latency: bool
) -> dict[str, Any]:
    """params, MACs and batch-1 CPU latency (one thread, as the search measures trials), reused
    from profile.json while the model config is unchanged."""
    from blocknas.model import build_model
    from blocknas.profile import profile

    cache = folder / _PROFILE if folder is not None else None
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("config") == model_cfg and (
            saved.get("latency_ms") is not None or not latency
        ):
            return dict(saved)
    model = build_model(dict(model_cfg))
    p = profile(model, latency=latency, batch_size=1, threads=1)
    cost = {"config": dict(model_cfg), "params": p.params, "macs": p.macs,
            "latency_ms": p.latency_ms}  # fmt: skip
    if cache is not None:
        write_json(cache, cost)
    return cost


def _train(
    run: RunData,
    model_cfg: Mapping[str, Any],
    folder: Path,
    *,
    progress: bool,
    device: str,
    train_fn: TrainFn | None,
) -> None:
    data_cfg, recipe = search_recipe(run, device=device)
    if train_fn is None:
        from blocknas.train import train_run

        train_fn = train_run
    if (folder / "last.pt").is_file():
        from blocknas.train import resume_run

        resume_run(folder, progress=progress)
        return
    train_fn(dict(model_cfg), data_cfg, folder, recipe, progress=progress)
