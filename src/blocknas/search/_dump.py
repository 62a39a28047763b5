"""A validated search config back to its YAML form (saved as ``search.yaml`` in a run folder)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from blocknas.search.params import dump_spec

if TYPE_CHECKING:
    from blocknas.search.config import Cell, SearchConfig, SearchSpace


def _cell(cell: Cell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {name: {k: dump_spec(v) for k, v in args.items()} for name, args in cell.options.items()}


def _same_or_list(items: list[Any]) -> Any:
    return items[0] if items and all(i == items[0] for i in items) else items


def _space(space: SearchSpace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "width_multiple": dump_spec(space.width_multiple),
        "depth_multiple": dump_spec(space.depth_multiple),
    }
    if space.stem is not None:
        out["stem"] = _cell(space.stem)
    stages = space.stages
    if stages is not None:
        out["stages"] = {
            "count": stages.count,
            "repeat": _same_or_list([dump_spec(r) for r in stages.repeat]),
            "non_decreasing": stages.non_decreasing,
            "out": _same_or_list([dump_spec(o) for o in stages.out]),
            "nc": _same_or_list([_cell(c) for c in stages.nc]),
            "rc": _same_or_list([_cell(c) for c in stages.rc]),
        }
        if stages.count == 0:
            out["stages"].update(repeat=[], out=[], nc=[], rc=[])
    out["head"] = {k: dump_spec(getattr(space.head, k)) for k in ("conv", "act", "dropout")}
    for section in ("train", "data", "augment"):
        specs = space.section(section)
        if specs:
            out[section] = {k: dump_spec(v) for k, v in specs.items()}
    return out


def dump_config(cfg: SearchConfig) -> dict[str, Any]:
    """Plain mapping of every resolved key; ``load_search_config`` of it gives an equal config."""
    out: dict[str, Any] = {"name": cfg.name}
    if cfg.description:
        out["description"] = cfg.description
    out.update(
        seed=cfg.seed,
        data=dict(cfg.data),
        train=dict(cfg.train),
        objectives=[{"name": o.name, "range": [o.lower, o.upper]} for o in cfg.objectives],
        constraints={k: v for k, v in cfg.constraints.model_dump().items() if v is not None},
        sampler={k: v for k, v in cfg.sampler.model_dump().items() if v is not None},
        n_trials=cfg.n_trials,
        timeout=cfg.timeout,
        n_jobs=cfg.n_jobs,
        early_stopping=asdict(cfg.early_stopping),
    )
    if cfg.hook:
        out["hook"] = cfg.hook
    if cfg.base_dir:
        out["base_dir"] = cfg.base_dir
    out["space"] = _space(cfg.space)
    return out
