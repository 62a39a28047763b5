from __future__ import annotations

import pytest
import torch
from torch import nn

import blocknas
from blocknas.profile import count_macs, profile_rows


def test_depthwise_macs_are_counted_per_group() -> None:
    dw = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
    assert count_macs(dw, (32, 16, 16)) == 32 * 9 * 16 * 16
    dense = nn.Conv2d(32, 32, 3, padding=1, bias=False)
    assert count_macs(dense, (32, 16, 16)) == 32 * 32 * 9 * 16 * 16


def test_profile_totals_equal_the_sum_of_rows() -> None:
    model = blocknas.build_model(
        {
            "input_channel": 3,
            "input_size": 16,
            "backbone": [
                [1, "Conv", {"out": 8, "kernel": 3, "stride": 2}],
                [1, "DWConv", {"out": 8}],
                [1, "GlobalAvgPool", {}],
                [1, "Flatten", {}],
                [1, "Linear", {"out": 10}],
            ],
        }
    )
    total = blocknas.profile(model, repeats=3)
    rows = profile_rows(model)
    assert total.params == sum(r.params for r in rows) == 8 * 27 + 16 + 8 * 9 + 16 + 90
    assert total.macs == sum(r.macs for r in rows) == 8 * 27 * 64 + 8 * 9 * 64 + 80
    assert total.input_shape == (3, 16, 16)
    assert total.latency_ms is not None and total.latency_ms > 0
    assert model.training  # profiling restores the mode


def test_profile_needs_an_input_size_for_plain_modules() -> None:
    with pytest.raises(ValueError, match="input_size"):
        blocknas.profile(nn.Linear(3, 3))
    assert blocknas.profile(nn.Conv2d(3, 4, 1), (3, 5, 5), latency=False).macs == 3 * 4 * 25
    assert torch.get_num_threads() >= 1
