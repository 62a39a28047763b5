import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from blocknas.data import BatchLoader, DataSplits, ImageSet
from blocknas.errors import ConfigError, DataError, TrainingError
from blocknas.train import EpochMetrics, TrainConfig, evaluate, fit

from .conftest import make_net

CFG = TrainConfig(epochs=3, batch_size=32, lr=0.2, seed=7, device="cpu")  # CUDA: test_fit_cuda.py


def _figures(history: tuple[EpochMetrics, ...]) -> list[tuple[float, ...]]:
    """Everything in the history that does not depend on wall time."""
    return [
        (m.epoch, m.lr, m.train_loss, m.train_accuracy, m.val_loss, m.val_accuracy, m.val_f1)
        for m in history
    ]


def test_seeded_runs_give_identical_metrics(digits: DataSplits) -> None:
    model = make_net()
    before = torch.get_rng_state()
    a = fit(model, digits, CFG, progress=False)
    assert torch.equal(torch.get_rng_state(), before)  # global random state untouched
    b = fit(make_net(), digits, CFG, progress=False)
    c = fit(make_net(), digits, CFG.model_copy(update={"seed": 8}), progress=False)
    assert _figures(a.history) == _figures(b.history)
    assert a.test is not None and b.test is not None
    assert a.test.confusion == b.test.confusion
    assert _figures(a.history) != _figures(c.history)
    # The model learns: the last epoch is well above chance (10 %).
    assert a.history[-1].val_accuracy > 0.5


def test_model_holds_best_weights_on_return(digits: DataSplits) -> None:
    model = make_net()
    result = fit(model, digits, CFG, progress=False)
    best = max(result.history, key=lambda m: m.val_f1)
    assert result.best_epoch == best.epoch and result.best_val_f1 == best.val_f1
    again = evaluate(model, digits.val, mean=digits.mean, std=digits.std)
    assert again.confusion == result.val.confusion
    assert result.test is not None and result.test.n == len(digits.test)


def test_callback_stops_training(digits: DataSplits) -> None:
    seen: list[int] = []

    def stop_at_two(m: EpochMetrics) -> bool:
        seen.append(m.epoch)
        return m.epoch == 2

    result = fit(
        make_net(),
        digits,
        CFG.model_copy(update={"epochs": 5}),
        callback=stop_at_two,
        progress=False,
    )
    assert seen == [1, 2]
    assert result.stopped_early and result.epochs_completed == 2
    assert len(result.history) == 2


def test_huge_lr_diverges_with_a_clear_message(digits: DataSplits) -> None:
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e8, schedule="cosine", warmup_fraction=0)
    with pytest.raises(TrainingError) as info:
        fit(make_net(), digits, cfg, progress=False)
    match = re.fullmatch(r"diverged at epoch (\d+) \(lr = ([0-9.e+-]+)\)", str(info.value))
    assert match is not None, str(info.value)
    assert match.group(1) == "1" and float(match.group(2)) > 1e6


class _InterruptingBatches(BatchLoader):
    """Raises KeyboardInterrupt in the middle of epoch ``at`` (0-based), like Ctrl-C would."""

    at = 2

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i, batch in enumerate(super().__iter__()):
            if self.shuffle and self.epoch == self.at and i == 3:
                raise KeyboardInterrupt
            yield batch


def test_resume_after_interrupt_matches_uninterrupted_run(
    digits: DataSplits, tmp_path: Path
) -> None:
    cfg = CFG.model_copy(update={"epochs": 4, "ema": 0.9})
    full = fit(make_net(), digits, cfg, progress=False)

    with pytest.raises(KeyboardInterrupt):
        fit(
            make_net(),
            digits,
            cfg,
            progress=False,
            checkpoint_dir=tmp_path,
            loader=_InterruptingBatches,
        )
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["epoch"] == 2
    assert not list(tmp_path.glob("*.tmp"))

    # A differently initialised model: every weight must come from the checkpoint.
    resumed = fit(
        make_net(seed=123),
        digits,
        cfg,
        progress=False,
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert _figures(resumed.history) == _figures(full.history)
    assert resumed.best_epoch == full.best_epoch
    assert resumed.test is not None and full.test is not None
    assert resumed.test.confusion == full.test.confusion
    assert resumed.test.loss == full.test.loss


def test_checkpoints_at_chosen_epochs_resume_to_the_same_run(
    digits: DataSplits, tmp_path: Path
) -> None:
    cfg = CFG.model_copy(update={"epochs": 5})
    full = fit(make_net(), digits, cfg, progress=False)
    # Saved only after epoch 3 (as early stopping pauses a trial at a rung), then stopped there.
    first = fit(make_net(), digits, cfg, progress=False, checkpoint_dir=tmp_path,
                checkpoint_epochs={3}, callback=lambda m: m.epoch == 3)  # fmt: skip
    assert first.stopped_early
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 3
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == first.best_epoch  # the best of epochs 1-3, saved or not
    resumed = fit(make_net(seed=9), digits, cfg, progress=False, checkpoint_dir=tmp_path,
                  resume=True, checkpoint_epochs=())  # fmt: skip
    assert _figures(resumed.history) == _figures(full.history)
    assert resumed.best_epoch == full.best_epoch
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 3  # nothing saved


def test_checkpoints_load_with_weights_only(digits: DataSplits, tmp_path: Path) -> None:
    model = make_net()
    result = fit(model, digits, CFG, progress=False, checkpoint_dir=tmp_path)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert best["epoch"] == result.best_epoch and last["epoch"] == CFG.epochs
    fresh = make_net(seed=5)
    fresh.load_state_dict(best["model"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[key]), key
    assert {"optimizer", "scheduler", "scaler", "rng", "history"} <= set(last)


def test_resume_refuses_a_changed_recipe(digits: DataSplits, tmp_path: Path) -> None:
    fit(
        make_net(),
        digits,
        CFG.model_copy(update={"epochs": 1}),
        progress=False,
        checkpoint_dir=tmp_path,
    )
    with pytest.raises(ConfigError, match=r"cannot resume: training keys \['epochs', 'lr'\]"):
        fit(
            make_net(),
            digits,
            CFG.model_copy(update={"lr": 0.3}),
            progress=False,
            checkpoint_dir=tmp_path,
            resume=True,
        )


def test_nothing_to_resume(digits: DataSplits, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"last\.pt does not exist"):
        fit(
            make_net(),
            digits,
            CFG,
            progress=False,
            checkpoint_dir=tmp_path,
            resume=True,
        )


def test_ema_adamw_label_smoothing_and_clipping_train(digits: DataSplits) -> None:
    cfg = TrainConfig(
        optimizer="adamw",
        lr=3e-3,
        epochs=3,
        batch_size=32,
        ema=0.9,
        label_smoothing=0.1,
        grad_clip=1.0,
        schedule="cosine",
    )
    result = fit(make_net(), digits, cfg, progress=False)
    assert all(math.isfinite(m.train_loss) for m in result.history)
    assert result.history[-1].val_accuracy > 0.3


def test_small_and_empty_training_splits(digits: DataSplits) -> None:
    tiny = ImageSet(digits.train.images[:8], digits.train.labels[:8], digits.train.classes)
    splits = DataSplits(tiny, digits.val, None, digits.mean, digits.std, "tiny")
    result = fit(make_net(), splits, CFG.model_copy(update={"epochs": 1}), progress=False)
    assert result.history[0].images_per_s > 0  # one batch of 8, not none
    empty = ImageSet(tiny.images[:0], tiny.labels[:0], tiny.classes)
    with pytest.raises(DataError, match="training split is empty"):
        fit(make_net(), DataSplits(empty, digits.val, None, (0.3,), (0.35,), "e"), CFG)


class _OutOfMemory(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_names_the_batch_size(digits: DataSplits) -> None:
    model = torch.nn.Sequential(make_net(), _OutOfMemory())
    with pytest.raises(TrainingError, match=r"out of memory on cpu with batch size 32; lower"):
        fit(model, digits, CFG, progress=False)


@pytest.mark.parametrize("channels_last", [False, True])
def test_memory_format_choice_trains(digits: DataSplits, channels_last: bool) -> None:
    cfg = CFG.model_copy(update={"channels_last": channels_last, "epochs": 1})
    model = make_net()
    fit(model, digits, cfg, progress=False)
    weight = model[3].weight  # 16×16×3×3: the two formats differ
    assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.slow
def test_compiled_training_saves_plain_weights(digits: DataSplits, tmp_path: Path) -> None:
    cfg = CFG.model_copy(update={"epochs": 1, "compile": True})
    model = make_net()
    result = fit(model, digits, cfg, progress=False, checkpoint_dir=tmp_path)
    assert math.isfinite(result.history[0].train_loss)
    best = torch.load(tmp_path / "best.pt", weights_only=True)["model"]
    assert set(best) == set(make_net().state_dict())  # no "_orig_mod." prefixes


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_cuda_asked_for_without_cuda(digits: DataSplits) -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        fit(make_net(), digits, CFG.model_copy(update={"device": "cuda"}), progress=False)


def test_data_fraction_trains_each_epoch_on_a_fresh_stratified_sample(
    digits: DataSplits,
) -> None:
    made: list[ImageSet] = []

    def recording(data: ImageSet, batch_size: int, **kw: object) -> BatchLoader:
        made.append(data)
        return BatchLoader(data, batch_size, **kw)  # type: ignore[arg-type]

    schedule = {1: 1 / 9, 2: 1 / 3, 3: 1.0}
    result = fit(
        make_net(), digits, CFG, progress=False, loader=recording, data_fraction=schedule.get
    )
    assert [m.data_fraction for m in result.history] == [1 / 9, 1 / 3, 1.0]
    assert result.data_epochs == pytest.approx(1 / 9 + 1 / 3 + 1)
    assert result.to_dict()["data_epochs"] == pytest.approx(result.data_epochs)
    # Loaders made: train (whole split), val, test, then one sample per fractional epoch.
    samples = made[3:]
    n = len(digits.train)
    assert [len(s) for s in samples] == [round(n / 9), round(n / 3)]
    counts = torch.bincount(digits.train.labels, minlength=10).double()
    for sample, fraction in zip(samples, (1 / 9, 1 / 3), strict=True):
        got = torch.bincount(sample.labels, minlength=10).double()
        assert (got - counts * fraction).abs().max() <= 1.0  # every class in proportion
    # Each epoch draws its own sample, and the same one again for the same seed.
    first = {bytes(img.numpy()) for img in samples[0].images}
    second = {bytes(img.numpy()) for img in samples[1].images}
    assert not first <= second
    made.clear()
    again = fit(
        make_net(), digits, CFG, progress=False, loader=recording, data_fraction=schedule.get
    )
    assert torch.equal(made[3].labels, samples[0].labels)
    assert torch.equal(made[3].images, samples[0].images)
    assert _figures(again.history) == _figures(result.history)
    # The learning-rate schedule spans the shorter epochs: it ends where a full run's ends.
    full = fit(make_net(), digits, CFG, progress=False)
    for run in (result, full):
        assert run.history[-1].lr < 0.01 * CFG.peak_lr
    assert result.history[0].lr > full.history[0].lr  # its short first epoch ends nearer the peak


def test_data_fraction_outside_zero_one_is_refused(digits: DataSplits) -> None:
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match=r"data fraction of epoch 2 must be in \(0, 1\]"):
            fit(make_net(), digits, CFG, progress=False, data_fraction={1: 0.5, 2: bad, 3: 1}.get)
