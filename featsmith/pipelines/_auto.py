"""AutoPipeline: the whole lifecycle (typing, features, tuning, refit) as one estimator."""

from __future__ import annotations

import logging
import os
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
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
from featsmith.pipelines._lgbm import KNOWN_GOOD_CONFIGS, BoosterAverage, LGBMTrialRunner, sample_lgbm_config
from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._task import TASKS, infer_task

logger = logging.getLogger("featsmith")

# Above this many rows a single stratified 80/20 holdout replaces k-fold CV: the estimate is
# already tight and k-fold would spend the budget on k fits per trial.
HOLDOUT_MIN_ROWS = 20_000
DEFAULT_FOLDS = 5


def _resolve_threads(n_jobs) -> int:
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == -1:
        return cores
    if n_jobs < -1:
        return max(1, cores + 1 + n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs=0 is not valid; use a positive count, -1 for all cores or None.")
    return int(n_jobs)


def make_splits(y, task, *, cv=None, random_state=0):
    """Validation splits for tuning, as a list of ``(train_idx, valid_idx)``.

    ``cv=None``: 5-fold CV (stratified for classification) up to 20,000 rows, a single 80/20
    holdout (stratified for classification) above. An int asks for that many folds; any
    scikit-learn splitter is used as given. Classes too rare to stratify fall back to plain
    shuffled folds; a handful of rows gets as many folds as it can hold.
    """
    n = len(y)
    classification = task != "regression"
    if cv is not None and not isinstance(cv, (int, np.integer)):
        return [(np.asarray(tr), np.asarray(va)) for tr, va in cv.split(np.zeros((n, 1)), y)]
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


class AutoPipeline(BaseEstimator):
    """Automated feature engineering and model tuning, exported as one estimator.

    ``fit`` types the columns, builds features (native categorical codes, frequency
    encodings, datetime parts, text statistics, missing indicators), tunes LightGBM on
    validation folds under a wall-clock budget and refits the best configuration on all rows.

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
        Stop after this many configurations. With a time budget alone, how many trials run
        depends on the machine's speed; set ``max_trials`` (and a generous budget) for results
        that are identical run to run.
    cv : int or scikit-learn splitter, default=None
        Validation scheme for tuning: ``None`` is 5-fold CV (stratified for classification)
        up to 20,000 rows and an 80/20 holdout above; an int is that many folds.
    random_state : int, numpy Generator or None, default=None
        Seeds folds, search and LightGBM. Same ``random_state``, ``n_jobs=1`` and
        ``max_trials`` give the same model and predictions.
    n_jobs : int, default=None
        Threads for LightGBM; ``None`` or ``-1`` uses every core.
    verbose : int, default=1
        0 is silent; 1 shows a progress bar on a terminal; 2 also logs every trial.

    Attributes
    ----------
    task_ : str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    metric_ : str
        Name of the tuned metric.
    classes_ : ndarray
        Class labels (classification only).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    encoder_ : TableEncoder
        The fitted feature step.
    leaderboard_ : pandas.DataFrame
        One row per trial: ``trial``, ``model``, ``params``, ``score`` (in the metric's
        natural units), ``seconds``, ``n_rounds``, ``status``; best first.
    best_params_ : dict
    best_score_ : float
        Validation score of the chosen configuration, in the metric's natural units.
    model_ : lightgbm.Booster
        The refitted model.
    stage_timings_ : dict
        Seconds per stage.

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
        random_state=None,
        n_jobs=None,
        verbose=1,
    ):
        self.task = task
        self.metric = metric
        self.time_budget = time_budget
        self.max_trials = max_trials
        self.cv = cv
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
    def fit(self, X, y=None):
        """Fit on a table ``X`` and target ``y``.

        Parameters
        ----------
        X : pandas, polars or pyarrow DataFrame, or 2-D numpy array
        y : array-like of shape (n_samples,) or str
            The target, or the name of the target column of ``X``.

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
            raise ValueError(f"X has 1 sample (n_samples = 1); at least 2 samples are needed to fit.")
        warn_infinite(df)
        seed = self._seed()
        self.task_ = infer_task(y, self.task)
        metric = resolve_metric(self.metric, self.task_)
        self.metric_ = metric.name
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

        timings = {}
        t = time.perf_counter()
        self.encoder_ = TableEncoder().fit(df)
        Xmat = self.encoder_.transform(df)
        timings["features"] = time.perf_counter() - t
        if Xmat.shape[1] == 0:
            raise ValueError(
                "No usable feature: every column of X is empty, constant or an identifier "
                f"(schema: {self.encoder_.schema_}). Pass informative columns."
            )

        t = time.perf_counter()
        splits = make_splits(y_enc if self.task_ != "regression" else y, self.task_, cv=self.cv, random_state=seed % (2**31))
        runner = LGBMTrialRunner(
            Xmat, y_enc, task=self.task_, n_classes=n_classes,
            categorical=self.encoder_.categorical_features_, metric=metric, splits=splits,
            n_threads=_resolve_threads(self.n_jobs), seed=seed,
        )
        trials = self._search(runner, splits, t0, budget, seed)
        timings["search"] = time.perf_counter() - t

        t = time.perf_counter()
        ok = [tr for tr in trials if np.isfinite(tr.value)]
        best = max(ok, key=lambda tr: tr.value) if ok else trials[0]
        self.model_, n_rounds = self._refit(runner, best, splits, t0, budget, len(y_enc))
        runner.free()
        timings["refit"] = time.perf_counter() - t
        self.best_params_ = dict(best.params)
        self.best_score_ = metric.natural(best.value) if np.isfinite(best.value) else float("nan")
        self.n_rounds_ = n_rounds
        self.leaderboard_ = self._leaderboard(trials, metric)
        self.stage_timings_ = timings
        self.featsmith_version_ = __version__
        self.fit_seconds_ = time.perf_counter() - t0
        logger.info(
            "AutoPipeline: %s, %s=%.5g from %d trials in %.1fs",
            self.task_, self.metric_, self.best_score_, len(trials), self.fit_seconds_,
        )
        return self

    def _refit(self, runner, best, splits, t0, budget, n_rows):
        """Refit the best configuration on all rows; keep its averaged fold models instead
        when the refit would not finish by the hard end of the budget."""
        hard_end = t0 + budget + max(0.1 * budget, 3.0) - 0.5
        if not splits:
            n_rounds = best.n_rounds
            model = runner.refit(best.params, n_rounds, deadline=float("inf"))
            return model, n_rounds
        n_train = np.mean([len(tr) for tr, _ in splits])
        n_rounds = int(np.ceil(best.n_rounds * n_rows / n_train))
        per_fit = best.seconds / max(len(best.boosters), 1) * n_rows / n_train
        model = None
        if time.perf_counter() + per_fit < hard_end or not best.boosters:
            model = runner.refit(best.params, n_rounds, deadline=hard_end)
        if model is None:
            if not best.boosters:  # nothing finished in time: train what the budget allows
                model = runner.refit(best.params, n_rounds, deadline=float("inf"))
            else:
                logger.info("Refit would overrun the budget; using the averaged fold models.")
                model = BoosterAverage(best.boosters, [b.best_iteration or b.current_iteration() for b in best.boosters])
        return model, n_rounds

    def _search(self, runner, splits, t0, budget, seed):
        rng = np.random.default_rng(seed)
        trials = []
        max_trials = self.max_trials if self.max_trials is not None else 10**9
        if not splits:  # too few rows to validate: take LightGBM's defaults as they are
            from featsmith.pipelines._lgbm import TrialResult

            return [TrialResult({}, float("nan"), 100, 0.0, "unvalidated")]
        configs = iter(KNOWN_GOOD_CONFIGS)
        progress = self._progress(budget)
        refit_estimate = 0.0
        try:
            while len(trials) < max_trials:
                elapsed = time.perf_counter() - t0
                if trials:
                    recent = max(tr.seconds for tr in trials[-3:])
                    if elapsed + recent + refit_estimate > budget * 0.95:
                        break
                    deadline = t0 + budget * 0.95 - refit_estimate
                else:
                    deadline = t0 + budget * 0.6
                config = next(configs, None)
                if config is None:
                    config = sample_lgbm_config(rng)
                result = runner.run(config, deadline)
                trials.append(result)
                # Only the best trial's fold models and predictions are kept (for the refit
                # fallback); the rest would pile up over hundreds of trials.
                best = max(trials, key=lambda tr: tr.value)
                for tr in trials:
                    if tr is not best:
                        tr.boosters, tr.oof = [], None
                if len(trials) == 1:
                    # A refit trains once on all rows for as many rounds as a fold did.
                    per_fit = result.seconds / max(len(splits), 1)
                    refit_estimate = per_fit * 2.0 + 0.05 * budget
                if self.verbose >= 2:
                    logger.info("trial %d %s value=%.5g %.2fs", len(trials), result.status, result.value, result.seconds)
                if progress is not None:
                    progress.update(time.perf_counter() - t0, len(trials), max(tr.value for tr in trials))
        finally:
            if progress is not None:
                progress.close()
        return trials

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
                "model": "lightgbm",
                "params": tr.params,
                "score": metric.natural(tr.value) if np.isfinite(tr.value) else np.nan,
                "seconds": tr.seconds,
                "n_rounds": tr.n_rounds,
                "status": tr.status,
                "_value": tr.value,
            }
            for i, tr in enumerate(trials)
        ]
        lb = pd.DataFrame(rows).sort_values("_value", ascending=False, kind="stable")
        return lb.drop(columns="_value").reset_index(drop=True)

    # -- predict ------------------------------------------------------------------------------
    def _features(self, X):
        check_is_fitted(self, "model_")
        df = check_predict_frame(
            X, n_features_in=self.n_features_in_, feature_names_in=self._input_columns,
            estimator_name=type(self).__name__,
        )
        return self.encoder_.transform(df.select(self._input_columns))

    def _raw_predict(self, X):
        return self.model_.predict(self._features(X))

    def _is_classifier(self):
        task = getattr(self, "task_", self.task)
        return task != "regression"

    @available_if(_is_classifier)
    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_`` (classification only)."""
        check_is_fitted(self, "model_")
        raw = self._raw_predict(X)
        if self.task_ == "binary":
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, X):
        """Predicted class labels (classification) or values (regression)."""
        check_is_fitted(self, "model_")
        if self.task_ == "regression":
            return self._raw_predict(X)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

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
