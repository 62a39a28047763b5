"""Reference rows that forks read differently: pooling's third argument and MBConv's output width.

Pooling rows are compared against ``nn.MaxPool2d(*args)`` / ``nn.AvgPool2d(*args)`` applied
directly (what the template does); MBConv parameter counts come from the format's own formula,
written out again here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import blocknas
from blocknas.errors import ConfigError
from blocknas.model import build_from_spec, load_model_spec

SIZES = [7, 8, 15, 32]

# Positional rows as a file writes them; torch gets the same list (padding third).
INT_ROWS = {
    "MaxPool": [[2], [3], [3, 2, 0], [3, 2, 1], [2, 2, 1], [3, 1, 1], [3, 2, None], [3, 2, 2],
                [3, 2, 1, 2], [2, 2, 0, 1, False, True], [3, 2, 1, 1, False, True], [5, 3, 2, 1, 0, 1],
                [5, 3, 2, 1, 0, True]],
    "AvgPool": [[2], [3], [3, 2, 0], [3, 2, 1], [2, 2, 1], [3, 1, 1], [3, 2, 2],
                [3, 2, 1, True], [3, 2, 1, False, False], [2, 2, 1, True, True, 3],
                [3, 2, 1, 1, 0], [3, 2, 1, False, 0]],
}  # fmt: skip
LAYERS = {"MaxPool": nn.MaxPool2d, "AvgPool": nn.AvgPool2d}


def _pool_cases(third_is_bool: bool) -> list[tuple[str, list, int]]:
    if third_is_bool:
        rows = [[3, 2, True], [3, 2, False], [2, 2, True], [2, 1, False], [3, None, True]]
        return [(b, r, n) for b in LAYERS for r in rows for n in SIZES]
    return [(b, r, n) for b, rows in INT_ROWS.items() for r in rows for n in SIZES]


def _spec(block: str, args: list | dict, size: int, channels: int = 3):
    cfg = {"input_channel": channels, "input_size": size, "backbone": [[1, block, args]]}
    return load_model_spec(cfg)


def _check_against_torch(block: str, args: list, layer: nn.Module, size: int) -> None:
    x = torch.randn(2, 3, size, size)
    try:
        expected = layer(x)
    except (RuntimeError, TypeError):  # torch refuses it: padding > kernel/2, no output, types
        with pytest.raises(ConfigError, match="backbone row 0"):
            _spec(block, args, size)
        return
    spec = _spec(block, args, size)
    assert spec.rows[0].out_size == tuple(expected.shape[2:])
    got = build_from_spec(spec)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize(("block", "args", "size"), _pool_cases(third_is_bool=False))
def test_int_third_argument_is_padding_as_in_torch(block: str, args: list, size: int) -> None:
    _check_against_torch(block, args, LAYERS[block](*args), size)
    if len(args) < 3:  # [2] is kernel 2, stride 2: nothing to warn about
        assert _spec(block, args, 32).notes() == []


@pytest.mark.parametrize(("block", "args", "size"), _pool_cases(third_is_bool=True))
def test_bool_third_argument_is_ceil_mode(block: str, args: list, size: int) -> None:
    kernel, stride, ceil_mode = args
    _check_against_torch(block, args, LAYERS[block](kernel, stride, ceil_mode=ceil_mode), size)
    notes = _spec(block, args, 32).notes()
    assert notes == [f"row 0 {block}: third argument {ceil_mode} read as ceil_mode "
                     "([kernel, stride, ceil_mode]); padding 0"]  # fmt: skip


def test_ceil_mode_changes_the_size_where_it_should() -> None:
    # 15 with kernel 2: floor gives 7, ceil gives 8; the padding reading would refuse True.
    assert _spec("MaxPool", [2, 2, False], 15).rows[0].out_size == (7, 7)
    assert _spec("MaxPool", [2, 2, True], 15).rows[0].out_size == (8, 8)
    assert _spec("MaxPool", [3, 2, 1], 15).rows[0].out_size == (8, 8)


@pytest.mark.parametrize(
    ("block", "args"),
    [("MaxPool", {"kernel": 3, "stride": 2, "padding": 1}),
     ("MaxPool", {"kernel": 3, "ceil_mode": True}),
     ("AvgPool", {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False})],
)  # fmt: skip
def test_named_pool_rows_keep_their_meaning(block: str, args: dict) -> None:
    layer = LAYERS[block](**{("kernel_size" if k == "kernel" else k): v for k, v in args.items()})
    _check_against_torch(block, args, layer, 15)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("block", "args", "fragment"),
    [("MaxPool", [3, 2, True, 1], "a bool third argument is read as ceil_mode"),
     ("MaxPool", [3, 2, 0, 1, True], "argument 'return_indices' = True"),
     ("MaxPool", [3, 2, 0, 1, False, True, 1], "takes at most 6 arguments"),
     ("AvgPool", [3, 2, 0, False, True, None, 1], "takes at most 6 arguments"),
     ("AvgPool", [], "needs at least 1 argument [kernel]"),
     ("MaxPool", [3, 2, 1.0], "argument 'padding' = 1.0"),
     ("AvgPool", [3, 2, 0, 2], "argument 'ceil_mode' = 2"),
     ("AvgPool", [3, 2, 0, False, False, 0], "argument 'divisor_override' = 0")],
)  # fmt: skip
def test_bad_pool_rows_are_one_line_errors(block: str, args: list, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        _spec(block, args, 16)
    message = str(err.value)
    assert "\n" not in message and "backbone row 0" in message and block in message
    assert fragment in message


# ----- MBConv: which argument sets the output channels -------------------------------------------


def _make_divisible(v: float) -> int:
    """SEED_FORMAT §1.3, written out again (not imported) so the test checks the code."""
    w = max(8, 8 * (int(v + 4) // 8))
    return w + 8 if w < 0.9 * v else w


def _conv_params(a: int, b: int, k: int) -> int:
    return b * a * k * k + 2 * b


def _mbconv_params(i: int, t: int, o: int, k: int) -> int:
    h, r = i * t, max(1, i // 4)
    expand = i * h + 2 * h if t != 1 else 0
    return expand + h * k * k + 2 * h + 2 * h * r + r + h + h * o + 2 * o


STEM = (16, 3)  # Conv [16, 3, 2]
MBCONV_ROWS = [(1, [1, 16, 1, 3]), (2, [6, 24, 2, 3]), (1, [6, 40, 2, 5]), (1, [4, 20, 1, 3])]


def _expected(variant: str, width: float) -> int:
    c = _make_divisible(STEM[0] * width)
    total = _conv_params(3, c, STEM[1])
    for n, (t, ch, _s, k) in MBCONV_ROWS:
        o = _make_divisible((t if variant == "template" else ch) * width)
        for _ in range(n):
            total += _mbconv_params(c, t, o, k)
            c = o
    return total


def _file(tmp_path: Path, width: float, key: str | None = None) -> Path:
    lines = [f"input_channel: 3\nwidth_multiple: {width}\ninput_size: 32\n"]
    if key is not None:
        lines.append(f"mbconv_variant: {key}\n")
    lines.append(f"backbone:\n  - [1, Conv, [{STEM[0]}, {STEM[1]}, 2]]\n")
    lines += [f"  - [{n}, MBConv, {args}]\n" for n, args in MBCONV_ROWS]
    path = tmp_path / "effnet.yaml"
    path.write_text("".join(lines))
    return path


def _params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("width", [1.0, 1.5])
def test_both_variants_match_the_formula_via_key_and_option(tmp_path: Path, width: float) -> None:
    template, channels = _expected("template", width), _expected("channels", width)
    assert template != channels  # the file is one where the reading matters
    plain = _file(tmp_path, width)
    assert _params(blocknas.build_model(plain)) == template  # the default: the template's reading
    assert _params(blocknas.build_model(plain, mbconv_variant="channels")) == channels
    assert _params(blocknas.build_model(plain, mbconv_variant="template")) == template
    for key, expected in (("template", template), ("channels", channels)):
        keyed = _file(tmp_path, width, key)
        spec = load_model_spec(keyed)
        assert spec.reading.mbconv_variant.value == key
        assert _params(build_from_spec(spec)) == expected
    # The explicit option wins over the file's key, both ways.
    keyed = _file(tmp_path, width, "channels")
    assert _params(blocknas.build_model(keyed, mbconv_variant="template")) == template
    keyed = _file(tmp_path, width, "template")
    assert _params(blocknas.build_model(keyed, mbconv_variant="channels")) == channels


def test_option_on_a_spec_and_the_saved_config_reproduce_the_variant(tmp_path: Path) -> None:
    spec = load_model_spec(_file(tmp_path, 1.0))
    switched = load_model_spec(spec, mbconv_variant="channels")
    assert _params(build_from_spec(switched)) == _expected("channels", 1.0)
    # A run folder stores to_dict(); loading it again must give the same network.
    assert switched.to_dict()["mbconv_variant"] == "channels"
    assert _params(blocknas.build_model(switched.to_dict())) == _expected("channels", 1.0)


def test_named_mbconv_rows_ignore_the_variant() -> None:
    cfg = {"input_channel": 16, "backbone": [[1, "MBConv", {"expand": 6, "out": 24}]]}
    for variant in ("template", "channels"):
        assert load_model_spec({**cfg, "mbconv_variant": variant}).out_channels == 24
    assert load_model_spec(cfg).readings() == []  # no reference MBConv row: nothing to name


def test_readings_name_the_variant_in_force(tmp_path: Path) -> None:
    assert load_model_spec(_file(tmp_path, 1.0)).readings() == [
        "MBConv reference rows follow mbconv_variant: template (output channels = "
        "make_divisible(args[0]·width), the expansion; args[1] ignored)"
    ]
    readings = load_model_spec(_file(tmp_path, 1.0), mbconv_variant="channels").readings()
    assert len(readings) == 1 and "mbconv_variant: channels" in readings[0]


def test_default_warning_says_how_to_switch(tmp_path: Path) -> None:
    notes = load_model_spec(_file(tmp_path, 1.0)).notes()
    ignored = [n for n in notes if "channel argument 16 ignored" in n]
    assert ignored and all(
        "'mbconv_variant: channels'" in n and "--mbconv-variant channels" in n for n in ignored
    )
    # Under the forks' reading the channel argument is used, so that warning is gone.
    notes = load_model_spec(_file(tmp_path, 1.0, "channels")).notes()
    assert not any("ignored" in n for n in notes)


@pytest.mark.parametrize("value", ["fork", "Channels", 1, None, ["channels"]])
def test_invalid_variant_in_the_file_names_the_key(tmp_path: Path, value: object) -> None:
    path = _file(tmp_path, 1.0)
    path.write_text(path.read_text() + f"mbconv_variant: {value!r}\n".replace("None", "null"))
    with pytest.raises(ConfigError) as err:
        load_model_spec(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: 'mbconv_variant' must be one of 'template', 'channels'")


def test_invalid_variant_option_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        blocknas.build_model(_file(tmp_path, 1.0, "channels"), mbconv_variant="fixed")
    message = str(err.value)
    assert "\n" not in message
    assert "option mbconv_variant must be one of 'template', 'channels', got 'fixed'" in message
