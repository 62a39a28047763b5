"""What training reports: one record per epoch and the result of a whole run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from blocknas.train._metrics import EvalResult

__all__ = ["EpochMetrics", "TrainResult"]


@dataclass(frozen=True)
class EpochMetrics:
    """Figures of one finished epoch (``epoch`` is 1-based).

    Training loss and accuracy are running figures over the epoch's augmented batches;
    validation figures are measured after the epoch (on the EMA weights when EMA is on).
    ``lr`` is the learning rate of the epoch's last step. ``images_per_s`` counts training
    images over the training part (data, augmentation and step); ``seconds`` adds validation.
    ``data_fraction`` is the share of the training split the epoch trained on (below 1 only
    when :func:`blocknas.train.fit` is given a ``data_fraction`` schedule).
    """

    epoch: int
    epochs: int
    lr: float
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    val_f1: float
    images_per_s: float
    train_seconds: float
    seconds: float
    is_best: bool
    data_fraction: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EpochMetrics:
        return cls(**values)


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`blocknas.train.fit`.

    ``val`` holds the validation metrics of the best epoch (chosen by the config's
    ``best_metric``) and ``test`` those of the same weights on the test split, if there is one.
    ``stopped_early`` is true when the epoch callback asked to stop.
    """

    history: tuple[EpochMetrics, ...]
    best_epoch: int
    val: EvalResult
    test: EvalResult | None
    stopped_early: bool

    @property
    def epochs_completed(self) -> int:
        return self.history[-1].epoch if self.history else 0

    @property
    def best_val_accuracy(self) -> float:
        return self.val.accuracy

    @property
    def best_val_f1(self) -> float:
        return self.val.macro_f1

    @property
    def data_epochs(self) -> float:
        """Training compute in passes over the whole training split: the epochs, each weighted
        by its ``data_fraction``."""
        return sum(m.data_fraction for m in self.history)

    @property
    def seconds(self) -> float:
        """Wall time of all epochs (training and validation), resumed parts included."""
        return sum(m.seconds for m in self.history)

    @property
    def images_per_s(self) -> float:
        """Training throughput over all epochs."""
        images = sum(m.images_per_s * m.train_seconds for m in self.history)
        seconds = sum(m.train_seconds for m in self.history)
        return images / seconds if seconds > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (the run folder's ``metrics.json``)."""
        return {
            "epochs": [m.to_dict() for m in self.history],
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "epochs_completed": self.epochs_completed,
            "data_epochs": self.data_epochs,
            "seconds": self.seconds,
            "images_per_s": self.images_per_s,
            "val": self.val.to_dict(),
            "test": self.test.to_dict() if self.test is not None else None,
        }
