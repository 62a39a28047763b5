"""How large a model built from user input may be, judged from its spec before anything is allocated.

A model YAML, a ``--input-size`` or a search space can ask for any size: ``repeat: 1000000``,
``out: 1000000000``, a 100000-pixel input. Each of those once ran the process out of memory
before any check. The limits below are checked while the spec is read, in this order, so that
each check is cheap by the time it runs:

1. layers (module instances), from ``repeat`` × ``depth_multiple`` before any row is expanded;
2. activation memory, the sum of every layer's output map (float32, batch 1), from the shape
   arithmetic each block owns;
3. parameters and MACs, exact, from a build on PyTorch's ``meta`` device, which records shapes
   and allocates no storage.

Every command that builds a model from user input reads it through
:func:`blocknas.model.load_model_spec`, so none can skip them. The defaults let through the
largest models users plausibly inspect (EfficientNet-B7: 66M parameters, 37G MACs and ~0.15 GiB
of block outputs at 600 px, 55 blocks; ResNet-1202: 600 blocks) with room to spare, and refuse
what would take several GB.
Each is raised with an environment variable (so that it reaches search workers and every
command alike) or, from Python, with a :class:`ModelLimits` passed to ``load_model_spec``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from blocknas._io import env_number
from blocknas.errors import ConfigError

if TYPE_CHECKING:
    from blocknas.model.spec import ModelSpec

__all__ = ["LIMIT_ENV", "ModelLimits", "ModelTooLarge", "SizeEstimate", "estimate_size"]

BYTES_PER_VALUE = 4  # float32

# Environment variable that raises each limit, by ModelLimits field.
LIMIT_ENV = {
    "max_params": "BLOCKNAS_MAX_PARAMS",
    "max_macs": "BLOCKNAS_MAX_MACS",
    "max_activation_mib": "BLOCKNAS_MAX_ACTIVATION_MIB",
    "max_layers": "BLOCKNAS_MAX_LAYERS",
}


@dataclass(frozen=True)
class ModelLimits:
    """Upper bounds on a model read from user input.

    >>> spec = load_model_spec("big.yaml", limits=ModelLimits(max_params=10**9))  # doctest: +SKIP
    """

    # 1 GB of float32 weights (4 GB with gradients and two Adam moments): 4× EfficientNet-B7.
    max_params: int = 250_000_000
    # Multiply-accumulates of one forward pass at batch 1: 5× EfficientNet-B7 at 600 px. Bounds
    # the time of `inspect`'s forward passes and of every training step.
    max_macs: int = 200_000_000_000
    # Sum of every layer's output at batch 1 in float32, the input included: what training keeps
    # for the backward pass before blocks' internal tensors, ~7× EfficientNet-B7 at 600 px.
    max_activation_mib: int = 1024
    # Module instances after depth scaling (CIFAR's ResNet-1202 has 600 blocks). Bounds the time
    # of the meta build and forward that find parameters and MACs: ~3 ms per layer on CPU.
    max_layers: int = 1024

    @property
    def max_activation_bytes(self) -> int:
        return self.max_activation_mib * 2**20

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModelLimits:
        """The defaults, with any limit raised (or lowered) by its environment variable."""
        values = {}
        for key, var in LIMIT_ENV.items():
            value = env_number(var, "a positive number", lambda v: v >= 1, environ)
            if value is not None:
                values[key] = int(value)
        return cls(**values)


@dataclass(frozen=True)
class SizeEstimate:
    """Exact parameters and MACs (batch 1) of a spec's network, found without allocating it."""

    params: int
    macs: int


class ModelTooLarge(ConfigError):
    """A model over one of the :class:`ModelLimits`. ``estimate`` holds its parameters and MACs
    when they were found (they are not for too many layers or too much activation memory)."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        estimate: SizeEstimate | None = None,
    ) -> None:
        super().__init__(message, source=source, row=row)
        self.estimate = estimate


def human(n: float, unit: str = "") -> str:
    """1234567 → '1.23M'; with unit 'B', binary units (1.5 GiB)."""
    if n >= 10**18:  # beyond any unit, and maybe beyond a float (written as 1.23e45)
        if isinstance(n, float):
            return f"{n:.3g}"
        exp = int(math.log10(n))
        return f"{(n // 10 ** (exp - 2)) / 100:.2f}e{exp}{' B' if unit == 'B' else ''}"
    if unit == "B":
        for name, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if n >= scale:
                return f"{n / scale:.3g} {name}"
        return f"{n:.0f} B"
    for name, step in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= step:
            return f"{n / step:.3g}{name}"
    return f"{n:.0f}"


def count(n: float) -> str:
    """1234567 → '1,234,567'; beyond 10**18, as :func:`human` writes it."""
    return human(n) if n >= 10**18 else f"{n:,.0f}"


def _raise_with(key: str) -> str:
    return f"raise it with {LIMIT_ENV[key]}"


def check_layers(
    total: int, limits: ModelLimits, *, block: str, source: str | None, row: int
) -> None:
    """``total`` module instances up to and including ``row``."""
    if total > limits.max_layers:
        raise ModelTooLarge(
            f"{block}: the backbone reaches {count(total)} layers by this row (repeat × "
            f"depth_multiple), over the limit of {limits.max_layers:,}; "
            f"{_raise_with('max_layers')}",
            source=source,
            row=row,
        )


def map_bytes(channels: int, size: tuple[int, int] | None) -> int:
    """Bytes of one feature map at batch 1 (float32); a flat one when ``size`` is None."""
    return channels * (1 if size is None else size[0] * size[1]) * BYTES_PER_VALUE


def activation_bytes(spec: ModelSpec) -> int:
    """Bytes of the input and every layer's output of ``spec`` at batch 1 (float32): what the
    activation limit weighs."""
    size = (spec.input_size, spec.input_size)
    total = map_bytes(spec.input_channel, size)
    for row in spec.rows:
        total += sum(map_bytes(layer.out_channels, layer.out_size) for layer in row.layers)
    return total


def activation_excess(
    total: int, limits: ModelLimits, *, what: str, source: str | None, row: int | None
) -> ModelTooLarge | None:
    """The error for ``total`` bytes of feature maps so far, when over the limit (not raised:
    :func:`check_size` adds the parameters and MACs to it first)."""
    if total <= limits.max_activation_bytes:
        return None
    return ModelTooLarge(
        f"{what} {human(total, 'B')} at batch 1 (float32), over the limit of "
        f"{human(limits.max_activation_bytes, 'B')}; {_raise_with('max_activation_mib')}",
        source=source,
        row=row,
    )


def estimate_size(spec: ModelSpec) -> SizeEstimate:
    """Parameters and MACs of ``spec``'s network from a build on the ``meta`` device.

    Needs a spec already within the layer and activation limits (as every loaded spec is): the
    build takes time per layer, and nothing in it allocates memory.
    """
    estimate, _ = _meta_profile(spec)
    return estimate


def _meta_profile(spec: ModelSpec) -> tuple[SizeEstimate, list[int]]:
    """(estimate, parameters of each backbone row)."""
    import torch

    from blocknas.model.builder import BlockNet
    from blocknas.profile import count_macs, count_params

    try:
        with torch.device("meta"):
            model = BlockNet(spec)
        rows = [count_params(layer) for layer in model.layers]
        macs = count_macs(model, model.input_shape, device="meta")
    except (RuntimeError, TypeError, ValueError, OverflowError) as exc:
        # Shapes beyond int64 and blocks whose arguments PyTorch refuses: the real build would
        # fail the same way, after allocating what it could.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot build the model: {first}", source=spec.source) from None
    return SizeEstimate(sum(rows), macs), rows


def check_size(
    spec: ModelSpec, limits: ModelLimits, pending: ModelTooLarge | None = None
) -> SizeEstimate:
    """Refuse ``spec`` when its activation memory (``pending``: the error already found from the
    shape arithmetic), parameters or MACs pass the limits; else return its parameters and MACs.

    The error carries the estimate when the meta build could make one, so that a search can
    record a refused candidate's real size.
    """
    try:
        estimate, rows = _meta_profile(spec)
    except ConfigError:
        if pending is not None:
            raise pending from None
        raise
    if pending is not None:
        pending.estimate = estimate
        raise pending
    if estimate.params > limits.max_params:
        largest = max(range(len(rows)), key=rows.__getitem__)
        raise ModelTooLarge(
            f"the model has {estimate.params:,} parameters ({human(estimate.params)}; "
            f"{human(rows[largest])} in this row), over the limit of {limits.max_params:,}; "
            f"{_raise_with('max_params')}",
            source=spec.source,
            row=spec.rows[largest].index,
            estimate=estimate,
        )
    if estimate.macs > limits.max_macs:
        raise ModelTooLarge(
            f"the model takes {estimate.macs:,} MACs per image ({human(estimate.macs)}), over the "
            f"limit of {limits.max_macs:,}; {_raise_with('max_macs')}",
            source=spec.source,
            estimate=estimate,
        )
    return estimate
