"""Model configs and the builder."""

from blocknas.model._limits import ModelLimits, ModelTooLarge, SizeEstimate, estimate_size
from blocknas.model.builder import BlockNet, build_from_spec, build_model
from blocknas.model.spec import LayerSpec, ModelSpec, RowSpec, effective_repeat, load_model_spec

__all__ = [
    "BlockNet",
    "LayerSpec",
    "ModelLimits",
    "ModelSpec",
    "ModelTooLarge",
    "RowSpec",
    "SizeEstimate",
    "build_from_spec",
    "build_model",
    "effective_repeat",
    "estimate_size",
    "load_model_spec",
]
