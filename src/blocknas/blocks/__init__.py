"""The block registry and every built-in block.

Adding a block: subclass :class:`Block`, give it typed ``Args`` and decorate it with
:func:`register_block`; importing its module registers it.
"""

from blocknas.blocks import bottleneck, conv, fire, head, inverted_residual, mbconv, pooling, resnet
from blocknas.blocks._common import ACTIVATIONS, make_activation, make_divisible
from blocknas.blocks._reading import MBConvVariant, ReferenceReading
from blocknas.blocks._registry import (
    Block,
    BlockArgs,
    Copy,
    Reference,
    RepeatStride,
    Size,
    block_names,
    get_block,
    register_block,
)

__all__ = [
    "ACTIVATIONS",
    "Block",
    "BlockArgs",
    "Copy",
    "MBConvVariant",
    "Reference",
    "ReferenceReading",
    "RepeatStride",
    "Size",
    "block_names",
    "bottleneck",
    "conv",
    "fire",
    "get_block",
    "head",
    "inverted_residual",
    "make_activation",
    "make_divisible",
    "mbconv",
    "pooling",
    "register_block",
    "resnet",
]
