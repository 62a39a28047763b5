"""Model profiling: parameters, MACs and measured CPU latency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from blocknas.model import BlockNet

__all__ = [
    "Profile",
    "RowProfile",
    "count_macs",
    "count_params",
    "measure_latency",
    "profile",
    "profile_rows",
]


@dataclass(frozen=True)
class Profile:
    """What a model costs. Latencies are milliseconds per batch (median over repeats)."""

    params: int
    macs: int
    input_shape: tuple[int, int, int]
    latency_ms: float | None = None  # batch 1
    latency_batch_ms: float | None = None  # batch ``batch_size``
    batch_size: int = 0
    threads: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of learnable parameters (buffers such as BN running statistics are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _input_shape(model: nn.Module, input_size: int | Sequence[int] | None) -> tuple[int, int, int]:
    default = getattr(model, "input_shape", None)
    if input_size is None:
        if default is None:
            raise ValueError("input_size is required for a model that does not declare one")
        return tuple(default)  # type: ignore[return-value]
    if isinstance(input_size, int):
        channels = default[0] if default is not None else 3
        return channels, input_size, input_size
    shape = tuple(int(v) for v in input_size)
    if len(shape) == 2:
        channels = default[0] if default is not None else 3
        return channels, shape[0], shape[1]
    if len(shape) != 3:
        raise ValueError(f"input_size must be S, (H, W) or (C, H, W), got {input_size!r}")
    return shape  # type: ignore[return-value]


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def count_macs(
    model: nn.Module, input_shape: tuple[int, int, int], *, device: str | torch.device | None = None
) -> int:
    """Multiply-accumulates of one forward pass at batch 1, from torch.utils.flop_counter.

    The counter sees the weight of a grouped convolution as out × in/groups × k², so depthwise
    convolutions count k² MACs per output element, as they should. Only convolutions and matrix
    products are counted (BN, activations and pooling are not), the usual convention.

    The input goes on ``device`` (default: the model's). A model built on the ``meta`` device
    gives the same count with nothing allocated: the counter reads only shapes.
    """
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros(1, *input_shape, device=device)
    counter = FlopCounterMode(display=False)
    with _eval_mode(model), torch.no_grad(), counter:
        model(x)
    return counter.get_total_flops() // 2


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    *,
    batch_size: int = 1,
    threads: int = 1,
    warmup: int = 5,
    repeats: int = 20,
) -> float:
    """Median wall time of a CPU forward pass in milliseconds, after warm-up, on ``threads`` threads."""
    x = torch.randn(batch_size, *input_shape)
    with _eval_mode(model), torch.inference_mode(), _threads(threads):
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def profile(
    model: nn.Module,
    input_size: int | Sequence[int] | None = None,
    *,
    latency: bool = True,
    batch_size: int = 32,
    threads: int = 1,
    repeats: int = 20,
) -> Profile:
    """Params, MACs and (optionally) CPU latency at batch 1 and ``batch_size``.

    ``input_size`` is S (square, the model's own channels), (H, W) or (C, H, W); a model built by
    blocknas knows its own input shape, so it may be omitted.

    >>> import blocknas
    >>> p = blocknas.profile(blocknas.build_model("configs/models/resnet8.yaml"))  # doctest: +SKIP
    """
    shape = _input_shape(model, input_size)
    params = count_params(model)
    macs = count_macs(model, shape)
    lat1 = latb = None
    if latency:
        batch_size = _batch_within_limits(model, shape, batch_size, macs)
        lat1 = measure_latency(model, shape, batch_size=1, threads=threads, repeats=repeats)
        latb = measure_latency(
            model, shape, batch_size=batch_size, threads=threads, repeats=repeats
        )
    return Profile(params, macs, shape, lat1, latb, batch_size if latency else 0, threads)


def _batch_within_limits(
    model: nn.Module, shape: tuple[int, int, int], batch_size: int, macs: int
) -> int:
    """``batch_size``, lowered so that a batch's feature maps and MACs stay within the limits
    that let the model be built (a model just within them at batch 1 needs 32× at batch 32)."""
    from blocknas.model import ModelLimits
    from blocknas.model._limits import activation_bytes

    if not isinstance(model, BlockNet) or shape != model.input_shape:
        return batch_size
    limits = ModelLimits.from_env()
    fits = limits.max_activation_bytes // activation_bytes(model.spec)
    if macs > 0:
        fits = min(fits, limits.max_macs // macs)
    return max(1, min(batch_size, fits))


@dataclass(frozen=True)
class RowProfile:
    """Cost of one backbone row of a :class:`~blocknas.model.BlockNet`."""

    index: int
    block: str
    args: dict[str, object]
    repeat: int
    in_channels: int
    out_channels: int
    out_size: tuple[int, int] | None
    params: int
    macs: int


def profile_rows(model: BlockNet) -> list[RowProfile]:
    """Params and MACs (batch 1) of each row of a BlockNet, in order."""
    spec = model.spec
    x = torch.zeros(1, *model.input_shape)
    rows = []
    with _eval_mode(model), torch.no_grad():
        for row, module in zip(spec.rows, model.layers, strict=True):
            counter = FlopCounterMode(display=False)
            with counter:
                x = module(x)
            rows.append(
                RowProfile(
                    row.index,
                    row.block.name,
                    row.args.model_dump(exclude_defaults=False),
                    len(row.layers),
                    row.in_channels,
                    row.out_channels,
                    row.out_size,
                    count_params(module),
                    counter.get_total_flops() // 2,
                )
            )
    return rows
