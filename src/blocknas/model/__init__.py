"""Model configs and the builder."""

from blocknas.model.builder import BlockNet, build_from_spec, build_model
from blocknas.model.spec import LayerSpec, ModelSpec, RowSpec, effective_repeat, load_model_spec

__all__ = [
    "BlockNet",
    "LayerSpec",
    "ModelSpec",
    "RowSpec",
    "build_from_spec",
    "build_model",
    "effective_repeat",
    "load_model_spec",
]
