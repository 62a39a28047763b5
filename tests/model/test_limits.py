"""Model size limits: a hostile model config is refused from its arithmetic, in one line, before
anything is allocated; each limit is raised by its environment variable or a ModelLimits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import yaml

from blocknas.blocks import block_names, get_block
from blocknas.cli import main
from blocknas.errors import ConfigError
from blocknas.model import build_from_spec, load_model_spec
from blocknas.model._limits import ModelLimits, ModelTooLarge, estimate_size
from blocknas.profile import count_macs, count_params

ZOO = sorted((Path(__file__).resolve().parents[2] / "configs" / "models").glob("*.yaml"))
HEAD = "  - [1, GlobalAvgPool, {}]\n  - [1, Flatten, {}]\n  - [1, Linear, {out: 10}]\n"


def _model(*rows: str, top: str = "") -> str:
    return "input_channel: 3\n" + top + "backbone:\n" + "".join(f"  - {r}\n" for r in rows) + HEAD



# (case, model YAML, extra inspect options, fragment of the message, backbone row or None)
HOSTILE = [
    ("repeat 1000000", _model("[1000000, Conv, {out: 16, kernel: 3}]"), [],
     "repeat 1,000,000 × depth_multiple 1 makes 1,000,000 layers, over the limit of 1,024; "
     "raise it with BLOCKNAS_MAX_LAYERS", 0),
    ("repeat beyond a float", _model("[1" + "0" * 400 + ", Conv, {out: 16, kernel: 3}]"), [],
     "layers, over the limit of 1,024", 0),
    ("depth_multiple 1e6", _model("[2, Conv, {out: 16, kernel: 3}]", top="depth_multiple: 1.0e+6\n"),
     [], "makes 2,000,000 layers", 0),
    ("rows adding up", _model(*["[600, Conv, {out: 8, kernel: 1}]"] * 2), [],
     "the backbone reaches 1,200 layers by this row", 1),
    ("out 1e9", _model("[1, Conv, {out: 1000000000, kernel: 3}]"), [],
     "Conv: the feature maps reach 3.73 TiB at batch 1 (float32), over the limit of 1 GiB; "
     "raise it with BLOCKNAS_MAX_ACTIVATION_MIB", 0),
    ("reference out 1e9", _model("[1, Conv, [1000000000, 3, 1]]"), [], "the feature maps reach", 0),
    ("width_multiple inf", _model("[1, Conv, {out: 16, kernel: 3}]", top="width_multiple: .inf\n"),
     [], "'width_multiple' must be a positive number, got inf (it must be finite)", None),
    ("width_multiple nan", _model("[1, Conv, {out: 16, kernel: 3}]", top="width_multiple: .nan\n"),
     [], "'width_multiple' must be a positive number, got nan", None),
    ("depth_multiple nan", _model("[3, Conv, {out: 16, kernel: 3}]", top="depth_multiple: .nan\n"),
     [], "'depth_multiple' must be a positive number, got nan", None),
    ("depth_multiple inf", _model("[3, Conv, {out: 16, kernel: 3}]", top="depth_multiple: .inf\n"),
     [], "(it must be finite)", None),
    ("width_multiple 1e300", _model("[1, Conv, [16, 3, 1]]", top="width_multiple: 1.0e+300\n"),
     [], "the feature maps reach", 0),
    ("input size 100000", _model("[1, Conv, {out: 16, kernel: 3}]"), ["--input-size", "100000"],
     "the 3×100000×100000 input takes 112 GiB at batch 1 (float32), over the limit of 1 GiB", None),
    ("input channels", _model("[1, Conv, {out: 16, kernel: 3}]").replace("input_channel: 3",
     "input_channel: 1000000000"), [], "input takes", None),
    ("expand inf", _model("[1, InvertedResidualv2, {out: 16, expand: .inf}]"), [],
     "argument 'expand' = inf: input should be a finite number", 0),
    ("parameters", _model("[1, Conv, {out: 16384, kernel: 1}]", "[1, Conv, {out: 16384, kernel: 1}]",
     top="input_size: 1\n"), [],
     # conv 3→16384, BN, conv 16384→16384, BN, linear 16384→10
     f"the model has {3 * 16384 + 16384**2 + 4 * 16384 + 16384 * 10 + 10:,} parameters (269M; "
     "268M in this row), over the limit of 250,000,000; raise it with BLOCKNAS_MAX_PARAMS", 1),
    ("MACs", _model("[1, Conv, {out: 2048, kernel: 1}]", "[1, Conv, {out: 2048, kernel: 3}]",
     top="input_size: 96\n"), [], "MACs per image (348G), over the limit of 200,000,000,000; "
     "raise it with BLOCKNAS_MAX_MACS", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "text", "options", "fragment", "row"), HOSTILE, ids=[c[0] for c in HOSTILE]
)
def test_inspect_refuses_a_hostile_model_fast_in_one_line(
    case: str, text: str, options: list[str], fragment: str, row: int | None,
    tmp_path: Path, capsys: pytest.CaptureFixture[str], memory_cap: None,
) -> None:  # fmt: skip
    path = tmp_path / "model.yaml"
    path.write_text(text)
    start = time.perf_counter()
    code = main(["inspect", str(path), "--no-latency", *options])
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}: ")
    assert fragment in lines[0]
    assert ("backbone row" in lines[0]) == (row is not None)
    if row is not None:
        assert f"backbone row {row}: " in lines[0]
    assert "Traceback" not in err
    assert seconds < 10, f"took {seconds:.1f} s"


def _tiny() -> dict:
    return yaml.safe_load(_model("[2, Conv, {out: 8, kernel: 3}]", top="input_size: 128\n"))


def _sizes() -> tuple[int, int, int]:
    """Parameters, MACs and activation bytes of ``_tiny()``, counted here by hand from its layers."""
    net = build_from_spec(load_model_spec(_tiny()))
    maps = 3 * 128 * 128 + 2 * 8 * 128 * 128 + 8 + 8 + 10  # input, 2 convs, pool, flatten, linear
    return count_params(net), count_macs(net, net.input_shape), maps * 4


@pytest.mark.parametrize(
    ("key", "variable"),
    [("max_params", "BLOCKNAS_MAX_PARAMS"), ("max_macs", "BLOCKNAS_MAX_MACS"),
     ("max_layers", "BLOCKNAS_MAX_LAYERS"), ("max_activation_mib", "BLOCKNAS_MAX_ACTIVATION_MIB")],
)  # fmt: skip
def test_each_limit_is_lowered_and_raised_by_its_variable_and_argument(
    key: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    params, macs, activation = _sizes()
    exact = {"max_params": params, "max_macs": macs, "max_layers": 5,
             "max_activation_mib": -(-activation // 2**20)}[key]  # fmt: skip
    monkeypatch.setenv(variable, str(exact - 1))
    with pytest.raises(ModelTooLarge, match=f"raise it with {variable}"):
        load_model_spec(_tiny())
    with pytest.raises(ModelTooLarge, match=f"raise it with {variable}"):
        load_model_spec(_tiny(), limits=ModelLimits(**{key: exact - 1}))
    monkeypatch.setenv(variable, str(exact))
    assert load_model_spec(_tiny()).rows
    monkeypatch.delenv(variable)
    assert load_model_spec(_tiny(), limits=ModelLimits(**{key: exact})).rows


def test_a_raised_limit_lets_inspect_build_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(_tiny()))
    params = _sizes()[0]
    monkeypatch.setenv("BLOCKNAS_MAX_PARAMS", str(params - 1))
    assert main(["inspect", str(path), "--no-latency"]) == 2
    assert "over the limit of" in capsys.readouterr().err
    monkeypatch.setenv("BLOCKNAS_MAX_PARAMS", str(params))
    assert main(["inspect", str(path), "--no-latency"]) == 0
    assert f"total params: {params:,}" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["lots", "0", "-5", "nan", "inf"])
def test_a_bad_limit_variable_is_one_line(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(_tiny()))
    monkeypatch.setenv("BLOCKNAS_MAX_LAYERS", value)
    assert main(["inspect", str(path), "--no-latency"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: BLOCKNAS_MAX_LAYERS must be a positive number, got {value!r}\n"


def test_the_refusal_carries_the_size_when_it_is_known() -> None:
    params, macs, _ = _sizes()
    with pytest.raises(ModelTooLarge) as caught:
        load_model_spec(_tiny(), limits=ModelLimits(max_params=params - 1))
    assert caught.value.estimate is not None
    assert (caught.value.estimate.params, caught.value.estimate.macs) == (params, macs)
    with pytest.raises(ModelTooLarge) as caught:
        load_model_spec(_tiny(), limits=ModelLimits(max_layers=2))
    assert caught.value.estimate is None  # refused before any layer was built


def test_the_train_command_applies_the_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLOCKNAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BLOCKNAS_MAX_PARAMS", "100")
    model, data = tmp_path / "m.yaml", tmp_path / "d.yaml"
    model.write_text(yaml.safe_dump({**_tiny(), "input_channel": 1, "input_size": 8}))
    data.write_text(yaml.safe_dump({"dataset": "digits", "subset": 100, "train": {"epochs": 1}}))
    out = tmp_path / "run"
    code = main(["train", "-m", str(model), "-d", str(data), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert "over the limit of 100; raise it with BLOCKNAS_MAX_PARAMS" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (out / "best.pt").exists()


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_the_meta_estimate_is_the_built_models_size(path: Path) -> None:
    spec = load_model_spec(path)
    net = build_from_spec(spec)
    estimate = estimate_size(spec)
    assert estimate.params == count_params(net)
    assert estimate.macs == count_macs(net, net.input_shape)


@pytest.mark.parametrize("name", block_names())
def test_the_meta_estimate_holds_for_every_block(name: str) -> None:
    for example in get_block(name).examples:
        cfg = {"input_channel": 8, "input_size": 12, "backbone": [[1, name, example]]}
        try:
            spec = load_model_spec(cfg)
        except ConfigError:  # heads that need a pooled map
            cfg["backbone"] = [[1, "GlobalAvgPool", {}], *cfg["backbone"]]
            spec = load_model_spec(cfg)
        net = build_from_spec(spec)
        estimate = estimate_size(spec)
        assert estimate.params == count_params(net)
        assert estimate.macs == count_macs(net, net.input_shape)


def test_the_estimate_leaves_the_random_stream_alone() -> None:
    spec = load_model_spec(_tiny())
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    estimate_size(spec)
    assert torch.equal(torch.rand(4), expected)  # a seeded build after it is unchanged


def test_the_batch_latency_keeps_a_batch_within_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from blocknas.profile import profile

    per_image = _sizes()[2]
    monkeypatch.setenv("BLOCKNAS_MAX_ACTIVATION_MIB", "3")
    net = build_from_spec(load_model_spec(_tiny()))
    fits = 3 * 2**20 // per_image
    assert 1 <= fits < 32
    assert profile(net, batch_size=32, repeats=1).batch_size == fits
    monkeypatch.delenv("BLOCKNAS_MAX_ACTIVATION_MIB")
    assert profile(net, batch_size=32, repeats=1).batch_size == 32
