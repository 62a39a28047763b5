"""Training: the recipe (:class:`TrainConfig`), the loop a search drives (:func:`fit`),
evaluation (:func:`evaluate`) and run folders (:func:`train_run`, :func:`resume_run`,
:func:`evaluate_run`)."""

from blocknas.train._checkpoint import load_checkpoint, load_weights, save_checkpoint
from blocknas.train._config import TrainConfig
from blocknas.train._fit import Batches, EpochCallback, LoaderFactory, evaluate, fit
from blocknas.train._metrics import EvalResult
from blocknas.train._optim import param_groups
from blocknas.train._result import EpochMetrics, TrainResult
from blocknas.train._run import RunEvaluation, evaluate_run, resume_run, train_run

__all__ = [
    "Batches",
    "EpochCallback",
    "EpochMetrics",
    "EvalResult",
    "LoaderFactory",
    "RunEvaluation",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "evaluate_run",
    "fit",
    "load_checkpoint",
    "load_weights",
    "param_groups",
    "resume_run",
    "save_checkpoint",
    "train_run",
]
