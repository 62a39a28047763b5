"""The trainer on a CUDA device: mixed precision, memory format, checkpoints and resumption.

Skipped on machines without CUDA.
"""

from pathlib import Path

import pytest
import torch

from blocknas.data import DataSplits
from blocknas.train import TrainConfig, evaluate, fit, load_checkpoint
from blocknas.train._device import resolve_placement

from .conftest import make_net

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CFG = TrainConfig(epochs=6, batch_size=32, lr=0.2, seed=7, device="cuda")


def test_placement_on_cuda_uses_amp_and_channels_last() -> None:
    place = resolve_placement(CFG)
    assert place.device.type == "cuda" and place.amp and place.channels_last
    assert not resolve_placement(CFG.model_copy(update={"amp": False})).amp


def test_amp_training_learns_and_keeps_float32_weights(digits: DataSplits) -> None:
    model = make_net()
    result = fit(model, digits, CFG, progress=False)
    weights = [p for p in model.parameters()]
    assert all(p.is_cuda and p.dtype == torch.float32 for p in weights)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.isfinite(torch.tensor(m.train_loss)) for m in result.history)
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.best_val_accuracy > 0.8  # a 3k-parameter net on 600 digits, 6 epochs


def test_amp_and_full_precision_agree_roughly(digits: DataSplits) -> None:
    amp = fit(make_net(), digits, CFG, progress=False)
    full = fit(make_net(), digits, CFG.model_copy(update={"amp": False}), progress=False)
    # float16 autocast changes the arithmetic, not what is learnt.
    assert abs(amp.best_val_accuracy - full.best_val_accuracy) < 0.1


def test_cuda_checkpoint_loads_on_cpu_and_predicts_the_same(
    digits: DataSplits, tmp_path: Path
) -> None:
    model = make_net()
    result = fit(model, digits, CFG, progress=False, checkpoint_dir=tmp_path)
    best = load_checkpoint(tmp_path / "best.pt", map_location="cpu")
    assert best["epoch"] == result.best_epoch
    assert all(t.device.type == "cpu" for t in best["model"].values())
    on_cpu = make_net()
    on_cpu.load_state_dict(best["model"])
    again = evaluate(on_cpu, digits.test, mean=digits.mean, std=digits.std, device="cpu")
    assert result.test is not None
    # Same weights; CUDA ran the evaluation in float16, so allow a prediction or two to flip.
    assert abs(again.accuracy - result.test.accuracy) <= 2 / len(digits.test)


def test_resume_on_cuda_continues_where_it_stopped(digits: DataSplits, tmp_path: Path) -> None:
    whole = fit(make_net(), digits, CFG, progress=False)
    first = fit(
        make_net(), digits, CFG, progress=False, checkpoint_dir=tmp_path,
        callback=lambda m: m.epoch == 3,
    )  # fmt: skip
    assert first.stopped_early and first.epochs_completed == 3
    rest = fit(make_net(), digits, CFG, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert [m.epoch for m in rest.history] == list(range(1, CFG.epochs + 1))
    # The resumed run ends close to the uninterrupted one (CUDA kernels are not bitwise
    # deterministic, so exact equality is not expected).
    assert abs(rest.history[-1].train_loss - whole.history[-1].train_loss) < 0.1
