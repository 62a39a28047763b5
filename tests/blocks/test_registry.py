"""One test over the whole registry: every block builds, runs forward and backward, and its own
shape arithmetic agrees with what the module actually produces."""

from __future__ import annotations

import pytest
import torch

from blocknas.blocks import block_names, get_block
from blocknas.errors import ConfigError
from blocknas.model import build_from_spec, load_model_spec

CASES = [(name, i, ex) for name in block_names() for i, ex in enumerate(get_block(name).examples)]


def test_every_block_brings_examples() -> None:
    missing = [name for name in block_names() if not get_block(name).examples]
    assert not missing, f"blocks without examples: {missing}"


@pytest.mark.parametrize(("name", "index", "example"), CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("in_channels", [8, 16])
def test_block_forward_backward_and_declared_shape(
    name: str, index: int, example: dict, in_channels: int
) -> None:
    block = get_block(name)
    cfg = {"input_channel": in_channels, "input_size": 12, "backbone": [[1, name, example]]}
    try:
        spec = load_model_spec(cfg)
    except ConfigError as exc:  # heads that need a pooled map say so; give them one
        assert "GlobalAvgPool" in str(exc)
        cfg["backbone"] = [[1, "GlobalAvgPool", {}], *cfg["backbone"]]
        spec = load_model_spec(cfg)
    net = build_from_spec(spec)
    x = torch.randn(3, in_channels, 12, 12, requires_grad=True)
    y = net(x)
    row = spec.rows[-1]
    assert y.shape[1] == row.out_channels == block.out_channels(row.in_channels, row.args)
    if row.out_size is None:
        assert y.dim() == 2
    else:
        assert tuple(y.shape[2:]) == row.out_size
    y.float().pow(2).mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_repeated_row_chains_channels_and_strides() -> None:
    cfg = {
        "input_channel": 3,
        "input_size": 32,
        "backbone": [[3, "InvertedResidualv2", {"out": 24, "expand": 6, "stride": 2}]],
    }
    spec = load_model_spec(cfg)
    layers = spec.rows[0].layers
    assert [layer.in_channels for layer in layers] == [3, 24, 24]
    assert [layer.args.stride for layer in layers] == [2, 1, 1]  # named form: stride first
    assert spec.rows[0].out_size == (16, 16)


def test_unknown_block_lists_known_ones() -> None:
    with pytest.raises(KeyError) as err:
        get_block("nn.Conv2d")
    message = str(err.value)
    for name in ("Conv", "MBConv", "InvertedResidualv3"):
        assert name in message


def test_registering_a_duplicate_name_fails() -> None:
    from blocknas.blocks import Block, register_block

    with pytest.raises(ValueError, match="already registered"):

        @register_block("Conv")
        class Other(Block):
            pass
