"""Data: configs, datasets decoded once and cached, batched augmentation, device-side batches.

>>> from blocknas.data import load_data_config, load_data, make_loaders
>>> cfg = load_data_config("configs/data/digits.yaml")
>>> splits = load_data(cfg)
>>> train, val, test = make_loaders(splits, cfg, device="cpu")
"""

from blocknas.data._config import AugmentConfig, DataConfig, load_data_config
from blocknas.data._datasets import resolve_layout
from blocknas.data._decode import DataWarning
from blocknas.data._load import load_data, stratified_split
from blocknas.data._loader import BatchLoader, make_loaders, test_policy, train_policy
from blocknas.data._ops import OPS
from blocknas.data._policies import (
    POLICIES,
    AugmentPolicy,
    build_policy,
    mirrors_images,
    register_policy,
)
from blocknas.data._types import DataSplits, ImageSet

__all__ = [
    "OPS",
    "POLICIES",
    "AugmentConfig",
    "AugmentPolicy",
    "BatchLoader",
    "DataConfig",
    "DataSplits",
    "DataWarning",
    "ImageSet",
    "build_policy",
    "load_data",
    "load_data_config",
    "make_loaders",
    "mirrors_images",
    "register_policy",
    "resolve_layout",
    "stratified_split",
    "test_policy",
    "train_policy",
]
