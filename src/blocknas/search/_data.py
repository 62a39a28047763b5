"""Data for trials: one decoded copy per process and per decoding-relevant config.

Trials differ in augmentation and training keys, which do not change the decoded tensors; only
keys such as ``img_size`` or ``subset`` do. Splits are loaded once per distinct decoding key and
reused by every later trial of the process (the data package's on-disk cache makes the first
load of each worker cheap too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blocknas.data import DataConfig
    from blocknas.data._types import DataSplits

# Keys of a data config that do not change the decoded, split images.
_NOT_DECODING = {"augment", "train"}
_SPLITS: dict[str, DataSplits] = {}


def trial_data_config(
    base: Mapping[str, Any],
    sampled: Mapping[str, Any],
    augment: Mapping[str, Any],
    train: Mapping[str, Any],
) -> DataConfig:
    """The data config of one trial: the search's, with the sampled data and augmentation keys
    and the trial's full training section (so the saved ``data.yaml`` retrains unchanged)."""
    from blocknas.data import load_data_config

    aug = dict(base.get("augment") or {})
    for key, value in augment.items():
        aug["train" if key == "policy" else key] = value
    raw = {**base, **sampled, "augment": aug, "train": dict(train)}
    return load_data_config(raw)


def splits_for(cfg: DataConfig) -> DataSplits:
    """Decoded splits for ``cfg``, loaded once per process and decoding key."""
    from blocknas.data import load_data

    data = cfg.to_dict()
    key = json.dumps({k: v for k, v in data.items() if k not in _NOT_DECODING}, sort_keys=True)
    if key not in _SPLITS:
        _SPLITS[key] = load_data(cfg)
    return _SPLITS[key]


def policies(cfg: DataConfig) -> tuple[Any, Any]:
    """(train, test) augmentation policies of a data config."""
    from blocknas.data import test_policy, train_policy

    return train_policy(cfg), test_policy(cfg)
