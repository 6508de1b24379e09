"""The one object every stage of ``AutoPipeline.fit`` receives: what the fit knows so far."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from featsmith.pipelines._metrics import Metric
from featsmith.pipelines._trials import TrialResult

logger = logging.getLogger("featsmith")


@dataclass(frozen=True)
class RelationalInputs:
    """``fit``'s related tables and how they join (see :class:`featsmith.featurize.FeatureGenerator`)."""

    tables: object = None
    relationships: object = None
    cutoff_time: object = None
    time_index: object = None

    @property
    def given(self) -> bool:
        return self.tables is not None


@dataclass(frozen=True)
class ValidationPlan:
    """The splits every trial is validated on, and why they were chosen.

    Attributes
    ----------
    splits : list of (train_rows, valid_rows)
        Empty when there are too few rows to validate.
    scheme : str
        ``"5-fold"``, ``"holdout"``, ``"5-fold time-ordered"``, ``"5-fold grouped"``,
        ``"none"``, ...
    reason : str
        One line: why this scheme.
    order : {"random", "time", "group", "custom"}
        How rows are assigned to validation: shuffled, later rows after earlier ones, whole
        groups, or by a splitter the user gave.
    column : str or None
        The column that orders or groups the rows, when one does.
    key : ndarray or None
        Its value per row: times as int64 (time order) or group labels; what the out-of-fold
        target encodings follow too.
    check : dict or None
        The leak check that chose between random folds and ``order`` (see the validation
        stage), when it ran.
    periods : int or None
        For time order, how many consecutive periods of ``key`` the splits are cut from (each
        split validates one period on the periods before it); the out-of-fold target encodings
        use the same periods, so a validated row is encoded with its fold's training rows only.
    """

    splits: list
    scheme: str
    reason: str
    order: str = "random"
    column: str | None = None
    key: np.ndarray | None = field(default=None, repr=False)
    check: dict | None = None
    periods: int | None = None

    @property
    def n_folds(self) -> int:
        return len(self.splits)

    @property
    def n_train(self) -> float:
        """Training rows of a fold: their mean, or for time order the last fold's (the most
        recent model, the one a refit on every row extends)."""
        if not self.splits:
            return 0.0
        sizes = [len(tr) for tr, _ in self.splits]
        return float(sizes[-1] if self.order == "time" else np.mean(sizes))

    def first(self, n_folds: int, reason: str) -> "ValidationPlan":
        """The same plan on its first ``n_folds`` splits only."""
        splits = self.splits[:n_folds]
        base = "holdout" if len(splits) == 1 else f"{len(splits)}-fold"
        scheme = f"{base}{_SCHEME_SUFFIX.get(self.order, '')}"
        return replace(self, splits=splits, scheme=scheme, reason=reason)

    def record(self) -> dict:
        """The plan as ``AutoPipeline.validation_`` reports it."""
        return {"scheme": self.scheme, "order": self.order, "column": self.column, "reason": self.reason,
                "check": self.check, "periods": self.periods}


_SCHEME_SUFFIX = {"time": " time-ordered", "group": " grouped"}


class Progress:
    """What the user sees while a fit runs: a progress bar on a terminal (``verbose >= 1``),
    a log line per trial (``verbose >= 2``). Silent otherwise."""

    def __init__(self, budget, verbose: int):
        self.verbose = verbose
        self.budget = budget
        self.rows = ""  # the rows the search uses, once a large table is sampled
        self._bar = None
        if verbose >= 1:
            import sys

            if sys.stderr.isatty():
                from featsmith.pipelines._progress import SearchProgress

                self._bar = SearchProgress(budget.seconds)

    def stage(self, name: str) -> None:
        """A stage starts: the bar (and the log) show it, the time spent against the budget,
        and the rows the search uses."""
        elapsed = self.budget.elapsed()
        description = f"{name} ({self.rows})" if self.rows else name
        logger.info("[%.0fs of %.0fs] %s", elapsed, self.budget.seconds, description)
        if self._bar is not None:
            self._bar.update(elapsed, description=description)

    def trials(self, n_trials: int, best_value: float) -> None:
        if self._bar is not None:
            self._bar.update(self.budget.elapsed(), description=f"tuning: {n_trials} trials, best {best_value:.5g}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@dataclass(frozen=True)
class FitContext:
    """Everything a stage needs to know about the data and the run.

    Attributes
    ----------
    frame : polars.DataFrame
        The training columns as given (target removed).
    y : ndarray
        The target as given.
    y_enc : ndarray
        Class codes ``0..n_classes-1`` (classification) or float values (regression).
    X : ndarray
        The encoded raw columns (:class:`featsmith.featurize.TableEncoder`).
    encoder : TableEncoder
    task : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    classes : ndarray or None
    metric : Metric
    seed : int
    n_threads : int
    progress : Progress
    relational : RelationalInputs
    groups : ndarray or None
        Group labels the user gave (``fit(groups=...)``).
    time_column : str or None
        The column that orders the rows in time: ``time_column=``, a ``cutoff_time`` column,
        or the datetime column of X with the most distinct values.
    time_values : ndarray or None
        Its values as int64 (nanoseconds for datetimes; missing ones first).
    plan : ValidationPlan or None
        Set once the validation stage has run.
    """

    frame: pl.DataFrame
    y: np.ndarray
    y_enc: np.ndarray
    X: np.ndarray
    encoder: object
    task: str
    classes: np.ndarray | None
    metric: Metric
    seed: int
    n_threads: int
    progress: Progress
    relational: RelationalInputs
    groups: np.ndarray | None = None
    time_column: str | None = None
    time_values: np.ndarray | None = None
    plan: ValidationPlan | None = None

    @property
    def n_rows(self) -> int:
        return len(self.y_enc)

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    @property
    def trees_per_round(self) -> int:
        """Trees a LightGBM boosting round grows here: one per class for a multiclass task."""
        return self.n_classes if self.task == "multiclass" else 1

    @property
    def splits(self) -> list:
        return [] if self.plan is None else self.plan.splits

    @property
    def sub_seed(self) -> int:
        """The seed as the 31-bit int that scikit-learn, LightGBM and the tuners accept."""
        return self.seed % (2**31)

    def rows(self, rows: np.ndarray) -> "FitContext":
        """The context of some rows only (the search sample of a large table)."""
        take = (lambda a: None if a is None else a[rows])
        rel = self.relational
        if rel.cutoff_time is not None and not isinstance(rel.cutoff_time, str):
            rel = replace(rel, cutoff_time=np.asarray(rel.cutoff_time)[rows])
        return replace(self, frame=self.frame[rows], y=self.y[rows], y_enc=self.y_enc[rows], X=self.X[rows],
                       groups=take(self.groups), time_values=take(self.time_values), relational=rel, plan=None)

    def with_plan(self, plan: ValidationPlan) -> "FitContext":
        return replace(self, plan=plan)

    def runner_args(self) -> dict:
        """Keyword arguments of every fold runner (:class:`featsmith.pipelines._trials.FoldRunner`)."""
        return dict(
            task=self.task, n_classes=self.n_classes, metric=self.metric, splits=self.splits,
            n_threads=self.n_threads, seed=self.seed,
        )

    def run_trial(self, runner, config: dict, deadline: float, start: float, folds_budget=None) -> TrialResult:
        """Validate ``config`` with ``runner``; ``started`` is recorded in seconds since ``start``."""
        started = time.perf_counter() - start
        result = replace(runner.run(config, deadline, folds_budget=folds_budget), started=started)
        if self.progress.verbose >= 2:
            logger.info("trial %s %s value=%.5g %.2fs", result.family, result.status, result.value, result.seconds)
        return result
