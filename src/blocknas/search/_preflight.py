"""Checks a search makes before it creates anything (options, the hook opt-in, the device, the
name in a run folder's ``search.yaml``), and the one it makes after its trials: that some
trial finished."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from blocknas.errors import ConfigError, TrainingError

if TYPE_CHECKING:
    import optuna

    from blocknas.search.config import SearchConfig

__all__ = ["check_device", "check_options", "check_some_finished", "stored_name"]


def check_options(
    cfg: SearchConfig, n_jobs: int, n_trials: int | None, timeout: float | None,
    threads: int | None, sampler: optuna.samplers.BaseSampler | None, study_name: str | None,
    allow_hook: bool,
) -> None:  # fmt: skip
    """The options of :func:`~blocknas.search.runner.run_search`, each a one-line error."""
    from blocknas._threads import check_threads
    from blocknas.search.study import check_study_name

    if n_jobs < 1:
        raise ConfigError(f"--n-jobs must be >= 1, got {n_jobs}")
    if n_trials is not None and n_trials < 1:
        raise ConfigError(f"--n-trials must be >= 1, got {n_trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {timeout}")
    if threads is not None:
        check_threads(threads)
    if sampler is not None and n_jobs != 1:
        raise ConfigError(
            f"a sampler object runs in this process only; n_jobs must be 1, got {n_jobs}"
        )
    if study_name is not None:
        check_study_name(study_name)
    if cfg.hook and not allow_hook:
        raise ConfigError(
            f"the search config names the Python hook {cfg.hook!r}, which every trial would "
            "import and run; pass --allow-hook to run it"
        )


def check_device(cfg: SearchConfig, device: str | None) -> None:
    """The training device (``--device``, else the config's), checked to exist here before any
    trial: a missing one would fail every trial."""
    from blocknas.train._device import check_device as check_name

    name = device if device is not None else cfg.train.get("device")
    check_name(str(name) if name is not None else "auto")


def check_some_finished(study: optuna.Study, run_dir: Path) -> None:
    """A search in which every trial failed found nothing: say so, with the first reason."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state is TrialState.FAIL]
    if not failed or any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials):
        return
    reason = failed[0].user_attrs.get("fail_reason")
    first = f" (trial {failed[0].number}: {reason})" if reason else ""
    raise TrainingError(
        f"no trial finished: all {len(failed)} failed{first}; each one's reason is in "
        f"{run_dir / 'trials'}/NNNN/metrics.json"
    )


def stored_name(path: Path) -> str:
    """The study name in a run folder's ``search.yaml``; a damaged file is one line."""
    from blocknas._io import read_yaml

    raw = read_yaml(path)
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ConfigError("no study name in it (damaged?); give --study NAME", source=str(path))
    return name
