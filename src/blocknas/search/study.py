"""The optuna study of a search: samplers by name, creation with blocknas's study record,
warm starts, and reading a run folder back.

The record ``study.user_attrs["blocknas"]`` holds everything a worker needs to join
(:func:`set_record`): ``version`` (:data:`RECORD_VERSION`), ``objectives`` (name and direction
of each), ``search_config`` (the resolved search config), ``run_dir`` (the run folder, or None),
``budget`` (``n_trials`` and ``deadline``, a Unix time or None), ``created`` and, when the study
was created with one, ``heartbeat`` (:class:`blocknas.search.storage.Heartbeat`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from blocknas.errors import ConfigError, StorageError
from blocknas.search.config import (
    SamplerConfig,
    SearchConfig,
    is_plain_name,
    load_search_config,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = [
    "ATTR_KEY",
    "RECORD_VERSION",
    "check_study_name",
    "create_search_study",
    "feasible",
    "load_run",
    "make_sampler",
    "sampler_notes",
    "sampler_seed",
    "study_config",
    "warm_start",
    "warm_start_front",
]

ATTR_KEY = "blocknas"
RECORD_VERSION = 1
STUDY_FILE = "study.db"
STORAGE_FILE = "storage.txt"
CONFIG_FILE = "search.yaml"
# NSGA-II generation size when the config gives none: optuna's 50 suits thousands of trials; a
# search of a few dozen needs several generations to improve on random sampling.
_NSGA2_POPULATION = 16


def make_sampler(config: SamplerConfig, seed: int | None) -> optuna.samplers.BaseSampler:
    """The optuna sampler named by ``config`` (tpe, nsga2, gp, random), seeded with ``seed``.

    Hard constraints reach every sampler through ``trial.set_constraint`` (optuna 5), which
    TPE, NSGA-II (constrained domination) and GP (feasibility model) all read.
    """
    import optuna

    name = config.name
    if name == "tpe":
        # Multivariate TPE models the joint density of co-occurring parameters (a block type
        # and its arguments), which independent TPE cannot. ``group`` splits the conditional
        # space into the groups of parameters that occur together (one per chosen block type),
        # so each branch is modelled jointly instead of falling back to independent sampling;
        # ``constant_liar`` keeps parallel workers from proposing the same architecture.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                n_startup_trials=config.n_startup_trials or 10,
                seed=seed,
                multivariate=True,
                group=True,
                constant_liar=True,
            )
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(
            population_size=config.population_size or _NSGA2_POPULATION, seed=seed
        )
    if name == "gp":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.GPSampler(
                n_startup_trials=config.n_startup_trials or 10, seed=seed
            )
    return optuna.samplers.RandomSampler(seed=seed)


def sampler_notes(cfg: SearchConfig) -> list[str]:
    """Warnings about how the sampler and early stopping of ``cfg`` work together.

    Optuna's NSGA-II builds a generation from ``population_size`` COMPLETE trials only; stopped
    (pruned) trials never count. With early stopping about one trial in η^k runs to the end
    (k decision rungs), so a generation takes about η^k times as many trials, and the search
    stays random for that long.
    """
    es = cfg.early_stopping
    if cfg.sampler.name != "nsga2" or not (es.enabled and cfg.trains):
        return []
    population = cfg.sampler.population_size or _NSGA2_POPULATION
    one_in = es.eta ** len(es.decision_rungs(0))
    if one_in <= 1:
        return []
    return [
        f"NSGA-II forms a generation from {population} trials that train to the end, and with "
        f"early stopping about 1 trial in {one_in} does: expect ~{population * one_in} trials "
        "per generation (lower sampler.population_size, or use sampler: tpe, which models "
        "every trial that trained to the end as it comes)"
    ]


def sampler_seed(cfg: SearchConfig, study: optuna.Study | None = None, worker: int = 0) -> int:
    """The seed of a worker's sampler: the config's, plus the worker's index, plus 1000 per
    trial already in the study, so that a resumed search does not repeat its proposals."""
    base = cfg.sampler.seed if cfg.sampler.seed is not None else cfg.seed
    done = len(study.get_trials(deepcopy=False)) if study is not None else 0
    return base + worker + 1000 * done


def study_config(study: optuna.Study) -> SearchConfig:
    """The search config stored with a blocknas study."""
    record = study.user_attrs.get(ATTR_KEY)
    if not isinstance(record, Mapping) or "search_config" not in record:
        raise StorageError(f"study {study.study_name!r} was not created by blocknas search")
    from blocknas.search.storage import upgrade_search_config

    try:
        return load_search_config(upgrade_search_config(record["search_config"]))
    except ConfigError as exc:
        raise StorageError(
            f"study {study.study_name!r}: its stored search config is invalid here: {exc}"
        ) from None


def check_study_name(name: str, option: str = "--study") -> str:
    """``name`` when it is a plain name (:func:`~blocknas.search.config.is_plain_name`), else a
    one-line ConfigError: a study name is also part of run folder names and messages."""
    if not is_plain_name(name):
        raise ConfigError(
            f"{option} {name!r}: a study name is a plain name (no '/', '\\', control "
            "characters or surrounding spaces; not '.' or '..')"
        )
    return name


def create_search_study(
    cfg: SearchConfig,
    *,
    storage: str | optuna.storages.BaseStorage,
    study_name: str | None = None,
    n_trials: int | None = None,
    deadline: float | None = None,
    run_dir: str | Path | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> optuna.Study:
    """Create a new study for ``cfg`` and store blocknas's record with it.

    ``n_trials`` defaults to the config's; ``deadline`` is a Unix time after which no trial
    starts. An existing study of the same name is an error (resume it instead).
    """
    import optuna

    from blocknas.search.storage import Heartbeat, mask_url, open_storage

    name = cfg.name if study_name is None else check_study_name(study_name)
    if n_trials is not None and (isinstance(n_trials, bool) or n_trials < 1):
        raise ConfigError(f"--n-trials must be >= 1, got {n_trials}")
    backend = open_storage(storage, heartbeat=Heartbeat()) if isinstance(storage, str) else storage
    try:
        study = optuna.create_study(
            storage=backend, study_name=name, directions=cfg.directions,
            sampler=sampler or make_sampler(cfg.sampler, sampler_seed(cfg)),
        )  # fmt: skip
    except optuna.exceptions.DuplicatedStudyError:
        shown = mask_url(storage) if isinstance(storage, str) else "the storage"
        raise StorageError(
            f"a study named {name!r} already exists in {shown}; resume it (--resume) or "
            "choose another name (--study)"
        ) from None
    set_record(study, cfg.model_copy(update={"name": name}), run_dir=run_dir,
               n_trials=n_trials if n_trials is not None else cfg.n_trials, deadline=deadline)  # fmt: skip
    return study


def set_record(
    study: optuna.Study,
    cfg: SearchConfig,
    *,
    run_dir: str | Path | None,
    n_trials: int | None,
    deadline: float | None,
) -> None:
    """Write (or update) ``study.user_attrs["blocknas"]``, keeping keys others stored there."""
    record = dict(study.user_attrs.get(ATTR_KEY) or {})
    record.update(
        version=RECORD_VERSION,
        objectives=[{"name": o.name, "direction": o.direction} for o in cfg.objectives],
        search_config=cfg.to_dict(),
        run_dir=str(Path(run_dir).resolve()) if run_dir is not None else None,
        budget={"n_trials": n_trials, "deadline": deadline},
    )
    record.setdefault("created", time.time())
    study.set_user_attr(ATTR_KEY, record)


def feasible(trial: FrozenTrial) -> bool:
    """A COMPLETE trial within every hard constraint (optuna's rule: all values <= 0)."""
    return all(v <= 0 for v in trial.constraints.values())


def front_trials(study: optuna.Study, cfg: SearchConfig) -> list[FrozenTrial]:
    """COMPLETE, feasible trials on the Pareto front, by trial number."""
    from optuna.trial import TrialState

    from blocknas.search.pareto import pareto_mask

    done = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if feasible(t) and t.values is not None
    ]  # fmt: skip
    if not done:
        return []
    mask = pareto_mask([t.values for t in done], cfg.directions)
    return [t for t, on in zip(done, mask, strict=True) if on]


def load_run(
    run_dir: str | Path, *, storage: str | None = None
) -> tuple[optuna.Study, SearchConfig]:
    """The study and search config of a run folder (``study.db``, or ``storage`` for a run
    whose study lives in a database named in ``storage.txt``)."""
    from blocknas.search.storage import Heartbeat, load_existing_study, open_storage

    run = Path(run_dir)
    config_path = run / CONFIG_FILE
    if not config_path.is_file():
        raise StorageError(f"{run} is not a search run folder: {CONFIG_FILE} is missing")
    cfg = load_search_config(config_path)
    if storage is None:
        db = run / STUDY_FILE
        if not db.is_file():
            where = run / STORAGE_FILE
            hint = f" ({where.read_text().strip()})" if where.is_file() else ""
            raise StorageError(f"{run} keeps its study in a database{hint}; give its --storage URL")
        storage = f"sqlite:///{db.resolve()}"
    backend = open_storage(storage, heartbeat=Heartbeat(), must_exist=True)
    study = load_existing_study(backend, cfg.name)
    return study, study_config(study)


def warm_start(study: optuna.Study, source: str | Path, *, storage: str | None = None) -> list[int]:
    """Queue the Pareto front of an earlier study as the first trials of ``study``.

    ``source`` is a run folder, or the name of a study in ``storage``. Each queued trial carries
    ``warm_start`` = "<study>#<number>"; parameters the current space does not use are ignored
    by optuna, missing ones are sampled. Returns the numbers of the queued source trials.
    """
    name, front = warm_start_front(source, storage=storage)
    enqueue_front(study, name, front)
    return [t.number for t in front]


def warm_start_front(
    source: str | Path, *, storage: str | None = None
) -> tuple[str, list[FrozenTrial]]:
    """The Pareto front that :func:`warm_start` queues, read (and checked) on its own, so that
    a search can refuse a bad ``--warm-start`` before it creates anything: the earlier study's
    name and its front."""
    from blocknas.search.storage import load_existing_study, open_storage

    path = Path(source)
    if path.is_dir():
        earlier, earlier_cfg = load_run(path)
    else:
        if storage is None:
            raise ConfigError(f"--warm-start {source}: no such run folder")
        earlier = load_existing_study(open_storage(storage, must_exist=True), str(source))
        earlier_cfg = study_config(earlier)
    return earlier.study_name, front_trials(earlier, earlier_cfg)


def enqueue_front(study: optuna.Study, source: str, front: list[FrozenTrial]) -> None:
    """Queue the trials of :func:`warm_start_front` (of the study named ``source``)."""
    for t in front:
        study.enqueue_trial(
            dict(t.params), user_attrs={"warm_start": f"{source}#{t.number}"},
            skip_if_exists=True,
        )  # fmt: skip
