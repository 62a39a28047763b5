"""The block registry: every block type a model YAML may name, looked up by name.

A block is an ``nn.Module`` subclass registered with :func:`register_block`. It declares its typed
named arguments (a frozen pydantic model, ``Args``), how the reference format's positional argument
list maps onto them (:meth:`Block.from_reference`), and its own shape arithmetic
(:meth:`Block.out_channels`, :meth:`Block.out_size`). The model builder only ever calls these; it
never branches on the block type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict
from torch import nn

from blocknas.blocks._common import make_divisible
from blocknas.blocks._reading import DEFAULT_READING, ReferenceReading

__all__ = [
    "Block",
    "BlockArgs",
    "Copy",
    "Reference",
    "RepeatStride",
    "Size",
    "block_names",
    "get_block",
    "register_block",
]

# Spatial size (height, width) of a feature map, or None once the map is flattened to N×C.
Size = tuple[int, int] | None


class BlockArgs(BaseModel):
    """Base of every block's named arguments: frozen, strict types, unknown names rejected."""

    # allow_inf_nan: an infinite expansion or width would overflow the shape arithmetic.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class RepeatStride(Enum):
    """Which copies of a repeated row carry the row's stride."""

    FIRST = "first"  # the usual choice (torchvision, timm): downsample once, then keep the size
    LAST = "last"  # reference Conv / FixedConv / DWConv rows
    EACH = "each"  # pooling and dropout: identical copies


@dataclass(frozen=True)
class Reference:
    """A reference-format row converted to named arguments, with what its quirks changed."""

    args: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Copy:
    """One module instance of a row: its input channels and its (per-copy) arguments."""

    in_channels: int
    args: BlockArgs


A = TypeVar("A", bound=BlockArgs)


class Block(nn.Module):
    """Base class of registered blocks.

    Subclasses set ``Args`` and implement ``__init__(in_channels, args)``; they override the
    class methods below where their arithmetic differs from the defaults.
    """

    name: ClassVar[str] = ""
    Args: ClassVar[type[BlockArgs]] = BlockArgs
    # Names of the reference format's positional arguments, in order, and how many are required.
    reference_args: ClassVar[tuple[str, ...]] = ()
    reference_required: ClassVar[int] = 0
    reference_required_repeated: ClassVar[int | None] = None
    reference_extra_ignored: ClassVar[bool] = False  # pooling ignores extra arguments
    # The named argument that width_multiple scales (None: never scaled).
    width_arg: ClassVar[str | None] = None
    # Stride placement when a row is repeated; blocks without a stride ignore it.
    repeat_stride: ClassVar[RepeatStride] = RepeatStride.FIRST
    # Blocks that always appear once, whatever the row's repeat (classifier heads).
    single: ClassVar[bool] = False
    # Reference rows of these blocks build an nn.Sequential even for one copy (checkpoint keys).
    reference_always_sequential: ClassVar[bool] = False
    # Copies a reference row with repeat 0 builds (the reference builds one, or none for IR types).
    reference_zero_repeat: ClassVar[int] = 1
    # Named-argument examples, used by the registry-wide test (a new block must bring some).
    examples: ClassVar[tuple[dict[str, Any], ...]] = ()
    # False for blocks that always keep their input's channel count (pooling, dropout, ...).
    changes_channels: ClassVar[bool] = True
    # Whether ``num_classes`` may replace this block's ``out`` when it is the model's last such row.
    classifier: ClassVar[bool] = False
    # Whether the block works on flattened N×C input (Linear) rather than N×C×H×W maps.
    takes_flat: ClassVar[bool | None] = False  # None: either

    def __init__(self, in_channels: int, args: BlockArgs) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.args = args

    # ----- arithmetic -----------------------------------------------------------------------
    @classmethod
    def out_channels(cls, in_channels: int, args: Any) -> int:
        """Output channels for one copy; the default is the ``width_arg`` value or unchanged."""
        if cls.width_arg is None:
            return in_channels
        return int(getattr(args, cls.width_arg))

    @classmethod
    def out_size(cls, size: Size, args: Any) -> Size:
        """Output spatial size for one copy, given its input size. Default: unchanged."""
        return size

    @classmethod
    def validate_input(cls, in_channels: int, size: Size, args: Any) -> None:
        """Raise ValueError when the block cannot take this input (channels, size)."""
        if cls.takes_flat is True and size is not None:
            raise ValueError(
                f"needs a flattened input, got a {size[0]}×{size[1]} map (add Flatten)"
            )
        if cls.takes_flat is False and size is None:
            raise ValueError("needs an N×C×H×W feature map, but the input is already flattened")

    # ----- config forms ---------------------------------------------------------------------
    @classmethod
    def scale_width(cls, args: dict[str, Any], width: float) -> dict[str, Any]:
        """Named-form width scaling: multiply then round to a multiple of 8, only when width ≠ 1."""
        if cls.width_arg is None or width == 1.0 or cls.width_arg not in args:
            return args
        value = args[cls.width_arg]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return args  # left for validation to reject with a typed message
        return {**args, cls.width_arg: make_divisible(value * width)}

    @classmethod
    def from_reference(
        cls,
        values: Sequence[Any],
        width: float,
        repeat: int,
        reading: ReferenceReading = DEFAULT_READING,
    ) -> Reference:
        """Map a reference positional list onto named arguments, applying width as the reference does.

        The default reproduces the reference rule for the channel argument (``width_arg``):
        ``make_divisible(v * width)``, applied even at width 1.0. ``reading`` says which fork's
        reading a file follows, for the blocks whose rows forks read differently.
        """
        args = cls._positional(values, repeat)
        notes: list[str] = []
        if cls.width_arg is not None and cls.width_arg in args:
            written = args[cls.width_arg]
            if isinstance(written, int | float) and not isinstance(written, bool) and written > 0:
                scaled = make_divisible(written * width)
                args[cls.width_arg] = scaled
                if width == 1.0 and scaled != written:
                    notes.append(
                        f"{written} channels rounded to {scaled} (reference semantics: multiples of 8)"
                    )
        return Reference(args, tuple(notes))

    @classmethod
    def reading_in_force(cls, reading: ReferenceReading) -> str | None:
        """One line naming the reading this block's reference rows follow, where forks differ."""
        return None

    @classmethod
    def _positional(cls, values: Sequence[Any], repeat: int) -> dict[str, Any]:
        required = cls.reference_required
        if repeat > 1 and cls.reference_required_repeated is not None:
            required = cls.reference_required_repeated
        if len(values) < required:
            names = ", ".join(cls.reference_args[:required])
            when = " when repeated" if required != cls.reference_required else ""
            plural = "s" if required != 1 else ""
            raise ValueError(
                f"needs at least {required} argument{plural} [{names}]{when}, got {len(values)}"
            )
        if len(values) > len(cls.reference_args) and not cls.reference_extra_ignored:
            raise ValueError(
                f"takes at most {len(cls.reference_args)} arguments "
                f"[{', '.join(cls.reference_args)}], got {len(values)}"
            )
        return dict(zip(cls.reference_args, values, strict=False))

    @classmethod
    def with_stride(cls, args: A, stride: int) -> A:
        """A copy of ``args`` with another stride (only called for blocks that have a stride)."""
        return args.model_copy(update={"stride": stride})

    @classmethod
    def copies(cls, n: int, in_channels: int, args: Any, *, reference: bool) -> list[Copy]:
        """The module instances of a row repeated ``n`` times (``n`` already depth-scaled)."""
        if cls.single:
            return [Copy(in_channels, args)]
        if n == 0 and reference:
            # Degenerate in the reference format: most blocks still build one copy.
            n = cls.reference_zero_repeat
        has_stride = "stride" in cls.Args.model_fields
        placement = cls.repeat_stride if reference else RepeatStride.FIRST
        if cls.repeat_stride is RepeatStride.EACH:
            placement = RepeatStride.EACH
        result = []
        c = in_channels
        for i in range(n):
            copy_args = args
            if has_stride and placement is not RepeatStride.EACH:
                carries = i == 0 if placement is RepeatStride.FIRST else i == n - 1
                if not carries:
                    copy_args = cls.with_stride(args, 1)
            result.append(Copy(c, copy_args))
            c = cls.out_channels(c, copy_args)
        return result


_REGISTRY: dict[str, type[Block]] = {}

B = TypeVar("B", bound=type[Block])


def register_block(name: str | None = None):
    """Class decorator that registers a block under ``name`` (default: the class name)."""

    def decorator(cls: B) -> B:
        key = name or cls.__name__
        if key in _REGISTRY:
            raise ValueError(f"block {key!r} is already registered")
        cls.name = key
        _REGISTRY[key] = cls
        return cls

    return decorator


def get_block(name: str) -> type[Block]:
    """Look a block class up by its exact (case-sensitive) name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown block {name!r}; known blocks: {known}") from None


def block_names() -> list[str]:
    """Names of every registered block, sorted."""
    return sorted(_REGISTRY)
