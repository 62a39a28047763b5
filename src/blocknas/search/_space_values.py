"""Checks of a search space's values that the sampled model would only fail on, run when the
config is loaded: a bad choice such as ``out: {choices: [-8, 8]}`` is reported once, naming its
key, instead of failing every trial that samples it.

The cells' own block arguments are checked by ``config._check_space_types``; this covers the
values the space fills into blocks itself: the stages' ``out`` channels, the head, the
multiples, and repeats that no model could hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from blocknas.blocks import get_block
from blocknas.errors import ConfigError
from blocknas.search.params import ParamSpec, spec_values

if TYPE_CHECKING:
    from blocknas.search.config import Cell, SearchSpace

__all__ = ["check_space_values"]


def check_space_values(space: SearchSpace, source: str | None) -> None:
    """Raise a one-line :class:`ConfigError` naming the first space key with an impossible value."""
    _check_multiples(space, source)
    if space.stages is not None:
        stages = space.stages
        for s in range(stages.count):
            cells = [c for c in (stages.nc[s], stages.rc[s]) if c is not None]
            for value in spec_values(stages.out[s]):
                for cell in cells:
                    _check_out(cell, value, f"space.stages.out (stage {s + 1})", source)
        _check_repeats(space, source)
    _check_head(space, source)


def _fail(where: str, value: Any, exc: ValidationError, source: str | None) -> ConfigError:
    msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return ConfigError(f"{where}: value {value!r}: {msg}", source=source)


def _check_out(cell: Cell, value: Any, where: str, source: str | None) -> None:
    """``value`` as the ``out`` of every block of ``cell`` that takes the stage's channels."""
    for name, given in cell.options.items():
        block = get_block(name)
        if "out" not in block.Args.model_fields or "out" in given:
            continue
        args = {arg: spec_values(spec)[0] for arg, spec in given.items()}
        try:
            block.Args.model_validate({**args, "out": value})
        except ValidationError as exc:
            raise _fail(f"{where} for {name}", value, exc, source) from None


def _check_multiples(space: SearchSpace, source: str | None) -> None:
    for key in ("width_multiple", "depth_multiple"):
        for value in spec_values(getattr(space, key)):
            if isinstance(value, int | float) and not math.isfinite(value):
                raise ConfigError(
                    f"space.{key}: value {value!r}: must be a finite positive number",
                    source=source,
                )


def _check_repeats(space: SearchSpace, source: str | None) -> None:
    """A stage whose largest repeat, scaled by the largest depth_multiple, passes the model layer
    limit could only give unbuildable candidates."""
    from blocknas.model import ModelLimits
    from blocknas.model._limits import LIMIT_ENV

    assert space.stages is not None
    limit = ModelLimits.from_env().max_layers
    depth = max(float(v) for v in spec_values(space.depth_multiple))
    for s, spec in enumerate(space.stages.repeat, 1):
        most = max(int(v) for v in spec_values(spec))
        if most > 1 and most * depth > limit:
            raise ConfigError(
                f"space.stages.repeat (stage {s}): up to {most:,} × depth_multiple {depth:g} "
                f"layers, over the limit of {limit:,} layers in a model; raise it with "
                f"{LIMIT_ENV['max_layers']}",
                source=source,
            )


def _check_head(space: SearchSpace, source: str | None) -> None:
    """The head's values as the Conv and Dropout rows ``space._suggest_head`` makes of them."""
    head = space.head
    conv, drop = get_block("Conv").Args, get_block("Dropout").Args
    checks: list[tuple[str, ParamSpec, Callable[[Any], Any]]] = [
        # 0 (or null) channels: no head convolution; dropout 0: no Dropout row
        ("conv", head.conv, lambda v: v and conv.model_validate({"out": v, "kernel": 1})),
        ("act", head.act, lambda v: conv.model_validate({"out": 8, "kernel": 1, "act": v})),
        ("dropout", head.dropout, lambda v: v and drop.model_validate({"p": v})),
    ]
    for key, spec, check in checks:
        for value in spec_values(spec):
            try:
                check(value)
            except ValidationError as exc:
                raise _fail(f"space.head.{key}", value, exc, source) from None
