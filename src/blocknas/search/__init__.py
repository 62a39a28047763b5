"""Multi-objective architecture, training and augmentation search on optuna studies.

>>> from blocknas.search import load_search_config, run_search
>>> result = run_search(load_search_config("configs/search/digits.yaml"))  # doctest: +SKIP
>>> result.run_dir, [e.values for e in result.pareto]  # doctest: +SKIP
"""

from blocknas.search.budget import BudgetPlan, Pilot, expected_epochs, plan_budget, run_pilot
from blocknas.search.config import SearchConfig, load_search_config
from blocknas.search.runner import ParetoEntry, SearchResult, run_search, run_worker
from blocknas.search.space import Candidate, sample_candidate, suggest_block, suggest_section
from blocknas.search.study import create_search_study, load_run, make_sampler, warm_start

__all__ = [
    "BudgetPlan",
    "Candidate",
    "ParetoEntry",
    "Pilot",
    "SearchConfig",
    "SearchResult",
    "create_search_study",
    "expected_epochs",
    "load_run",
    "load_search_config",
    "make_sampler",
    "plan_budget",
    "run_pilot",
    "run_search",
    "run_worker",
    "sample_candidate",
    "suggest_block",
    "suggest_section",
    "warm_start",
]
