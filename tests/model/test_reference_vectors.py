"""The reference format's test vectors (Appendix A and B of the format specification)."""

from __future__ import annotations

import pytest
import torch

from blocknas.model import build_from_spec, effective_repeat, load_model_spec

# (module, input channels i, args, repeat n, width w, parameter count, output channels)
VECTORS = [
    ("Conv", 3, [16, 3, 2], 1, 1, 464, 16),
    ("Conv", 32, [64, 3, 1, None, 4, "ReLU"], 1, 1, 4736, 64),
    ("Conv", 16, [24, 5, 1], 1, 0.5, 6432, 16),
    ("Conv", 3, [16, 3, 2], 3, 1, 5136, 16),
    ("Conv", 3, [6, 5, 1, 0], 1, 1, 616, 8),
    ("Conv", 3, [8, 1, 1, None, 1, "PReLU"], 1, 1, 41, 8),
    ("FixedConv", 512, [1000, 1, 1], 1, 0.5, 514000, 1000),
    ("DWConv", 32, [32, 3, 1], 1, 1, 352, 32),
    ("DWConv", 24, [40, 5, 2], 1, 1, 3080, 40),
    ("DWConv", 16, [64, 3, 1], 2, 1, 1408, 64),
    ("Bottleneck", 64, [64], 1, 1, 20672, 64),
    ("Bottleneck", 64, [128, False, 2, 0.25], 1, 1, 20800, 128),
    ("Bottleneck", 32, [64, True, 1, 0.5, "SiLU"], 3, 1, 30080, 64),
    ("InvertedResidualv2", 16, [24, 6, 2], 1, 1, 5136, 24),
    ("InvertedResidualv2", 32, [16, 1, 1], 1, 1, 896, 16),
    ("InvertedResidualv2", 24, [32, 2.5, 2], 2, 1, 10428, 32),
    ("InvertedResidualv2", 16, [24, 6, 1], 1, 0.5, 4352, 16),
    ("InvertedResidualv3", 16, [3, 1, 16, 0, 0, 1], 1, 1, 464, 16),
    ("InvertedResidualv3", 24, [5, 3, 40, 1, 0, 2], 1, 1, 10328, 40),
    ("InvertedResidualv3", 80, [3, 6, 112, 1, 1, 1], 1, 1, 214424, 112),
    ("InvertedResidualv3", 16, [5, 4.5, 24, 1, 1, 2], 2, 1, 24552, 24),
    ("InvertedResidualv3", 24, [3, 3, 40, 1, 1, 1], 1, 0.75, 8584, 32),
    ("MBConv", 32, [1, 16, 1, 3], 1, 1, 1176, 8),
    ("MBConv", 8, [6, 24, 2, 3], 1, 1, 1650, 8),
    ("MBConv", 8, [6, 40, 2, 5], 2, 1, 4836, 8),
    ("MBConv", 24, [4, 40, 2, 5], 1, 4.0, 7910, 16),
    ("MBConv", 16, [2, 16, 1, 3], 1, 1, 1492, 8),
    ("Fire", 96, [16, 64, 64], 1, 1, 11920, 128),
    ("Fire", 512, [64, 256, 256], 1, 1, 197184, 512),
    ("Fire", 16, [8, 16, 16], 2, 0.5, 3024, 32),
    ("Linear", 1280, [9], 1, 1, 11529, 9),
    ("Linear", 16, [120, "ReLU"], 3, 1, 2040, 120),
]


@pytest.mark.parametrize(("module", "i", "args", "n", "w", "count", "out"), VECTORS)
def test_vector_parameter_count_and_output(module, i, args, n, w, count, out) -> None:
    flat = module == "Linear"
    cfg = {
        "input_channel": i,
        "width_multiple": w,
        "input_size": 1 if flat else 16,
        "backbone": [[n, module, args]],
    }
    spec = load_model_spec(cfg)
    net = build_from_spec(spec)
    assert sum(p.numel() for p in net.parameters()) == count
    x = torch.randn(2, i) if flat else torch.randn(2, i, 16, 16)
    y = net(x)
    assert y.shape[1] == out == spec.out_channels


@pytest.mark.parametrize(
    ("depth", "expected"),
    [(0.5, [1, 2, 2, 2, 3, 4]), (1.25, [2, 4, 5, 6, 8, 9]), (1.5, [3, 4, 6, 8, 9, 10])],
)
def test_depth_scaling_table(depth: float, expected: list[int]) -> None:
    assert [effective_repeat(r, depth) for r in range(2, 8)] == expected
    assert effective_repeat(1, depth) == 1
    cfg = {"input_channel": 3, "depth_multiple": depth, "backbone": [[7, "Conv", [8, 3, 1]]]}
    assert len(load_model_spec(cfg).rows[0].layers) == expected[-1]


@pytest.mark.parametrize(("padding", "size"), [(None, (32, 40)), (0, (32, 40)), ([0], (28, 36))])
def test_padding_vectors(padding, size) -> None:
    cfg = {"input_channel": 3, "backbone": [[1, "Conv", [8, 5, 1, padding]]]}
    net = build_from_spec(load_model_spec(cfg))
    assert tuple(net(torch.zeros(1, 3, 32, 40)).shape[2:]) == size


def test_stride_sits_on_the_last_copy_of_a_repeated_reference_conv() -> None:
    spec = load_model_spec({"input_channel": 3, "backbone": [[3, "Conv", [16, 3, 2]]]})
    assert [layer.args.stride for layer in spec.rows[0].layers] == [1, 1, 2]
    assert any("last of the 3 copies" in note for note in spec.notes())


def test_named_form_means_what_it_says() -> None:
    named = {"input_channel": 16, "backbone": [[1, "MBConv", {"expand": 6, "out": 24}]]}
    assert load_model_spec(named).out_channels == 24
    conv = {"input_channel": 3, "backbone": [[1, "Conv", {"out": 6, "kernel": 5, "padding": 0}]]}
    spec = load_model_spec(conv)
    assert spec.out_channels == 6 and spec.rows[0].out_size == (28, 28)
    assert spec.notes() == []


def test_reference_quirks_are_reported_per_row() -> None:
    cfg = {
        "input_channel": 3,
        "backbone": [[1, "Conv", [16, 3, 1]], [1, "Conv", [6, 3, 1]], [1, "MBConv", [1, 24, 1, 3]]],
    }
    notes = load_model_spec(cfg).notes()
    assert "row 1 Conv: 6 channels rounded to 8 (reference semantics: multiples of 8)" in notes
    assert any(
        n.startswith(
            "row 2 MBConv: channel argument 24 ignored (reference semantics); output has 8 channels"
        )
        for n in notes
    )


def test_reference_containers() -> None:
    cfg = {
        "input_channel": 8,
        "backbone": [[1, "Conv", [8, 3, 1]], [1, "InvertedResidualv2", [8, 1, 1]],
                     [2, "Conv", [8, 3, 1]], [1, "Bottleneck", [8]], [1, "Fire", [4, 4, 4]]],
    }  # fmt: skip
    net = build_from_spec(load_model_spec(cfg))
    assert not isinstance(net.layers[0], torch.nn.Sequential)
    assert isinstance(net.layers[1], torch.nn.Sequential) and len(net.layers[1]) == 1
    assert isinstance(net.layers[2], torch.nn.Sequential) and len(net.layers[2]) == 2
    assert isinstance(net.layers[3], torch.nn.Sequential) and len(net.layers[3]) == 1
    assert not isinstance(net.layers[4], torch.nn.Sequential)


def test_num_classes_override_replaces_the_classifier_width() -> None:
    cfg = {"input_channel": 3, "backbone": [[1, "Conv", [16, 3, 2]], [1, "GlobalAvgPool", []],
                                            [1, "FixedConv", [1000, 1, 1, None, 1, None]]]}  # fmt: skip
    net = build_from_spec(load_model_spec(cfg, num_classes=7)).eval()
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 7, 1, 1)


def _param_keys(row: list, input_channel: int = 16) -> list[str]:
    cfg = {"input_channel": input_channel, "backbone": [row]}
    net = build_from_spec(load_model_spec(cfg))
    return [k.removeprefix("layers.0.") for k, _ in net.named_parameters()]


@pytest.mark.parametrize(
    ("row", "keys"),
    [
        ([1, "Conv", [8, 3, 1]], ["conv.weight", "bn.weight", "bn.bias"]),
        ([1, "Fire", [4, 8, 8]], ["squeeze.weight", "squeeze.bias", "expand1x1.weight",
                                  "expand1x1.bias", "expand3x3.weight", "expand3x3.bias"]),
        # MBConv: one `conv` sequence; ConvBNAct sub-sequences start with their zero pad (the
        # 1×1 expand's pads 0); the SE module holds `se` = [pool, conv, act, conv, sigmoid].
        ([1, "MBConv", [6, 24, 2, 3]], [
            "0.conv.0.1.weight", "0.conv.0.2.weight", "0.conv.0.2.bias",
            "0.conv.1.1.weight", "0.conv.1.2.weight", "0.conv.1.2.bias",
            "0.conv.2.se.1.weight", "0.conv.2.se.1.bias", "0.conv.2.se.3.weight",
            "0.conv.2.se.3.bias", "0.conv.3.weight", "0.conv.4.weight", "0.conv.4.bias"]),
        ([1, "MBConv", [1, 16, 1, 3]], [
            "0.conv.0.1.weight", "0.conv.0.2.weight", "0.conv.0.2.bias",
            "0.conv.1.se.1.weight", "0.conv.1.se.1.bias", "0.conv.1.se.3.weight",
            "0.conv.1.se.3.bias", "0.conv.2.weight", "0.conv.3.weight", "0.conv.3.bias"]),
    ],
)  # fmt: skip
def test_checkpoint_sub_layer_names(row: list, keys: list[str]) -> None:
    assert _param_keys(row) == keys


def test_checkpoint_names_of_sequence_blocks() -> None:
    bottleneck = _param_keys([1, "Bottleneck", [16]])
    assert {k.split(".")[1] for k in bottleneck} == {"conv1", "conv2"}  # a sequence even at n = 1
    ir3 = _param_keys([1, "InvertedResidualv3", [5, 3, 40, 1, 0, 2]])
    assert all(k.startswith("0.conv.") for k in ir3)
    assert {k.split(".")[3] for k in ir3 if k.count(".") == 4} == {"fc1", "fc2"}
    assert all(k.startswith("0.conv.") for k in _param_keys([1, "InvertedResidualv2", [16, 6, 1]]))
