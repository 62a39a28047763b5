"""Early stopping for multi-objective searches: asynchronous successive halving on Pareto rank.

Optuna's pruners only handle single-objective studies (``Trial.report`` raises
``NotImplementedError`` in multi-objective ones), so blocknas ranks trials itself, following
MO-ASHA (Schmucker et al., 2021, "Multi-objective Asynchronous Successive Halving"): ASHA's rungs
at epochs r, r·η, r·η², ... < R, where a trial reaching a rung goes on only if it ranks in the top
1/η of all trials that reached that rung, the ranking being non-dominated sorting on the rung's
objective values with ties inside a front broken by hypervolume contribution (the default),
crowding distance or an ε-net.

Everything a decision needs lives in the study storage, as trial user attributes, so any number of
workers on one or many machines share one view of every rung:

* ``rung_<epoch>``: list of the trial's objective values at that rung (validation accuracy of that
  epoch, static size / latency objectives), in the order of the ``directions`` given to
  :class:`MOASHA`;
* ``bracket``: the trial's Hyperband bracket;
* ``stopped_at_rung`` and ``stopped_rung_values``: written by :func:`mark_stopped` on a trial that
  was stopped (its state is then ``PRUNED``);
* ``paused_at_rung``, ``stopped_rung_values`` and ``checkpoint`` (the folder of its ``last.pt``):
  written by :func:`mark_paused` on a trial of the promotion form that waits at a rung (state
  ``PRUNED``);
* ``continues``, ``origin`` and ``resume_from``, on a trial that continues a paused one from its
  checkpoint (:meth:`MOASHA.continuation`): the paused trial's number, the number of the trial
  that started the candidate (its bracket), and the checkpoint folder.

Two forms of successive halving (``form``): in the **stopping** form a trial is judged once,
when it reaches a rung, against the trials already there, and stops or goes on. In the
**promotion** form (the default; Li et al., 2020, Algorithm 2) a trial that reaches a rung
waits there (paused, with a checkpoint) unless it is the next to promote; before starting a new
candidate a worker continues a waiting trial that is inside the top ⌊n/η⌋ of its rung's n
entries, highest rung first (:meth:`MOASHA.promotable`), as a new optuna trial with the same
parameters that resumes from the checkpoint. Trials still waiting when the search ends have been
stopped. Later arrivals can lift a waiting trial into the top of its rung, and a trial is never
judged against fewer than η others nor only against those that came before it, so the promotion
form loses less hypervolume for the same compute cut (BENCHMARKS.md).

A trial whose worker died is failed and re-run as a new trial by optuna's
``RetryHeartbeatStaleTrialCallback``, which copies every user attribute of the lost trial into the
new one, rung records included. Those records describe a run that no longer exists: the lost
trial is left out of every rung (:func:`blocknas.search.storage.reruns`), and the new one clears
what it inherited (:func:`forget_inherited_records`) and records its rungs again as it reaches
them; otherwise the same configuration would count twice at a rung, and at rungs its new run
never reaches.

Typical use in a training loop driven by ``study.ask()`` / ``study.tell()``::

    asha = MOASHA(config, ["maximize", "minimize"])
    trial = study.ask()
    bracket = asha.bracket_for(trial.number)
    for epoch in range(1, config.max_epochs + 1):
        fraction = asha.data_fraction_for(epoch, bracket)  # 1.0 unless data_fraction is on
        accuracy = train_one_epoch_and_validate(fraction)
        if asha.should_stop(trial, epoch, [accuracy, n_params]):
            mark_stopped(trial, epoch)  # inside study.optimize: tell=False, then raise TrialPruned
            break
    else:
        study.tell(trial, [accuracy, n_params])
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from blocknas.errors import ConfigError
from blocknas.search._asha import (
    Scale,
    TieBreak,
    bracket_weights,
    geometric_rungs,
    n_continuing,
    rung_ranks,
    weighted_bracket,
)
from blocknas.search.storage import CONTINUES_ATTR, continued, is_rerun, reruns

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = [
    "BRACKET_ATTR",
    "CHECKPOINT_ATTR",
    "MOASHA",
    "ORIGIN_ATTR",
    "PAUSED_AT_RUNG_ATTR",
    "RESUME_FROM_ATTR",
    "STOPPED_AT_RUNG_ATTR",
    "STOPPED_RUNG_VALUES_ATTR",
    "EarlyStoppingConfig",
    "Form",
    "forget_inherited_records",
    "format_rung_summary",
    "mark_paused",
    "mark_stopped",
    "rung_attr",
    "rung_ranks",
    "rung_summary",
]

BRACKET_ATTR = "bracket"
STOPPED_AT_RUNG_ATTR = "stopped_at_rung"
STOPPED_RUNG_VALUES_ATTR = "stopped_rung_values"
PAUSED_AT_RUNG_ATTR = "paused_at_rung"
CHECKPOINT_ATTR = "checkpoint"
ORIGIN_ATTR = "origin"
RESUME_FROM_ATTR = "resume_from"
Form = Literal["stopping", "promotion"]
# What a trial records about its own run at the rungs (a re-run clears those it inherits); the
# continuation attributes (continues, origin, resume_from) say what the trial is and are kept.
_RECORD_ATTRS = (
    BRACKET_ATTR, STOPPED_AT_RUNG_ATTR, STOPPED_RUNG_VALUES_ATTR, PAUSED_AT_RUNG_ATTR,
    CHECKPOINT_ATTR,
)  # fmt: skip
_RUNG_ATTR_RE = re.compile(r"^rung_(\d+)$")
_DEFAULT_ETA = 3  # Li et al. (ASHA) and Schmucker et al. (MO-ASHA) recommend and use η = 3


def rung_attr(epoch: int) -> str:
    """Name of the user attribute that holds a trial's values at the rung of ``epoch``."""
    return f"rung_{epoch}"


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Rung schedule and options of multi-objective successive halving.

    Attributes:
        min_epochs: r, the first rung (epochs completed).
        max_epochs: R, the epochs of a trial that is never stopped.
        eta: η >= 2; a rung keeps the top 1/η of its trials and rungs are η times apart.
        brackets: number of Hyperband brackets; bracket b starts ranking at rung r·η^b, so
            higher brackets are less aggressive. 1 = plain ASHA.
        tie_break: how trials of the front that the cut goes through are ordered:
            "hypervolume" (exclusive hypervolume contribution, larger first, measured with the
            search's hypervolume bounds), "crowding" (NSGA-II crowding distance, larger first)
            or "epsnet" (ε-net order). Crowding distance ranks both ends of a front first
            whatever they hold, so a rung that keeps one or two trials keeps the smallest model
            even at chance accuracy and stops a better trade-off beside it; the hypervolume
            contribution weighs each trial by the part of the front only it covers
            (benchmarks/early_stopping.py compares them).
        data_fraction: train on a stratified fraction of the training set before the last rung
            (see :meth:`MOASHA.data_fraction_for`).
        min_data_fraction: smallest fraction used when ``data_fraction`` is on; very small
            fractions make rung accuracies too noisy to rank by.
        form: "promotion" (the default: a trial waits at the rung, with a checkpoint, until it
            is in the top ⌊n/η⌋ or the search ends) or "stopping" (judge a trial once, when it
            reaches a rung); see the module documentation. The promotion form keeps the
            checkpoints in the run folder; a worker without one (a study made with
            ``blocknas study create``) judges its trials in the stopping form.
        enabled: False turns early stopping off (every trial runs ``max_epochs``).
    """

    min_epochs: int
    max_epochs: int
    eta: int = _DEFAULT_ETA
    brackets: int = 1
    tie_break: TieBreak = "hypervolume"
    data_fraction: bool = False
    min_data_fraction: float = 0.1
    form: Form = "promotion"
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("min_epochs", "max_epochs", "eta", "brackets"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"early_stopping.{name} must be an integer, got {value!r}")
        for name in ("data_fraction", "enabled"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"early_stopping.{name} must be true or false")
        if self.min_epochs < 1:
            raise ConfigError(f"early_stopping.min_epochs must be >= 1, got {self.min_epochs}")
        if self.max_epochs < self.min_epochs:
            raise ConfigError(
                f"early_stopping.max_epochs ({self.max_epochs}) must be >= min_epochs "
                f"({self.min_epochs})"
            )
        if self.eta < 2:
            raise ConfigError(f"early_stopping.eta must be >= 2, got {self.eta}")
        if not 1 <= self.brackets <= len(self.rungs):
            raise ConfigError(
                f"early_stopping.brackets must be between 1 and the number of rungs "
                f"{len(self.rungs)} (rungs {list(self.rungs)}), got {self.brackets}"
            )
        if self.tie_break not in get_args(TieBreak):
            raise ConfigError(
                f"early_stopping.tie_break must be one of {list(get_args(TieBreak))}, "
                f"got {self.tie_break!r}"
            )
        if self.form not in get_args(Form):
            raise ConfigError(
                f"early_stopping.form must be one of {list(get_args(Form))}, got {self.form!r}"
            )
        fraction = self.min_data_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise ConfigError(
                f"early_stopping.min_data_fraction must be a number, not {fraction!r}"
            )
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(f"early_stopping.min_data_fraction must be in (0, 1], not {fraction}")

    @property
    def rungs(self) -> tuple[int, ...]:
        """All rungs r, r·η, r·η², ... <= R (R itself included when it is one of them)."""
        return geometric_rungs(self.min_epochs, self.max_epochs, self.eta)

    def decision_rungs(self, bracket: int = 0) -> tuple[int, ...]:
        """Rungs where trials of ``bracket`` are ranked: r·η^b, ... strictly below R."""
        if not 0 <= bracket < self.brackets:
            raise ValueError(f"bracket must be in [0, {self.brackets}), got {bracket}")
        return tuple(rung for rung in self.rungs[bracket:] if rung < self.max_epochs)

    def data_fraction_at(self, epoch: int, bracket: int = 0) -> float:
        """Fraction of the training set that epoch ``epoch`` (1-based) trains on.

        With ``data_fraction`` on, an epoch followed by j decision rungs of the bracket (rungs
        >= epoch) uses η^-j of the data, at least ``min_data_fraction``: the lowest rungs, which
        only have to rank trials, are the cheapest, and every epoch after the last decision
        rung uses the full set. All trials of a bracket see the same schedule, so rung values
        stay comparable. 1.0 when the option is off.
        """
        if epoch < 1:
            raise ValueError(f"epoch must be >= 1, got {epoch}")
        if not (self.enabled and self.data_fraction):
            return 1.0
        ahead = sum(1 for rung in self.decision_rungs(bracket) if rung >= epoch)
        return max(self.min_data_fraction, float(self.eta) ** -ahead)

    @classmethod
    def default(cls, max_epochs: int) -> EarlyStoppingConfig:
        """The default for a search that trains ``max_epochs`` epochs per trial.

        Up to three halvings (r ≈ R/η³, at least 1 epoch). Enabled only when R >= η², i.e. when
        at least two rungs come before R: with fewer epochs a 1-epoch accuracy is a poor guide
        and the saving is small.
        """
        eta = _DEFAULT_ETA
        min_epochs = max(1, min(max_epochs, round(max_epochs / eta**3)))
        return cls(
            min_epochs=min_epochs,
            max_epochs=max_epochs,
            eta=eta,
            enabled=max_epochs >= eta**2,
        )

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any] | bool | None,
        *,
        max_epochs: int | None = None,
        source: str | None = None,
    ) -> EarlyStoppingConfig:
        """Build from the ``early_stopping`` entry of a search YAML (already ``safe_load``-ed).

        ``None`` (key absent) gives :meth:`default`; ``true`` / ``false`` the default switched on
        or off; a mapping overrides the default's fields. ``max_epochs`` is the training length
        used when the mapping does not give one.

        Raises:
            ConfigError: unknown keys, wrong types or inconsistent values, naming ``source``.
        """
        try:
            if data is None or isinstance(data, bool):
                if max_epochs is None:
                    raise ConfigError("early_stopping needs max_epochs")
                base = cls.default(max_epochs)
                return base if data is None else replace(base, enabled=data)
            if not isinstance(data, Mapping):
                raise ConfigError(
                    f"early_stopping must be a mapping or true/false, got {type(data).__name__}"
                )
            known = [f.name for f in fields(cls)]
            unknown = sorted(set(data) - set(known))
            if unknown:
                raise ConfigError(f"early_stopping: unknown keys {unknown}; known keys: {known}")
            epochs = data.get("max_epochs", max_epochs)
            if epochs is None:
                raise ConfigError("early_stopping.max_epochs is missing")
            if isinstance(epochs, bool) or not isinstance(epochs, int):
                raise ConfigError(f"early_stopping.max_epochs must be an integer, got {epochs!r}")
            base = cls.default(epochs)
            explicit = "enabled" in data
            config = replace(base, **dict(data))
            return config if explicit else replace(config, enabled=True)
        except ConfigError as error:
            if source is None:
                raise
            raise ConfigError(error.detail, source=source) from None


def _direction_names(directions: Sequence[Any]) -> tuple[str, ...]:
    names = []
    for d in directions:
        name = str(getattr(d, "name", d)).lower()
        if name not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {d!r}")
        names.append(name)
    if not names:
        raise ValueError("at least one direction is needed")
    return tuple(names)


class MOASHA:
    """Multi-objective asynchronous successive halving over an optuna study's storage.

    The rule at a rung (Schmucker et al., 2021, Algorithm 1, in the stopping form of
    asynchronous successive halving, Li et al., 2020): the n trials of the same bracket that have
    recorded this rung, the new one included and whatever their state now (running, complete,
    pruned, failed), are ordered by Pareto front, then inside a front by the tie-breaker, then by
    trial number. ASHA promotes the top 1/η of a rung. A stopping scheme cannot make a trial
    wait until enough others arrive, so the decision is taken once, when the trial arrives:

    * n < η: no entry can be judged yet; the trial goes on.
    * otherwise the trial goes on iff its position in that order (0-based, computed for the
      trial itself via :func:`rung_ranks`) is < ⌈n/η⌉, i.e. fewer than n/η entries rank ahead
      of it (:func:`~blocknas.search._asha.n_continuing`). Fronts wholly above the cut go on,
      fronts wholly below stop; the tie-breaker only matters in the front the cut goes through.

    Earlier arrivals are judged against fewer trials, as in ASHA; later ones against all.

    Args:
        config: the rung schedule and options.
        directions: "maximize"/"minimize" for each rung value, e.g. ``["maximize", "minimize"]``
            for (accuracy, parameters); ``optuna.study.StudyDirection`` members are accepted.
        scale: for the "hypervolume" tie-breaker, maps rung values (n, m) to minimisation
            space with the reference point at 1, e.g. the search's hypervolume normalisation
            (:func:`blocknas.search.objectives.hypervolume_scale`); default: min-max over the
            rung's entries.
    """

    def __init__(
        self, config: EarlyStoppingConfig, directions: Sequence[Any], *, scale: Scale | None = None
    ) -> None:
        self.config = config
        self.directions = _direction_names(directions)
        self.scale = scale
        per_bracket = [len(config.decision_rungs(b)) for b in range(config.brackets)]
        self._weights = bracket_weights(per_bracket, config.eta)

    def bracket_for(self, trial_number: int) -> int:
        """Hyperband bracket of a trial, from its number only (all workers agree).

        Brackets receive trials in Hyperband's proportions (∝ η^s/(s+1) for a bracket with s
        decision rungs) in a deterministic, evenly interleaved sequence. Always 0 with 1 bracket.
        """
        if self.config.brackets == 1:
            return 0
        return weighted_bracket(trial_number, self._weights)

    def data_fraction_for(self, epoch: int, bracket: int = 0) -> float:
        """Fraction of the training set to train epoch ``epoch`` (1-based) on
        (:meth:`EarlyStoppingConfig.data_fraction_at`)."""
        return self.config.data_fraction_at(epoch, bracket)

    def decide(self, values: Any, index: int) -> bool:
        """Whether entry ``index`` of a rung is stopped (True) or goes on (False).

        Pure: no storage access. ``values`` has shape (n, m), rows in trial-number order.
        """
        table = np.asarray(values, dtype=float)
        if table.ndim != 2 or table.shape[1] != len(self.directions):
            raise ValueError(
                f"rung values must have shape (n, {len(self.directions)}), got {table.shape}"
            )
        n = len(table)
        keep = n_continuing(n, self.config.eta)
        if keep >= n:
            return False
        ranks = rung_ranks(table, self.directions, self.config.tie_break, self.scale)
        position = int(ranks[index])
        return position >= keep

    def rung_table(
        self, trials: Iterable[FrozenTrial], epoch: int, bracket: int
    ) -> tuple[list[int], np.ndarray]:
        """Trial numbers and values, shape (n, m), of the trials of ``bracket`` at ``epoch``'s rung.

        Rows are sorted by trial number. Any trial state counts, except a lost trial that was
        re-run as a new one (:func:`blocknas.search.storage.reruns`).
        """
        trials = list(trials)
        key = rung_attr(epoch)
        lost = reruns(trials)
        rows = sorted(
            (t.number, t.user_attrs[key])
            for t in trials
            if t.user_attrs.get(key) is not None
            and t.user_attrs.get(BRACKET_ATTR, 0) == bracket
            and t.number not in lost
        )
        numbers = [number for number, _ in rows]
        table = np.array([values for _, values in rows], dtype=float)
        return numbers, table.reshape(len(rows), len(self.directions))

    def trial_bracket(self, trial: optuna.Trial | FrozenTrial) -> int:
        """Bracket of a trial: that of the trial that started its candidate (``origin``), so a
        continuation stays in the bracket of the trial it continues."""
        origin = trial.user_attrs.get(ORIGIN_ATTR)
        return self.bracket_for(trial.number if origin is None else int(origin))

    def should_stop(
        self, trial: optuna.Trial, epoch: int, rung_values: Sequence[float], *,
        can_wait: bool = True,
    ) -> bool:  # fmt: skip
        """Record the trial's rung values if ``epoch`` is one of its rungs, then decide.

        Call after each epoch. At epochs that are not a decision rung of the trial's bracket
        (and whenever early stopping is disabled) nothing is written and False is returned.

        Args:
            trial: the running trial (from ``study.ask()`` or inside ``study.optimize``).
            epoch: epochs completed so far (1-based).
            rung_values: one finite value per direction: the epoch's validation accuracy and
                the static size / latency objectives.
            can_wait: whether the trial could be paused here (its worker has somewhere to keep
                the checkpoint); when it cannot, the promotion form judges it as the stopping
                form does, rather than stop every trial that would have waited.

        Returns:
            True when the trial should not go on now: in the stopping form, stop it (then call
            :func:`mark_stopped`); in the promotion form, pause it (:func:`mark_paused`), which
            happens unless it is the first of :meth:`promotable` once it waits at this rung.
        """
        if not self.config.enabled:
            return False
        bracket = self.trial_bracket(trial)
        if epoch not in self.config.decision_rungs(bracket):
            return False
        values = [float(v) for v in rung_values]
        if len(values) != len(self.directions) or not all(math.isfinite(v) for v in values):
            raise ValueError(
                f"rung_values must be {len(self.directions)} finite numbers, got {rung_values!r}"
            )
        trial.set_user_attr(BRACKET_ATTR, bracket)
        trial.set_user_attr(rung_attr(epoch), values)
        # All trials, this one included: a re-run's own system attributes name the lost trial.
        trials = trial.study.get_trials(deepcopy=False)
        if self.config.form == "promotion" and can_wait:
            # This trial's own record comes from the arguments rather than a possibly cached read.
            recorded = []
            for t in trials:
                if t.number == trial.number:
                    t = copy.copy(t)
                    t.user_attrs = {**t.user_attrs, BRACKET_ATTR: bracket, rung_attr(epoch): values}
                recorded.append(t)
            order = self.promotable(recorded, arriving=(trial.number, epoch))
            return not order or order[0] != trial.number
        numbers, table = self.rung_table(trials, epoch, bracket)
        # This trial's own entry comes from the arguments rather than a possibly cached read.
        if trial.number in numbers:
            table = np.delete(table, numbers.index(trial.number), axis=0)
            numbers.remove(trial.number)
        index = int(np.searchsorted(numbers, trial.number))
        table = np.insert(table, index, values, axis=0)
        return self.decide(table, index)

    def promotable(
        self, trials: Iterable[FrozenTrial], *, arriving: tuple[int, int] | None = None
    ) -> list[int]:
        """Numbers of the waiting trials the promotion form continues, in the order it does.

        A trial waits at a rung when it was paused there (:func:`mark_paused`) and no trial
        continues it yet; ``arriving`` = (trial number, rung epoch) counts a running trial that
        has just recorded that rung as waiting there too. A waiting trial is promotable when its
        position among all n entries of its rung and bracket (:meth:`rung_table`, ordered as
        :func:`rung_ranks` orders them) is below ⌊n/η⌋: ASHA's top 1/η, judged against every
        entry so far, so a rung with fewer than η entries promotes none. Highest rung first,
        then trial number (Li et al., 2020, Algorithm 2).
        """
        trials = list(trials)
        taken = continued(trials)
        waiting: set[tuple[int, int]] = {
            (t.number, int(t.user_attrs[PAUSED_AT_RUNG_ATTR]))
            for t in trials
            if t.user_attrs.get(PAUSED_AT_RUNG_ATTR) is not None and t.number not in taken
        }
        if arriving is not None:
            waiting.add(arriving)
        found: list[tuple[int, int]] = []
        for bracket in range(self.config.brackets):
            for rung in self.config.decision_rungs(bracket):
                numbers, table = self.rung_table(trials, rung, bracket)
                keep = len(numbers) // self.config.eta
                if keep == 0:
                    continue
                ranks = rung_ranks(table, self.directions, self.config.tie_break, self.scale)
                found.extend(
                    (-rung, number)
                    for number, rank in zip(numbers, ranks, strict=True)
                    if rank < keep and (number, rung) in waiting
                )
        return [number for _, number in sorted(found)]

    def continuation(self, paused: FrozenTrial) -> tuple[dict[str, Any], dict[str, Any]]:
        """Parameters and user attributes of the trial that continues ``paused``
        (for ``study.enqueue_trial``)."""
        origin = paused.user_attrs.get(ORIGIN_ATTR, paused.number)
        attrs = {
            CONTINUES_ATTR: paused.number,
            ORIGIN_ATTR: origin,
            RESUME_FROM_ATTR: paused.user_attrs[CHECKPOINT_ATTR],
        }
        if paused.user_attrs.get("latency_ms") is not None:  # the same model: measured once
            attrs["latency_ms"] = paused.user_attrs["latency_ms"]
        return dict(paused.params), attrs

    def promotion(
        self, trials: Sequence[FrozenTrial]
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The trial to run before any new candidate: the continuation of the first
        :meth:`promotable` trial whose checkpoint this machine can read; None when there is
        none (always None in the stopping form)."""
        if not self.config.enabled or self.config.form != "promotion":
            return None
        by_number = {t.number: t for t in trials}
        for number in self.promotable(trials):
            paused = by_number[number]
            folder = paused.user_attrs.get(CHECKPOINT_ATTR)
            if folder is not None and (Path(folder) / "last.pt").is_file():
                return self.continuation(paused)
        return None


def mark_stopped(trial: optuna.Trial, epoch: int, *, tell: bool = True) -> None:
    """Mark a trial stopped at the rung of ``epoch``: user attributes, then state PRUNED.

    Writes ``stopped_at_rung`` = epoch and ``stopped_rung_values`` = the values recorded at that
    rung. With ``tell`` (ask-and-tell loops) it calls ``study.tell(trial, state=PRUNED)``; inside
    ``study.optimize`` pass ``tell=False`` and raise ``optuna.TrialPruned`` afterwards.

    A pruned multi-objective trial carries no values in optuna (``values`` is None) and no
    intermediate values are written here: optuna's TPE sampler ranks pruned trials by their last
    intermediate value through ``study.direction``, which raises in multi-objective studies.
    """
    from optuna.trial import TrialState

    trial.set_user_attr(STOPPED_AT_RUNG_ATTR, epoch)
    trial.set_user_attr(STOPPED_RUNG_VALUES_ATTR, trial.user_attrs.get(rung_attr(epoch)))
    if tell:
        trial.study.tell(trial, state=TrialState.PRUNED)


def mark_paused(trial: optuna.Trial, epoch: int, checkpoint: str | Path) -> None:
    """Mark a trial of the promotion form waiting at the rung of ``epoch``, its training state
    saved in the folder ``checkpoint``. The caller then ends it as pruned (raise
    ``optuna.TrialPruned`` inside a trial runner, or ``study.tell(trial, state=PRUNED)``).

    The trial is finished for optuna (``PRUNED``, as a stopped one); continuing it later is a
    new trial (:meth:`MOASHA.continuation`). One that is never continued has been stopped.
    """
    trial.set_user_attr(PAUSED_AT_RUNG_ATTR, epoch)
    trial.set_user_attr(CHECKPOINT_ATTR, str(Path(checkpoint).resolve()))
    trial.set_user_attr(STOPPED_RUNG_VALUES_ATTR, trial.user_attrs.get(rung_attr(epoch)))


def forget_inherited_records(trial: optuna.Trial) -> None:
    """Clear the rung records a re-run trial inherited from the lost trial it re-runs.

    optuna cannot delete a user attribute, so each one is set to None, which every reader here
    takes as absent. Does nothing for a trial that is not a re-run
    (:func:`blocknas.search.storage.is_rerun`).
    """
    if not is_rerun(trial):
        return
    inherited = [
        key
        for key, value in trial.user_attrs.items()
        if value is not None and (_RUNG_ATTR_RE.match(key) or key in _RECORD_ATTRS)
    ]
    for key in inherited:
        trial.set_user_attr(key, None)


def rung_summary(trials: Iterable[FrozenTrial]) -> dict[int, tuple[int, int]]:
    """Per rung epoch: (trials that reached it, trials stopped there), sorted by epoch.

    A trial of the promotion form that waits at a rung (paused, not continued) counts as
    stopped there. A lost trial that was re-run as a new one
    (:func:`blocknas.search.storage.reruns`) is not counted.
    """
    trials = list(trials)
    lost = reruns(trials)
    taken = continued(trials)
    reached: dict[int, int] = {}
    stopped: dict[int, int] = {}
    for t in trials:
        if t.number in lost:
            continue
        for key, value in t.user_attrs.items():
            match = _RUNG_ATTR_RE.match(key)
            if match and value is not None:
                rung = int(match.group(1))
                reached[rung] = reached.get(rung, 0) + 1
        at = t.user_attrs.get(STOPPED_AT_RUNG_ATTR)
        if at is None and t.number not in taken:
            at = t.user_attrs.get(PAUSED_AT_RUNG_ATTR)
        if at is not None:
            stopped[int(at)] = stopped.get(int(at), 0) + 1
    rungs = sorted(set(reached) | set(stopped))
    return {rung: (reached.get(rung, 0), stopped.get(rung, 0)) for rung in rungs}


def format_rung_summary(summary: Mapping[int, tuple[int, int]]) -> str:
    """One-line text for a progress line, e.g. ``"stopped e1:12/30 e3:4/18"``.

    Each item is ``e<rung epoch>:<stopped>/<reached>``; empty string when no rung was reached.
    """
    if not summary:
        return ""
    items = " ".join(f"e{rung}:{stop}/{reach}" for rung, (reach, stop) in summary.items())
    return f"stopped {items}"
