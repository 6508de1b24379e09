"""AutoPipeline: the whole lifecycle (typing, features, tuning, refit) as one estimator."""

from __future__ import annotations

import logging
import os
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, train_test_split
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from featsmith._frame import frame_kind
from featsmith._validation import (
    check_frame,
    check_predict_frame,
    check_target,
    extract_target,
    warn_infinite,
)
from featsmith._version import __version__
from featsmith.featurize import TableEncoder
from featsmith.pipelines._ensemble import greedy_ensemble
from featsmith.pipelines._lgbm import KNOWN_GOOD_CONFIGS, LGBM_SPACE, LGBMTrialRunner
from featsmith.pipelines._portfolio import NAS_CONFIG, PORTFOLIO_CONFIGS, EstimatorTrialRunner
from featsmith.pipelines._trials import TrialResult, WeightedModel
from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._task import TASKS, infer_task

logger = logging.getLogger("featsmith")

# Above this many rows a single stratified 80/20 holdout replaces k-fold CV: the estimate is
# already tight and k-fold would spend the budget on k fits per trial.
HOLDOUT_MIN_ROWS = 20_000
DEFAULT_FOLDS = 5
# Trials whose fold models and out-of-fold predictions are kept for ensembling.
TOP_TRIALS_KEPT = 8
# The neural head joins the portfolio only when the budget leaves it room to train.
NAS_MIN_BUDGET = 120
# ... and its search, over all folds, takes at most this share of the budget.
NAS_BUDGET_SHARE = 0.2


class _StageClock:
    """Seconds per stage of ``fit``, in order."""

    def __init__(self, t0):
        self.last = t0
        self.timings = {}

    def lap(self, stage):
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now


class _Member:
    def __init__(self, trial, weight):
        self.trial = trial
        self.weight = float(weight)
        self.ensemble_value = trial.value
        self.refit = "all rows"


class _RowSubset:
    """A :class:`featsmith._types.CandidateSource` restricted to some rows (the validation
    rows of a holdout, the only ones with out-of-fold base predictions)."""

    def __init__(self, source, rows):
        self.source = source
        self.rows = np.asarray(rows)
        self.names = source.names
        self.n_rows = len(self.rows)

    def evaluate(self, names, rows=None):
        return self.source.evaluate(names, self.rows if rows is None else self.rows[np.asarray(rows)])


def _usable(trial) -> bool:
    """Validated on every fold: comparable with the others and fit for the ensemble."""
    return np.isfinite(trial.value) and trial.status == "ok"


def _best(trials):
    for ok in (_usable, lambda tr: np.isfinite(tr.value) and tr.status == "truncated"):
        usable = [tr for tr in trials if ok(tr)]
        if usable:
            return max(usable, key=lambda tr: tr.value)
    return trials[0]


def _keep_top(trials, k):
    """Drop fold models and predictions of all but the ``k`` best usable trials."""
    ranked = sorted((tr for tr in trials if _usable(tr)), key=lambda tr: tr.value, reverse=True)
    keep = {id(tr) for tr in ranked[:k]}
    for tr in trials:
        if id(tr) not in keep:
            tr.models, tr.oof = [], None


def _raw_scores(oof, task, rows):
    """Out-of-fold probabilities/values -> the raw scores a booster would start from."""
    pred = oof[rows]
    if task == "regression":
        return pred
    p = np.clip(pred, 1e-7, 1 - 1e-7)
    if task == "binary":
        return np.log(p[:, 1] / p[:, 0])
    return np.log(p)


def _resolve_threads(n_jobs) -> int:
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == -1:
        return cores
    if n_jobs < -1:
        return max(1, cores + 1 + n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs=0 is not valid; use a positive count, -1 for all cores or None.")
    return int(n_jobs)


def make_splits(y, task, *, cv=None, random_state=0, groups=None):
    """Validation splits for tuning, as a list of ``(train_idx, valid_idx)``.

    ``cv=None``: 5-fold CV (stratified for classification) up to 20,000 rows, a single 80/20
    holdout (stratified for classification) above. An int asks for that many folds; any
    scikit-learn splitter (``GroupKFold``, ``TimeSeriesSplit``, ...) is used as given, with
    ``groups``. With ``groups`` and no splitter, whole groups stay on one side
    (``StratifiedGroupKFold`` for classification, ``GroupKFold`` otherwise). Classes too rare
    to stratify fall back to plain shuffled folds; a handful of rows gets as many folds as it
    can hold.

    Examples
    --------
    >>> import numpy as np
    >>> splits = make_splits(np.array([0, 1] * 50), "binary", random_state=0)
    >>> len(splits), len(splits[0][1])
    (5, 20)
    """
    n = len(y)
    classification = task != "regression"
    if cv is not None and not isinstance(cv, (int, np.integer)):
        return [(np.asarray(tr), np.asarray(va)) for tr, va in cv.split(np.zeros((n, 1)), y, groups)]
    if groups is not None:
        n_groups = len(np.unique(groups))
        k = min(int(cv) if cv is not None else DEFAULT_FOLDS, n_groups)
        if k < 2:
            raise ValueError(f"groups has {n_groups} distinct value(s); grouped validation needs at least 2.")
        splitter = (
            StratifiedGroupKFold(k, shuffle=True, random_state=random_state)
            if classification else GroupKFold(k)
        )
        return list(splitter.split(np.zeros((n, 1)), y, groups))
    min_class = int(np.bincount(y).min()) if classification else n
    if cv is None and n > HOLDOUT_MIN_ROWS:
        strat = y if classification and min_class >= 2 else None
        tr, va = train_test_split(np.arange(n), test_size=0.2, random_state=random_state, stratify=strat)
        return [(np.sort(tr), np.sort(va))]
    k = int(cv) if cv is not None else DEFAULT_FOLDS
    if k < 2:
        raise ValueError(f"cv={cv} must be at least 2 folds.")
    k = min(k, n)
    if k < 2:
        return []
    if classification and min_class >= k:
        splitter = StratifiedKFold(k, shuffle=True, random_state=random_state)
    elif classification and min_class >= 2:
        splitter = StratifiedKFold(min_class, shuffle=True, random_state=random_state)
    else:
        splitter = KFold(k, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros((n, 1)), y))


class AutoPipeline(TransformerMixin, BaseEstimator):
    """Automated feature engineering and model tuning, exported as one estimator.

    ``fit`` runs these stages under one wall-clock budget (``stage_timings_`` records them):

    1. **encode**: type the columns and encode them for LightGBM (native categorical codes,
       frequency encodings, datetime parts, text statistics, missing indicators).
    2. **baseline**: LightGBM's defaults, validated out of fold.
    3. **generate / screen / select / validate_features**:
       :class:`featsmith.featurize.FeatureGenerator` enumerates candidate features
       (transforms, crosses, group-by statistics, out-of-fold target encodings, relational
       aggregations when ``tables`` are given); :class:`featsmith.selectors.HalvingScreen`
       scores them by the held-out gain they add to the baseline's out-of-fold predictions
       (copies of the encoded columns dropped); :class:`featsmith.selectors.GBDTSelector`
       keeps the survivors whose importance beats shuffled shadow columns; they are kept
       only if LightGBM's defaults validate better with them (``feature_plan_``).
    4. **search**: known-good LightGBM configurations, then TPE, through
       :class:`featsmith.tuners.Experiment`, one trial at a time while the budget allows.
    5. **ensemble**: greedy ensemble selection (Caruana) over the best trials' out-of-fold
       predictions.
    6. **refit**: every ensemble member on all rows (rounds scaled to the row count), or its
       averaged fold models when a refit would overrun the budget.

    Parameters
    ----------
    task : {"auto", "classification", "binary", "multiclass", "regression"}, default="auto"
        ``"auto"`` infers the task from ``y`` (see :func:`featsmith.pipelines.infer_task`:
        non-numeric targets and whole-number targets with at most 20 distinct values are
        classification, other numeric targets regression).
    metric : str or callable, default=None
        The metric tuned for. ``None`` means ROC AUC (binary), log loss (multiclass) and
        RMSE (regression). A name (``"rmse"``, ``"mae"``, ``"log_loss"``, ``"roc_auc"`` or
        any scikit-learn scorer name), a scikit-learn scorer, or a function
        ``f(y_true, y_pred)`` (maximised unless its name contains "error" or "loss").
    time_budget : float, default=60
        Seconds for the whole ``fit``, refit included. ``fit`` returns within the budget
        plus 10% (with a floor of a few seconds) up to about 100k rows.
    max_trials : int, default=None
        Stop after this many model trials (the baseline and the feature check count). With
        a time budget alone, how many trials run depends on the machine's speed; set
        ``max_trials`` (and a generous budget) for results that are identical run to run.
    cv : int or scikit-learn splitter, default=None
        Validation scheme: ``None`` is 5-fold CV (stratified for classification) up to
        20,000 rows and an 80/20 holdout above; an int is that many folds.
    feature_generation : bool, default=True
        Generate and screen candidate features (always on when ``tables`` are given).
    max_candidates : int, default=None
        Candidates to generate; ``None`` sizes it to about a quarter of the budget.
    max_new_features : int, default=30
        Most generated features kept.
    ensemble : bool, default=True
        Ensemble the best trials when that validates better than the single best.
    max_predict_cost : float or None, default=3.0
        Keeps batch prediction fast: the ensemble's estimated prediction cost (trees times
        depth, summed over its members; averaged fold models count once per fold) stays
        within this multiple of the best LightGBM trial's, so ``predict`` takes about that
        many times as long as the single best booster would. The single best model is always
        kept. ``None`` for no limit.
    portfolio : bool, default=True
        Besides LightGBM, validate extra trees and a linear model (and, with a budget of
        120 s or more, the searched neural head of :mod:`featsmith.tuners.nas`) for the
        ensemble.
    storage : str or path, default=None
        SQLite file where the tuning experiment stores its trials (in memory when None).
    random_state : int, numpy Generator or None, default=None
        Seeds folds, feature generation, search and LightGBM. Same ``random_state``,
        ``n_jobs=1`` and ``max_trials`` give the same model and predictions.
    n_jobs : int, default=None
        Threads for LightGBM; ``None`` or ``-1`` uses every core.
    verbose : int, default=1
        0 is silent; 1 shows a progress bar on a terminal; 2 also logs every trial.

    Attributes
    ----------
    task_ : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    metric_ : str
        Name of the tuned metric; ``metric_greater_is_better_`` tells its direction.
    classes_ : ndarray
        Class labels (classification only).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    encoder_ : TableEncoder
        The fitted encoding of the raw columns.
    feature_plan_ : FeaturePlan or None
        The generated features the model uses (``feature_plan_.describe()`` shows their
        formulas); None when none validated better.
    feature_screen_ : HalvingScreen or None
        The screen's scores of every candidate.
    feature_selector_ : GBDTSelector or None
        The importance-vs-shadow selection applied to the screened features.
    leaderboard_ : pandas.DataFrame
        One row per trial: ``trial``, ``model``, ``params``, ``score`` (in the metric's
        natural units), ``seconds``, ``started`` (seconds into ``fit``), ``n_rounds``,
        ``status``; best first.
    ensemble_ : pandas.DataFrame
        The final model's members: leaderboard ``trial`` number, ``model``, ``weight`` and
        ``refit`` (``"all rows"``, or ``"fold average"`` when a refit would have overrun the
        budget).
    best_params_ : dict
        The best single trial's configuration.
    best_score_ : float
        Out-of-fold score of the final model (the ensemble's when there is one), in the
        metric's natural units.
    validation_ : str
        ``"5-fold"``, ``"holdout"``, ...
    tuning_history_ : pandas.DataFrame
        The tuning experiment's trials (:meth:`featsmith.tuners.Experiment.trials_dataframe`;
        also in ``storage`` when given).
    model_ : object
        The refitted model(s).
    stage_timings_ : dict
        Seconds per stage.
    fit_seconds_ : float

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from featsmith import AutoPipeline
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = AutoPipeline(time_budget=10, max_trials=3, random_state=0, verbose=0).fit(X, y)
    >>> model.task_, model.metric_
    ('binary', 'roc_auc')
    >>> model.predict_proba(X.head(2)).shape
    (2, 2)
    """

    def __init__(
        self,
        task="auto",
        metric=None,
        time_budget=60,
        max_trials=None,
        cv=None,
        feature_generation=True,
        max_candidates=None,
        max_new_features=30,
        ensemble=True,
        max_predict_cost=3.0,
        portfolio=True,
        storage=None,
        random_state=None,
        n_jobs=None,
        verbose=1,
    ):
        self.task = task
        self.metric = metric
        self.time_budget = time_budget
        self.max_trials = max_trials
        self.cv = cv
        self.feature_generation = feature_generation
        self.max_candidates = max_candidates
        self.max_new_features = max_new_features
        self.ensemble = ensemble
        self.max_predict_cost = max_predict_cost
        self.portfolio = portfolio
        self.storage = storage
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- parameters -----------------------------------------------------------------------
    def _check_params(self):
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r} is not one of {TASKS}.")
        if not isinstance(self.time_budget, (int, float)) or not self.time_budget > 0:
            raise ValueError(f"time_budget={self.time_budget!r} must be a positive number of seconds.")
        if self.max_trials is not None and (not isinstance(self.max_trials, (int, np.integer)) or self.max_trials < 1):
            raise ValueError(f"max_trials={self.max_trials!r} must be a positive integer or None.")
        if self.max_predict_cost is not None and not (
            isinstance(self.max_predict_cost, (int, float)) and self.max_predict_cost >= 1
        ):
            raise ValueError(
                f"max_predict_cost={self.max_predict_cost!r} must be a number >= 1 (a multiple of the best "
                "single model's prediction cost) or None for no limit."
            )

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.default_rng().integers(2**31 - 1))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(2**31 - 1))
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(2**31 - 1))
        return int(rs)

    # -- fit --------------------------------------------------------------------------------
    def fit(self, X, y=None, tables=None, relationships=None, cutoff_time=None, time_index=None, groups=None):
        """Fit on a table ``X`` and target ``y``.

        Parameters
        ----------
        X : pandas, polars or pyarrow DataFrame, or 2-D numpy array
            The training rows (the target table when ``tables`` are given).
        y : array-like of shape (n_samples,) or str
            The target, or the name of the target column of ``X``.
        tables : dict of name -> DataFrame, or a featuretools EntitySet, optional
            Related tables for relational features (see
            :class:`featsmith.featurize.FeatureGenerator`). Their aggregates are kept as lookup
            tables, so ``predict`` works without them.
        relationships : list of ("child.fk", "parent.pk"), optional
        cutoff_time : str or array-like, optional
            A column of ``X`` (or one timestamp per row): related rows count only when their
            time index is before it.
        time_index : dict of table -> column, optional
        groups : array-like of shape (n_samples,), optional
            Group labels (a customer, an incident): validation folds and the out-of-fold
            target encodings keep each group whole, so no group is scored by a model that saw
            it. Passed to a scikit-learn splitter given as ``cv``.

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        self._check_params()
        budget = float(self.time_budget)
        df = check_frame(X, estimator_name=type(self).__name__)
        df, y = extract_target(df, y)
        if df.width == 0:
            raise ValueError("X has no feature columns besides the target; pass at least one feature column.")
        y = check_target(y, df.height, estimator_name=type(self).__name__)
        if df.height < 2:
            raise ValueError("X has 1 sample (n_samples = 1); at least 2 samples are needed to fit.")
        warn_infinite(df)
        seed = self._seed()
        self.task_ = infer_task(y, self.task)
        metric = resolve_metric(self.metric, self.task_)
        self.metric_ = metric.name
        self.metric_greater_is_better_ = metric.greater_is_better
        self.n_features_in_ = df.width
        kind = frame_kind(X)
        has_names = kind != "numpy" and (kind != "pandas" or all(isinstance(c, str) for c in X.columns))
        if has_names:
            self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._input_columns = list(df.columns)

        if self.task_ == "regression":
            y_enc = y.astype(np.float64)
            n_classes = 0
        else:
            self.classes_, y_enc = np.unique(y, return_inverse=True)
            n_classes = len(self.classes_)

        clock = _StageClock(t0)
        self.encoder_ = TableEncoder().fit(df)
        Xmat = self.encoder_.transform(df)
        clock.lap("encode")
        if Xmat.shape[1] == 0 and tables is None:
            raise ValueError(
                "No usable feature: every column of X is empty, constant or an identifier "
                f"(schema: {self.encoder_.schema_}). Pass informative columns."
            )
        if groups is not None:
            groups = np.asarray(groups)
            if len(groups) != len(y_enc):
                raise ValueError(
                    f"groups has {len(groups)} values but X has {len(y_enc)} rows; pass one group label per row."
                )
        splits = make_splits(y_enc, self.task_, cv=self.cv, random_state=seed % (2**31), groups=groups)
        self.validation_ = "none" if not splits else "holdout" if len(splits) == 1 else f"{len(splits)}-fold"
        runner_args = dict(
            task=self.task_, n_classes=n_classes, metric=metric, splits=splits,
            n_threads=_resolve_threads(self.n_jobs), seed=seed,
        )
        runner = LGBMTrialRunner(Xmat, y_enc, categorical=self.encoder_.categorical_features_, **runner_args)
        trials = []
        if not splits:  # too few rows to validate: LightGBM's defaults, unvalidated
            trials.append(TrialResult({}, float("nan"), 100, 0.0, "unvalidated"))
        else:
            baseline = self._run_trial(runner, {}, t0 + budget * 0.3, t0, folds_budget=0.2 * budget)
            if baseline.status == "truncated" and baseline.models:
                # k-fold is too slow for this budget: validate on the folds that finished (a
                # holdout when it is one) from here on, and score the baseline on them alone.
                done = len(baseline.models)
                logger.info("Validation cut to %d of %d folds to fit the budget.", done, len(splits))
                runner.restrict_folds(done)
                splits = runner.splits
                runner_args["splits"] = splits
                baseline.value, baseline.status = runner.score_oof(baseline.oof, runner.valid_mask)
            self.validation_ = "holdout" if len(splits) == 1 else f"{len(splits)}-fold"
            trials.append(baseline)
        clock.lap("baseline")

        self.feature_plan_ = None
        self.feature_screen_ = None
        self.feature_selector_ = None
        if splits and (self.feature_generation or tables is not None):
            runner, aug_trial = self._generate_features(
                df, y, y_enc, Xmat, runner, runner_args, trials[0], t0, budget, seed, clock,
                tables=tables, relationships=relationships, cutoff_time=cutoff_time, time_index=time_index,
                groups=groups,
            )
            if aug_trial is not None:
                trials.append(aug_trial)
        if splits:
            trials += self._search(runner, t0, budget, seed, n_done=len(trials), best_so_far=trials)
        clock.lap("search")

        cost_limit = self._cost_limit(trials)
        members = self._ensemble(trials, metric, runner, cost_limit)
        clock.lap("ensemble")
        n_chosen = len(members)
        self.model_, members = self._refit_members(members, runner, splits, t0, budget, len(y_enc), cost_limit)
        if 1 < len(members) < n_chosen:  # the dropped members' share moved to the others
            value = self._ensemble_scorer(metric, runner)(
                sum(m.weight * m.trial.oof[runner.valid_mask] for m in members)
            )
            for m in members:
                m.ensemble_value = value
        clock.lap("refit")
        self._feature_names = list(self.encoder_.feature_names_out_) + (
            list(self.feature_plan_.names) if self.feature_plan_ is not None else []
        )
        best = _best(trials)
        self.best_params_ = dict(best.params)
        self.ensemble_ = pd.DataFrame(
            [
                {"trial": trials.index(m.trial), "model": m.trial.family, "weight": m.weight, "refit": m.refit}
                for m in members
            ]
        )
        ens_value = members[0].ensemble_value if len(members) > 1 else best.value
        self.best_score_ = metric.natural(ens_value) if np.isfinite(ens_value) else float("nan")
        self.leaderboard_ = self._leaderboard(trials, metric)
        self.stage_timings_ = clock.timings
        self.featsmith_version_ = __version__
        self.fit_seconds_ = time.perf_counter() - t0
        for tr in trials:  # fold models, predictions and data are not part of the fitted model
            tr.models, tr.oof, tr.runner = [], None, None
        logger.info(
            "AutoPipeline: %s, %s=%.5g (%s) from %d trials in %.1fs",
            self.task_, self.metric_, self.best_score_, self.validation_, len(trials), self.fit_seconds_,
        )
        return self

    def _run_trial(self, runner, config, deadline, t0, folds_budget=None):
        started = time.perf_counter() - t0
        result = runner.run(config, deadline, folds_budget=folds_budget)
        result.started = started
        if self.verbose >= 2:
            logger.info("trial %s %s value=%.5g %.2fs", result.family, result.status, result.value, result.seconds)
        return result

    def _generate_features(self, df, y, y_enc, Xmat, runner, runner_args, baseline, t0, budget, seed, clock,
                           *, tables, relationships, cutoff_time, time_index, groups):
        """Generate candidates, screen them against the baseline's out-of-fold predictions,
        and keep the survivors only if LightGBM's defaults validate better with them."""
        from featsmith.featurize import FeatureGenerator
        from featsmith.selectors import HalvingScreen

        remaining = t0 + budget - time.perf_counter()
        if tables is None and (remaining < 0.45 * budget or baseline.seconds > 0.15 * budget):
            # Checking generated features costs one more full trial: not worth it when a
            # trial is a large share of the budget (tuning pays more there).
            logger.info(
                "Feature generation skipped: %.1fs of the budget left, a trial takes %.1fs.",
                remaining, baseline.seconds,
            )
            return runner, None
        n_rows = len(y_enc)
        max_candidates = self.max_candidates
        if max_candidates is None:
            # About a quarter of the budget, at the screen's measured ~1.5M cells per second.
            max_candidates = int(np.clip(0.25 * budget * 1.5e6 / n_rows, 50, 2000))
        gen = FeatureGenerator(
            max_candidates=max_candidates, random_state=seed % (2**31),
            task=self.task_ if self.task_ != "regression" else "regression",
        )
        gen.fit(df, y, tables=tables, relationships=relationships, cutoff_time=cutoff_time,
                time_index=time_index, groups=groups)
        source = gen.candidate_source()
        clock.lap("generate")
        if not source.names or not np.isfinite(baseline.value):
            return runner, None
        rows = np.flatnonzero(runner.valid_mask)
        # Next to the encoded columns, the screen drops monotone copies of them before they
        # can fill its finalists (its confirmation refits stay off: see HalvingScreen).
        with_base = Xmat.shape[1] > 0
        screen = HalvingScreen(
            n_keep=self.max_new_features, random_state=seed % (2**31), n_jobs=runner.n_threads,
            task="regression" if self.task_ == "regression" else "classification",
        )
        screened = source if len(rows) == n_rows else _RowSubset(source, rows)
        screen.fit(screened, y_enc[rows], init_score=_raw_scores(baseline.oof, self.task_, rows),
                   base=Xmat[rows] if with_base else None,
                   categorical_features=self.encoder_.categorical_features_ if with_base else None)
        self.feature_screen_ = screen
        names = list(screen.selected_names_)
        clock.lap("screen")
        if names and time.perf_counter() - t0 < 0.5 * budget:
            names = self._select_generated(Xmat, source.evaluate(names).astype(np.float64), names, y_enc, runner, seed)
            clock.lap("select")
        if gen.relational_ is not None:
            # Relational aggregates are what related tables are given for (featuretools' DFS
            # output): keep them all, numeric ones, and let the screen add derived features.
            relational = [n for n in gen.relational_.output_names if n in source.names and n not in names]
            names = relational + names
        if not names:
            return runner, None
        Xaug = np.hstack([Xmat, source.evaluate(names).astype(np.float64)])
        aug_runner = LGBMTrialRunner(Xaug, y_enc, categorical=self.encoder_.categorical_features_, **runner_args)
        trial = self._run_trial(aug_runner, {}, t0 + budget * 0.6, t0)
        trial.status = "ok"
        clock.lap("validate_features")
        if np.isfinite(trial.value) and trial.value > baseline.value:
            self.feature_plan_ = gen.plan(names)
            runner.free()
            baseline.models, baseline.oof = [], None  # trained on other columns: not refittable here
            baseline.status = "raw columns only"
            return aug_runner, trial
        logger.info("Generated features did not validate better (%.5g vs %.5g); dropped.", trial.value, baseline.value)
        trial.status = "rejected features"
        trial.models, trial.oof = [], None
        return runner, trial

    def _select_generated(self, Xmat, Xnew, names, y_enc, runner, seed):
        """Keep the screened features whose LightGBM gain, next to every raw column, beats
        shuffled copies of the columns (:class:`featsmith.selectors.GBDTSelector`'s automatic
        cut); it is fitted on the training rows only."""
        from featsmith.selectors import GBDTSelector

        selector = GBDTSelector(
            n_null_runs=2, task="regression" if self.task_ == "regression" else "classification",
            random_state=seed % (2**31), n_jobs=runner.n_threads,
        )
        selector.fit(np.hstack([Xmat, Xnew]), y_enc)
        self.feature_selector_ = selector
        keep = selector.get_support()[Xmat.shape[1]:]
        logger.info("GBDTSelector kept %d of %d screened features.", int(keep.sum()), len(names))
        return [n for n, k in zip(names, keep) if k]

    def _search(self, runner, t0, budget, seed, n_done, best_so_far):
        """Tune LightGBM through :class:`featsmith.tuners.Experiment` (TPE), known-good
        configurations first, one trial at a time until the budget's search share is spent."""
        from featsmith.tuners import Experiment

        max_trials = (self.max_trials if self.max_trials is not None else 10**9) - n_done
        if max_trials <= 0:
            return []
        results = {}
        state = {"deadline": 0.0}
        estimators = EstimatorTrialRunner(
            runner.X, runner.y, categorical=runner.categorical, task=runner.task, n_classes=runner.n_classes,
            metric=runner.metric, splits=runner.splits, n_threads=runner.n_threads, seed=runner.seed,
            nas_seconds=NAS_BUDGET_SHARE * budget / max(len(runner.splits), 1),
        )

        def objective(params, reporter):
            family = estimators if "model" in params else runner
            slowest = max(tr.seconds for tr in kept)
            if family is estimators and state["deadline"] - time.perf_counter() < max(10.0, 4 * slowest):
                # A scikit-learn fit cannot be stopped midway: start one only with room to spare.
                results[reporter.trial_id] = TrialResult(params, -np.inf, 0, 0.0, "skipped (budget)",
                                                         family=params["model"])
                return None
            result = self._run_trial(family, params, state["deadline"], t0)
            results[reporter.trial_id] = result
            return result.value if np.isfinite(result.value) else None

        initial = list(KNOWN_GOOD_CONFIGS[1:])
        if self.portfolio:
            initial[1:1] = PORTFOLIO_CONFIGS  # diversity early: after the first known-good config
            if self.time_budget >= NAS_MIN_BUDGET:
                initial.insert(3, NAS_CONFIG)
        experiment = Experiment(
            objective, LGBM_SPACE, tuner="tpe", mode="max", random_state=seed % (2**31),
            initial_configs=initial, storage=self.storage, name=f"lightgbm-{seed}",
        )
        progress = self._progress(budget)
        trials = []
        kept = list(best_so_far)
        per_fit = max(best_so_far[0].seconds / max(len(runner.splits), 1), 0.01)
        # A refit trains on all rows for proportionally more rounds (~1.6x a fold's fit); other
        # ensemble members fall back to their fold models when they would overrun.
        refit_estimate = 1.6 * per_fit + 0.02 * budget
        try:
            while len(trials) < max_trials:
                elapsed = time.perf_counter() - t0
                recent = max(tr.seconds for tr in (trials or best_so_far)[-3:])
                if elapsed + recent + refit_estimate > budget * 0.92:
                    break
                state["deadline"] = t0 + budget * 0.92 - refit_estimate
                experiment.max_trials = len(experiment.trials_) + 1
                experiment.run()
                last = experiment.trials_[-1]
                if last.id not in results:  # the objective never ran (e.g. the space is exhausted)
                    break
                trials.append(results.pop(last.id))
                kept.append(trials[-1])
                _keep_top(kept, TOP_TRIALS_KEPT)
                if progress is not None:
                    progress.update(time.perf_counter() - t0, len(kept), max(tr.value for tr in kept))
        finally:
            if progress is not None:
                progress.close()
            # The experiment holds the objective (a closure over the data) and the store's
            # connection: keep only its record.
            self.tuning_history_ = experiment.trials_dataframe()
        return trials

    def _cost_limit(self, trials):
        """The most prediction cost the ensemble may have (None: no limit)."""
        if self.max_predict_cost is None:
            return None
        boosters = [tr for tr in trials if _usable(tr) and tr.family == "lightgbm" and tr.runner is not None]
        if not boosters:
            return None
        best = max(boosters, key=lambda tr: tr.value)
        return self.max_predict_cost * best.runner.predict_cost(best.params, best.n_rounds)

    def _ensemble(self, trials, metric, runner, cost_limit):
        """Greedy ensemble selection over the kept trials' out-of-fold predictions, within
        ``cost_limit`` (see :meth:`_cost_limit`)."""
        ok = [tr for tr in trials if _usable(tr) and tr.oof is not None and tr.models]
        best = _best(trials)
        if len(ok) < 2 or not self.ensemble:
            return [_Member(best, 1.0)]
        ok = sorted(ok, key=lambda tr: tr.value, reverse=True)[:TOP_TRIALS_KEPT]
        costs = [tr.runner.predict_cost(tr.params, tr.n_rounds) for tr in ok]
        weights, value = greedy_ensemble(
            [tr.oof[runner.valid_mask] for tr in ok], self._ensemble_scorer(metric, runner),
            costs=costs, max_cost=cost_limit,
        )
        members = [_Member(tr, w) for tr, w in zip(ok, weights) if w > 0]
        if len(members) == 1:
            return [_Member(members[0].trial, 1.0)]
        for m in members:
            m.ensemble_value = value
        logger.info("Ensemble of %d trials: %.5g (best single %.5g)", len(members), value, ok[0].value)
        return members

    def _ensemble_scorer(self, metric, runner):
        y_valid = runner.y[runner.valid_mask]
        classes = None if self.task_ == "regression" else np.arange(runner.n_classes)

        def score(pred):
            try:
                return metric.score_predictions(y_valid, pred, classes=classes)
            except ValueError:
                return -np.inf

        return score

    def _refit_members(self, members, runner, splits, t0, budget, n_rows, cost_limit):
        """Refit each ensemble member on all rows while the budget allows; a member whose
        refit would overrun keeps its averaged fold models instead, unless their prediction
        cost (one model per fold) would break ``cost_limit``: then it leaves the ensemble.

        Returns the fitted model and the members kept (weights renormalised)."""
        hard_end = t0 + budget + max(0.05 * budget, 2.0)
        fitted, kept, spent = [], [], 0.0
        for m in members:
            tr = m.trial
            family = tr.runner or runner
            if not splits:
                fitted.append(family.member(family.refit(tr.params, tr.n_rounds, float("inf"))))
                kept.append(m)
                continue
            n_train = np.mean([len(a) for a, _ in splits])
            n_rounds = int(np.ceil(tr.n_rounds * n_rows / n_train))
            per_fit = tr.seconds / max(len(tr.models), 1) * n_rows / n_train
            # In the units of the limit (the trials' own rounds), as the ensemble selection counted it.
            cost = family.predict_cost(tr.params, tr.n_rounds)
            model = None
            if time.perf_counter() + per_fit < hard_end or not tr.models:
                model = family.refit(tr.params, n_rounds, deadline=hard_end if tr.models else float("inf"))
            if model is None:
                cost *= len(tr.models)
                if kept and cost_limit is not None and spent + cost > cost_limit:
                    logger.info("Dropped %s from the ensemble: no time to refit it, and its fold models "
                                "would break the prediction-cost limit.", tr.family)
                    continue
                logger.info("Refit of %s would overrun the budget; using its averaged fold models.", tr.family)
                model = family.fold_average(tr.models)
                m.refit = "fold average"
            spent += cost
            fitted.append(family.member(model))
            kept.append(m)
        total = sum(m.weight for m in kept)
        for m in kept:
            m.weight /= total
        return WeightedModel([(m.weight, out) for m, out in zip(kept, fitted)], self.task_), kept

    def _progress(self, budget):
        if self.verbose < 1:
            return None
        import sys

        if not sys.stderr.isatty():
            return None
        from featsmith.pipelines._progress import SearchProgress

        return SearchProgress(budget, self)

    def _leaderboard(self, trials, metric):
        rows = [
            {
                "trial": i,
                "model": tr.family,
                "params": tr.params,
                "score": metric.natural(tr.value) if np.isfinite(tr.value) else np.nan,
                "seconds": tr.seconds,
                "started": tr.started,
                "n_rounds": tr.n_rounds,
                "status": tr.status,
                "_value": tr.value,
            }
            for i, tr in enumerate(trials)
        ]
        lb = pd.DataFrame(rows).sort_values("_value", ascending=False, kind="stable", na_position="last")
        return lb.drop(columns="_value").reset_index(drop=True)

    # -- predict ------------------------------------------------------------------------------
    def _features(self, X, tables=None):
        check_is_fitted(self, "model_")
        df = check_predict_frame(
            X, n_features_in=self.n_features_in_, feature_names_in=self._input_columns,
            estimator_name=type(self).__name__,
        )
        Xmat = self.encoder_.transform(df.select(self._input_columns))
        if self.feature_plan_ is None:
            return Xmat
        extra = self.feature_plan_.transform(df, tables=tables).to_numpy().astype(np.float64)
        return np.hstack([Xmat, extra])

    def _is_classifier(self):
        task = getattr(self, "task_", self.task)
        return task != "regression"

    @available_if(_is_classifier)
    def predict_proba(self, X, tables=None):
        """Class probabilities, columns in the order of ``classes_`` (classification only).

        ``tables`` recomputes relational features from fresh related tables; without it the
        aggregates stored at fit time are looked up."""
        features = self._features(X, tables)
        return self.model_.predict(features)

    def predict(self, X, tables=None):
        """Predicted class labels (classification) or values (regression)."""
        features = self._features(X, tables)
        pred = self.model_.predict(features)
        if self.task_ == "regression":
            return pred
        return self.classes_[np.argmax(pred, axis=1)]

    def transform(self, X, tables=None):
        """The feature matrix the final model predicts from: the encoded raw columns, then
        the generated features of ``feature_plan_`` (names in :meth:`get_feature_names_out`).

        With ``set_output(transform="pandas")`` (or ``"polars"``) it is a data frame, so a
        fitted pipeline also serves as a feature-engineering step for another model.

        Examples
        --------
        >>> from sklearn.datasets import load_diabetes
        >>> from featsmith import AutoPipeline
        >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
        >>> model = AutoPipeline(time_budget=10, max_trials=2, random_state=0, verbose=0).fit(X, y)
        >>> features = model.set_output(transform="pandas").transform(X.head(3))
        >>> list(features.columns) == list(model.get_feature_names_out())
        True
        """
        return np.asarray(self._features(X, tables), dtype=np.float64)

    def get_feature_names_out(self, input_features=None):
        """Names of the features the final model sees (encoded raw columns, then the plan's)."""
        check_is_fitted(self, "model_")
        return np.asarray(self._feature_names, dtype=object)

    def explain(self, by="feature"):
        """Importance (LightGBM gain, weighted over the ensemble) of the model's features.

        Parameters
        ----------
        by : {"feature", "input"}, default="feature"
            ``"input"`` rolls each feature's importance up to the raw input columns it is
            computed from (split evenly when it has several), through its lineage.

        Returns
        -------
        pandas.DataFrame
            ``feature`` (or ``input``), ``importance`` and ``share``, most important first.
        """
        check_is_fitted(self, "model_")
        if by not in ("feature", "input"):
            raise ValueError(f"by={by!r} must be 'feature' or 'input'.")
        gain = self.model_.feature_importance("gain")
        if gain is None:  # no LightGBM member: the ensemble has no gain to report
            gain = np.zeros(len(self._feature_names))
        imp = pd.DataFrame({"feature": self._feature_names, "importance": gain})
        if by == "input":
            lineage = dict((k, [v]) for k, v in self.encoder_.feature_inputs_.items())
            if self.feature_plan_ is not None:
                for row in self.feature_plan_.describe().iter_rows(named=True):
                    inputs = row["inputs"]
                    lineage[row["name"]] = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            rows = []
            for f, g in zip(imp["feature"], imp["importance"]):
                ins = lineage.get(f) or [f]
                rows += [(i, g / len(ins)) for i in ins]
            imp = pd.DataFrame(rows, columns=["input", "importance"]).groupby("input", as_index=False).sum()
        total = imp["importance"].sum()
        imp["share"] = imp["importance"] / total if total > 0 else 0.0
        return imp.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)

    def score(self, X, y):
        """Score with the tuned metric in scikit-learn's convention (higher is better: losses
        such as RMSE and log loss are negated), so ``GridSearchCV`` and ``cross_val_score``
        rank models correctly."""
        check_is_fitted(self, "model_")
        metric = resolve_metric(self.metric, self.task_)
        if isinstance(y, str):
            df, y = extract_target(check_frame(X, estimator_name=type(self).__name__), y)
        else:
            df = check_predict_frame(
                X, n_features_in=self.n_features_in_, feature_names_in=self._input_columns,
                estimator_name=type(self).__name__,
            )
        y = check_target(y, df.height)
        if self.task_ == "regression":
            return metric.score_predictions(y.astype(float), self.predict(df))
        proba = self.predict_proba(df)
        known = np.isin(y, self.classes_)
        if not known.all():
            raise ValueError(
                f"y holds labels {np.unique(y[~known]).tolist()} not seen during fit "
                f"(classes_: {self.classes_.tolist()})."
            )
        return metric.score_predictions(np.searchsorted(self.classes_, y), proba, classes=np.arange(len(self.classes_)))

    # -- scikit-learn plumbing ------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.target_tags.required = True
        tags.non_deterministic = self.max_trials is None
        if self.task in ("classification", "binary", "multiclass"):
            from sklearn.utils import ClassifierTags

            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        elif self.task == "regression":
            from sklearn.utils import RegressorTags

            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    def __setstate__(self, state):
        saved = state.get("featsmith_version_")
        if saved is not None and saved != __version__:
            warnings.warn(
                f"This model was saved with featsmith {saved} and is loaded with {__version__}; "
                "predictions may differ. Refit it with this version, or install featsmith=="
                f"{saved}.",
                UserWarning,
                stacklevel=2,
            )
        self.__dict__.update(state)
