"""Shipping a model: ONNX or TorchScript, checked against PyTorch, with its runtime latency.

The source is a trial folder (``RUN_DIR/trials/NNNN``: its ``model.yaml``, and trained weights
from its ``best.pt`` or its newest ``retrain-*/best.pt``) or a ``blocknas train`` run folder
(``model.yaml`` + ``best.pt``). A search keeps no weights, so a trial that was never retrained
is exported with its random initial weights (the result says so): the graph, the shapes and the
latency are right, the predictions are not.

The exported model takes ``input`` of shape (batch, C, H, W), any batch size, and returns
``logits``. Outputs are compared with the PyTorch model's on random inputs at batch 1 and 4:
the check passes when ``|exported − torch| <= atol + rtol·|torch|`` everywhere.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from blocknas._io import atomic_path, trial_dir, write_json
from blocknas.errors import BlocknasError
from blocknas.model import BlockNet

__all__ = [
    "ATOL",
    "RTOL",
    "ExportFormat",
    "ExportResult",
    "ModelSource",
    "export_model",
    "resolve_source",
]

ExportFormat = Literal["onnx", "torchscript"]
# float32 kernels of different runtimes sum in different orders: 1e-4 absolute plus 1e-3
# relative bounds that difference for logits of small networks with a wide margin, while a
# wrong graph (missing layer, wrong weights) differs by orders of magnitude more.
ATOL = 1e-4
RTOL = 1e-3
_CHECK_BATCHES = (1, 4)
_SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


@dataclass(frozen=True)
class ModelSource:
    """A model config and, when there are trained weights, the checkpoint holding them."""

    model_yaml: Path
    checkpoint: Path | None
    folder: Path


@dataclass(frozen=True)
class ExportResult:
    """What was written and how well it matches PyTorch.

    ``latency_ms`` is the exported model's median batch-1 latency in its runtime
    (onnxruntime's CPU provider, or TorchScript on CPU), ``torch_latency_ms`` the PyTorch
    model's, measured side by side on the same threads; None when not measured.
    """

    path: Path
    format: str
    exporter: str
    checkpoint: Path | None
    max_abs_diff: float
    atol: float
    rtol: float
    passed: bool
    runtime: str | None
    latency_ms: float | None
    torch_latency_ms: float | None
    threads: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "format": self.format, "exporter": self.exporter,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "max_abs_diff": self.max_abs_diff, "atol": self.atol, "rtol": self.rtol,
            "passed": self.passed, "runtime": self.runtime, "latency_ms": self.latency_ms,
            "torch_latency_ms": self.torch_latency_ms, "threads": self.threads,
            "notes": list(self.notes),
        }  # fmt: skip


def resolve_source(path: str | Path) -> ModelSource:
    """Find the model config and weights of a trial folder, a train run folder, a model YAML,
    or ``RUN_DIR/N`` (trial number N of a run folder)."""
    p = Path(path)
    if not p.exists() and p.name.isdigit() and (p.parent / "trials").is_dir():
        p = trial_dir(p.parent, int(p.name))
    if p.is_file() and p.suffix in (".yaml", ".yml"):
        folder, model = p.parent, p
    elif p.is_dir() and (p / "model.yaml").is_file():
        folder, model = p, p / "model.yaml"
    else:
        raise BlocknasError(
            f"{path}: not a trial folder, a train run folder or a model YAML "
            "(expected a folder holding model.yaml)"
        )
    checkpoint = folder / "best.pt" if (folder / "best.pt").is_file() else None
    if checkpoint is None:
        retrained = sorted(folder.glob("retrain-*/best.pt"), key=lambda f: f.stat().st_mtime)
        checkpoint = retrained[-1] if retrained else None
    return ModelSource(model, checkpoint, folder)


def _load_model(source: ModelSource, seed: int) -> BlockNet:
    from blocknas.model import build_model
    from blocknas.train import load_weights

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(source.model_yaml)
    if source.checkpoint is not None:
        load_weights(model, source.checkpoint, source.model_yaml)
    model.eval()
    return model


def _inputs(shape: tuple[int, int, int], seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, *shape, generator=gen) for n in _CHECK_BATCHES]


def _compare(
    expected: list[torch.Tensor], got: list[Any], atol: float, rtol: float
) -> tuple[float, bool]:
    worst, ok = 0.0, True
    for e, g in zip(expected, got, strict=True):
        g = torch.as_tensor(g, dtype=e.dtype)
        if g.shape != e.shape:
            return float("inf"), False
        diff = (g - e).abs()
        if bool(diff.isnan().any()):  # NaN outputs match nothing, not even each other
            return float("nan"), False
        worst = max(worst, float(diff.max()))
        ok = ok and bool((diff <= atol + rtol * e.abs()).all())
    return worst, ok


def _median_ms(fn: Any, warmup: int = 5, repeats: int = 30) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def _onnx_exporter(exporter: str) -> str:
    if exporter != "auto":
        return exporter
    try:
        import onnxscript  # noqa: F401  (the torch.export-based exporter needs it)
    except ImportError:
        return "legacy"
    return "dynamo"


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path, exporter: str) -> None:
    inputs, outputs = ["input"], ["logits"]
    if exporter == "dynamo":
        batch = torch.export.Dim("batch")
        torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False,
                          dynamic_shapes=({0: batch},), verbose=False, input_names=inputs,
                          output_names=outputs)  # fmt: skip
        return
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated; it is the one that works without
        # onnxscript (an optional dependency), so its warnings are expected here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=inputs,
                          output_names=outputs,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})  # fmt: skip


def _onnx(
    model: nn.Module, inputs: list[torch.Tensor], path: Path, exporter: str, threads: int,
    latency: bool,
) -> tuple[list[Any], float | None, str | None, list[str]]:  # fmt: skip
    import onnx

    notes = []
    if exporter == "legacy":
        notes.append("onnxscript is not installed: used the deprecated TorchScript-based ONNX "
                     "exporter (pip install 'blocknas[export]' for the current one)")  # fmt: skip
    _export_onnx(model, inputs[-1], path, exporter)
    onnx.checker.check_model(str(path))
    try:
        import onnxruntime as ort
    except ImportError:
        notes.append("onnxruntime is not installed: outputs checked by nothing, latency unknown")
        return [], None, None, notes
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outputs = [session.run(None, {"input": x.numpy()})[0] for x in inputs]
    ms = None
    if latency:
        feed = {"input": inputs[0].numpy()}
        ms = _median_ms(lambda: session.run(None, feed))
    return outputs, ms, "onnxruntime CPU", notes


def _torchscript(
    model: nn.Module, inputs: list[torch.Tensor], path: Path, threads: int, latency: bool
) -> tuple[list[Any], float | None, str | None, list[str]]:
    from blocknas.profile import measure_latency

    with warnings.catch_warnings():
        # torch.jit is deprecated in favour of torch.export, but TorchScript files are still
        # what LibTorch (C++) deployments load; the format is exported on request.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model, inputs[-1])
        torch.jit.save(traced, str(path))
        loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            outputs = [loaded(x) for x in inputs]
        ms = None
        if latency:
            c, h, w = inputs[0].shape[1:]
            ms = measure_latency(loaded, (c, h, w), threads=threads, repeats=30)
    return outputs, ms, "TorchScript CPU", []


def export_model(
    source: str | Path,
    fmt: ExportFormat = "onnx",
    *,
    out: str | Path | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
    threads: int = 1,
    latency: bool = True,
    seed: int = 0,
    exporter: Literal["auto", "dynamo", "legacy"] = "auto",
) -> ExportResult:
    """Export a model (see :func:`resolve_source`), check its outputs against PyTorch within
    ``atol``/``rtol`` and measure its CPU latency. Writes the model (default: ``model.onnx`` or
    ``model.torchscript.pt`` in the source folder) and the result as ``<file>.json`` beside it. ``exporter`` chooses the ONNX exporter (``auto``: torch.export-based
    when onnxscript is installed, else the legacy one).

    >>> r = export_model("runs/digits-20250101-120000/trials/0007", "onnx")  # doctest: +SKIP
    >>> r.passed, r.max_abs_diff  # doctest: +SKIP
    (True, 2.4e-07)
    """
    from blocknas.profile import measure_latency

    if fmt not in _SUFFIX:
        raise BlocknasError(f"unknown export format {fmt!r}; choose onnx or torchscript")
    for name, tol in (("atol", atol), ("rtol", rtol)):
        if not math.isfinite(tol) or tol < 0:  # a negative bound fails every output, NaN any
            raise BlocknasError(f"--{name} must be a number >= 0, got {tol:g}")
    if out is not None and Path(out).is_dir():
        example = Path(out) / f"model{_SUFFIX[fmt]}"
        raise BlocknasError(f"--out {out} is a folder; give a file name, e.g. {example}")
    src = resolve_source(source)
    model = _load_model(src, seed)
    notes = []
    if src.checkpoint is None:
        notes.append(f"no trained weights in {src.folder}: exported with random initial weights "
                     "(retrain the trial first to ship a trained model)")  # fmt: skip
    target = Path(out) if out is not None else src.folder / f"model{_SUFFIX[fmt]}"
    shape = model.input_shape
    inputs = _inputs(shape, seed)
    with torch.inference_mode():
        expected = [model(x) for x in inputs]
    # Written under a temporary name and checked there: a failed export or a full disk leaves
    # no half-written model at ``target`` (and an older one as it was).
    with atomic_path(target) as tmp:
        if fmt == "onnx":
            used = _onnx_exporter(exporter)
            got, ms, runtime, more = _onnx(model, inputs, tmp, used, threads, latency)
        else:
            used = "torch.jit.trace"
            got, ms, runtime, more = _torchscript(model, inputs, tmp, threads, latency)
    notes += more
    worst, passed = _compare(expected, got, atol, rtol) if got else (float("nan"), False)
    torch_ms = measure_latency(model, shape, threads=threads, repeats=30) if latency else None
    result = ExportResult(
        path=target, format=fmt, exporter=used, checkpoint=src.checkpoint, max_abs_diff=worst,
        atol=atol, rtol=rtol, passed=passed, runtime=runtime, latency_ms=ms,
        torch_latency_ms=torch_ms, threads=threads, notes=tuple(notes),
    )  # fmt: skip
    write_json(target.parent / f"{target.name}.json", result.to_dict())
    return result
