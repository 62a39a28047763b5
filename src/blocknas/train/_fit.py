"""The training loop a search drives epoch by epoch: :func:`fit` and :func:`evaluate`."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Collection, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from blocknas.data import BatchLoader, DataSplits, ImageSet, stratified_split
from blocknas.errors import ConfigError, DataError, TrainingError
from blocknas.train._checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from blocknas.train._config import TrainConfig
from blocknas.train._device import Placement, resolve_placement
from blocknas.train._metrics import EvalResult, accumulate_confusion, summarize
from blocknas.train._optim import build_optimizer, build_scheduler
from blocknas.train._progress import EpochProgress, make_progress
from blocknas.train._result import EpochMetrics, TrainResult
from blocknas.train._tta import resolve_tta, tta_logits

__all__ = ["Batches", "DataFraction", "EpochCallback", "LoaderFactory", "evaluate", "fit"]

EpochCallback = Callable[[EpochMetrics], "bool | None"]
# Share of the training split that epoch e (1-based) trains on, in (0, 1].
DataFraction = Callable[[int], float]

# Batches between host synchronisations: the divergence check and the progress update read the
# running sums then. Reading every step would stall a GPU's queue; 10 bounds the wasted work after
# a NaN to a few steps.
_SYNC_EVERY = 10
# Keys that may differ between an interrupted run and its resumption without changing results.
_RESUME_FREE_KEYS = {"device", "compile"}


class Batches(Protocol):
    """What the trainer iterates: normalised float images and int64 labels on the device."""

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...
    def __len__(self) -> int: ...
    def set_epoch(self, epoch: int) -> None: ...


class LoaderFactory(Protocol):
    """Signature of :class:`blocknas.data.BatchLoader`, the default."""

    def __call__(
        self,
        data: ImageSet,
        batch_size: int,
        *,
        policy: Any,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        shuffle: bool,
        drop_last: bool,
        device: torch.device | str,
        seed: int,
        channels_last: bool,
    ) -> Batches: ...


def _default_loader() -> LoaderFactory:
    return BatchLoader


def fit(
    model: nn.Module,
    splits: DataSplits,
    cfg: TrainConfig,
    *,
    train_policy: Any = None,
    test_policy: Any = None,
    callback: EpochCallback | None = None,
    progress: bool = True,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    loader: LoaderFactory | None = None,
    data_fraction: DataFraction | None = None,
    checkpoint_epochs: Collection[int] | None = None,
) -> TrainResult:
    """Train ``model`` on ``splits.train``, pick the best epoch on ``splits.val``, and measure
    those weights on ``splits.test`` (when present).

    ``data_fraction(epoch)`` < 1 trains that epoch on a stratified sample of that share of the
    training split, drawn afresh for each epoch from ``cfg.seed`` and the epoch number: the
    low-fidelity epochs of early stopping's data-fraction option. The learning-rate schedule
    then spans the steps the epochs actually take.

    After every epoch ``callback(metrics)`` is called; returning True stops training there
    (``TrainResult.stopped_early``). With ``checkpoint_dir``, ``last.pt`` (everything needed to
    resume) and ``best.pt`` are rewritten atomically each epoch (only after the epochs in
    ``checkpoint_epochs`` when given), before the callback sees the epoch, and ``resume=True``
    continues from ``last.pt``. The model is moved to the configured device (and memory format)
    and on return holds the best epoch's weights (EMA weights when EMA is on). Global random
    state is left as it was. Nothing is printed besides the progress display
    (``progress=False``: none).

    Raises :class:`TrainingError` when the loss becomes NaN/inf ("diverged at epoch E (lr = …)")
    or the device runs out of memory.

    Example::

        result = fit(model, splits, TrainConfig(epochs=5), callback=lambda m: m.val_f1 < 0.2)
    """
    place = resolve_placement(cfg)
    cuda = [place.device.index or 0] if place.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):
        torch.manual_seed(cfg.seed)
        trainer = _Trainer(
            model, splits, cfg, place, train_policy, test_policy, loader, data_fraction
        )
        if resume:
            if checkpoint_dir is None:
                raise ConfigError("resume needs a checkpoint folder")
            trainer.restore(checkpoint_dir)
        return trainer.run(callback, progress, checkpoint_dir, checkpoint_epochs)


def evaluate(
    model: nn.Module,
    data: ImageSet,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    policy: Any = None,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    loader: LoaderFactory | None = None,
    tta: str = "none",
    train_policy: Any = None,
) -> EvalResult:
    """Accuracy, macro-F1, per-class accuracy and confusion matrix of ``model`` on ``data``.

    ``device`` defaults to where the model's parameters are; the model is not moved, and its
    inputs take the memory format of its convolution weights. ``tta`` averages the logits over
    flipped (``flip``) and also shifted (``flip_translate``) views, at 2 or 6 forward passes per
    image; ``auto`` is ``flip_translate`` when ``train_policy`` (the model's training augmentation) flips
    images.
    """
    tta = resolve_tta(tta, train_policy)
    dev = torch.device(device) if device is not None else _model_device(model)
    place = Placement(device=dev, channels_last=_is_channels_last(model), amp=False)
    batches = (loader or _default_loader())(
        data,
        batch_size,
        policy=policy,
        mean=mean,
        std=std,
        shuffle=False,
        drop_last=False,
        device=dev,
        seed=0,
        channels_last=place.channels_last,
    )
    confusion, loss_sum = _evaluate_batches(model, batches, len(data.classes), place, tta)
    return summarize(confusion, loss_sum, data.classes)


def _fractions(data_fraction: DataFraction | None, epochs: int) -> list[float]:
    """The data fraction of every epoch, checked."""
    if data_fraction is None:
        return [1.0] * epochs
    fractions = [float(data_fraction(epoch)) for epoch in range(1, epochs + 1)]
    for epoch, fraction in enumerate(fractions, 1):
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(f"data fraction of epoch {epoch} must be in (0, 1], got {fraction}")
    return fractions


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _is_channels_last(model: nn.Module) -> bool:
    for p in model.parameters():
        if p.ndim == 4 and p.shape[1] * p.shape[2] * p.shape[3] > 1:
            return p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
    return False


@torch.inference_mode()
def _evaluate_batches(
    model: nn.Module, batches: Batches, num_classes: int, place: Placement, tta: str = "none"
) -> tuple[torch.Tensor, float]:
    """Confusion matrix and summed (unsmoothed) cross-entropy over ``batches``, of the logits
    averaged over the test-time augmentation ``tta``'s views."""
    was_training = model.training
    model.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=place.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=place.device)
    autocast = _autocast(place)
    for x, y in batches:
        with autocast():
            out = tta_logits(model, x.contiguous(memory_format=place.memory_format), tta)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        accumulate_confusion(confusion, y, out.argmax(dim=1))
    model.train(was_training)
    return confusion, float(loss_sum)


def _autocast(place: Placement) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    if place.amp:
        return partial(torch.autocast, place.device.type, dtype=torch.float16)
    return contextlib.nullcontext


class _Trainer:
    """State of one training run; :func:`fit` is its only user."""

    def __init__(
        self,
        model: nn.Module,
        splits: DataSplits,
        cfg: TrainConfig,
        place: Placement,
        train_policy: Any,
        test_policy: Any,
        loader: LoaderFactory | None,
        data_fraction: DataFraction | None = None,
    ) -> None:
        for name, part in (("training", splits.train), ("validation", splits.val)):
            if len(part) == 0:
                raise DataError(f"{splits.name}: the {name} split is empty")
        self.cfg, self.place, self.splits = cfg, place, splits
        self.tta = resolve_tta(cfg.tta, train_policy)
        self.model = model.to(place.device).to(memory_format=place.memory_format)
        make = partial(
            loader or _default_loader(),
            mean=splits.mean,
            std=splits.std,
            device=place.device,
            seed=cfg.seed,
            channels_last=place.channels_last,
        )
        self.make_train = partial(
            make, batch_size=cfg.batch_size, policy=train_policy, shuffle=True
        )
        self.train_batches = self._train_loader(splits.train)
        self.fractions = _fractions(data_fraction, cfg.epochs)
        eval_make = partial(
            make, batch_size=2 * cfg.batch_size, policy=test_policy, shuffle=False, drop_last=False
        )
        self.val_batches = eval_make(splits.val)
        self.test_batches = eval_make(splits.test) if splits.test is not None else None
        self.steps = len(self.train_batches)
        self.optimizer = build_optimizer(self.model, cfg)
        total = sum(self._steps_at(f) for f in self.fractions)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps, total_steps=total)
        self.scaler = torch.amp.GradScaler(place.device.type, enabled=place.amp)
        self.ema = _make_ema(self.model, cfg.ema)
        # Only the training forward is compiled: evaluation switches modes, which would
        # recompile, and it runs once per epoch.
        self.forward: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(self.model) if cfg.compile else self.model
        )
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.autocast = _autocast(place)
        self.history: list[EpochMetrics] = []
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_val: EvalResult | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.saved_best_epoch = 0  # the best epoch whose weights best.pt holds

    def _train_loader(self, data: ImageSet) -> Batches:
        # A split smaller than one batch still gives one (smaller) batch.
        return self.make_train(data, drop_last=len(data) >= self.cfg.batch_size)

    def _sample_size(self, fraction: float) -> int:
        return max(1, round(fraction * len(self.splits.train)))

    def _steps_at(self, fraction: float) -> int:
        """Batches of an epoch on ``fraction`` of the training split (as the loader counts)."""
        if fraction >= 1.0:
            return self.steps
        n = self._sample_size(fraction)
        return max(1, n // self.cfg.batch_size)

    def _epoch_batches(self, epoch: int) -> Batches:
        """The loader of ``epoch``: the whole training split, or that epoch's sample of it."""
        fraction = self.fractions[epoch - 1]
        if fraction >= 1.0:
            return self.train_batches
        n = self._sample_size(fraction)
        sample, _ = stratified_split(
            self.splits.train, n, (self.cfg.seed, epoch), f"data fraction of epoch {epoch}"
        )
        batches = self._train_loader(sample)
        # The schedule was sized with _steps_at: a loader must count batches as BatchLoader does.
        assert len(batches) == self._steps_at(fraction), (len(batches), self._steps_at(fraction))
        return batches

    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    # -- the run -------------------------------------------------------------------------------

    def run(
        self,
        callback: EpochCallback | None,
        progress: bool,
        checkpoint_dir: Path | None,
        checkpoint_epochs: Collection[int] | None = None,
    ) -> TrainResult:
        stopped = False
        with make_progress(progress) as bar, self._out_of_memory_as_error():
            for epoch in range(len(self.history) + 1, self.cfg.epochs + 1):
                metrics = self._epoch(epoch, bar)
                if checkpoint_dir is not None and (
                    checkpoint_epochs is None or epoch in checkpoint_epochs
                ):
                    self._save(checkpoint_dir)
                if callback is not None and callback(metrics):
                    stopped = epoch < self.cfg.epochs
                    break
            assert self.best_state is not None and self.best_val is not None
            self.model.load_state_dict(self.best_state)
            test = None
            if self.test_batches is not None and self.splits.test is not None:
                confusion, loss = _evaluate_batches(
                    self.model, self.test_batches, self.splits.num_classes, self.place, self.tta
                )
                test = summarize(confusion, loss, self.splits.test.classes)
        return TrainResult(
            history=tuple(self.history),
            best_epoch=self.best_epoch,
            val=self.best_val,
            test=test,
            stopped_early=stopped,
        )

    def _epoch(self, epoch: int, bar: EpochProgress) -> EpochMetrics:
        start = time.perf_counter()
        batches = self._epoch_batches(epoch)
        bar.start_epoch(epoch, self.cfg.epochs, len(batches))
        train_loss, train_acc, images, lr = self._train_epoch(epoch, batches, bar)
        train_seconds = time.perf_counter() - start
        confusion, loss_sum = _evaluate_batches(
            self.eval_model, self.val_batches, self.splits.num_classes, self.place, self.tta
        )
        val = summarize(confusion, loss_sum, self.splits.val.classes)
        score = val.macro_f1 if self.cfg.best_metric == "f1" else val.accuracy
        # Ties go to the later epoch: on a small validation split many epochs tie, and the
        # later one has trained longer at a lower learning rate.
        is_best = score >= self.best_score
        if is_best:
            self.best_score, self.best_epoch, self.best_val = score, epoch, val
            self.best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in self.eval_model.state_dict().items()
            }
        metrics = EpochMetrics(
            epoch=epoch,
            epochs=self.cfg.epochs,
            lr=lr,
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_loss=val.loss,
            val_accuracy=val.accuracy,
            val_f1=val.macro_f1,
            images_per_s=images / train_seconds,
            train_seconds=train_seconds,
            seconds=time.perf_counter() - start,
            is_best=is_best,
            data_fraction=self.fractions[epoch - 1],
        )
        self.history.append(metrics)
        bar.end_epoch(
            f"loss {train_loss:.3f} acc {train_acc:6.1%} {metrics.images_per_s:,.0f} img/s | "
            f"val {val.accuracy:6.1%} "
            f"F1 {val.macro_f1:.3f}" + (" *" if is_best else "")
        )
        return metrics

    def _train_epoch(
        self, epoch: int, batches: Batches, bar: EpochProgress
    ) -> tuple[float, float, int, float]:
        """One pass over ``batches``; returns loss, accuracy, images, last lr."""
        self.model.train()
        batches.set_epoch(epoch - 1)
        steps = len(batches)
        totals = torch.zeros(2, dtype=torch.float64, device=self.place.device)  # loss, correct
        images, lr, start = 0, self.cfg.peak_lr, time.perf_counter()
        for step, (x, y) in enumerate(batches, 1):
            lr = self.optimizer.param_groups[0]["lr"]
            loss, out = self._step(x, y)
            with torch.no_grad():
                totals[0] += loss.detach() * y.shape[0]
                totals[1] += (out.argmax(dim=1) == y).sum()
            images += y.shape[0]
            if step % _SYNC_EVERY == 0 or step == steps:
                loss_sum, correct = totals.tolist()
                if not math.isfinite(loss_sum):
                    raise TrainingError(f"diverged at epoch {epoch} (lr = {lr:.4g})")
                elapsed = time.perf_counter() - start
                bar.update(step, loss_sum / images, correct / images, images / elapsed)
        loss_sum, correct = totals.tolist()
        return loss_sum / images, correct / images, images, lr

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            out = self.forward(x.contiguous(memory_format=self.place.memory_format))
            loss = self.criterion(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.place.amp:
            self.scaler.scale(loss).backward()
            if self.cfg.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if self.cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss, out

    @contextlib.contextmanager
    def _out_of_memory_as_error(self) -> Iterator[None]:
        try:
            yield
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            # CPU allocation failures arrive as a plain RuntimeError.
            cpu_oom = "can't allocate memory" in str(exc)
            if not (isinstance(exc, torch.OutOfMemoryError) or cpu_oom):
                raise
            if self.place.device.type == "cuda":
                torch.cuda.empty_cache()
            raise TrainingError(
                f"out of memory on {self.place.device} with batch size {self.cfg.batch_size}; "
                "lower batch_size (or the image size or model width)"
            ) from None

    # -- checkpoints ---------------------------------------------------------------------------

    def _save(self, folder: Path) -> None:
        epoch = self.history[-1].epoch
        if self.best_epoch != self.saved_best_epoch:  # best.pt as of the latest best epoch
            save_checkpoint(
                {
                    "epoch": self.best_epoch,
                    "model": self.best_state,
                    "val": self.history[self.best_epoch - 1].to_dict(),
                },
                folder / "best.pt",
            )
            self.saved_best_epoch = self.best_epoch
        assert self.best_val is not None
        save_checkpoint(
            {
                "epoch": epoch,
                "train_config": self.cfg.to_dict(),
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": rng_state(self.place.device),
                "history": [m.to_dict() for m in self.history],
                "best": {
                    "epoch": self.best_epoch,
                    "score": self.best_score,
                    "val": self.best_val.to_dict(),
                },
            },
            folder / "last.pt",
        )

    def restore(self, folder: Path) -> None:
        """Continue from ``folder/last.pt`` (and the best weights in ``folder/best.pt``)."""
        state = load_checkpoint(folder / "last.pt", map_location=self.place.device)
        saved = {k: v for k, v in state["train_config"].items() if k not in _RESUME_FREE_KEYS}
        current = {k: v for k, v in self.cfg.to_dict().items() if k not in _RESUME_FREE_KEYS}
        # A key newer than the checkpoint was at its default in the interrupted run.
        fields = TrainConfig.model_fields
        changed = sorted(k for k in current if saved.get(k, fields[k].default) != current[k])
        if changed:
            raise ConfigError(
                f"cannot resume: training keys {changed} differ from those of the interrupted run",
                source=str(folder / "last.pt"),
            )
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when the interrupted part ran without mixed precision
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"], self.place.device)
        self.history = [EpochMetrics.from_dict(m) for m in state["history"]]
        best = state["best"]
        self.best_epoch, self.best_score = int(best["epoch"]), float(best["score"])
        self.best_val = EvalResult.from_dict(best["val"])
        self.best_state = load_checkpoint(folder / "best.pt")["model"]
        self.saved_best_epoch = self.best_epoch


def _make_ema(model: nn.Module, decay: float | None) -> torch.optim.swa_utils.AveragedModel | None:
    if decay is None:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    # use_buffers: BatchNorm statistics are averaged too, so the EMA model is evaluated with
    # statistics that match its weights.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    # AveragedModel deep-copies; keep the copy out of autograd.
    ema.requires_grad_(False)
    return ema
