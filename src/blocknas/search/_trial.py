"""One trial, start to finish: sample, build, profile, check constraints, train, record.

Outcomes (trial state and what is recorded):

* unbuildable model, invalid sampled keys, divergence, out of memory, any other error:
  ``FAIL`` with ``fail_reason``; the search goes on;
* a model over a hard limit: never trained; told ``COMPLETE`` with its real size objectives, the
  worst possible quality (0.0) and constraint values > 0, so that every sampler learns to avoid
  it (``FAIL`` trials are invisible to optuna's samplers: they would keep proposing the same
  oversized models). It is marked by ``constraint_violation`` and is never on the Pareto front.
  Parameters and MACs come from the spec's arithmetic (a build on the ``meta`` device), so a
  model over ``max_params`` or ``max_macs`` is never built at all; its latency is not measured
  (a latency objective is told the worst end of its range);
* a model over the machine's size limits (:class:`~blocknas.model.ModelLimits`) that breaks no
  hard limit of the search: ``FAIL`` as unbuildable, before anything is allocated;
* stopped by early stopping at a rung: ``PRUNED`` with ``stopped_at_rung``;
* paused at a rung (early stopping's promotion form): ``PRUNED`` with ``paused_at_rung`` and the
  folder of its checkpoint; a later trial with the same parameters and ``continues`` = its
  number resumes training from there (and goes on to its own outcome);
* otherwise ``COMPLETE`` with the objective values.

``epochs`` is the length of the candidate's training, resumed epochs included;
``trained_data_epochs`` and ``train_seconds`` count only what the trial itself trained.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from blocknas._io import trial_dir, write_text
from blocknas.errors import BlocknasError, ConfigError, StorageError, TrainingError
from blocknas.search.objectives import Measured
from blocknas.search.space import Hook, load_hook, sample_candidate

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial
    from torch import nn

    from blocknas.model import BlockNet, ModelSpec, ModelTooLarge
    from blocknas.search.config import SearchConfig
    from blocknas.search.early_stopping import MOASHA
    from blocknas.train import EpochMetrics, TrainConfig, TrainResult

# Quality objectives a violating (never trained) model is told: the worst possible value.
_UNTRAINED_QUALITY = 0.0


class TrialFailed(Exception):
    """A trial that cannot give objective values; ``fail_reason`` is already recorded."""


class TrialRunner:
    """The objective function of a search: ``runner(trial)`` returns the objective values,
    raises ``optuna.TrialPruned`` for an early-stopped trial, or :class:`TrialFailed`.

    Args:
        cfg: the search config.
        run_dir: where ``trials/NNNN/`` folders go (None, or a folder missing on this machine:
            only the study records the trial).
        device: overrides the training device (``cuda:1``, ``cpu``).
        train_overrides: training keys that replace the sampled ones (the budget pilot trains
            one epoch); a None value removes the key.
    """

    def __init__(
        self,
        cfg: SearchConfig,
        *,
        run_dir: str | Path | None = None,
        device: str | None = None,
        train_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        from blocknas.search.early_stopping import MOASHA
        from blocknas.search.objectives import hypervolume_scale

        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None and Path(run_dir).is_dir() else None
        self.device = device
        self.train_overrides = dict(train_overrides or {})
        self.last_result: TrainResult | None = None  # of the latest trained trial
        self.hook: Hook | None = load_hook(cfg.hook, cfg.base_dir) if cfg.hook else None
        stopping = cfg.early_stopping
        self.asha = (
            MOASHA(stopping, cfg.directions, scale=hypervolume_scale(cfg.objectives))
            if stopping.enabled and cfg.trains
            else None
        )
        self.needs_latency = cfg.constraints.needs_latency or any(
            o.name == "latency_ms" for o in cfg.objectives
        )

    @property
    def promoter(self) -> MOASHA | None:
        """What puts paused trials ahead of new candidates (early stopping's promotion form)."""
        asha = self.asha
        return asha if asha is not None and asha.config.form == "promotion" else None

    def drop_resumed_checkpoint(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """After a continuation is told COMPLETE or PRUNED, remove the checkpoint it resumed
        from when it lies in this run folder: the paused trial it belonged to is taken, and the
        continuation can no longer be lost and re-run. (A ``run_trials`` callback.)"""
        from optuna.trial import TrialState

        from blocknas.search.early_stopping import RESUME_FROM_ATTR

        source = trial.user_attrs.get(RESUME_FROM_ATTR)
        done = trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
        if source is None or not done or self.run_dir is None:
            return
        folder = Path(source).resolve()
        if folder.is_relative_to(self.run_dir.resolve()):
            shutil.rmtree(folder, ignore_errors=True)

    def __call__(self, trial: optuna.Trial) -> list[float]:
        import optuna

        start = time.perf_counter()
        try:
            return self._run(trial, start)
        except (TrialFailed, optuna.TrialPruned, StorageError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _is_storage_error(exc):
                raise  # the worker loop rides out database outages
            reason = _reason(exc)
            trial.set_user_attr("fail_reason", reason)
            trial.set_user_attr("seconds", time.perf_counter() - start)
            self._write_metrics(trial.number, {"state": "FAIL", "fail_reason": reason})
            raise TrialFailed(reason) from None

    # -- the steps ---------------------------------------------------------------------------

    def _run(self, trial: optuna.Trial, start: float) -> list[float]:
        import optuna

        from blocknas.search._data import splits_for, trial_data_config
        from blocknas.search.early_stopping import forget_inherited_records
        from blocknas.search.objectives import OBJECTIVES

        forget_inherited_records(trial)  # a re-run of a lost trial trains from scratch
        base = self.cfg.data
        probe = splits_for(trial_data_config(base, {}, {}, {}))
        candidate = sample_candidate(
            trial, self.cfg, input_channel=probe.in_channels,
            input_size=probe.image_size, num_classes=probe.num_classes, hook=self.hook,
        )  # fmt: skip
        train_keys = self._train_keys(candidate.train)
        try:
            data_cfg = trial_data_config(base, candidate.data, candidate.augment, train_keys)
        except ConfigError as exc:
            raise _Invalid(f"invalid sampled data/augment keys: {exc.detail}") from None
        train_cfg = self._train_config(data_cfg.train)
        splits = splits_for(data_cfg)
        spec, model_dict, measured, too_large = self._spec(candidate.model or {}, splits)
        violation = self.cfg.constraints.describe_violation(measured)
        if violation is None and too_large is not None:
            raise _Invalid(f"unbuildable: {too_large}")
        if violation is None:  # within every limit that needs no build: build, time
            assert spec is not None
            model = self._build(spec, train_cfg.seed)
            measured = self._measure(model, trial, measured)
            violation = self.cfg.constraints.describe_violation(measured)
        self._record_model(trial, model_dict, measured, data_cfg, train_cfg)
        if violation is not None:
            trial.set_user_attr("constraint_violation", violation)
            trial.set_user_attr("epochs", 0)
            self._write_metrics(trial.number, {
                "state": "COMPLETE", "constraint_violation": violation, **_sizes(measured)})  # fmt: skip
            return [
                _UNTRAINED_QUALITY if OBJECTIVES[o.name].needs_training
                else o.upper if getattr(measured, o.name) is None  # not measured: never built
                else _size(o.name, measured)
                for o in self.cfg.objectives
            ]  # fmt: skip
        if not self.cfg.trains:
            self._write_metrics(trial.number, {"state": "COMPLETE", **_sizes(measured)})
            return [_size(o.name, measured) for o in self.cfg.objectives]
        outcome = self._train(trial, model, splits, data_cfg, train_cfg, measured)
        result = outcome.result
        self.last_result = result
        self._record_result(trial, result, start, outcome.trained)
        values = [self._value(o.name, result, measured) for o in self.cfg.objectives]
        state = "PRUNED" if outcome.rung is not None else "COMPLETE"
        how = "paused_at_rung" if outcome.paused else "stopped_at_rung"
        self._write_metrics(trial.number, {
            "state": state, how: outcome.rung, "values": values,
            **_sizes(measured), **result.to_dict()})  # fmt: skip
        if outcome.rung is not None:
            verb = "paused" if outcome.paused else "stopped"
            raise optuna.TrialPruned(f"{verb} at the rung of epoch {outcome.rung}")
        return values

    def _train_keys(self, sampled: Mapping[str, Any]) -> dict[str, Any]:
        keys: dict[str, Any] = {**(self.cfg.data.get("train") or {}), **self.cfg.train, **sampled}
        names = {o.name for o in self.cfg.objectives}
        # The best epoch is picked by the quality objective the search optimises.
        keys.setdefault("best_metric", "accuracy" if "f1" not in names else "f1")
        if self.device is not None:
            keys["device"] = self.device
        for key, value in self.train_overrides.items():
            keys.pop(key, None)
            if value is not None:
                keys[key] = value
        return keys

    def _train_config(self, keys: Mapping[str, Any]) -> TrainConfig:
        from blocknas.train import TrainConfig

        try:
            return TrainConfig.from_mapping(keys)
        except ConfigError as exc:
            raise _Invalid(f"invalid sampled training keys: {exc.detail}") from None

    def _spec(
        self, model_cfg: Mapping[str, Any], splits: Any
    ) -> tuple[ModelSpec | None, dict[str, Any], Measured, ModelTooLarge | None]:
        """The candidate's spec for the data's classes and image size, its config as recorded,
        and its parameters and MACs, all from arithmetic: nothing is allocated.

        A model over the size limits has no spec: it comes with the error that refused it
        (its parameters and MACs are the error's estimate; without one it is unbuildable).
        """
        from blocknas.model import ModelTooLarge, estimate_size, load_model_spec

        classes, size = splits.num_classes, splits.image_size
        try:
            spec = load_model_spec(model_cfg, num_classes=classes, input_size=size)
        except ModelTooLarge as exc:
            if exc.estimate is None:
                raise _Invalid(f"unbuildable: {exc}") from None
            # What spec.to_dict() would have been: the sampled config with the data's overrides.
            recorded = {**model_cfg, "num_classes": classes, "input_size": size}
            return None, recorded, Measured(exc.estimate.params, exc.estimate.macs, None), exc
        except ConfigError as exc:
            raise _Invalid(f"unbuildable: {exc.detail}") from None
        if spec.input_channel != splits.in_channels:
            raise _Invalid(
                f"unbuildable: the model takes {spec.input_channel} input channel(s), the "
                f"images have {splits.in_channels}"
            )
        cost = spec.cost or estimate_size(spec)
        return spec, spec.to_dict(), Measured(cost.params, cost.macs, None), None

    def _build(self, spec: ModelSpec, seed: int) -> BlockNet:
        """The model, initialised from ``seed`` as ``blocknas train`` does, so the saved
        model.yaml retrains to the same network."""
        import torch

        from blocknas.model import build_model

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_model(spec)

    def _measure(self, model: BlockNet, trial: optuna.Trial, measured: Measured) -> Measured:
        """``measured`` with the latency of ``model`` when an objective or constraint needs it.

        A continuation of a paused trial is that trial's model: it takes the latency measured
        then, so that timing noise cannot move the model between rungs or across a latency
        constraint (its checkpoint would be dropped untrained).
        """
        from blocknas.profile import measure_latency
        from blocknas.search.storage import is_continuation

        if not self.needs_latency:
            return measured
        inherited = trial.user_attrs.get("latency_ms") if is_continuation(trial) else None
        latency = (
            inherited if inherited is not None
            else measure_latency(model, model.input_shape, threads=1)
        )  # fmt: skip
        return Measured(measured.params, measured.macs, latency)

    def _record_model(
        self, trial: optuna.Trial, model_dict: dict[str, Any], measured: Measured,
        data_cfg: Any, train_cfg: TrainConfig,
    ) -> None:  # fmt: skip
        model_yaml = yaml.safe_dump(model_dict, sort_keys=False)
        trial.set_user_attr("model_yaml", model_yaml)
        for key, value in _sizes(measured).items():
            if value is not None:
                trial.set_user_attr(key, value)
        constraints = self.cfg.constraints.values(measured)
        if constraints:
            # A re-run of a lost trial inherits the lost one's stored constraint values (optuna's
            # retry copies the system attributes) and optuna keeps the first value set; they
            # belong to the same model, so the stored ones stand.
            stored = trial.constraints
            for key, value in constraints.items():
                if key not in stored:
                    trial.set_constraint(key, value)
            values = [stored.get(key, value) for key, value in constraints.items()]
            trial.set_user_attr("constraints", values)
        if self.run_dir is None:
            return
        folder = trial_dir(self.run_dir, trial.number)
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / "model.yaml", model_yaml)
        data = data_cfg.to_dict()
        data["train"] = train_cfg.to_dict()
        write_text(folder / "data.yaml", yaml.safe_dump(data, sort_keys=False))
        write_text(folder / "train.yaml", yaml.safe_dump(train_cfg.to_dict(), sort_keys=False))

    def _train(
        self, trial: optuna.Trial, model: nn.Module, splits: Any, data_cfg: Any,
        train_cfg: TrainConfig, measured: Measured,
    ) -> _Outcome:  # fmt: skip
        from blocknas.search._data import policies
        from blocknas.search.early_stopping import RESUME_FROM_ATTR, mark_paused, mark_stopped
        from blocknas.train import fit

        asha = self.asha
        source = trial.user_attrs.get(RESUME_FROM_ATTR)
        bracket = asha.trial_bracket(trial) if asha is not None else 0
        stopped: list[int] = []
        trained: list[EpochMetrics] = []
        with contextlib.ExitStack() as stack:
            folder = self._checkpoint_folder(trial.number, source, stack)
            can_pause = self.promoter is not None and self.run_dir is not None

            def on_epoch(metrics: EpochMetrics) -> bool:
                trained.append(metrics)
                if asha is None:
                    return False
                rung = [self._epoch_value(o.name, metrics, measured) for o in self.cfg.objectives]
                if all(math.isfinite(v) for v in rung) and asha.should_stop(
                    trial, metrics.epoch, rung, can_wait=can_pause
                ):
                    if can_pause:
                        assert folder is not None
                        mark_paused(trial, metrics.epoch, folder)
                    else:
                        mark_stopped(trial, metrics.epoch, tell=False)
                    stopped.append(metrics.epoch)
                    return True
                return False

            fraction = (  # 1.0 for every epoch unless the data_fraction option is on
                partial(asha.data_fraction_for, bracket=bracket) if asha is not None else None
            )
            save_at = asha.config.decision_rungs(bracket) if asha is not None else None
            train_policy, test_policy = policies(data_cfg)
            try:
                result = fit(
                    model, splits, train_cfg, train_policy=train_policy, test_policy=test_policy,
                    callback=on_epoch, progress=False, data_fraction=fraction,
                    checkpoint_dir=folder, resume=source is not None, checkpoint_epochs=save_at,
                )  # fmt: skip
            except TrainingError as exc:
                raise _Invalid(str(exc)) from None
            at = stopped[0] if stopped and result.stopped_early else None
            paused = at is not None and can_pause
            if can_pause and not paused:
                assert folder is not None
                shutil.rmtree(folder, ignore_errors=True)  # the run folder's: never resumed
        return _Outcome(result, tuple(trained), at, paused)

    def _checkpoint_folder(
        self, number: int, source: str | None, stack: contextlib.ExitStack
    ) -> Path | None:
        """Where trial ``number`` saves its training state at its rungs (None: nowhere).

        The promotion form pauses trials in the run folder, where other workers sharing it can
        resume them. A continuation first gets a copy of the checkpoint of the trial it
        continues (``source``), which stays as it was for a re-run; without a run folder, in a
        temporary folder that ``stack`` removes.
        """
        folder: Path | None = None
        if self.promoter is not None and self.run_dir is not None:
            folder = trial_dir(self.run_dir, number) / "checkpoint"
            shutil.rmtree(folder, ignore_errors=True)  # a re-run of a lost trial starts afresh
            folder.mkdir(parents=True)
        if source is not None:
            if folder is None:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            _copy_checkpoint(Path(source), folder)
        return folder

    @staticmethod
    def _epoch_value(name: str, metrics: EpochMetrics, measured: Measured) -> float:
        if name == "accuracy":
            return metrics.val_accuracy
        if name == "f1":
            return metrics.val_f1
        return _size(name, measured)

    @staticmethod
    def _value(name: str, result: TrainResult, measured: Measured) -> float:
        if name == "accuracy":
            return result.val.accuracy
        if name == "f1":
            return result.val.macro_f1
        return _size(name, measured)

    def _record_result(
        self, trial: optuna.Trial, result: TrainResult, start: float,
        trained: tuple[EpochMetrics, ...],
    ) -> None:  # fmt: skip
        attrs: dict[str, Any] = {
            "val_accuracy": result.val.accuracy,
            "val_f1": result.val.macro_f1,
            "epochs": result.epochs_completed,
            "data_epochs": result.data_epochs,
            "trained_data_epochs": sum(m.data_fraction for m in trained),
            "best_epoch": result.best_epoch,
            "train_seconds": sum(m.seconds for m in trained),
            "seconds": time.perf_counter() - start,
        }
        if result.test is not None:
            attrs.update(test_accuracy=result.test.accuracy, test_f1=result.test.macro_f1)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)

    def _write_metrics(self, number: int, data: Mapping[str, Any]) -> None:
        if self.run_dir is None:
            return
        folder = trial_dir(self.run_dir, number)
        folder.mkdir(parents=True, exist_ok=True)
        payload = {"trial": number, **data}
        write_text(folder / "metrics.json", json.dumps(payload, indent=1, default=str) + "\n")


@dataclass(frozen=True)
class _Outcome:
    """What training a trial gave: the result, the epochs this trial trained itself (after any
    resumed ones) and the rung where it stopped or paused (None: it ran to the end)."""

    result: TrainResult
    trained: tuple[EpochMetrics, ...]
    rung: int | None
    paused: bool


def _copy_checkpoint(source: Path, folder: Path) -> None:
    """Copy a paused trial's checkpoint (``last.pt``, ``best.pt``) into ``folder``."""
    for name in ("last.pt", "best.pt"):
        if not (source / name).is_file():
            raise _Invalid(f"cannot continue: {source / name} is missing")
        shutil.copyfile(source / name, folder / name)


class _Invalid(BlocknasError):
    """A trial that cannot run, with its reason as the message."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _Invalid):
        return str(exc)
    if isinstance(exc, BlocknasError):
        return f"{type(exc).__name__}: {exc}"
    text = str(exc).strip().splitlines()
    return f"error: {type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _is_storage_error(exc: BaseException) -> bool:
    try:
        import sqlalchemy.exc
    except ImportError:  # pragma: no cover - sqlalchemy comes with optuna
        return False
    return isinstance(exc, sqlalchemy.exc.SQLAlchemyError)


def _size(name: str, measured: Measured) -> float:
    value = getattr(measured, name)
    if value is None:
        raise ValueError(f"{name} was not measured")
    return float(value)


def _sizes(measured: Measured) -> dict[str, Any]:
    return {"params": measured.params, "macs": measured.macs, "latency_ms": measured.latency_ms}
