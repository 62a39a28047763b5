"""blocknas: find small, accurate image classifiers.

Models are YAML lists of blocks (``[repeat, Module, args]``) built from a registry; searches over
architectures, training and augmentation are multi-objective Optuna studies.

>>> import blocknas
>>> model = blocknas.build_model("configs/models/mobilenetv2.yaml", num_classes=10)  # doctest: +SKIP
>>> blocknas.profile(model).params  # doctest: +SKIP
2236682
"""

from blocknas.blocks import block_names, get_block, register_block
from blocknas.errors import BlocknasError, ConfigError, DataError, StorageError, TrainingError
from blocknas.model import BlockNet, ModelSpec, build_model, load_model_spec
from blocknas.profile import Profile, profile

__version__ = "0.1.0"

__all__ = [
    "BlockNet",
    "BlocknasError",
    "ConfigError",
    "DataError",
    "ModelSpec",
    "Profile",
    "StorageError",
    "TrainingError",
    "__version__",
    "block_names",
    "build_model",
    "get_block",
    "load_model_spec",
    "profile",
    "register_block",
]
