import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from blocknas.data import DataSplits
from blocknas.train import evaluate
from blocknas.train._metrics import EvalResult, accumulate_confusion, macro_f1, summarize

from .conftest import make_net


@pytest.mark.parametrize("seed", range(4))
def test_macro_f1_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # 6 classes, class 5 never occurs: sklearn leaves such a class out of the mean.
    y = rng.integers(0, 5, size=300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 6, size=300))
    cm = torch.zeros(6, 6, dtype=torch.int64)
    accumulate_confusion(cm, torch.from_numpy(y), torch.from_numpy(p))
    assert macro_f1(cm) == pytest.approx(f1_score(y, p, average="macro"))


def test_summary_and_round_trip() -> None:
    cm = torch.tensor([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    res = summarize(cm, loss_sum=3.0, classes=("a", "b", "c"))
    assert (res.n, res.accuracy, res.loss) == (6, 5 / 6, 0.5)
    assert res.per_class_accuracy[:2] == (0.75, 1.0) and math.isnan(res.per_class_accuracy[2])
    back = EvalResult.from_dict(res.to_dict())
    assert back.confusion == res.confusion and back.macro_f1 == res.macro_f1
    assert back.per_class_accuracy[:2] == res.per_class_accuracy[:2]


def test_evaluate_confusion_sums_to_n(digits: DataSplits) -> None:
    model = make_net()
    res = evaluate(model, digits.test, mean=digits.mean, std=digits.std, batch_size=64)
    cm = torch.tensor(res.confusion)
    assert int(cm.sum()) == len(digits.test) == res.n
    assert cm.sum(dim=1).tolist() == torch.bincount(digits.test.labels, minlength=10).tolist()
    assert res.accuracy == pytest.approx(float(cm.diagonal().sum()) / res.n)
    with torch.no_grad():
        x = (digits.test.images.float() / 255 - 0.3) / 0.35
        model.eval()
        expected = (model(x).argmax(1) == digits.test.labels).float().mean().item()
    assert res.accuracy == pytest.approx(expected)
