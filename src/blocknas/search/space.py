"""Sampling a trial's candidate from the search space: a model config in blocknas's named form,
training keys, data keys and an augmentation policy.

The architecture is a stem, then ``count`` stages of ``N`` × normal cell (stride 1) followed by a
reduction cell (stride 2), then a classifier head. The loop over stages calls
:func:`suggest_block` with the stage's prefix, so every parameter name is hierarchical and
belongs to one spec only::

    stage2/repeat                      int    (stage2/repeat_increase with non_decreasing)
    stage2/out                         choice
    stage2/nc                          choice of block
    stage2/nc/InvertedResidualv3/kernel  only when stage2/nc is InvertedResidualv3
    train/optimizer/sgd/lr             only when train/optimizer is sgd

A Python hook (``hook: file.py:function`` in the config) may sample more with the trial and edit
the candidate: ``def hook(trial: optuna.Trial, candidate: Candidate) -> Candidate | None``. With
no ``stages`` and no ``stem`` in the space the hook must set ``candidate.model`` itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blocknas.blocks import get_block
from blocknas.errors import ConfigError
from blocknas.search.params import Branches, ParamSpec, suggest

if TYPE_CHECKING:
    import optuna

    from blocknas.search.config import Cell, SearchConfig, SearchSpace, StagesSpace

__all__ = [
    "Candidate",
    "Hook",
    "load_hook",
    "sample_candidate",
    "suggest_block",
    "suggest_model",
    "suggest_section",
]


@dataclass
class Candidate:
    """What one trial trains: a model config and the keys that differ from the fixed ones.

    ``model`` is a model config mapping (named form); ``train`` holds training keys
    (:class:`blocknas.train.TrainConfig`), ``data`` data-config keys such as ``image_size``,
    ``augment`` the train augmentation (``policy`` and its keywords).
    """

    model: dict[str, Any] | None
    train: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)


Hook = Callable[["optuna.Trial", Candidate], "Candidate | None"]


def suggest_block(
    trial: optuna.Trial,
    prefix: str,
    cell: Cell,
    *,
    out: int | Callable[[], int] | None = None,
    stride: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sample one block of ``cell`` under ``prefix`` and its own arguments.

    The block is the categorical ``prefix`` (not sampled when the cell has one block); its
    arguments are ``prefix/<Block>/<arg>``. ``out`` (the stage's channels; a callable is only
    called when the chosen block needs it) and ``stride`` fill those arguments when the block
    has them and the cell does not give them.
    """
    names = list(cell.options)
    block = names[0] if len(names) == 1 else trial.suggest_categorical(prefix, names)
    fields = get_block(block).Args.model_fields
    given = cell.options[block]
    args: dict[str, Any] = {}
    if out is not None and "out" in fields and "out" not in given:
        args["out"] = out() if callable(out) else out
    if stride is not None and "stride" in fields:
        args["stride"] = stride
    for arg, spec in given.items():
        args[arg] = suggest(trial, f"{prefix}/{block}/{arg}", spec)
    return block, args


def suggest_section(
    trial: optuna.Trial, prefix: str, specs: Mapping[str, ParamSpec]
) -> dict[str, Any]:
    """Sample a flat section (``train``, ``data``, ``augment``); a branch's keys join the
    section when that branch is chosen."""
    out: dict[str, Any] = {}
    for key, spec in specs.items():
        value = suggest(trial, f"{prefix}/{key}", spec)
        out[key] = value
        if isinstance(spec, Branches):
            out.update(suggest_section(trial, f"{prefix}/{key}/{value}", spec.branches[value]))
    return out


def _suggest_repeats(trial: optuna.Trial, stages: StagesSpace) -> list[int]:
    """Blocks per stage. With ``non_decreasing`` stage 1 samples N in [low, high] and each later
    stage an increase in [0, high − low] (capped at high), so no name has two ranges."""
    if not stages.non_decreasing:
        return [int(suggest(trial, f"stage{s}/repeat", spec)) for s, spec in
                enumerate(stages.repeat, 1)]  # fmt: skip
    spec = stages.repeat[0]
    assert hasattr(spec, "low") and hasattr(spec, "high")
    low, high = int(spec.low), int(spec.high)
    repeats = [int(suggest(trial, "stage1/repeat", spec))]
    for s in range(2, stages.count + 1):
        step = 0 if high == low else trial.suggest_int(f"stage{s}/repeat_increase", 0, high - low)
        repeats.append(min(high, repeats[-1] + step))
    return repeats


def suggest_model(
    trial: optuna.Trial,
    space: SearchSpace,
    *,
    input_channel: int,
    input_size: int,
    num_classes: int,
    name: str | None = None,
) -> dict[str, Any]:
    """A model config (named form) for this trial: stem, stages, head."""
    rows: list[list[Any]] = []
    width = suggest(trial, "width_multiple", space.width_multiple)
    depth = suggest(trial, "depth_multiple", space.depth_multiple)
    if space.stem is not None:
        block, args = suggest_block(trial, "stem", space.stem)
        rows.append([1, block, args])
    if space.stages is not None:
        rows.extend(_suggest_stages(trial, space.stages))
    rows.extend(_suggest_head(trial, space, num_classes))
    model: dict[str, Any] = {}
    if name:
        model["name"] = name
    model.update(
        input_channel=input_channel,
        input_size=input_size,
        num_classes=num_classes,
        width_multiple=width,
        depth_multiple=depth,
        backbone=rows,
    )
    return model


def _suggest_stages(trial: optuna.Trial, stages: StagesSpace) -> list[list[Any]]:
    rows: list[list[Any]] = []
    repeats = _suggest_repeats(trial, stages)
    for s in range(1, stages.count + 1):
        channels: list[int] = []

        def out(s: int = s, channels: list[int] = channels) -> int:
            # Sampled on first use: a stage of only a pooling reduction has no channels to pick.
            if not channels:
                channels.append(int(suggest(trial, f"stage{s}/out", stages.out[s - 1])))
            return channels[0]

        if repeats[s - 1] > 0:
            block, args = suggest_block(trial, f"stage{s}/nc", stages.nc[s - 1], out=out, stride=1)
            rows.append([repeats[s - 1], block, args])
        rc = stages.rc[s - 1]
        if rc is not None:
            block, args = suggest_block(trial, f"stage{s}/rc", rc, out=out, stride=2)
            rows.append([1, block, args])
    return rows


def _suggest_head(trial: optuna.Trial, space: SearchSpace, num_classes: int) -> list[list[Any]]:
    head = space.head
    rows: list[list[Any]] = []
    conv = suggest(trial, "head/conv", head.conv)
    if conv:
        act = suggest(trial, "head/act", head.act)
        rows.append([1, "Conv", {"out": int(conv), "kernel": 1, "act": act}])
    rows += [[1, "GlobalAvgPool", {}], [1, "Flatten", {}]]
    dropout = float(suggest(trial, "head/dropout", head.dropout) or 0.0)
    if dropout > 0:
        rows.append([1, "Dropout", {"p": dropout}])
    rows.append([1, "Linear", {"out": num_classes}])
    return rows


def sample_candidate(
    trial: optuna.Trial,
    cfg: SearchConfig,
    *,
    input_channel: int,
    input_size: int,
    num_classes: int,
    hook: Hook | None = None,
) -> Candidate:
    """Sample everything a trial needs; then run the config's Python hook, if any.

    ``input_size`` is the data's image size; a sampled ``data/image_size`` replaces it.
    """
    space = cfg.space
    train = suggest_section(trial, "train", space.train)
    data = suggest_section(trial, "data", space.data)
    augment = suggest_section(trial, "augment", space.augment)
    size = int(data.get("img_size") or input_size)
    model = None
    if space.stem is not None or space.stages is not None:
        model = suggest_model(
            trial, space, input_channel=input_channel, input_size=size, num_classes=num_classes,
            name=f"{cfg.name}-trial-{trial.number:04d}",
        )  # fmt: skip
    candidate = Candidate(model=model, train=train, data=data, augment=augment)
    if hook is not None:
        candidate = hook(trial, candidate) or candidate
    if candidate.model is None:
        raise ConfigError("the search space has no stem or stages and the hook set no model")
    return candidate


_HOOKS: dict[tuple[str, str | None], Hook] = {}


def load_hook(spec: str, base_dir: str | Path | None = None) -> Hook:
    """The function named by ``"file.py:function"`` (relative to ``base_dir``) or
    ``"package.module:function"``. Loaded once per process."""
    key = (spec, str(base_dir) if base_dir is not None else None)
    if key in _HOOKS:
        return _HOOKS[key]
    target, sep, func_name = spec.rpartition(":")
    if not sep or not target or not func_name:
        raise ConfigError(f"hook must be 'file.py:function' or 'module:function', got {spec!r}")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise ConfigError(f"hook: no such file {str(path)!r}")
        module_name = f"_blocknas_hook_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"hook: cannot import {target!r}: {exc}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"hook: {target!r} has no function {func_name!r}")
    _HOOKS[key] = func
    return func
