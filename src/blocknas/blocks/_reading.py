"""How to read reference rows whose meaning differs between the template and its forks.

The reference format is one template copied by many forks; a few forks changed what a positional
row means. A :class:`ReferenceReading` says which reading a model file follows. It is chosen once,
at the config boundary (a top-level key or an option), and passed to each block's
``from_reference``: no global switch, so two models read differently can be built in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["DEFAULT_READING", "VARIANT_KEY", "MBConvVariant", "ReferenceReading"]

# The top-level model key that picks the MBConv reading (the option is spelled the same).
VARIANT_KEY = "mbconv_variant"


class MBConvVariant(Enum):
    """Where a reference MBConv row ``[t, c, s, k]`` takes its output channels from."""

    TEMPLATE = "template"  # make_divisible(t·width): the template's code; c is ignored
    CHANNELS = "channels"  # make_divisible(c·width): the forks that fixed it

    @property
    def rule(self) -> str:
        if self is MBConvVariant.TEMPLATE:
            return "output channels = make_divisible(args[0]·width), the expansion; args[1] ignored"
        return "output channels = make_divisible(args[1]·width), the channel argument"

    @classmethod
    def parse(cls, value: Any, where: str) -> MBConvVariant:
        """The variant named by ``value``; a ValueError naming ``where`` for anything else."""
        if isinstance(value, cls):
            return value
        for variant in cls:
            if value == variant.value:
                return variant
        known = ", ".join(repr(v.value) for v in cls)
        raise ValueError(f"{where} must be one of {known}, got {value!r}")


@dataclass(frozen=True)
class ReferenceReading:
    """The reading of reference rows a model file follows (default: the template's)."""

    mbconv_variant: MBConvVariant = MBConvVariant.TEMPLATE


DEFAULT_READING = ReferenceReading()
