"""Classification metrics from a confusion matrix: accuracy, macro-F1, per-class accuracy.

The matrix is accumulated on the device with one ``bincount`` per batch, so evaluating costs no
host synchronisation until the end; sklearn would need every prediction copied to the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["EvalResult", "accumulate_confusion", "macro_f1", "summarize"]


def accumulate_confusion(
    confusion: torch.Tensor, target: torch.Tensor, predicted: torch.Tensor
) -> None:
    """Add one batch to ``confusion`` (K×K int64, rows = true class, columns = predicted)."""
    k = confusion.shape[0]
    counts = torch.bincount(target * k + predicted, minlength=k * k)
    confusion += counts.view(k, k)


def macro_f1(confusion: torch.Tensor) -> float:
    """Unweighted mean of per-class F1 over the classes that occur as truth or prediction
    (the classes sklearn's ``f1_score(average="macro")`` would see)."""
    c = confusion.double()
    tp = c.diagonal()
    support = c.sum(dim=1)
    predicted = c.sum(dim=0)
    seen = (support + predicted) > 0
    if not bool(seen.any()):
        return 0.0
    f1 = 2 * tp[seen] / (support[seen] + predicted[seen])
    return float(f1.mean())


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one model on one split.

    confusion[i][j] counts images of true class i predicted as class j.
    per_class_accuracy[i] is NaN for a class with no images in the split.
    """

    n: int
    loss: float
    accuracy: float
    macro_f1: float
    per_class_accuracy: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]
    classes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe mapping (NaN becomes None)."""
        return {
            "n": self.n,
            "loss": _finite_or_none(self.loss),
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class_accuracy": {
                name: _finite_or_none(acc)
                for name, acc in zip(self.classes, self.per_class_accuracy, strict=True)
            },
            "confusion": [list(row) for row in self.confusion],
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvalResult:
        """Inverse of :meth:`to_dict`."""
        classes = tuple(values["classes"])
        per_class = values["per_class_accuracy"]
        return cls(
            n=int(values["n"]),
            loss=math.nan if values["loss"] is None else float(values["loss"]),
            accuracy=float(values["accuracy"]),
            macro_f1=float(values["macro_f1"]),
            per_class_accuracy=tuple(
                math.nan if per_class[c] is None else float(per_class[c]) for c in classes
            ),
            confusion=tuple(tuple(int(v) for v in row) for row in values["confusion"]),
            classes=classes,
        )


def summarize(confusion: torch.Tensor, loss_sum: float, classes: tuple[str, ...]) -> EvalResult:
    """Build an :class:`EvalResult` from an accumulated confusion matrix and summed loss."""
    cm = confusion.detach().to("cpu", torch.int64)
    n = int(cm.sum())
    support = cm.sum(dim=1).double()
    diag = cm.diagonal().double()
    per_class = torch.where(support > 0, diag / support.clamp(min=1), torch.nan)
    return EvalResult(
        n=n,
        loss=loss_sum / n if n else math.nan,
        accuracy=float(diag.sum()) / n if n else 0.0,
        macro_f1=macro_f1(cm),
        per_class_accuracy=tuple(float(v) for v in per_class),
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
        classes=classes,
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
