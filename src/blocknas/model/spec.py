"""Model configs: YAML (reference or named form) → validated, frozen :class:`ModelSpec`.

This is the only place that reads model YAML. Every check that can be made without building a
module happens here — unknown blocks, argument counts and types, channel counts, feature maps that
shrink below 1×1 at the declared input size, models over the size limits of
:mod:`blocknas.model._limits` — and each failure is a :class:`ConfigError` naming the file and
the backbone row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from blocknas._io import read_yaml
from blocknas.blocks import Block, BlockArgs, MBConvVariant, ReferenceReading, Size, get_block
from blocknas.blocks._reading import VARIANT_KEY
from blocknas.errors import ConfigError
from blocknas.model._limits import (
    LIMIT_ENV,
    ModelLimits,
    ModelTooLarge,
    SizeEstimate,
    activation_excess,
    check_layers,
    check_size,
    count,
    map_bytes,
)

__all__ = ["LayerSpec", "ModelSpec", "RowSpec", "effective_repeat", "load_model_spec"]

TOP_LEVEL_KEYS = {
    "input_channel": "image channels (normally 3)",
    "depth_multiple": "scales repeat counts",
    "width_multiple": "scales output channels",
    "backbone": "list of [repeat, Module, args] rows",
    "num_classes": "replaces the output width of the classifier row",
    "input_size": "input side in pixels the model is meant for (default 32)",
    VARIANT_KEY: "which fork's reading of reference MBConv rows [t, c, s, k]: 'template' (default: "
    "output channels from t, c ignored) or 'channels' (output channels from c)",
    "name": "free text",
    "description": "free text",
}
DEFAULT_INPUT_SIZE = 32


@dataclass(frozen=True)
class LayerSpec:
    """One module instance: a copy of a row."""

    in_channels: int
    out_channels: int
    in_size: Size
    out_size: Size
    args: BlockArgs


@dataclass(frozen=True)
class RowSpec:
    """One backbone row, resolved: its block class, scaled arguments and module instances."""

    index: int
    block: type[Block]
    repeat: int  # as written
    args: BlockArgs  # after width scaling (and num_classes)
    reference: bool  # positional reference-format row, with the reference's quirks
    layers: tuple[LayerSpec, ...]
    in_channels: int
    out_channels: int
    in_size: Size
    out_size: Size
    sequential: bool  # built as nn.Sequential (else the bare module)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """A validated model: what ``build_model`` turns into an ``nn.Module``, with no further checks."""

    input_channel: int
    depth_multiple: float
    width_multiple: float
    input_size: int
    num_classes: int | None
    rows: tuple[RowSpec, ...]
    source: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict, repr=False)
    reading: ReferenceReading = field(default_factory=ReferenceReading)
    # Parameters and MACs, found while checking the size limits (None for a hand-made spec).
    cost: SizeEstimate | None = field(default=None, repr=False, compare=False)

    @property
    def out_channels(self) -> int:
        return self.rows[-1].out_channels if self.rows else self.input_channel

    def to_dict(self) -> dict[str, Any]:
        """The config this spec was read from, with the resolved num_classes and input_size.

        Loading it again gives the same network, so a run folder can store it.
        """
        data = dict(self.config)
        if self.num_classes is not None:
            data["num_classes"] = self.num_classes
        data["input_size"] = self.input_size
        return data

    def notes(self) -> list[str]:
        """Warnings for reference rows whose quirks changed the network, one line each."""
        return [f"row {r.index} {r.block.name}: {n}" for r in self.rows for n in r.notes]

    def readings(self) -> list[str]:
        """The fork readings in force for this model's reference rows, one line per block type."""
        lines = (r.block.reading_in_force(self.reading) for r in self.rows if r.reference)
        return list(dict.fromkeys(line for line in lines if line is not None))


def effective_repeat(repeat: int, depth: float) -> int:
    """Depth scaling: repeats above 1 become max(round(r·d), 1) (half to even); others stay."""
    return max(round(repeat * depth), 1) if repeat > 1 else repeat


def load_model_spec(
    source: str | Path | Mapping[str, Any] | ModelSpec,
    *,
    num_classes: int | None = None,
    input_size: int | None = None,
    mbconv_variant: str | MBConvVariant | None = None,
    limits: ModelLimits | None = None,
) -> ModelSpec:
    """Read and validate a model config from a YAML path, a YAML string's parsed mapping, or a spec.

    ``num_classes``, ``input_size`` and ``mbconv_variant`` (how reference MBConv rows are read:
    ``"template"`` or ``"channels"``) override the config's own values. A model over
    ``limits`` (default: :meth:`ModelLimits.from_env`) is refused with
    :class:`~blocknas.model._limits.ModelTooLarge` before anything is allocated.

    >>> spec = load_model_spec("configs/models/mobilenetv2.yaml", num_classes=10)  # doctest: +SKIP
    """
    limits = ModelLimits.from_env() if limits is None else limits
    if isinstance(source, ModelSpec):
        over = _overrides(num_classes, input_size, mbconv_variant)
        if not over:
            return source
        return _load({**source.config, **over}, limits=limits, _name=source.source)
    return _load(
        source,
        num_classes=num_classes,
        input_size=input_size,
        mbconv_variant=mbconv_variant,
        limits=limits,
    )


def _overrides(
    num_classes: int | None, input_size: int | None, mbconv_variant: str | MBConvVariant | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if num_classes is not None:
        out["num_classes"] = num_classes
    if input_size is not None:
        out["input_size"] = input_size
    if mbconv_variant is not None:
        # Checked here so the message names the option, not a key the file may not have.
        try:
            out[VARIANT_KEY] = MBConvVariant.parse(mbconv_variant, f"option {VARIANT_KEY}").value
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return out


def _load(
    source: str | Path | Mapping[str, Any],
    *,
    num_classes: int | None = None,
    input_size: int | None = None,
    mbconv_variant: str | MBConvVariant | None = None,
    limits: ModelLimits,
    _name: str | None = None,
) -> ModelSpec:
    name = _name
    if isinstance(source, str | Path):
        name = str(source)
        data = read_yaml(source)
    else:
        data = source
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"a model config must be a mapping of keys, got {type(data).__name__}", source=name
        )
    data = {**data, **_overrides(num_classes, input_size, mbconv_variant)}
    return _parse(data, name, limits)


def _number(data: Mapping[str, Any], key: str, default: Any, kind: type, name: str | None) -> Any:
    value = data.get(key, default)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    finite = True
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        # nan passes "<= 0" and inf scales every repeat or width past any limit
        finite = not ok or math.isfinite(value)
    if not ok or not finite or value <= 0:
        what = "a positive integer" if kind is int else "a positive number"
        why = "" if finite else " (it must be finite)"
        raise ConfigError(f"'{key}' must be {what}, got {value!r}{why}", source=name)
    return kind(value)


def _parse(data: Mapping[str, Any], name: str | None, limits: ModelLimits) -> ModelSpec:
    unknown = sorted(set(map(str, data)) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}; known keys: {', '.join(TOP_LEVEL_KEYS)}", source=name
        )
    for key in ("input_channel", "backbone"):
        if key not in data:
            raise ConfigError(f"missing key '{key}' ({TOP_LEVEL_KEYS[key]})", source=name)
    channels = _number(data, "input_channel", 3, int, name)
    depth = _number(data, "depth_multiple", 1.0, float, name)
    width = _number(data, "width_multiple", 1.0, float, name)
    size = _number(data, "input_size", DEFAULT_INPUT_SIZE, int, name)
    classes = data.get("num_classes")
    if classes is not None:
        classes = _number(data, "num_classes", None, int, name)
    try:
        variant = MBConvVariant.parse(data.get(VARIANT_KEY, "template"), repr(VARIANT_KEY))
    except ValueError as exc:
        raise ConfigError(str(exc), source=name) from None
    reading = ReferenceReading(mbconv_variant=variant)
    backbone = data["backbone"]
    if not isinstance(backbone, list) or not backbone:
        raise ConfigError(
            f"'backbone' must be a non-empty list of [repeat, Module, args] rows, got {backbone!r}",
            source=name,
        )
    raw_rows = []
    layers = 0
    for i, row in enumerate(backbone):
        # Counted before any row is expanded into its copies: repeat 1000000 must cost nothing.
        raw_rows.append(_parse_row(i, row, depth, width, reading, name, limits))
        layers += raw_rows[-1].copies
        check_layers(layers, limits, block=raw_rows[-1].block.name, source=name, row=i)
    if classes is not None:
        raw_rows = _set_num_classes(raw_rows, classes, name)
    rows, too_large = _walk(raw_rows, channels, size, name, limits)
    spec = ModelSpec(
        channels, depth, width, size, classes, tuple(rows), name, dict(data), reading=reading
    )
    return replace(spec, cost=check_size(spec, limits, too_large))


@dataclass(frozen=True)
class _Row:
    index: int
    block: type[Block]
    repeat: int
    n: int
    args: BlockArgs
    reference: bool
    notes: tuple[str, ...]

    @property
    def copies(self) -> int:
        """Module instances the row builds (what :meth:`Block.copies` returns, uncounted)."""
        if self.block.single:
            return 1
        if self.n == 0 and self.reference:
            return self.block.reference_zero_repeat
        return self.n



def _parse_row(
    index: int,
    row: Any,
    depth: float,
    width: float,
    reading: ReferenceReading,
    name: str | None,
    limits: ModelLimits,
) -> _Row:
    def fail(message: str) -> ConfigError:
        return ConfigError(message, source=name, row=index)

    if not isinstance(row, list) or len(row) != 3:
        raise fail(f"expected [repeat, Module, args], got {row!r}")
    repeat, module, values = row
    if not isinstance(module, str):
        raise fail(f"module name must be a string, got {module!r}")
    try:
        block = get_block(module)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
        raise fail(f"{module}: repeat must be a non-negative integer, got {repeat!r}")
    if repeat > 1 and not block.single:
        try:
            scaled = repeat * depth
        except OverflowError:  # an integer beyond any float
            scaled = math.inf
        if scaled > limits.max_layers:
            raise ModelTooLarge(
                f"{module}: repeat {count(repeat)} × depth_multiple {depth:g} makes "
                f"{count(scaled)} layers, over the limit of {limits.max_layers:,}; raise it with "
                f"{LIMIT_ENV['max_layers']}",
                source=name,
                row=index,
            )
    n = effective_repeat(repeat, depth)
    if values is None:
        values = []
    notes: list[str] = []
    if isinstance(values, list):
        reference = True
        try:
            ref = block.from_reference(values, width, n, reading)
        except (ValueError, OverflowError) as exc:
            raise fail(f"{module}: {exc}") from None
        args, notes = ref.args, list(ref.notes)
        if block.single and repeat > 1:
            notes.append(f"repeat {repeat} ignored: {module} appears once")
    elif isinstance(values, Mapping):
        reference = False
        if repeat == 0:
            raise fail(f"{module}: repeat must be at least 1")
        try:
            args = block.scale_width(dict(values), width)
        except OverflowError as exc:
            raise fail(f"{module}: {exc} (width_multiple {width:g})") from None
    else:
        raise fail(f"{module}: args must be a list (reference form) or a mapping, got {values!r}")
    try:
        typed = block.Args.model_validate(args)
    except ValidationError as exc:
        raise fail(f"{module}: {_describe(exc, block)}") from None
    return _Row(index, block, repeat, n, typed, reference, tuple(notes))


def _describe(exc: ValidationError, block: type[Block]) -> str:
    """One line from pydantic's first error, in config terms."""
    err = exc.errors()[0]
    arg = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "args"
    arg = arg.split(".")[0]
    known = ", ".join(block.Args.model_fields)
    if err["type"] == "extra_forbidden":
        return f"unknown argument {arg!r}; arguments: {known}"
    if err["type"] == "missing":
        return f"missing argument {arg!r}; arguments: {known}"
    value = err.get("input")
    msg = err["msg"].replace("Value error, ", "")
    return f"argument {arg!r} = {value!r}: {msg[0].lower()}{msg[1:]}"


def _set_num_classes(rows: list[_Row], classes: int, name: str | None) -> list[_Row]:
    """Point the last channel-setting row at ``classes`` outputs, if it is a classifier."""
    for i in range(len(rows) - 1, -1, -1):
        row = rows[i]
        if not row.block.changes_channels:
            continue  # pooling, flatten, dropout
        if not row.block.classifier:
            raise ConfigError(
                f"num_classes: the last channel-setting row is {row.block.name}, "
                "not a classifier (Linear, FixedConv or Conv)",
                source=name,
                row=row.index,
            )
        current = row.args.model_dump()["out"]
        if current == classes:
            return rows
        args = row.args.model_copy(update={"out": classes})
        note = f"num_classes {classes} replaces {current} output channels"
        rows[i] = _Row(
            row.index, row.block, row.repeat, row.n, args, row.reference, (*row.notes, note)
        )
        return rows
    raise ConfigError("num_classes: the backbone has no classifier row", source=name)


def _walk(
    rows: list[_Row], channels: int, size: int, name: str | None, limits: ModelLimits
) -> tuple[list[RowSpec], ModelTooLarge | None]:
    """Follow channels and spatial size through the rows; each block does its own arithmetic.

    Also adds up the feature maps' memory; the error for the first row that takes it over the
    limit is returned rather than raised, for :func:`check_size` to add the model's size to it.
    """
    c: int = channels
    hw: Size = (size, size)
    out: list[RowSpec] = []
    memory = map_bytes(c, hw)
    too_large = activation_excess(
        memory, limits, what=f"the {c}×{size}×{size} input takes", source=name, row=None
    )
    for row in rows:
        block, in_c, in_hw = row.block, c, hw
        layers = []
        for copy in block.copies(row.n, c, row.args, reference=row.reference):
            try:
                block.validate_input(copy.in_channels, hw, copy.args)
            except ValueError as exc:
                raise ConfigError(f"{block.name}: {exc}", source=name, row=row.index) from None
            next_c = block.out_channels(copy.in_channels, copy.args)
            next_hw = block.out_size(hw, copy.args)
            if next_hw is not None and min(next_hw) < 1:
                assert hw is not None
                raise ConfigError(
                    f"{block.name}: the feature map shrinks below 1×1 ({hw[0]}×{hw[1]} → "
                    f"{next_hw[0]}×{next_hw[1]}) for input size {size}",
                    source=name,
                    row=row.index,
                )
            layers.append(LayerSpec(copy.in_channels, next_c, hw, next_hw, copy.args))
            c, hw = next_c, next_hw
            memory += map_bytes(c, hw)
        declared = block.out_channels(in_c, row.args)
        if c != declared:  # an empty row (reference repeat 0) must not change the width
            raise ConfigError(
                f"{block.name}: repeat {row.repeat} builds no block, but the row declares "
                f"{declared} output channels (input has {in_c})",
                source=name,
                row=row.index,
            )
        sequential = len(layers) > 1 or (row.reference and block.reference_always_sequential)
        out.append(
            RowSpec(
                row.index,
                block,
                row.repeat,
                row.args,
                row.reference,
                tuple(layers),
                in_c,
                c,
                in_hw,
                hw,
                sequential,
                row.notes,
            )
        )
        if too_large is None:
            too_large = activation_excess(
                memory, limits, what=f"{block.name}: the feature maps reach", source=name,
                row=row.index,
            )  # fmt: skip
    return out, too_large
