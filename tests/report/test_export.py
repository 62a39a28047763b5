"""Export to ONNX and TorchScript: files that load, outputs within tolerance, weights used."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from blocknas import build_model
from blocknas.errors import BlocknasError
from blocknas.report import export_model, resolve_source
from blocknas.report.export import _compare
from blocknas.train._checkpoint import save_checkpoint

from .factory import make_run, model_config

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("export") / "run", n_trials=3, pruned=0, failed=0)


def _trained_folder(root: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A train run folder whose best.pt holds weights unlike any fresh initialisation."""
    cfg = model_config(8, 1)
    model = build_model(cfg)
    gen = torch.Generator().manual_seed(123)
    learned = dict(model.named_parameters())  # BN statistics stay valid (variance > 0)
    state = {k: v + torch.randn(v.shape, generator=gen) if k in learned else v
             for k, v in model.state_dict().items()}  # fmt: skip
    root.mkdir(parents=True)
    import yaml

    (root / "model.yaml").write_text(yaml.safe_dump(cfg))
    save_checkpoint({"model": state}, root / "best.pt")
    return root, state


@pytest.mark.parametrize("exporter", ["auto", "legacy"])
def test_onnx_round_trips(run_dir: Path, exporter: str) -> None:
    import onnxruntime as ort

    out = run_dir / f"exported-{exporter}.onnx"
    r = export_model(run_dir / "trials/0001", "onnx", out=out, exporter=exporter,  # type: ignore[arg-type]
                     latency=False)  # fmt: skip
    assert r.passed and r.max_abs_diff <= 1e-4 and r.path == out
    assert r.checkpoint is None and any("random initial weights" in n for n in r.notes)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    logits = session.run(None, {"input": torch.zeros(3, 1, 8, 8).numpy()})[0]
    assert logits.shape == (3, 10)  # any batch size
    assert json.loads((run_dir / f"exported-{exporter}.onnx.json").read_text())["passed"]


def test_exports_carry_the_trained_weights(tmp_path: Path) -> None:
    folder, state = _trained_folder(tmp_path / "trained")
    reference = build_model(folder / "model.yaml")
    reference.load_state_dict(state)
    reference.eval()
    x = torch.randn(2, 1, 8, 8)
    r = export_model(folder, "torchscript", latency=False)
    assert r.passed and r.checkpoint == folder / "best.pt" and r.notes == ()
    with warnings.catch_warnings():  # torch.jit is deprecated; its files still load
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(r.path))
    with torch.inference_mode():
        assert torch.allclose(loaded(x), reference(x), atol=1e-5)
        assert not torch.allclose(build_model(folder / "model.yaml").eval()(x), reference(x))


def test_latency_is_measured_side_by_side(run_dir: Path) -> None:
    r = export_model(run_dir / "trials/0000", "onnx", exporter="legacy", out=run_dir / "l.onnx")
    assert r.runtime == "onnxruntime CPU" and r.latency_ms is not None and r.latency_ms > 0
    assert r.torch_latency_ms is not None and r.torch_latency_ms > 0


def test_sources_resolve(run_dir: Path, tmp_path: Path) -> None:
    assert resolve_source(run_dir / "2").folder == run_dir / "trials/0002"
    assert resolve_source(run_dir / "trials/0002/model.yaml").checkpoint is None
    retrained = run_dir / "trials/0002/retrain-full-e3"
    retrained.mkdir()
    save_checkpoint({"model": {}}, retrained / "best.pt")
    assert resolve_source(run_dir / "trials/0002").checkpoint == retrained / "best.pt"
    with pytest.raises(BlocknasError, match="not a trial folder"):
        resolve_source(tmp_path)
    with pytest.raises(BlocknasError, match="does not hold weights"):
        export_model(run_dir / "trials/0002", "onnx", latency=False)


def test_a_mismatch_fails_the_check() -> None:
    expected = [torch.ones(2, 3)]
    worst, ok = _compare(expected, [torch.ones(2, 3) + 5e-5], 1e-4, 0.0)
    assert ok and worst == pytest.approx(5e-5, rel=1e-2)  # float32 rounding of 1 + 5e-5
    worst, ok = _compare(expected, [torch.ones(2, 3) * 1.01], 1e-4, 1e-3)
    assert not ok and worst == pytest.approx(0.01)
    assert _compare(expected, [torch.ones(3, 3)], 1e-4, 1e-3)[1] is False
    nan = torch.full((2, 3), float("nan"))
    assert _compare([nan], [nan], 1e-4, 1e-3)[1] is False
