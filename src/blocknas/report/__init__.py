"""After a search: the report (plots, page, tables), picks, retraining and export.

>>> from blocknas.report import load_run_data, picks, write_report
>>> files = write_report("runs/digits-20250101-120000")  # doctest: +SKIP
>>> run = load_run_data("runs/digits-20250101-120000")  # doctest: +SKIP
>>> picks.knee(run.completed(), run.objectives).trial.number  # doctest: +SKIP
"""

from blocknas.report import picks
from blocknas.report.baselines import Baseline, load_baselines, search_recipe, zoo_configs
from blocknas.report.dashboard import launch_dashboard
from blocknas.report.export import ExportResult, export_model, resolve_source
from blocknas.report.front import HypervolumePoint, front_2d, hypervolume_history
from blocknas.report.picks import Pick, Ratios
from blocknas.report.report import (
    ReportFiles,
    pick_trial,
    reference_baseline,
    standard_picks,
    write_report,
)
from blocknas.report.retrain import (
    RankCorrelation,
    RetrainResult,
    RetrainSummary,
    rank_correlation,
    retrain_top,
    retrain_trial,
    top_trials,
)
from blocknas.report.run import (
    Objective,
    RunData,
    TrialRecord,
    load_run_data,
    open_study,
    study_storage,
    trial_dir,
)

__all__ = [
    "Baseline",
    "ExportResult",
    "HypervolumePoint",
    "Objective",
    "Pick",
    "RankCorrelation",
    "Ratios",
    "ReportFiles",
    "RetrainResult",
    "RetrainSummary",
    "RunData",
    "TrialRecord",
    "export_model",
    "front_2d",
    "hypervolume_history",
    "launch_dashboard",
    "load_baselines",
    "load_run_data",
    "open_study",
    "pick_trial",
    "picks",
    "rank_correlation",
    "reference_baseline",
    "resolve_source",
    "retrain_top",
    "retrain_trial",
    "search_recipe",
    "standard_picks",
    "study_storage",
    "top_trials",
    "trial_dir",
    "write_report",
    "zoo_configs",
]
