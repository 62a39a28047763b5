"""Running a search: :func:`run_search` (a run folder, a study, K worker processes, progress,
the Pareto table and files) and :func:`run_worker` (one process's trial loop on a shared study).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from blocknas.errors import BlocknasError, ConfigError, StorageError
from blocknas.search.config import SearchConfig, load_search_config
from blocknas.search.study import (
    ATTR_KEY,
    CONFIG_FILE,
    STORAGE_FILE,
    STUDY_FILE,
    create_search_study,
    front_trials,
    make_sampler,
    sampler_notes,
    sampler_seed,
    set_record,
    study_config,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from blocknas.search._progress import SearchProgress
    from blocknas.search._trial import TrialRunner
    from blocknas.search.budget import BudgetPlan
    from blocknas.search.workers import Budget

__all__ = ["ParetoEntry", "SearchResult", "run_search", "run_worker"]

_POLL_S = 1.0  # how often the main process reads the study while worker processes run
# A worker stops after this many failed trials in a row. Unbuildable samples fail in
# milliseconds and a space may hold many of them, so the limit is above the storage default.
_MAX_FAILURES_IN_A_ROW = 20
_CONFIG_FREE_KEYS = ("n_trials", "timeout", "n_jobs", "base_dir", "deadline", "budget")


@dataclass(frozen=True)
class ParetoEntry:
    """One trial of the final Pareto front."""

    number: int
    values: dict[str, float]
    params: int | None
    macs: int | None
    latency_ms: float | None
    test_accuracy: float | None
    model_yaml: Path | None


@dataclass(frozen=True)
class SearchResult:
    """Where a finished search is and what it found."""

    study_name: str
    storage: str  # password masked
    run_dir: Path
    pareto: tuple[ParetoEntry, ...]
    n_complete: int
    n_pruned: int
    n_failed: int
    hypervolume: float
    seconds: float
    plan: BudgetPlan | None = None
    report: Path | None = None
    report_error: str | None = None  # why the report asked for was not written


# --------------------------------------------------------------------------- worker


def run_worker(
    storage: str,
    study_name: str,
    *,
    device: str | None = None,
    progress: bool = False,
    worker_index: int | None = None,
    allow_hook: bool = False,
) -> int:
    """Join an existing study and run its trials until its budget is met; return how many ran.

    A study whose stored config names a Python hook is refused unless ``allow_hook`` is set:
    the database would otherwise choose which file every joining worker imports and runs.

    The search config and budget come from ``study.user_attrs["blocknas"]``. ``worker_index``
    seeds the sampler (see :func:`~blocknas.search.study.sampler_seed`); without it the seed is
    fresh, so that workers started by hand on several machines do not propose the same
    candidates.
    """
    from blocknas.search._trial import TrialRunner
    from blocknas.search.storage import open_study
    from blocknas.search.workers import Budget
    from blocknas.train._device import check_device

    if device is not None:
        check_device(device)  # a bad name fails here, before any trial is claimed
    study = open_study(storage, study_name)
    cfg = study_config(study)
    if device is None:
        from blocknas.search._preflight import check_device as check_config_device

        check_config_device(cfg, None)  # the stored config's device, on this machine
    if cfg.hook and not allow_hook:
        raise ConfigError(
            f"study {study_name!r} uses the Python hook {cfg.hook!r}; workers run hooks stored "
            "in the database only with --allow-hook"
        )
    seed = sampler_seed(cfg, study, worker_index) if worker_index is not None else None
    study.sampler = make_sampler(cfg.sampler, seed)
    record = study.user_attrs.get(ATTR_KEY) or {}
    runner = TrialRunner(cfg, run_dir=record.get("run_dir"), device=device)
    budget = Budget.from_study(study)
    if not progress:
        return _run_trials(study, runner, budget)
    from blocknas.search._progress import SearchProgress

    with SearchProgress(cfg, n_trials=budget.n_trials) as bar:
        return _run_trials(
            study, runner, budget, lambda s, _t: bar.update(s.get_trials(deepcopy=False))
        )


def _run_trials(
    study: optuna.Study,
    runner: TrialRunner,
    budget: Budget,
    *callbacks: Callable[[optuna.Study, FrozenTrial], None],
) -> int:
    """:func:`~blocknas.search.workers.run_trials` as a search runs it: failed trials recorded
    and the search going on (up to a run of failures), paused trials continued ahead of new
    candidates, and a continued trial's checkpoint removed once its continuation is told."""
    from blocknas.search._trial import TrialFailed
    from blocknas.search.workers import run_trials

    with _quiet_trial_warnings():
        return run_trials(
            study, runner, budget, catch=(TrialFailed,),
            callbacks=[*callbacks, runner.drop_resumed_checkpoint],
            max_failures_in_a_row=_MAX_FAILURES_IN_A_ROW, promoter=runner.promoter,
        )  # fmt: skip


class _DropTrialFailed(logging.Filter):
    """The search prints its own line (with the reason) for a failed trial."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("trial %d failed")


@contextlib.contextmanager
def _quiet_trial_warnings() -> Iterator[None]:
    logger = logging.getLogger("blocknas.search.workers")
    drop = _DropTrialFailed()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _worker_process(
    storage: str, study_name: str, index: int, threads: int, device: str | None
) -> None:
    """Entry point of a spawned worker process."""
    import optuna
    import torch

    from blocknas._signals import exit_status, interrupts_once

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        # The local search's own config: its hook is the user's, checked by the search (the
        # user passed --allow-hook). The search passes on a SIGINT or SIGTERM it receives.
        with interrupts_once():
            run_worker(storage, study_name, device=device, worker_index=index, allow_hook=True)
    except BlocknasError as exc:
        print(f"error: worker {index}: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as exc:
        sys.exit(exit_status(exc)[1])


# --------------------------------------------------------------------------- search


def run_search(
    cfg: SearchConfig | str | Path | Mapping[str, Any],
    *,
    out_dir: str | Path | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    n_jobs: int | None = None,
    resume: bool = False,
    warm_start: str | Path | None = None,
    progress: bool = True,
    device: str | None = None,
    report: bool = True,
    threads: int | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    allow_hook: bool = False,
) -> SearchResult:
    """Run (or resume) a search and write its run folder (``study.db``, ``search.yaml``,
    ``trials/NNNN/``, ``pareto.csv`` and, with ``report``, the report files).

    Arguments left None come from the config (``timeout``, ``n_jobs``) and ``n_trials`` from
    the config, or on ``resume`` from the stored study. With ``timeout`` a pilot first measures
    a typical trial and prints how many trials fit. ``n_jobs`` > 1 runs that many worker
    processes (spawned) on the same study. ``report`` writes the HTML report and plots at the
    end (when the report code is installed). ``threads``: torch CPU threads per worker (default:
    this process's cores divided among the workers). ``sampler``: an optuna sampler to use
    instead of the config's, as ``optuna.create_study(sampler=...)`` takes one; one job only
    (worker processes build theirs from the stored config). A config that names a Python
    ``hook`` runs only with ``allow_hook``. A search in which no trial finished, every one
    having failed, raises :class:`~blocknas.errors.TrainingError`.

    >>> result = run_search("configs/search/digits.yaml")  # doctest: +SKIP
    >>> result.run_dir, len(result.pareto)  # doctest: +SKIP
    """
    import optuna

    from blocknas.search._preflight import check_device, check_options
    from blocknas.search._run_dir import check_out, hold_run_folder
    from blocknas.search.study import warm_start_front

    start = time.time()
    cfg = load_search_config(cfg)
    given_trials = n_trials
    n_trials = n_trials if n_trials is not None else cfg.n_trials
    timeout = timeout if timeout is not None else cfg.timeout
    n_jobs = n_jobs if n_jobs is not None else cfg.n_jobs
    check_options(cfg, n_jobs, n_trials, timeout, threads, sampler, study_name, allow_hook)
    check_device(cfg, device)
    threads = threads or _threads(n_jobs)
    out_dir = check_out(out_dir)
    if storage is not None:
        from blocknas.search.storage import validate_storage_url

        validate_storage_url(storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _check_data(cfg)
    front = warm_start_front(warm_start, storage=storage) if warm_start is not None else None
    run_dir = _run_dir(cfg, out_dir, storage, resume)
    with hold_run_folder(run_dir) as folder:
        study, url = _open(cfg, run_dir, storage, study_name, resume)
        if resume and given_trials is None:  # the stored budget, not the config's
            from blocknas.search.workers import Budget

            n_trials = Budget.from_study(study).n_trials
        try:
            return _search(
                study, cfg, run_dir, url, folder.started, start=start, n_trials=n_trials,
                timeout=timeout, n_jobs=n_jobs, resume=resume, warm=(warm_start, front),
                progress=progress, device=device, report=report, threads=threads,
                sampler=sampler,
            )  # fmt: skip
        except (optuna.exceptions.StorageInternalError, _sql_error()) as exc:
            from blocknas.search.storage import storage_failure

            raise storage_failure(exc, url) from None


def _search(
    study: optuna.Study, cfg: SearchConfig, run_dir: Path, url: str,
    started: Callable[[], None], *, start: float, n_trials: int | None, timeout: float | None,
    n_jobs: int, resume: bool, warm: tuple[str | Path | None, tuple[str, list[FrozenTrial]] | None],
    progress: bool, device: str | None, report: bool, threads: int,
    sampler: optuna.samplers.BaseSampler | None,
) -> SearchResult:  # fmt: skip
    """The search on its opened study: header, warm start, pilot, trials, results."""
    from blocknas.search._preflight import check_some_finished
    from blocknas.search._progress import SearchProgress

    cfg = cfg.model_copy(update={"name": study.study_name})
    if sampler is not None:
        study.sampler = sampler
    deadline = start + timeout if timeout is not None else None
    set_record(study, cfg, run_dir=run_dir, n_trials=n_trials, deadline=deadline)
    bar = SearchProgress(cfg, n_trials=n_trials, enabled=progress)
    bar.print(_header(cfg, study, run_dir, url, n_trials, timeout, n_jobs, resume, sampler))
    if cfg.hook:
        bar.print(f"note: trials run the Python hook {cfg.hook!r} (--allow-hook)")
    for note in sampler_notes(cfg) if sampler is None else []:  # notes on the config's
        bar.print(f"warning: {note}")
    source, front = warm
    if source is not None and front is not None:
        from blocknas.search.study import enqueue_front

        enqueue_front(study, front[0], front[1])
        bar.print(f"warm start: queued {len(front[1])} Pareto-front trial(s) of {source}")
    plan = None
    if timeout is not None:
        plan = _plan(cfg, deadline, n_jobs, n_trials, device, threads)
        bar.print(plan.describe())
        for note in plan.warnings:
            bar.print(f"warning: {note}")
    started()
    try:
        with bar:
            bar.seen.update(t.number for t in study.get_trials(deepcopy=False)
                            if t.state.is_finished())  # fmt: skip
            _run(study, url, n_jobs, device, bar, threads)
    except KeyboardInterrupt:
        bar.print(f"stopped; continue with: blocknas search ... --resume --out {run_dir}")
        raise
    check_some_finished(study, run_dir)
    return _finish(study, cfg, run_dir, url, bar, start, plan, progress, report)


def _sql_error() -> type[Exception]:
    import sqlalchemy.exc

    return sqlalchemy.exc.SQLAlchemyError


def _check_data(cfg: SearchConfig) -> None:
    """Load the data once before anything is created, so that a missing dataset is one error
    and not a failed trial per worker."""
    from blocknas.search._data import splits_for, trial_data_config

    splits_for(trial_data_config(cfg.data, {}, {}, {}))


def _header(
    cfg: SearchConfig, study: optuna.Study, run_dir: Path, url: str, n_trials: int | None,
    timeout: float | None, n_jobs: int, resume: bool,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> str:  # fmt: skip
    from blocknas.search.storage import mask_url

    objectives = ", ".join(f"{o.name} ({o.direction[:3]})" for o in cfg.objectives)
    limits = ", ".join(f"{k} {v:g}" for k, v in cfg.constraints.active.items()) or "none"
    parts = [f"{n_trials} trials"] if n_trials else []
    parts += [f"{timeout:g} s"] if timeout else []
    budget = " and ".join(parts) or "no limit (stop with Ctrl-C)"
    es = cfg.early_stopping
    stopping = f"rungs {list(es.decision_rungs(0))} of {es.max_epochs} epochs, η={es.eta}" if (
        es.enabled and cfg.trains) else "off"  # fmt: skip
    done = len(study.get_trials(deepcopy=False))
    proposer = type(sampler).__name__ if sampler is not None else cfg.sampler.name
    verb = f"resuming study {study.study_name!r} at trial {done}" if resume else (
        f"search {study.study_name!r}")  # fmt: skip
    return (
        f"{verb}: {objectives}; constraints {limits}; sampler {proposer}; early stopping "
        f"{stopping}; budget {budget}; {n_jobs} worker(s)\nrun folder {run_dir} "
        f"(storage {mask_url(url)})"
    )


def _plan(
    cfg: SearchConfig, deadline: float | None, n_jobs: int, n_trials: int | None,
    device: str | None, threads: int,
) -> BudgetPlan:  # fmt: skip
    import torch

    from blocknas.search.budget import plan_budget, run_pilot

    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # as a worker will train
    try:
        pilot = run_pilot(cfg, device=device)
    finally:
        torch.set_num_threads(before)
    assert deadline is not None
    left = max(0.0, deadline - time.time())
    return plan_budget(cfg, pilot, seconds=left, n_jobs=n_jobs, n_trials=n_trials)


def _open(
    cfg: SearchConfig, run_dir: Path, storage: str | None, study_name: str | None, resume: bool
) -> tuple[optuna.Study, str]:
    """The study (created, or loaded to resume) in the held run folder, and the storage URL."""
    from blocknas._io import write_text
    from blocknas.search._preflight import stored_name
    from blocknas.search.storage import (
        Heartbeat,
        check_space_matches,
        load_existing_study,
        mask_url,
        open_storage,
    )

    if storage is None:
        db = run_dir / STUDY_FILE
        if resume and not db.is_file():
            raise StorageError(f"--resume: {run_dir} holds no {STUDY_FILE}")
        if not resume and db.exists():
            raise StorageError(
                f"{run_dir} already holds a search; continue it with --resume or choose another --out"
            )
        url = f"sqlite:///{db.resolve()}"
        if study_name is None and resume and (run_dir / CONFIG_FILE).is_file():
            study_name = stored_name(run_dir / CONFIG_FILE)
    else:
        url = storage
    name = study_name or cfg.name
    backend = open_storage(url, heartbeat=Heartbeat(), must_exist=resume)
    if resume:
        study = load_existing_study(backend, name)
        check_space_matches(
            study, cfg.model_copy(update={"name": name}).to_dict(), ignore=_CONFIG_FREE_KEYS
        )
        study.sampler = make_sampler(cfg.sampler, sampler_seed(cfg, study))
    else:
        study = create_search_study(cfg, storage=backend, study_name=name, run_dir=run_dir)
    config = cfg.model_copy(update={"name": name}).to_dict()
    try:
        write_text(run_dir / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))
        if storage is not None:
            write_text(run_dir / STORAGE_FILE, mask_url(url) + "\n")
    except OSError as exc:
        raise StorageError(f"--out {run_dir}: cannot write: {exc.strerror or exc}") from None
    return study, url


def _run_dir(
    cfg: SearchConfig, out_dir: Path | None, storage: str | None, resume: bool
) -> Path:
    if out_dir is not None:
        return out_dir
    root = Path("runs")
    if resume and storage is None:
        runs = sorted(
            (p for p in root.glob(f"{cfg.name}-*") if (p / STUDY_FILE).is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if not runs:
            raise StorageError(
                f"--resume: no run of {cfg.name!r} under {root}/; give --out RUN_DIR"
            )
        return runs[-1]
    return root / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _threads(n_jobs: int) -> int:
    """Torch threads per worker: the cores shared out, so that workers do not oversubscribe."""
    from blocknas._threads import usable_cores

    return max(1, usable_cores() // n_jobs)


def _run(
    study: optuna.Study, url: str, n_jobs: int, device: str | None, bar: SearchProgress,
    threads: int,
) -> None:  # fmt: skip
    """Run trials until the budget stored with the study is met: in this process for one job,
    else in ``n_jobs`` spawned processes while this one reports their progress."""
    import torch

    if n_jobs == 1:
        from blocknas.search._trial import TrialRunner
        from blocknas.search.workers import Budget

        cfg = study_config(study)
        record = study.user_attrs.get(ATTR_KEY) or {}
        runner = TrialRunner(cfg, run_dir=record.get("run_dir"), device=device)
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            _run_trials(
                study, runner, Budget.from_study(study),
                lambda s, _t: bar.update(s.get_trials(deepcopy=False)),
            )  # fmt: skip
        finally:
            torch.set_num_threads(before)
        return
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_worker_process,
            args=(url, study.study_name, i, threads, device),
            name=f"blocknas-worker-{i}",
        )
        for i in range(n_jobs)
    ]
    for w in workers:
        w.start()
    try:
        while any(w.is_alive() for w in workers):
            time.sleep(_POLL_S)
            bar.update(study.get_trials(deepcopy=False))
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches every process of its group, but a SIGINT or SIGTERM
        # sent to this process reaches only it: pass it on. A worker that the group's Ctrl-C
        # already interrupted ignores the second signal (interrupts_once).
        for w in workers:
            if w.is_alive():
                w.terminate()  # SIGTERM: the worker hands its trial back
        raise
    finally:
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():  # a worker stuck after Ctrl-C; its trial is re-run on resume
                w.kill()
                w.join()
    bar.update(study.get_trials(deepcopy=False))
    failed = [w.name for w in workers if w.exitcode not in (0, None)]
    if failed:
        bar.print(f"warning: worker(s) {', '.join(failed)} stopped with an error (see above)")


# --------------------------------------------------------------------------- results


def _finish(
    study: optuna.Study, cfg: SearchConfig, run_dir: Path, url: str, bar: SearchProgress,
    start: float, plan: BudgetPlan | None, progress: bool, report: bool,
) -> SearchResult:  # fmt: skip
    from optuna.trial import TrialState

    from blocknas._io import write_text
    from blocknas.search._progress import front_summary
    from blocknas.search.storage import mask_url

    trials = study.get_trials(deepcopy=False)
    front = front_trials(study, cfg)
    entries = tuple(_entry(t, cfg, run_dir) for t in front)
    try:
        write_text(run_dir / "pareto.csv", pareto_csv(entries, cfg))
    except OSError as exc:
        raise StorageError(f"--out {run_dir}: cannot write pareto.csv: {exc.strerror or exc}") from None
    _, hv = front_summary(trials, cfg)
    bar.print(bar.summary(trials))
    if progress and entries:
        bar.console.print(pareto_table(entries, cfg, run_dir))
    html, failure = _write_report(study, run_dir, cfg, bar) if report else (None, None)
    counts = {s: sum(t.state is s for t in trials) for s in TrialState}
    return SearchResult(
        study_name=study.study_name, storage=mask_url(url), run_dir=run_dir, pareto=entries,
        n_complete=counts[TrialState.COMPLETE], n_pruned=counts[TrialState.PRUNED],
        n_failed=counts[TrialState.FAIL], hypervolume=hv, seconds=time.time() - start,
        plan=plan, report=html, report_error=failure,
    )  # fmt: skip


def _entry(t: FrozenTrial, cfg: SearchConfig, run_dir: Path) -> ParetoEntry:
    from blocknas._io import trial_dir

    attrs = t.user_attrs
    path = trial_dir(run_dir, t.number) / "model.yaml"
    assert t.values is not None
    return ParetoEntry(
        number=t.number,
        values={o.name: v for o, v in zip(cfg.objectives, t.values, strict=True)},
        params=attrs.get("params"), macs=attrs.get("macs"), latency_ms=attrs.get("latency_ms"),
        test_accuracy=attrs.get("test_accuracy"), model_yaml=path if path.is_file() else None,
    )  # fmt: skip


def _extra_columns(cfg: SearchConfig) -> list[str]:
    names = {o.name for o in cfg.objectives}
    return [c for c in ("params", "macs", "latency_ms", "test_accuracy") if c not in names]


def pareto_csv(entries: tuple[ParetoEntry, ...], cfg: SearchConfig) -> str:
    """``pareto.csv``: number, each objective, params, macs, latency_ms, test_accuracy,
    model_yaml (size columns that are objectives appear once)."""
    extra = _extra_columns(cfg)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", *(o.name for o in cfg.objectives), *extra, "model_yaml"])
    for e in entries:
        values = [e.values[o.name] for o in cfg.objectives]
        more = [getattr(e, c) for c in extra]
        writer.writerow([e.number, *values, *("" if v is None else v for v in more),
                         e.model_yaml or ""])  # fmt: skip
    return out.getvalue()


def pareto_table(entries: tuple[ParetoEntry, ...], cfg: SearchConfig, run_dir: Path) -> Any:
    """A rich table of the Pareto front, best first in the first objective; columns that no
    entry has (latency when it was not measured) are left out."""
    from rich.table import Table

    from blocknas.search._progress import _fmt

    extra = [c for c in _extra_columns(cfg) if any(getattr(e, c) is not None for e in entries)]
    table = Table(title=f"Pareto front ({len(entries)} trials)")
    for col in ("trial", *(o.name for o in cfg.objectives), *extra, "model"):
        table.add_column(col, justify="left" if col == "model" else "right")
    first = cfg.objectives[0]
    sign = -1.0 if first.direction == "maximize" else 1.0
    for e in sorted(entries, key=lambda e: (sign * e.values[first.name], e.number)):
        cells = [str(e.number), *(_fmt(o.name, e.values[o.name]) for o in cfg.objectives)]
        for c in extra:
            value = getattr(e, c)
            kind = "accuracy" if c == "test_accuracy" else c
            cells.append("" if value is None else _fmt(kind, value))
        model = e.model_yaml
        if model is not None and model.is_relative_to(run_dir):
            model = model.relative_to(run_dir)
        cells.append(str(model or ""))
        table.add_row(*cells)
    return table


def _write_report(
    study: optuna.Study, run_dir: Path, cfg: SearchConfig, bar: SearchProgress
) -> tuple[Path | None, str | None]:
    """The report code's HTML report and plots, when that code is installed: its path, or why
    it was not written."""
    try:
        from blocknas.report import write_report
    except ImportError:
        return None, None
    try:
        latency = any(o.name == "latency_ms" for o in cfg.objectives)
        files = write_report(run_dir, study=study, latency=latency)
    except Exception as exc:  # the search's own results are written; the caller says so
        return None, f"{type(exc).__name__}: {exc}"
    html = Path(files.html)
    bar.print(f"report: {html}")
    return html, None
