"""Run folders: a training run that reproduces itself from its own folder.

Layout::

    model.yaml    resolved model config (num_classes and input size filled in)
    data.yaml     resolved data config
    train.yaml    resolved training recipe
    best.pt       weights of the best epoch
    last.pt       everything needed to resume (model, optimizer, scheduler, scaler, EMA, RNG)
    metrics.json  per-epoch history, then the final validation and test metrics
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from blocknas._io import make_dir, read_yaml, write_text
from blocknas.data import (
    DataConfig,
    DataSplits,
    load_data,
    load_data_config,
    resolve_layout,
    test_policy,
    train_policy,
)
from blocknas.errors import ConfigError
from blocknas.model import ModelSpec, build_model, load_model_spec
from blocknas.train._checkpoint import load_checkpoint, load_weights
from blocknas.train._config import TrainConfig
from blocknas.train._device import resolve_placement
from blocknas.train._fit import EpochCallback, evaluate, fit
from blocknas.train._metrics import EvalResult
from blocknas.train._result import EpochMetrics, TrainResult

__all__ = ["RunEvaluation", "evaluate_run", "resume_run", "train_run"]

MODEL_FILE = "model.yaml"
DATA_FILE = "data.yaml"
TRAIN_FILE = "train.yaml"
METRICS_FILE = "metrics.json"

ModelSource = str | Path | Mapping[str, Any] | ModelSpec
DataSource = str | Path | Mapping[str, Any] | DataConfig


def train_run(
    model_cfg: ModelSource,
    data_cfg: DataSource,
    out_dir: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    progress: bool = True,
    callback: EpochCallback | None = None,
    override_sources: Mapping[str, str] | None = None,
) -> TrainResult:
    """Train a model config on a data config and write a run folder at ``out_dir``.

    ``data_cfg`` is a path, a mapping or a loaded data config; its training section, updated
    by ``overrides`` (e.g. ``{"epochs": 5}``), becomes the :class:`TrainConfig`; an error about
    an override names it as ``override_sources`` says (e.g. ``{"epochs": "--epochs"}``). The
    folder must not hold a run already (use :func:`resume_run` to continue one).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file, not a run folder")
    if (out / "last.pt").exists() or (out / METRICS_FILE).exists():
        raise ConfigError(f"{out} already holds a run; resume it or choose another folder")
    for name in ("search.yaml", "study.db"):  # what `blocknas search` writes in its folder
        if (out / name).exists():
            raise ConfigError(f"{out} holds a search run ({name}); choose another folder")
    # The folder layout found now is saved with the run, so that resuming reads the same splits.
    data = resolve_layout(_data_config(data_cfg))
    source = str(data_cfg) if isinstance(data_cfg, str | Path) else "data config"
    cfg = TrainConfig.from_mapping(
        data.train, source=source, overrides=overrides, override_sources=override_sources
    )
    return _run(model_cfg, data, cfg, out, resume=False, progress=progress, callback=callback)


def resume_run(
    run_dir: str | Path, *, progress: bool = True, callback: EpochCallback | None = None
) -> TrainResult:
    """Continue an interrupted run from its folder's ``last.pt`` and saved configs."""
    out = Path(run_dir)
    for name in (MODEL_FILE, DATA_FILE, TRAIN_FILE):
        if not (out / name).is_file():
            raise ConfigError(f"{out} is not a run folder: {name} is missing")
    data = load_data_config(out / DATA_FILE)
    cfg = TrainConfig.from_mapping(read_yaml(out / TRAIN_FILE), source=str(out / TRAIN_FILE))
    return _run(out / MODEL_FILE, data, cfg, out, resume=True, progress=progress, callback=callback)


@dataclass(frozen=True)
class RunEvaluation:
    """Metrics of a run's best weights on one split (``"test"``, or ``"val"`` when the data
    has no test split)."""

    split: str
    metrics: EvalResult
    run_dir: Path


def evaluate_run(
    run_dir: str | Path,
    data_cfg: DataSource | None = None,
    *,
    device: str = "auto",
    batch_size: int = 256,
    tta: str | None = None,
) -> RunEvaluation:
    """Evaluate a run folder's ``best.pt`` on the test split of its own data config, or of
    ``data_cfg`` when given, with the test-time augmentation ``tta`` (default: the run's own,
    from its ``train.yaml``)."""
    out = Path(run_dir)
    if not (out / MODEL_FILE).is_file():
        raise ConfigError(f"{out} is not a run folder: {MODEL_FILE} is missing")
    data = _data_config(data_cfg if data_cfg is not None else out / DATA_FILE)
    splits = load_data(data)
    model = _build(_spec(out / MODEL_FILE, splits, set_classes=False))
    load_weights(model, out / "best.pt", out / MODEL_FILE)
    if tta is None:
        recipe = out / TRAIN_FILE
        tta = read_yaml(recipe).get("tta", "none") if recipe.is_file() else "none"
    chosen = TrainConfig.from_mapping(
        {},
        overrides={"device": device, "tta": tta},
        override_sources={"device": "--device", "tta": "--tta"},
    )
    place = resolve_placement(chosen)
    tta = chosen.tta
    model.to(place.device)
    split, imageset = ("test", splits.test) if splits.test is not None else ("val", splits.val)
    metrics = evaluate(
        model,
        imageset,
        mean=splits.mean,
        std=splits.std,
        policy=test_policy(data),
        batch_size=batch_size,
        device=place.device,
        tta=tta,
        train_policy=train_policy(data),
    )
    return RunEvaluation(split=split, metrics=metrics, run_dir=out)


def _run(
    model_cfg: ModelSource,
    data: DataConfig,
    cfg: TrainConfig,
    out: Path,
    *,
    resume: bool,
    progress: bool,
    callback: EpochCallback | None,
) -> TrainResult:
    splits = load_data(data)
    spec = _spec(model_cfg, splits)
    model = _build(spec, seed=cfg.seed)
    if not resume:
        make_dir(out)
        _write_yaml(out / MODEL_FILE, spec.to_dict())
        _write_yaml(out / DATA_FILE, data.to_dict())
        _write_yaml(out / TRAIN_FILE, cfg.to_dict())
    parameters = sum(p.numel() for p in model.parameters())
    # metrics.json is rewritten after every epoch, so an interrupted run keeps its history.
    history = _saved_history(out) if resume else []

    def record(metrics: EpochMetrics) -> bool | None:
        history.append(metrics.to_dict())
        _write_json(out / METRICS_FILE, {"parameters": parameters, "epochs": history})
        return callback(metrics) if callback is not None else None

    result = fit(
        model,
        splits,
        cfg,
        train_policy=train_policy(data),
        test_policy=test_policy(data),
        callback=record,
        progress=progress,
        checkpoint_dir=out,
        resume=resume,
    )
    _write_json(out / METRICS_FILE, {"parameters": parameters, **result.to_dict()})
    return result


def _data_config(source: DataSource) -> DataConfig:
    return source if isinstance(source, DataConfig) else load_data_config(source)


def _saved_history(out: Path) -> list[dict[str, Any]]:
    return list(load_checkpoint(out / "last.pt")["history"])


def _spec(model_cfg: ModelSource, splits: DataSplits, *, set_classes: bool = True) -> ModelSpec:
    """The model config resolved for the data: its image size, and its number of classes
    (``set_classes``) or a check that it has the data's number of classes.

    A model config without ``num_classes`` takes the data's (its classifier row is resized);
    one that declares ``num_classes`` must match the data, as a model built for 3 classes
    and trained on 2 is a mistake rather than something to repair silently.
    """
    spec = load_model_spec(model_cfg, input_size=splits.image_size)
    if spec.num_classes is None and set_classes:
        spec = load_model_spec(spec, num_classes=splits.num_classes)
    if spec.input_channel != splits.in_channels:
        raise ConfigError(
            f"the model takes {spec.input_channel} input channel(s) but {splits.name} images "
            f"have {splits.in_channels}",
            source=spec.source,
        )
    if spec.num_classes != splits.num_classes:
        fix = (
            f"; set num_classes: {splits.num_classes} in the model config, or remove it to take "
            "the data's"
            if set_classes
            else ""
        )
        raise ConfigError(
            f"the model predicts {spec.num_classes} classes but {splits.name} has "
            f"{splits.num_classes}{fix}",
            source=spec.source,
        )
    return spec


def _build(spec: ModelSpec, seed: int = 0) -> nn.Module:
    """Build the model, initialised from ``seed`` without touching global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(spec)


def _write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    write_text(path, yaml.safe_dump(dict(data), sort_keys=False))


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=1) + "\n")
