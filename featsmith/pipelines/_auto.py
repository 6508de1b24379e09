"""AutoPipeline: the whole lifecycle (typing, features, tuning, refit) as one estimator."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from featsmith._validation import check_frame, check_predict_frame, check_target, extract_target
from featsmith._version import __version__
from featsmith.pipelines._budget import Budget
from featsmith.pipelines._context import Progress, RelationalInputs
from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._stages import (
    build_features,
    check_threshold_metric,
    choose_rows,
    check_threshold_task,
    choose_threshold,
    decide,
    hard_labels,
    needs_labels,
    out_of_fold,
    plan_validation,
    prepare,
    refit_members,
    refit_on_all_rows,
    rows_key,
    run_baseline,
    run_search,
    select_ensemble,
)
from featsmith._task import TASKS
from featsmith.pipelines._trials import ColumnSubset, best_trial

logger = logging.getLogger("featsmith")


def final_views(views, refit):
    """``(plan, names)`` of the final model: the FeaturePlan of the features its members read
    (None when they all read the raw columns only) and those features' names; each member is
    pointed at its columns of the matrix that plan makes.

    A member refitted on every row of a fold view reads only the refit's choice, not the union
    of every fold's (60 features of 144 on credit_data): the plan computes just those, and the
    member reads them straight from the final matrix."""
    reads = []
    for (_, output), member in zip(refit.model.members, refit.members):
        view = member.trial.view
        if isinstance(output.model, ColumnSubset) and view in views.fold_views:
            reads.append(tuple(views.fold_views[view][1]))
            output.model = output.model.model
        else:
            reads.append(view)
    plan, names, columns = views.final(reads)
    for (_, output), read in zip(refit.model.members, reads):
        output.columns = columns[read] if plan is not None else None
    views.free()
    return plan, names


def leaderboard(trials, metric, notes=None) -> pd.DataFrame:
    """One row per trial that ran, best first: ``trial`` (its number in the fit), ``model``,
    ``view``, ``params``, ``score`` (the metric's natural units), ``seconds``, ``started``,
    ``n_rounds`` and ``status`` (``notes`` maps ``id(trial)`` to a status that replaces it,
    e.g. ``"view left out"``)."""
    notes = notes or {}
    rows = [
        {
            "trial": i, "model": tr.family, "view": tr.view, "params": tr.params,
            "score": metric.natural(tr.value) if np.isfinite(tr.value) else np.nan,
            "seconds": tr.seconds, "started": tr.started, "n_rounds": tr.n_rounds,
            "status": notes.get(id(tr), tr.status), "_value": tr.value,
        }
        for i, tr in enumerate(trials)
    ]
    board = pd.DataFrame(rows).sort_values("_value", ascending=False, kind="stable", na_position="last")
    return board.drop(columns="_value").reset_index(drop=True)


class AutoPipeline(TransformerMixin, BaseEstimator):
    """Automated feature engineering and model tuning, exported as one estimator.

    ``fit`` is a short list of named stages (``featsmith/pipelines/_stages/``). Each receives
    the fit's context (data, encoded matrix, task, metric, validation splits, seed, threads,
    progress) and the budget planner, and returns its own result; ``stages_`` and the log say
    what each decided and why:

    1. **prepare**: check the input, infer the task and metric, type the columns and encode
       them for LightGBM (native categorical codes, frequency encodings, datetime parts, text
       statistics, missing indicators).
    2. **rows**: every row up to 200,000; above, a stratified sample sized from a probe of
       what a row costs, so that a trial takes about 1/25 of the search's time, and held-out
       rows (the latest, under a time order) for the final check.
    3. **validate**: the validation plan: ``cv``, ``groups`` or ``time_column`` when given;
       else shuffled folds, unless a leak check finds them optimistic for the rows' time
       order or repeated entities (then time-ordered or grouped folds; see ``cv``).
    4. **baseline**: LightGBM's defaults under that plan: the floor, and the planner's first
       measurement of what a trial costs on this data.
    5. **features**: :class:`featsmith.featurize.FeatureGenerator` enumerates candidate
       features (transforms, crosses, group-by statistics, out-of-fold target encodings,
       relational aggregations when ``tables`` are given), as many as the stage's share of
       the time can screen, and builds *feature views* of them, column sets over one matrix:
       ``"raw"`` (the encoded columns); ``"top_gain"`` (raw + the candidates with the most
       gain in one LightGBM on raw + every candidate, chosen on each fold's training rows,
       so a fold never validates features chosen with its own rows); ``"screened"`` (raw +
       what :class:`featsmith.selectors.HalvingScreen` passes: held-out gain over the
       baseline's out-of-fold predictions); ``"selected"`` (those of them whose importance
       beats shuffled shadow columns, :class:`featsmith.selectors.GBDTSelector`);
       ``"relational"`` (raw + the relational aggregates, which every other view also has).
       The out-of-fold target encodings of categorical columns with 1,000 or more levels
       join every view (a ``"te"`` view of them alone when there is no time to screen).
       LightGBM's defaults are validated on each view; a view whose trial fails, or loses
       to the raw columns on a time-ordered plan's latest period, is left out.
       Nothing is accepted or rejected here: the view is a parameter of the search.
    6. **search**: known-good LightGBM configurations, CatBoost (when installed),
       scikit-learn's HistGradientBoosting, extra trees, a linear model (and the neural head
       at 120 s or more), then TPE,
       stepped trial by trial through :class:`featsmith.tuners.Experiment`'s ask/tell; every
       configuration has a ``view`` (a categorical parameter of the space when there are
       several: the known-good ones and the other families start on the view that validated
       best, and the first known-good one runs on each other view; under a time-ordered
       plan the linear model and the neural head stay on the raw columns). A trial that would not
       finish before the time the refit needs is told as ``skipped`` (not a failure); another
       family's configuration too dear on a feature view but not on the raw columns is queued
       there instead. On a holdout split a LightGBM trial stops early enough for its own refit
       to fit. The search stops when the space is exhausted, ``max_trials`` is reached, or the
       next trial would not finish (``search_stop_reason_``).
    7. **ensemble**: greedy ensemble selection (Caruana) over the best trials' out-of-fold
       predictions, within a prediction-cost limit; every trial is validated on the same
       folds, so trials of different views and families mix. ``feature_plan_`` then covers
       the union of the members' views, and each member reads its own columns of the one
       matrix ``predict`` computes (each feature once).
    8. **threshold** (binary tasks): the decision threshold that maximises the label metric
       (``threshold_metric``, or ``metric`` when it scores labels) on the ensemble's
       out-of-fold predictions; 0.5 otherwise (``decision_threshold_``).
    9. **refit**: every ensemble member on all rows (rounds scaled to the row count), or its
       averaged fold models when a refit would overrun the budget. On a sample of a large
       table: LightGBM's defaults on every row (the floor) and each LightGBM member on every
       row, early-stopped on held-out rows; the floor replaces the ensemble when the ensemble
       scores below it on the other held-out rows.

    The budget planner (:class:`featsmith.pipelines._budget.Budget`) sizes the stages from the
    measured cost of the baseline and the row count, and every deadline it hands out is
    computed from the time left, so time a stage does not use passes to the next: a fit
    returns early only when nothing left could finish in time.

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
        ``f(y_true, y_pred)`` (minimised when its name says a loss: see
        :func:`featsmith.pipelines.greater_is_better`).
    time_budget : float, default=60
        Seconds for the whole ``fit``, refit included. ``fit`` returns within the budget
        plus 10% (with a floor of a few seconds) up to about 100k rows.
    max_trials : int, default=None
        Stop after this many model trials (the baseline and each view's defaults trial count). With
        a time budget alone, how many trials run depends on the machine's speed; set
        ``max_trials`` (and a generous budget) for results that are identical run to run.
    cv : None, int, "random", "time", "group" or scikit-learn splitter, default=None
        Validation scheme. ``None`` chooses from the data: shuffled folds (5-fold CV,
        stratified for classification, up to 20,000 rows; an 80/20 holdout above), unless a
        leak check finds them optimistic for the rows' time order (``time_column``, or the
        datetime column of X with the most distinct values) or for a column of repeated
        entities (an identifier-like name whose values repeat): then forward-chaining folds
        in time order, or grouped folds. The check trains LightGBM's defaults twice on as many
        rows, scored on the same held-out rows (the latest, or whole entities): once on
        shuffled rows, once on earlier periods or other entities only, and switches when the
        shuffled loss is lower by more than 2 standard errors over periods or entities; it
        runs on at most 10,000 rows and within 15% of the time left. ``"random"`` is the
        shuffled plan ``None`` starts from (5-fold or the holdout, by size) without the check:
        for rows the model will predict from the same period and entities as the training
        rows (a random test split). An int is that many shuffled folds (no check); ``"time"``
        forces time order, ``"group"`` grouped folds (``groups``, or the detected entity
        column); a splitter is used as given.
    time_column : str, default=None
        The column of X that orders the rows in time (it stays a feature too); without it,
        a ``cutoff_time`` column or the datetime column with the most distinct values.
    threshold_metric : str, default=None
        Binary tasks: a metric of predicted labels (``"f1"``, ``"balanced_accuracy"``,
        ``"precision"``, ``"recall"``, ``"accuracy"``, ``"matthews_corrcoef"``, ... any
        scikit-learn scorer name that scores labels) to choose the decision threshold for,
        while the search optimises ``metric``. As in scikit-learn's
        ``TunedThresholdClassifierCV``, the threshold applies to the probability of
        ``classes_[1]`` (the positive class of ``f1``, ``precision`` and ``recall``), chosen
        on the ensemble's out-of-fold predictions. ``None`` tunes it when ``metric`` itself
        scores labels, and keeps 0.5 otherwise. A ValueError for multiclass and regression
        tasks, where ``predict`` has no threshold.
    feature_generation : bool, default=True
        Generate candidate features and search over views of them (always on when
        ``tables`` are given); False searches the raw columns only.
    max_candidates : int, default=None
        Candidates to generate; ``None`` sizes it to what the features stage's share of the
        time can screen, given the measured cost of a trial (50 to 2,000).
    max_new_features : int, default=30
        Most features the screen passes (the ``"screened"`` view); the ``"top_gain"`` view
        takes twice as many per fold.
    ensemble : bool, default=True
        Ensemble the best trials when that validates better than the single best.
    max_predict_cost : float or None, default=3.0
        Keeps batch prediction fast: the ensemble's estimated prediction cost (trees times
        depth, summed over its members; averaged fold models count once per fold) stays
        within this multiple of the best LightGBM trial's, so ``predict`` takes about that
        many times as long as the single best booster would. The single best model is always
        kept. ``None`` for no limit.
    portfolio : bool, default=True
        Besides LightGBM, validate CatBoost (when the optional ``catboost`` package is
        installed: ``pip install "featsmith[catboost]"``; the log says whether it is),
        scikit-learn's HistGradientBoosting, extra trees and a linear model (and, with a budget of
        120 s or more, the searched neural head of :mod:`featsmith.tuners.nas`) for the
        ensemble.
    storage : str or path, default=None
        SQLite file where the tuning experiments store their trials (in memory when None):
        LightGBM's as ``"lightgbm-<seed>"``, each other family's own search as
        ``"<family>-<seed>"``.
    client : distributed.Client, default=None
        A Dask cluster for the refit on every row of a large table (over 200,000 rows): the
        floor and the LightGBM members train there through LightGBM's Dask estimators
        (:func:`lightgbm.DaskLGBMRegressor`), for their rounds on the search sample scaled to
        the rows (lightgbm.dask has no early stopping). The search itself runs here on its
        sample, and the fitted model predicts here. Smaller tables ignore it. A saved
        (pickled) model keeps ``client=None``.
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
        The generated features the model uses: the union of its members' feature views
        (``feature_plan_.describe()`` shows their formulas); None when every member uses the
        raw columns.
    feature_views_ : dict
        The feature views the search chose from: view name -> its generated features
        (``"raw"``: none). A view chosen fold by fold (``"top_gain"``) lists the union of
        its folds' features.
    feature_screen_ : HalvingScreen or None
        The screen's scores of every candidate.
    feature_selector_ : GBDTSelector or None
        The importance-vs-shadow selection applied to the screened features.
    leaderboard_ : pandas.DataFrame
        One row per trial: ``trial``, ``model``, ``view`` (its feature view), ``params``,
        ``score`` (in the metric's natural units), ``seconds``, ``started`` (seconds into
        ``fit``), ``n_rounds``, ``status`` (``"view left out"`` for a view's defaults trial
        that kept the view out of the search); best first.
    ensemble_ : pandas.DataFrame
        The final model's members: leaderboard ``trial`` number, ``model``, ``view``, ``weight`` and
        ``refit`` (``"all rows"``, or when a refit would have overrun the budget ``"fold
        average"``, and under a time-ordered plan ``"latest fold"``: the model of the fold that
        trained on every period but the last, not an average with models of the first periods).
    decision_threshold_ : float or None
        Binary tasks: ``predict`` gives ``classes_[1]`` where ``predict_proba(X)[:, 1] >=
        decision_threshold_`` (0.5, the most probable class, when no label metric asked for
        another; ``stages_`` says why). None for multiclass and regression tasks.
    best_params_ : dict
        The best single trial's configuration.
    best_score_ : float
        Out-of-fold score of the final model (the ensemble's when there is one), in the
        metric's natural units; on a large table, its score on the held-out check rows.
    search_rows_ : int
        Rows the search used: every row, or the sample of a table over 200,000 rows.
    validation_ : dict
        The validation plan: ``scheme`` (``"5-fold"``, ``"holdout"``, ``"5-fold
        time-ordered"``, ``"5-fold grouped"``, ...), ``order`` (``"random"``, ``"time"``,
        ``"group"`` or ``"custom"``), ``column`` (what orders or groups the rows), ``reason``
        (one line: why) and ``check`` (the leak check's losses on its held-out rows,
        shuffled vs ordered, their difference and its standard error; None when it did not
        run). Everything fitted on the target follows the plan: the out-of-fold target
        encodings, the screen's base predictions, the top-by-gain view (chosen per fold),
        every trial and the ensemble, so ``best_score_`` estimates the score on rows the model has not seen,
        under that plan.
    tuning_history_ : pandas.DataFrame
        The tuning experiments' trials (:meth:`featsmith.tuners.Experiment.trials_dataframe`;
        also in ``storage`` when given) in the order they started, the skipped ones with the
        reason; ``params.model`` names the family (empty for LightGBM).
    model_ : object
        The refitted model(s).
    oof_predictions_ : ndarray of float32 or None
        The final members' weighted out-of-fold predictions on the training rows, the soft
        targets :meth:`distill` teaches its student (the refitted ensemble predicts its own
        training rows near their labels): values (regression), the probability of
        ``classes_[1]`` (binary) or ``(n_rows, n_classes)`` probabilities; NaN on rows no member
        predicted out of fold (a holdout plan's training rows, rows outside a large table's
        search sample). 4 bytes per row (per class for multiclass); None when not kept.
    stage_timings_ : dict
        Seconds per stage (``prepare``, ``rows``, ``validate``, ``baseline``, ``features``,
        ``search``, ``ensemble``, ``threshold``, ``refit``).
    stages_ : pandas.DataFrame
        One row per stage: ``stage``, ``seconds`` and ``summary`` (what it decided and why,
        e.g. ``"14 trials, 1 skipped; stopped: next trial would not finish"``).
    search_stop_reason_ : str
        Why the search stopped: ``"space exhausted"``, ``"max_trials reached"``, ``"next
        trial would not finish"``, ``"budget spent"`` or ``"too few rows to validate"``.
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
        time_column=None,
        threshold_metric=None,
        feature_generation=True,
        max_candidates=None,
        max_new_features=30,
        ensemble=True,
        max_predict_cost=3.0,
        portfolio=True,
        storage=None,
        client=None,
        random_state=None,
        n_jobs=None,
        verbose=1,
    ):
        self.task = task
        self.metric = metric
        self.time_budget = time_budget
        self.max_trials = max_trials
        self.cv = cv
        self.time_column = time_column
        self.threshold_metric = threshold_metric
        self.feature_generation = feature_generation
        self.max_candidates = max_candidates
        self.max_new_features = max_new_features
        self.ensemble = ensemble
        self.max_predict_cost = max_predict_cost
        self.portfolio = portfolio
        self.storage = storage
        self.client = client
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- parameters -----------------------------------------------------------------------
    def _check_params(self):
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r} is not one of {TASKS}.")
        if not isinstance(self.time_budget, (int, float)) or not self.time_budget > 0:
            raise ValueError(f"time_budget={self.time_budget!r} must be a positive number of seconds.")
        if not (self.cv is None or (isinstance(self.cv, str) and self.cv in ("random", "time", "group"))
                or (hasattr(self.cv, "split") and not isinstance(self.cv, str))
                or (isinstance(self.cv, (int, np.integer)) and not isinstance(self.cv, bool) and self.cv >= 2)):
            raise ValueError(
                f"cv={self.cv!r} must be None (chosen from the data), an int >= 2 (shuffled folds), 'random' "
                "(shuffled folds or a holdout by size, no leak check), 'time', 'group' or a scikit-learn splitter."
            )
        check_threshold_metric(self.threshold_metric)
        if self.client is not None:
            from featsmith.pipelines._dask import check_client

            check_client(self.client)
        if self.max_trials is not None and (not isinstance(self.max_trials, (int, np.integer)) or self.max_trials < 1):
            raise ValueError(f"max_trials={self.max_trials!r} must be a positive integer or None.")
        if self.max_predict_cost is not None and not (
            isinstance(self.max_predict_cost, (int, float)) and self.max_predict_cost >= 1
        ):
            raise ValueError(
                f"max_predict_cost={self.max_predict_cost!r} must be a number >= 1 (a multiple of the best "
                "single model's prediction cost) or None for no limit."
            )

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
        groups : array-like of shape (n_samples,) or str, optional
            Group labels (a customer, an incident), or the name of the column of X holding
            them: validation folds and the out-of-fold target encodings keep each group whole,
            so no group is scored by a model that saw it. Passed to a scikit-learn splitter
            given as ``cv``.

        Returns
        -------
        self
        """
        self._check_params()
        budget = Budget(float(self.time_budget))
        progress = Progress(budget, self.verbose)
        try:
            prepared = prepare(
                X, y, task=self.task, metric=self.metric, random_state=self.random_state, n_jobs=self.n_jobs,
                groups=groups, relational=RelationalInputs(tables, relationships, cutoff_time, time_index),
                progress=progress, estimator_name=type(self).__name__, time_column=self.time_column,
            )
            check_threshold_task(self.threshold_metric, prepared.context.task)
            rows = choose_rows(prepared.context, budget)
            if rows.sampled:
                progress.rows = f"search on {rows.context.n_rows:,} of {prepared.context.n_rows:,} rows"
            # On a sample of a large table the search stages get the time the final refit on
            # every row does not need, and reserve none for a refit of their own.
            search_budget = budget if not rows.sampled else Budget(
                budget.seconds - rows.final_seconds, start=budget.start, refits=False)
            validated = plan_validation(rows.context, self.cv, search_budget)
            baseline = run_baseline(rows.context.with_plan(validated.plan), search_budget)
            ctx = rows.context.with_plan(baseline.plan)
            features = build_features(
                ctx, baseline, search_budget, enabled=self.feature_generation, max_candidates=self.max_candidates,
                max_new_features=self.max_new_features, max_trials=self.max_trials,
            )
            n_done = len(features.view_trials) + len(features.rejected)
            search = run_search(
                ctx, features, search_budget, max_trials=(self.max_trials or 10**9) - n_done,
                portfolio=self.portfolio, time_budget=float(self.time_budget), storage=self.storage,
            )
            ensemble = select_ensemble(
                ctx, features.view_trials + search.trials, features.runner, enabled=self.ensemble,
                max_predict_cost=self.max_predict_cost,
            )
            threshold = choose_threshold(ctx, ensemble, features.runner, threshold_metric=self.threshold_metric)
            if rows.sampled:
                refit = refit_on_all_rows(prepared.context, rows, features, ensemble, threshold, baseline.trial,
                                          budget, baseline.plan, client=self.client)
            else:
                refit = refit_members(ctx, ensemble, features.runner, budget)
            plan, names = final_views(features.views, refit)
        finally:
            progress.close()
        self._record(prepared, rows, validated, baseline, features, search, ensemble, threshold, refit, plan, names)
        self.fit_seconds_ = budget.elapsed()
        logger.info(
            "AutoPipeline: %s, %s=%.5g (%s) from %d trials in %.1fs; search stopped: %s",
            self.task_, self.metric_, self.best_score_, self.validation_, len(self.leaderboard_),
            self.fit_seconds_, search.stop_reason,
        )
        return self

    def _record(self, prepared, rows, validated, baseline, features, search, ensemble, threshold, refit, plan, names):
        """Set the fitted attributes from the stages' results."""
        ctx = prepared.context
        self.task_, self.metric_ = ctx.task, ctx.metric.name
        self.metric_greater_is_better_ = ctx.metric.greater_is_better
        for name, value in (("classes_", ctx.classes), ("feature_names_in_", prepared.feature_names_in)):
            if value is not None:
                setattr(self, name, value)
            elif hasattr(self, name):
                delattr(self, name)
        self.n_features_in_ = ctx.frame.width
        self._input_columns = prepared.input_columns
        self.encoder_ = ctx.encoder
        self.validation_ = baseline.plan.record()
        self.feature_plan_, self.feature_screen_ = plan, features.screen
        self.feature_selector_ = features.selector
        self.model_ = refit.model
        # Kept for distill: the final members' honest predictions on the training rows (float32,
        # 4 bytes per row, per class for multiclass), and which rows they belong to.
        self.oof_predictions_ = out_of_fold(refit.members, ctx.task, ctx.n_rows, rows.search_rows)
        self._fit_rows_key = rows_key(ctx.y_enc)
        self.decision_threshold_ = threshold.threshold
        self._feature_names = list(ctx.encoder.feature_names_out_) + list(names)
        self.feature_views_ = {view: list(v) for view, v in features.views.views.items()}
        trials = features.view_trials + features.rejected + search.trials
        notes = {id(tr): "view left out" for tr in features.rejected}
        self.leaderboard_ = leaderboard(trials, ctx.metric, notes)
        index = {id(tr): i for i, tr in enumerate(trials)}
        self.ensemble_ = pd.DataFrame(
            [{"trial": index[id(m.trial)], "model": m.trial.family, "view": m.trial.view, "weight": m.weight,
              "refit": m.refit} for m in refit.members]
        )
        best = best_trial(features.view_trials + search.trials)
        self.best_params_ = dict(best.params)
        value = refit.value if len(refit.members) > 1 or refit.checked else best.value
        self.best_score_ = ctx.metric.natural(value) if np.isfinite(value) else float("nan")
        self.tuning_history_ = search.history
        self.search_stop_reason_ = search.stop_reason
        self.search_rows_ = rows.context.n_rows
        stages = [prepared, rows, validated, baseline, features, search, ensemble, threshold, refit]
        self.stage_timings_ = {s.stage: s.seconds for s in stages}
        self.stages_ = pd.DataFrame(
            {"stage": [s.stage for s in stages], "seconds": [s.seconds for s in stages],
             "summary": [s.summary for s in stages]}
        )
        self.featsmith_version_ = __version__

    # -- predict ------------------------------------------------------------------------------
    def _columns_read(self):
        """The input columns ``_features`` converts: those its encoder and feature plan read
        (a distilled student reads fewer), or None for all of them."""
        read = list(self.encoder_.columns_read())
        if self.feature_plan_ is not None:
            plan = self.feature_plan_
            read += [c for c in [*plan.input_columns, plan.cutoff_column] if c in self._input_columns]
        read = list(dict.fromkeys(read))
        return read if len(read) < len(self._input_columns) else None

    def _features(self, X, tables=None):
        check_is_fitted(self, "model_")
        encoded = self.encoder_.columns_read()
        df = check_predict_frame(
            X, n_features_in=self.n_features_in_, feature_names_in=self._input_columns,
            estimator_name=type(self).__name__,
            # A model reading fewer columns (a distilled student) converts only those.
            read=self._columns_read(),
        )
        # A distilled student may read generated features only.
        Xmat = self.encoder_.transform(df.select(encoded)) if encoded else np.empty((df.height, 0))
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
        """Predicted class labels (classification) or values (regression).

        Binary tasks predict ``classes_[1]`` where its probability reaches
        ``decision_threshold_``; other classification tasks the most probable class."""
        features = self._features(X, tables)
        pred = self.model_.predict(features)
        if self.task_ == "regression":
            return pred
        return self.classes_[decide(pred, getattr(self, "decision_threshold_", None))]

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
        gain = self.model_.feature_importance("gain", n_features=len(self._feature_names))
        if gain is None:  # no LightGBM member: the ensemble has no gain to report
            gain = np.zeros(len(self._feature_names))
        imp = pd.DataFrame({"feature": self._feature_names, "importance": gain})
        if by == "input":
            lineage = dict((k, [v]) for k, v in self.encoder_.feature_inputs_.items())
            if self.feature_plan_ is not None:
                lineage.update(self.feature_plan_.lineage())
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
        if self.task_ == "binary" and needs_labels(metric):  # the labels predict gives
            proba = hard_labels(proba, getattr(self, "decision_threshold_", None))
        known = np.isin(y, self.classes_)
        if not known.all():
            raise ValueError(
                f"y holds labels {np.unique(y[~known]).tolist()} not seen during fit "
                f"(classes_: {self.classes_.tolist()})."
            )
        return metric.score_predictions(np.searchsorted(self.classes_, y), proba, classes=np.arange(len(self.classes_)))

    def distill(self, X, y, student="lightgbm", time_budget=60.0, max_predict_cost=1 / 3, groups=None,
                random_state=None):
        """One small student trained on this pipeline's predictions: a faster model to deploy.

        Like AutoGluon's ``TabularPredictor.distill``: the student (one LightGBM model, or the
        searched neural head) learns the ensemble's soft predictions (probabilities, or values)
        on the training rows and on synthetic rows near them (each a training row with a few
        columns resampled from their training distribution, as many as the ensemble labels in a
        quarter of the time by its modelled predict cost, labelled once for both the choice and
        the final student; see ``featsmith/pipelines/_distill.py``).
        On the training rows the
        targets are the ensemble's out-of-fold predictions (``oof_predictions_``) where the fit
        kept them: what it predicts for rows it has not seen. A LightGBM student is chosen among
        a few configurations on one split of this pipeline's own validation plan
        (``validation_``: the latest period for time order, whole groups for grouped folds),
        each early-stopped on how closely it follows the ensemble on the held-out rows and cut
        to ``max_predict_cost``; the closest is trained on all rows. The student learns from the
        columns the ensemble reads (those its LightGBM members split on, every column of its
        other members), and predicts computing only the columns it splits on: its encoder and
        feature plan are the pipeline's restricted to them, with the same values. The pipeline
        does not keep its training rows, so pass them again.

        Parameters
        ----------
        X : table
            The training rows (as given to ``fit``; the out-of-fold targets are used only when
            ``y`` is the fit's target, row for row).
        y : array-like or str
            Their target, or the name of its column in ``X``.
        student : {"lightgbm", "nas_head"}, default="lightgbm"
        time_budget : float, default=60
            Seconds in all (60% choose the student, the rest trains the final one).
        max_predict_cost : float or None, default=1/3
            A LightGBM student predicts in at most this share of the ensemble's predict cost,
            both whole: input checks, encoding, generated features and model (its last rounds
            are dropped until it does; fewer rounds may also read fewer features). The cost is
            modelled, not timed: the work each predict does per row in a batch of 2,000 (input
            columns converted, encoder outputs, generated features by kind of operation, tree
            nodes on a row's path, weights, per-call work), from the fitted objects, times unit
            costs measured once (see ``featsmith/pipelines/_predict_cost.py``); so the rounds
            kept are the same on every run, and a budget the fits end within and the same
            ``random_state`` (with ``n_jobs=1``) reproduce the student. Where even one round
            exceeds it (the input checks and encoding every student needs cost more), the
            student's model is held to this share of the ensemble's model cost instead.
            Smaller batches weigh the per-call costs more, so their measured time ratio is
            higher. None: no limit (a closer, slower student).
        groups : array-like or str, optional
            The group labels given to ``fit`` when its plan kept groups whole.
        random_state : int or None, default=None

        Returns
        -------
        AutoPipeline
            A copy with the same ``predict``, ``predict_proba``, ``classes_`` and
            ``decision_threshold_``, whose ``model_`` is the student and whose encoder and
            feature plan (and ``get_feature_names_out``) hold only the columns it reads;
            ``distillation_`` tells the student, its configuration and rounds (of
            ``rounds_trained``: a cut to a tenth or less is logged as a warning;
            ``stopped_by_time``: the budget, not early stopping, ended them, also logged, with
            ``label_seconds``, the time spent labelling the rows and computing their
            features), its
            ``predict_cost`` (share of the ensemble's modelled predict cost; NaN without a
            limit), the columns it reads (``n_columns``, of the ensemble's
            ``teacher_columns``) and generated features it computes (``n_generated``, of
            ``teacher_generated``), the rows used (``n_out_of_fold`` of them with out-of-fold
            targets) and its validation: the
            student's and the ensemble's scores on the held-out rows of the split (the
            ensemble's out of fold when it kept them, ``teacher_out_of_fold``; the student's
            targets there came from an ensemble fitted on those rows, so its score is
            optimistic), its ``fidelity`` and the ``candidates`` tried; ``best_score_`` is the
            student's validation score.

        Examples
        --------
        >>> from sklearn.datasets import load_wine
        >>> from featsmith import AutoPipeline
        >>> X, y = load_wine(return_X_y=True, as_frame=True)
        >>> model = AutoPipeline(time_budget=8, max_trials=2, random_state=0, verbose=0).fit(X, y)
        >>> small = model.distill(X, y, student="lightgbm", time_budget=4, random_state=0)
        >>> small.predict_proba(X.head(2)).shape, list(small.classes_) == list(model.classes_)
        ((2, 3), True)
        """
        from featsmith.pipelines._distill import distill

        return distill(self, X, y, student=student, time_budget=time_budget, max_predict_cost=max_predict_cost,
                       groups=groups, random_state=random_state)

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

    def __getstate__(self):
        # A Dask client holds live connections: a saved model is used without the cluster.
        state = super().__getstate__()
        if state.get("client") is not None:
            state = {**state, "client": None}
        return state

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
