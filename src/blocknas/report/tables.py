"""``pareto.csv`` and ``pareto.json``: every front member's objectives, costs and model YAML.

Model paths are relative to the run folder (``trials/0007/model.yaml``), so a moved or copied
run folder stays consistent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from blocknas.report.baselines import Baseline
from blocknas.report.front import HypervolumePoint
from blocknas.report.picks import Pick
from blocknas.report.run import RunData, TrialRecord

__all__ = ["front_rows", "pareto_csv", "pareto_json"]

_COSTS = ("params", "macs", "latency_ms", "test_accuracy")


def _model_yaml(run: RunData, t: TrialRecord) -> str:
    if t.model_path is None:
        return ""
    if run.run_dir is not None and t.model_path.is_relative_to(run.run_dir):
        return t.model_path.relative_to(run.run_dir).as_posix()
    return str(t.model_path)


def front_rows(run: RunData) -> list[dict[str, Any]]:
    """One mapping per front member (sorted by trial number): number, each objective, params,
    macs, latency_ms, test_accuracy (when the data has a test split), model_yaml."""
    columns = ["number", *run.objective_names, *(c for c in _COSTS if c not in run.objective_names)]
    rows = []
    for t in sorted(run.front(), key=lambda t: t.number):
        row: dict[str, Any] = {c: t.get(c) for c in columns[1:]}
        for c in ("params", "macs"):
            if row.get(c) is not None:
                row[c] = round(row[c])
        rows.append({"number": t.number, **row, "model_yaml": _model_yaml(run, t)})
    return rows


def pareto_csv(run: RunData) -> str:
    """The front as CSV text (empty cells for unknown values)."""
    rows = front_rows(run)
    columns = ["number", *run.objective_names]
    columns += [c for c in _COSTS if c not in columns] + ["model_yaml"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


def pareto_json(
    run: RunData,
    picks: Sequence[Pick] = (),
    baselines: Sequence[Baseline] = (),
    hypervolume: Sequence[HypervolumePoint] = (),
) -> dict[str, Any]:
    """Everything the report shows, as plain data."""
    by_number = {t.number: t for t in run.trials}
    front = []
    for row in front_rows(run):
        t = by_number[row["number"]]
        front.append({**row, "metrics": dict(t.metrics), "architecture": t.architecture})
    return {
        "study": run.study_name,
        "objectives": [{"name": o.name, "direction": o.direction} for o in run.objectives],
        "n_trials": len(run.trials),
        "n_completed": len(run.completed()),
        "front": front,
        "picks": [p.to_dict() | {"model_yaml": _model_yaml(run, p.trial) or None} for p in picks],
        "baselines": [b.to_dict() for b in baselines],
        "hypervolume": [
            {"trial": h.trial, "seconds": h.seconds, "hypervolume": h.hypervolume}
            for h in hypervolume
        ],
    }
