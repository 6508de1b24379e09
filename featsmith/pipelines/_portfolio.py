"""Model families beside LightGBM: scikit-learn's HistGradientBoosting, extra trees, a linear
model and the searched neural head.

They add diversity for the ensemble: each is validated on the same folds as LightGBM, so
their out-of-fold predictions can be mixed by greedy ensemble selection.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import replace

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from featsmith._threads import fit_threads
from featsmith.pipelines._catboost import CatBoostOnCodes, catboost_available
from featsmith.pipelines._trials import FoldRunner, clip_for_trees, estimator_output

# Fitted pipelines pickled before the helper moved to _trials name it here.
_clip_for_trees = clip_for_trees

# Rounds without improvement on the fold's validation rows before HistGradientBoosting stops
# (LightGBM's trials use 50 at their lower rates).
HIST_GB_PATIENCE = 30

# Tried after LightGBM's known-good configurations, one each (their defaults are strong).
PORTFOLIO_CONFIGS = [
    {"model": "hist_gb", "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
     "l2_regularization": 0.0, "max_iter": 500},
    {"model": "extra_trees", "n_estimators": 150, "max_features": 0.5, "min_samples_leaf": 2},
    {"model": "linear", "C": 1.0},
]
# With the optional ``catboost`` package, CatBoost joins them first (early-stopped on the
# fold's validation rows like HistGradientBoosting).
CATBOOST_CONFIG = {"model": "catboost", "learning_rate": 0.1, "depth": 6, "l2_leaf_reg": 3.0, "iterations": 1000}


# Each family's own search space (NNI's format), searched once the known-good configuration
# above has validated (see the search stage, which anneals around it). A key the space leaves
# out keeps the known-good value (CatBoost's iteration cap, the extra trees' count).
FAMILY_SPACES = {
    "catboost": {
        "learning_rate": {"_type": "loguniform", "_value": [0.02, 0.3]},
        "depth": {"_type": "randint", "_value": [4, 11]},
        "l2_leaf_reg": {"_type": "loguniform", "_value": [0.3, 30.0]},
    },
    "hist_gb": {
        "learning_rate": {"_type": "loguniform", "_value": [0.02, 0.3]},
        "max_leaf_nodes": {"_type": "qloguniform", "_value": [8, 128, 1]},
        "min_samples_leaf": {"_type": "qloguniform", "_value": [2, 100, 1]},
        "l2_regularization": {"_type": "uniform", "_value": [0.0, 10.0]},
    },
    "extra_trees": {
        "max_features": {"_type": "uniform", "_value": [0.2, 1.0]},
        "min_samples_leaf": {"_type": "randint", "_value": [1, 21]},
    },
    "linear": {"C": {"_type": "loguniform", "_value": [1e-3, 100.0]}},
}


def family_config(family: str) -> dict:
    """The known-good configuration of a family of :data:`FAMILY_SPACES`."""
    return next(c for c in [CATBOOST_CONFIG, *PORTFOLIO_CONFIGS] if c["model"] == family)


def portfolio_configs() -> list:
    """The other families' configurations, in the order they are tried: CatBoost's when it is
    installed, then :data:`PORTFOLIO_CONFIGS`."""
    return ([CATBOOST_CONFIG] if catboost_available() else []) + list(PORTFOLIO_CONFIGS)

# scikit-learn's HistGradientBoosting reads a categorical column's codes as bins: at most this
# many; a column with more codes (a high-cardinality one) is read as numbers.
HIST_GB_MAX_CATEGORIES = 255

NAS_CONFIG = {"model": "nas_head"}
# Families that boost until their fold's validation rows stop improving, and refit for the
# rounds found there.
BOOSTED_FAMILIES = ("hist_gb", "catboost")


class EstimatorTrialRunner(FoldRunner):
    """Out-of-fold trials of scikit-learn estimators built from a configuration dict."""

    output_kind = "estimator"

    def __init__(self, X, y, *, categorical, nas_seconds=None, **kwargs):
        super().__init__(X, y, **kwargs)
        self.categorical = list(categorical)
        self.nas_seconds = nas_seconds
        # The categorical columns HistGradientBoosting can read as categories (codes within its
        # bins; missing values are NaN); the others it reads as numbers.
        self.hist_gb_categorical = [c for c in self.categorical
                                    if np.nanmax(X[:, c], initial=0.0) < HIST_GB_MAX_CATEGORIES]

    @property
    def family(self):
        return "estimator"

    def build(self, config: dict, seconds: float | None = None, rounds: int | None = None, width=None):
        """The unfitted estimator for ``config`` (a boosting family trains ``rounds`` rounds
        when given, else stops early on the validation rows it is fitted with)."""
        model = config["model"]
        classification = self.task != "regression"
        seed = self.seed % (2**31)
        if model == "extra_trees":
            cls = ExtraTreesClassifier if classification else ExtraTreesRegressor
            # scikit-learn's trees read float32 and reject larger values (a 1e300-scale column).
            return make_pipeline(FunctionTransformer(clip_for_trees), cls(
                n_estimators=config.get("n_estimators", 300), max_features=config.get("max_features", 0.5),
                min_samples_leaf=int(config.get("min_samples_leaf", 2)), n_jobs=self.n_threads, random_state=seed,
            ))
        if model == "hist_gb":
            cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
            stop = {"early_stopping": True, "n_iter_no_change": HIST_GB_PATIENCE} if rounds is None else {
                "early_stopping": False}
            return make_pipeline(FunctionTransformer(clip_for_trees), cls(
                learning_rate=config.get("learning_rate", 0.1), max_leaf_nodes=int(config.get("max_leaf_nodes", 31)),
                min_samples_leaf=int(config.get("min_samples_leaf", 20)),
                l2_regularization=config.get("l2_regularization", 0.0),
                max_iter=config.get("max_iter", 500) if rounds is None else max(int(rounds), 1),
                categorical_features=self.hist_gb_categorical or None, random_state=seed, **stop,
            ))
        if model == "catboost":
            # CatBoostOnCodes's defaults stand for what the configuration leaves out.
            params = {k: config[k] for k in ("iterations", "learning_rate", "depth", "l2_leaf_reg") if k in config}
            if "depth" in params:
                params["depth"] = int(params["depth"])
            if rounds is not None:
                params["iterations"] = max(int(rounds), 1)
            return CatBoostOnCodes(self.task, self.categorical, n_threads=self.n_threads, random_state=seed, **params)
        if model == "linear":
            numeric = [i for i in range(width or self.X.shape[1]) if i not in self.categorical]
            prep = ColumnTransformer(
                [
                    ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
                    ("cat", make_pipeline(
                        SimpleImputer(strategy="constant", fill_value=-1),
                        OneHotEncoder(handle_unknown="ignore", max_categories=30),
                    ), self.categorical),
                ],
                sparse_threshold=0,
            )
            if classification:
                head = LogisticRegression(C=config.get("C", 1.0), max_iter=300)
            else:
                head = Ridge(alpha=1.0 / config.get("C", 1.0))
            return make_pipeline(FunctionTransformer(_finite_for_linear), prep, head)
        if model == "nas_head":
            from featsmith.tuners.nas import NASHeadClassifier, NASHeadRegressor

            cls = NASHeadClassifier if classification else NASHeadRegressor
            return cls(
                time_budget=seconds or self.nas_seconds or 10.0, categorical_features=self.categorical or None,
                n_jobs=self.n_threads, random_state=seed,
            )
        raise ValueError(f"Unknown model family {model!r}.")

    def _openmp(self, config, X):
        """HistGradientBoosting's OpenMP threads for a fit on ``X``: one on small data, as
        LightGBM's (featsmith/_threads.py; with OMP_WAIT_POLICY=PASSIVE two threads took 2.51 s
        against one thread's 0.58 s at 5,000 rows x 50 columns, 3.25 s against 1.92 s at 50,000)."""
        if config["model"] != "hist_gb":
            return contextlib.nullcontext()
        return threadpool_limits(fit_threads(self.n_threads, *X.shape), user_api="openmp")

    def _fit_fold(self, config, index, train_rows, valid_rows, deadline):
        seconds = None
        if config["model"] == "nas_head":
            # Its own search would take all the time it is given: cap it at its share.
            remaining = (deadline - time.perf_counter()) / (len(self.splits) - index + 0.5)
            seconds = max(1.0, min(remaining, self.nas_seconds or remaining))
        X_train, X_valid = self.fold_matrix(index, train_rows), self.fold_matrix(index, valid_rows)
        if config["model"] == "hist_gb":
            X_train = _valued_for_hist_gb(X_train)
        est = self.build(config, seconds, width=X_train.shape[1])
        if config["model"] in ("linear", "catboost") and self.task != "regression" and np.unique(
                self.y[train_rows]).size < 2:
            # A fold of a tiny table can hold one class, which LogisticRegression and CatBoost
            # refuse; a tree fitted there predicts that class, and so does this.
            est = DummyClassifier(strategy="prior")
        fit_args = {}
        boosted = config["model"] in BOOSTED_FAMILIES and not isinstance(est, DummyClassifier)
        if boosted:
            # Early stopping on the fold's validation rows, as LightGBM's trials do; rows of a
            # class the training rows lack (a small class of a many-class task) are left out
            # of it, which both libraries refuse.
            seen = np.isin(self.y[valid_rows], self.y[train_rows]) if self.task != "regression" else slice(None)
            X_stop, y_stop = X_valid[seen], self.y[valid_rows][seen]
            if config["model"] == "hist_gb":
                step = est.steps[-1][0]
                fit_args = {f"{step}__X_val": clip_for_trees(X_stop), f"{step}__y_val": y_stop}
            else:
                fit_args = {"X_val": X_stop, "y_val": y_stop, "deadline": deadline}
        with warnings.catch_warnings(), self._openmp(config, X_train):
            warnings.simplefilter("ignore")
            est.fit(X_train, self.y[train_rows], **fit_args)
        pred = estimator_output(est, X_valid, self.task, self.n_classes)
        rounds = _final_step(est).n_iter_ if boosted else 0
        return self.with_columns(est, index), pred, rounds, time.perf_counter() > deadline

    def run(self, config, deadline, folds_budget=None):
        return replace(super().run(config, deadline, folds_budget), family=config["model"])

    def refit(self, config, n_rounds, deadline):
        seconds = None
        if config["model"] == "nas_head":
            seconds = max(1.0, min((deadline - time.perf_counter()) * 0.8, 1.5 * (self.nas_seconds or np.inf)))
        X = self.refit_matrix()
        if config["model"] == "hist_gb":
            X = _valued_for_hist_gb(X)
        boosted = config["model"] in BOOSTED_FAMILIES
        est = self.build(config, seconds, rounds=n_rounds if boosted else None, width=X.shape[1])
        fit_args = {"deadline": deadline} if config["model"] == "catboost" else {}
        with warnings.catch_warnings(), self._openmp(config, X):
            warnings.simplefilter("ignore")
            est.fit(X, self.y, **fit_args)
        if getattr(est, "deadline_hit_", False):
            return None  # fewer rounds than validated: the fold models stand in
        return self.with_columns(est)

    def predict_cost(self, config: dict, n_rounds: int) -> float:
        model = config["model"]
        if model == "extra_trees":
            # Fully grown trees: about twice log2(rows per leaf) deep (measured on the dev tasks).
            leaves = max(len(self.y) / config.get("min_samples_leaf", 2), 2.0)
            return config.get("n_estimators", 300) * 2.0 * np.log2(leaves)
        if model == "hist_gb":
            trees = max(int(n_rounds), 1) * (self.n_classes if self.task == "multiclass" else 1)
            return trees * np.log2(max(config.get("max_leaf_nodes", 31), 2))
        if model == "catboost":
            # Symmetric trees: one comparison per level; a multiclass tree holds every class.
            return max(int(n_rounds), 1) * config.get("depth", 6)
        if model == "nas_head":
            return 100.0  # a small MLP's forward pass: a few ms per 10k rows, like ~20 trees
        return 1.0  # linear: one matrix product

    def fold_average(self, models):
        return _EstimatorAverage(models, self.task, self.n_classes)



def _final_step(est):
    """The model of a scikit-learn pipeline (its last step), or ``est`` itself."""
    return est.steps[-1][1] if hasattr(est, "steps") else est


def _valued_for_hist_gb(X):
    """``X`` with a constant in each column that holds no value (all missing). scikit-learn's
    HistGradientBoosting fails on such a column ("window shape cannot be larger than input
    array shape": its binning reads the distinct values in pairs); nothing can split on it
    either way. Under time order a generated feature can be all missing in the first periods
    (every hist_gb trial on hotel_rates' generated views failed so)."""
    empty = np.isnan(X).all(axis=0)
    if not empty.any():
        return X
    X = X.copy()
    X[:, empty] = 0.0
    return X


def _finite_for_linear(X):
    """±inf as missing (the imputer fills it) and values within the trees' limit, so that
    scaling cannot overflow (a generated product of two 1e300-scale columns is inf)."""
    X = np.asarray(X, dtype=np.float64)
    return np.where(np.isfinite(X), clip_for_trees(X), np.nan)


class _EstimatorAverage:
    def __init__(self, models, task, n_classes):
        self.models = models
        self.task = task
        self.n_classes = n_classes
        self.classes_ = np.arange(n_classes)

    def predict_proba(self, X):
        return np.mean([estimator_output(m, X, self.task, self.n_classes) for m in self.models], axis=0)

    def predict(self, X):
        if self.task == "regression":
            return np.mean([m.predict(X) for m in self.models], axis=0)
        return np.argmax(self.predict_proba(X), axis=1)
