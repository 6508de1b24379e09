"""LightGBM as a tunable model family: its search space, known-good starting configurations,
and a cross-validated trial runner that honours a wall-clock deadline."""

from __future__ import annotations

import logging
import time
import warnings

import lightgbm as lgb
import numpy as np

from featsmith._threads import fit_threads
from featsmith.pipelines._trials import BoosterAverage, FoldRunner, booster_output

logger = logging.getLogger("featsmith")

MAX_ROUNDS = 5000
EARLY_STOPPING_ROUNDS = 50

# NNI search-space form, so any tuner from featsmith.tuners can drive it.
LGBM_SPACE = {
    "learning_rate": {"_type": "loguniform", "_value": [0.01, 0.2]},
    "num_leaves": {"_type": "qloguniform", "_value": [4, 256, 1]},
    "min_child_samples": {"_type": "qloguniform", "_value": [2, 128, 1]},
    "colsample_bytree": {"_type": "uniform", "_value": [0.3, 1.0]},
    "subsample": {"_type": "uniform", "_value": [0.5, 1.0]},
    "reg_lambda": {"_type": "loguniform", "_value": [1e-3, 30.0]},
    "reg_alpha": {"_type": "loguniform", "_value": [1e-3, 10.0]},
    "min_sum_hessian_in_leaf": {"_type": "loguniform", "_value": [1e-3, 1.0]},
}

# Tried first, in this order: LightGBM's defaults (the floor every result is compared with),
# then configurations that are strong across many tabular tasks (conservative for small data,
# larger trees for large data).
KNOWN_GOOD_CONFIGS = [
    {},
    {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 10, "colsample_bytree": 0.7,
     "subsample": 0.8, "reg_lambda": 1.0},
    {"learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 20, "colsample_bytree": 0.5,
     "subsample": 0.8, "reg_lambda": 5.0, "min_sum_hessian_in_leaf": 0.1},
    {"learning_rate": 0.05, "num_leaves": 127, "min_child_samples": 5, "colsample_bytree": 0.8,
     "subsample": 0.9, "reg_lambda": 0.1},
]


class _Deadline:
    """LightGBM callback that stops boosting at a wall-clock deadline."""

    order = 40

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.hit = False

    def __call__(self, env):
        if time.perf_counter() > self.deadline:
            self.hit = True
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])


class LGBMTrialRunner(FoldRunner):
    """Cross-validated LightGBM trials on fixed folds, with early stopping on each fold.

    The binned fold datasets are built once and shared by every trial, so a trial costs only
    the boosting itself.
    """

    family = "lightgbm"
    output_kind = "booster"

    def __init__(self, X, y, *, categorical, **kwargs):
        super().__init__(X, y, **kwargs)
        self.categorical = list(categorical)
        self._folds = None

    def base_params(self) -> dict:
        objective = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[self.task]
        eval_metric = {"binary": "binary_logloss", "multiclass": "multi_logloss", "regression": "l2"}[self.task]
        if self.metric.name in ("roc_auc", "auc") and self.task == "binary":
            eval_metric = "auc"
        elif self.metric.name == "mae":
            eval_metric = "l1"
        params = {
            "objective": objective,
            "metric": eval_metric,
            "verbosity": -1,
            # One thread on small folds (see featsmith/_threads.py).
            "num_threads": fit_threads(self.n_threads, self._fold_rows(), self.X.shape[1]),
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "feature_pre_filter": False,
        }
        if self.task == "multiclass":
            params["num_class"] = self.n_classes
        return params

    def _fold_rows(self) -> int:
        return max((len(tr) for tr, _ in self.splits), default=len(self.y))

    def _params(self, config: dict) -> dict:
        params = self.base_params()
        cfg = dict(config)
        # Tiny data: LightGBM's default of 20 rows per leaf cannot split at all.
        n_min = min(len(tr) for tr, _ in self.splits) if self.splits else len(self.y)
        cfg["min_child_samples"] = int(min(cfg.get("min_child_samples", 20), max(2, n_min // 10)))
        if cfg.get("subsample", 1.0) * n_min < 1:
            # A bag of no rows (a fold of a 2-row table) fails in LightGBM ("num_data > 0").
            cfg["subsample"] = 1.0
        elif cfg.get("subsample", 1.0) < 1.0:
            cfg["subsample_freq"] = 1
        params.update(cfg)
        return params

    def _datasets(self):
        if self._folds is None:
            # One binned dataset, and each fold a subset of its rows: no copy of the data per
            # fold (LightGBM's own cv does the same). The bins see every row's features, never
            # a target.
            params = {"verbosity": -1, "feature_pre_filter": False}
            if self.fold_columns is not None:
                # Each fold reads its own columns (chosen on its training rows): one binned
                # dataset per fold, its validation rows binned like its training rows.
                self._folds = []
                for index, (tr, va) in enumerate(self.splits):
                    tr, va = np.sort(tr), np.sort(va)
                    train = lgb.Dataset(self.fold_matrix(index, tr), self.y[tr], categorical_feature=self.categorical,
                                        params=params, free_raw_data=False).construct()
                    self._folds.append((train, train.create_valid(self.fold_matrix(index, va), self.y[va])))
                return self._folds
            full = lgb.Dataset(
                self.X, self.y, categorical_feature=self.categorical, params=params, free_raw_data=False,
            ).construct()
            self._folds = [(full.subset(np.sort(tr)), full.subset(np.sort(va))) for tr, va in self.splits]
        return self._folds

    def _fit_fold(self, config, index, train_rows, valid_rows, deadline):
        dtrain, dvalid = self._datasets()[index]
        stopper = _Deadline(deadline)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = lgb.train(
                self._params(config), dtrain, num_boost_round=MAX_ROUNDS, valid_sets=[dvalid],
                callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False), stopper],
            )
        best = booster.best_iteration or booster.current_iteration()
        pred = booster_output(booster.predict(self.fold_matrix(index, valid_rows), num_iteration=best), self.task)
        return self.with_columns(booster, index), pred, best, stopper.hit

    def refit(self, config: dict, n_rounds: int, deadline: float):
        """Train ``config`` on every row for ``n_rounds``; returns ``None`` when the deadline
        stops it first (the caller then keeps the fold models)."""
        X = self.refit_matrix()
        # Every row: more than a fold's (featsmith/_threads.py).
        params = {**self._params(config), "num_threads": fit_threads(self.n_threads, *X.shape)}
        dall = lgb.Dataset(
            X, self.y, categorical_feature=self.categorical,
            params={"verbosity": -1, "feature_pre_filter": False},
        )
        stopper = _Deadline(deadline)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = lgb.train(params, dall, num_boost_round=max(1, n_rounds), callbacks=[stopper])
        return None if stopper.hit else self.with_columns(booster)

    def predict_cost(self, config: dict, n_rounds: int) -> float:
        params = self._params(config)
        depth = np.log2(max(float(params.get("num_leaves", 31)), 2.0))
        if int(params.get("max_depth", -1)) > 0:
            depth = min(depth, float(params["max_depth"]))
        trees_per_round = self.n_classes if self.task == "multiclass" else 1
        return max(int(n_rounds), 1) * trees_per_round * depth

    def fold_average(self, models):
        return BoosterAverage(models, [b.best_iteration or b.current_iteration() for b in models])

    def free(self):
        self._folds = None
