import io
import itertools

import pytest
import torch
from torch import nn

from blocknas.train import TrainConfig, param_groups
from blocknas.train._optim import build_optimizer, build_scheduler


def test_weight_decay_skips_norm_and_bias_parameters() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.PReLU(),
        nn.Conv2d(8, 4, 1, bias=True),
        nn.LayerNorm(4),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    decay, no_decay = param_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    ids = {id(p) for p in decay["params"]}
    assert ids == {id(model[0].weight), id(model[3].weight), id(model[6].weight)}
    exempt = {id(p) for p in no_decay["params"]}
    expected = [model[1].weight, model[1].bias, model[2].weight, model[3].bias]
    expected += [model[4].weight, model[4].bias, model[6].bias]
    assert exempt == {id(p) for p in expected}
    assert len(ids) + len(exempt) == len(list(model.parameters()))


def _lrs(cfg: TrainConfig, steps_per_epoch: int) -> list[float]:
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch)
    out = []
    for _ in range(cfg.epochs * steps_per_epoch):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "linear"])
def test_schedules_warm_up_then_anneal(schedule: str) -> None:
    cfg = TrainConfig(schedule=schedule, lr=0.4, epochs=4, warmup_fraction=0.25)
    lrs = _lrs(cfg, steps_per_epoch=10)
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert 8 <= peak <= 10  # end of the 25 % warm-up
    assert lrs[peak] == pytest.approx(0.4, rel=0.02)
    assert all(a <= b for a, b in itertools.pairwise(lrs[: peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(lrs[peak:]))
    assert lrs[-1] < 0.04 * 0.4  # linear: one step short of 0 (1/30 of the peak)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "linear"])
def test_optimizer_and_scheduler_state_load_with_weights_only(schedule: str) -> None:
    cfg = TrainConfig(schedule=schedule, epochs=2)
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, 5)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    sched.step()
    buf = io.BytesIO()
    torch.save({"o": opt.state_dict(), "s": sched.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    opt2 = build_optimizer(model, cfg)
    sched2 = build_scheduler(opt2, cfg, 5)
    opt2.load_state_dict(state["o"])
    sched2.load_state_dict(state["s"])
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_linear_schedule_decays_in_a_straight_line() -> None:
    cfg = TrainConfig(schedule="linear", lr=0.4, epochs=5, warmup_fraction=0.2)
    lrs = _lrs(cfg, steps_per_epoch=10)  # 10 warm-up steps, then 40 to 0
    decay = lrs[10:]
    steps = [a - b for a, b in itertools.pairwise(decay)]
    assert all(d == pytest.approx(0.4 / 40, rel=1e-6) for d in steps)
    cosine = _lrs(cfg.model_copy(update={"schedule": "cosine"}), steps_per_epoch=10)
    assert cosine[20] > lrs[20]  # the cosine stays nearer the peak early in the decay
