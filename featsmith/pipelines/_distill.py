"""Distillation: one small student trained on a fitted pipeline's predictions over augmented rows.

As in AutoGluon's ``TabularPredictor.distill`` (Fakoor et al., "Fast, Accurate, and Simple
Models for Tabular Data via Augmented Distillation", NeurIPS 2020), the student learns the
ensemble's soft predictions rather than the labels: on the training rows and on synthetic rows
near them, where the ensemble's function is informative and the labels say nothing. The
synthetic rows follow AutoGluon's simplified MUNGE ("spunge"): each copies a real row and
replaces a few of its columns with values drawn from that column's training distribution,
numeric values jittered by a tenth of the column's spread.

Learning the teacher's predictions also keeps the student clear of the in-sample target
encodings of the training rows: it fits the teacher's function of the features, not the labels
those encodings leak.
"""

from __future__ import annotations

import copy
import logging
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from featsmith._validation import check_frame, check_target, extract_target
from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._stages.validation import make_splits, time_ordered_splits
from featsmith.pipelines._trials import MemberOutput, WeightedModel

logger = logging.getLogger("featsmith")

STUDENTS = ("lightgbm", "nas_head")
# Synthetic rows per training row, and their cap (AutoGluon's defaults are 5x and 100k).
AUGMENT_FACTOR = 4
MAX_AUGMENTED = 100_000
FRAC_PERTURB = 0.1
NUMERIC_NOISE = 0.1
# The student's model may take at most this share of the ensemble's model time to predict
# (the feature transform before both is shared and not counted).
MAX_PREDICT_RATIO = 1 / 3
_TIMING_ROWS = 2000
# As AutoGluon's distillation labels: keep soft targets off 0 and 1.
LABEL_SMOOTHING = 0.01
# Share of the budget spent validating a student on one split of the pipeline's plan.
VALIDATION_SHARE = 0.3


def spunge(df: pl.DataFrame, n_rows: int, rng: np.random.Generator, *, frac_perturb=FRAC_PERTURB,
           noise=NUMERIC_NOISE) -> pl.DataFrame:
    """``n_rows`` synthetic rows: each a copy of a real row (in turn) with between 1 and
    ``frac_perturb`` of the columns replaced by the value of another random row, plus Gaussian
    noise of ``noise`` times the column's standard deviation on replaced float values.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> df = pl.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    >>> spunge(df, 5, np.random.default_rng(0)).shape
    (5, 2)
    """
    n, n_cols = df.height, df.width
    base = np.arange(n_rows) % n
    k_max = max(1, int(frac_perturb * n_cols))
    k = rng.integers(1, k_max + 1, size=n_rows)
    # Each row perturbs the k columns with the smallest random keys: k distinct columns.
    ranks = np.argsort(np.argsort(rng.random((n_rows, n_cols)), axis=1), axis=1)
    perturb = ranks < k[:, None]
    columns = []
    for j, name in enumerate(df.columns):
        col = df.get_column(name)
        donor = rng.integers(n, size=n_rows)
        out = col.gather(np.where(perturb[:, j], donor, base))
        if col.dtype.is_float():
            values = out.to_numpy().astype(np.float64, copy=True)
            std = float(np.nanstd(col.to_numpy().astype(np.float64))) if n > 1 else 0.0
            values[perturb[:, j]] += rng.normal(0.0, noise * std, size=int(perturb[:, j].sum()))
            out = pl.Series(name, values).cast(col.dtype)
        columns.append(out)
    return pl.DataFrame(columns)


def _softmax(raw):
    z = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxBooster:
    """A LightGBM booster trained with the soft-label multiclass objective: ``predict`` gives
    class probabilities (with a custom objective the booster gives raw scores, without the
    starting scores ``init``: the log class priors)."""

    def __init__(self, booster, init):
        self.booster = booster
        self.init = np.asarray(init, dtype=np.float64)

    def predict(self, X):
        return _softmax(np.asarray(self.booster.predict(X)).reshape(len(X), -1) + self.init)

    def feature_importance(self, importance_type="gain"):
        return self.booster.feature_importance(importance_type)


def _soft_multiclass(preds, data):
    """LightGBM objective: cross-entropy against soft class probabilities."""
    q = data.get_label_soft
    p = _softmax(preds)
    return p - q, np.maximum(p * (1.0 - p), 1e-6)


def _fit_lightgbm(F, target, task, n_classes, categorical, deadline, seed, n_threads):
    """A LightGBM student: early stopping on a tenth of the distillation rows, stopped at the deadline."""
    idx = np.arange(len(F))
    tr, va = train_test_split(idx, test_size=0.1, random_state=seed)
    params = {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20, "feature_fraction": 0.9,
              "verbosity": -1, "seed": seed, "num_threads": n_threads, "deterministic": True,
              "force_col_wise": True}
    if task == "binary":
        params.update(objective="cross_entropy")
        label = target[:, 1]
    elif task == "multiclass":
        params.update(objective=_soft_multiclass, num_class=n_classes)
        label = np.argmax(target, axis=1)
    else:
        params.update(objective="regression")
        label = target
    init = None
    if task == "multiclass":
        # Start from the class priors, as LightGBM's own objectives do (a custom one starts at 0:
        # uniform over the classes, far from the answer with many classes and few rounds).
        init = np.log(np.clip(target[tr].mean(axis=0), 1e-6, None))
    init_rows = (lambda rows: np.tile(init, (len(rows), 1))) if init is not None else (lambda rows: None)
    dtrain = lgb.Dataset(F[tr], label[tr], init_score=init_rows(tr), categorical_feature=categorical,
                         free_raw_data=False)
    dvalid = lgb.Dataset(F[va], label[va], init_score=init_rows(va), reference=dtrain, free_raw_data=False)
    if task == "multiclass":
        # The custom objective reads the soft labels; LightGBM keeps only the hard ones.
        dtrain.get_label_soft = target[tr]
        dvalid.get_label_soft = target[va]
        params["metric"] = "None"

        def feval(preds, data):
            p = _softmax(preds)
            return "soft_logloss", float(-(data.get_label_soft * np.log(np.clip(p, 1e-15, 1))).sum(1).mean()), False
    else:
        feval = None

    def stop_at_deadline(env):
        if time.perf_counter() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    booster = lgb.train(params, dtrain, num_boost_round=2000, valid_sets=[dvalid], feval=feval,
                        callbacks=[lgb.early_stopping(50, verbose=False), stop_at_deadline])
    booster.free_dataset()
    if task == "multiclass":
        return MemberOutput(SoftmaxBooster(booster, init), "booster", task, n_classes)
    return MemberOutput(booster, "booster", task, n_classes)


def _model_seconds(model, F) -> float:
    """Median CPU seconds of three predictions of ``F`` (CPU time: neighbours on a shared
    machine would otherwise decide the cut)."""
    runs = []
    for _ in range(3):
        t = time.process_time()
        model.predict(F)
        runs.append(time.process_time() - t)
    return float(np.median(runs))


def _cap_cost(member, teacher_model, F):
    """Drop the student's last boosting rounds until its model predicts in at most
    ``MAX_PREDICT_RATIO`` of the ensemble's time (prediction time is linear in the rounds)."""
    model = member.model
    booster = getattr(model, "booster", model)
    rounds = booster.current_iteration()
    budget = MAX_PREDICT_RATIO * _model_seconds(teacher_model, F)
    spent = _model_seconds(model, F)
    if spent <= budget or rounds <= 1:
        return rounds, False
    keep = max(1, int(rounds * budget / spent))
    short = lgb.Booster(model_str=booster.model_to_string(num_iteration=keep))
    member.model = SoftmaxBooster(short, model.init) if isinstance(model, SoftmaxBooster) else short
    return keep, True


def _fit_nas_head(F, target, n_orig, y_codes, task, n_classes, categorical, deadline, seed, n_threads):
    """A neural-head student: the architecture searched on the training rows' labels in half the
    time, then trained further on the soft targets of every distillation row."""
    from featsmith.compress import fine_tune
    from featsmith.tuners.nas import NASHeadClassifier, NASHeadRegressor

    seconds = max(1.0, deadline - time.perf_counter())
    kwargs = dict(time_budget=0.5 * seconds, categorical_features=list(categorical) or None, n_jobs=n_threads,
                  random_state=seed)
    if task == "regression":
        est = NASHeadRegressor(**kwargs).fit(F[:n_orig], target[:n_orig])
        soft = target
    else:
        est = NASHeadClassifier(**kwargs).fit(F[:n_orig], y_codes)
        soft = target[:, np.asarray(est.classes_, dtype=int)]
        soft = soft / np.clip(soft.sum(axis=1, keepdims=True), 1e-12, None)
    left = max(0.5, deadline - time.perf_counter())
    fine_tune(est, F, soft_targets=soft, epochs=20, time_budget=left, random_state=seed)
    return MemberOutput(est, "estimator", task, n_classes)


def _time_key(column: pl.Series) -> np.ndarray:
    if column.dtype == pl.Utf8:
        column = column.str.to_datetime(strict=False)
    if column.dtype.is_temporal():
        column = column.cast(pl.Datetime("us")).cast(pl.Int64)
    return column.fill_null(column.min()).to_numpy().astype(np.int64)


def validation_split(pipeline, df, y_codes, groups, seed):
    """One split of the pipeline's own validation plan (``validation_``): the latest period
    for time order, the first fold otherwise; None when the plan cannot be rebuilt."""
    plan = getattr(pipeline, "validation_", None) or {}
    scheme, order, column = plan.get("scheme", ""), plan.get("order", "random"), plan.get("column")
    if scheme == "none" or len(y_codes) < 10:
        return None, "too few rows to validate"
    k = 5 if scheme.startswith("holdout") else int(scheme.split("-")[0]) if scheme[:1].isdigit() else 5
    task = pipeline.task_
    if order == "time" and column in df.columns:
        holdout = scheme.startswith("holdout")
        # The plan's own periods: a plan cut to its first folds still cut the rows into them,
        # and the latest of them is the period the student must predict.
        periods = plan.get("periods")
        n_folds = periods - 1 if periods and not holdout else k
        splits = time_ordered_splits(_time_key(df.get_column(column)), n_folds, holdout=holdout)
        return (splits[-1] if splits else None), f"latest period of the {scheme} plan by {column!r}"
    if order == "group":
        key = groups if groups is not None else (df.get_column(column).to_numpy() if column in df.columns else None)
        if key is not None:
            return make_splits(y_codes, task, cv=k, random_state=seed, groups=np.asarray(key))[0], \
                f"first fold of the {scheme} plan by {column!r}"
    note = "" if order == "random" else f" (the {order} plan could not be rebuilt: give groups=)"
    return make_splits(y_codes, task, cv=k, random_state=seed)[0], f"first fold of {k} shuffled folds{note}"


def _teacher(pipeline, df, smooth=0.0):
    """The ensemble's predictions; probabilities mixed with ``smooth`` of the uniform
    distribution (on its own training rows the ensemble is overconfident)."""
    if pipeline.task_ == "regression":
        return np.asarray(pipeline.predict(df), dtype=np.float64)
    proba = np.asarray(pipeline.predict_proba(df), dtype=np.float64)
    return (1.0 - smooth) * proba + smooth / proba.shape[1]


def _train_student(pipeline, df, y_codes, student, deadline, rng, n_threads):
    """Augment ``df``, label it with the teacher and fit the student on the features."""
    n = df.height
    n_aug = int(min(MAX_AUGMENTED, AUGMENT_FACTOR * n))
    rows = pl.concat([df, spunge(df, n_aug, rng)], how="vertical_relaxed")
    F = pipeline.transform(rows)
    target = _teacher(pipeline, rows, LABEL_SMOOTHING)
    task = pipeline.task_
    n_classes = len(pipeline.classes_) if task != "regression" else 0
    categorical = list(pipeline.encoder_.categorical_features_)
    seed = int(rng.integers(2**31 - 1))
    if student == "nas_head":
        return _fit_nas_head(F, target, n, y_codes, task, n_classes, categorical, deadline, seed, n_threads), n_aug, {}
    member = _fit_lightgbm(F, target, task, n_classes, categorical, deadline, seed, n_threads)
    rounds, capped = _cap_cost(member, pipeline.model_, F[: min(n, _TIMING_ROWS)])
    return member, n_aug, {"rounds": rounds, "rounds_cut_for_speed": capped}


def _score(metric, task, y_codes, pred, n_classes):
    if task == "regression":
        return metric.natural(metric.score_predictions(y_codes, pred))
    return metric.natural(metric.score_predictions(y_codes, pred, classes=np.arange(n_classes)))


def distill(pipeline, X, y, *, student="lightgbm", time_budget=60.0, groups=None, random_state=None):
    """The body of :meth:`featsmith.AutoPipeline.distill` (see there)."""
    check_is_fitted(pipeline, "model_")
    if student not in STUDENTS:
        raise ValueError(f"student={student!r} must be one of {list(STUDENTS)}.")
    if isinstance(time_budget, bool) or not isinstance(time_budget, (int, float)) or not time_budget > 0:
        raise ValueError(f"time_budget={time_budget!r} must be a positive number of seconds.")
    start = time.perf_counter()
    df = check_frame(X, estimator_name="AutoPipeline.distill")
    if isinstance(y, str):
        df, y = extract_target(df, y)
    y = check_target(y, df.height, estimator_name="AutoPipeline.distill")
    task = pipeline.task_
    if task == "regression":
        y_codes = y.astype(np.float64)
    else:
        known = np.isin(y, pipeline.classes_)
        if not known.all():
            raise ValueError(f"y holds labels {np.unique(y[~known]).tolist()[:5]} the pipeline was not fitted "
                             f"on (classes_: {pipeline.classes_.tolist()}); distill on the training rows.")
        y_codes = np.searchsorted(pipeline.classes_, y)
    if isinstance(groups, str):
        groups = df.get_column(groups).to_numpy()
    rng = np.random.default_rng(random_state)
    n_threads = int(pipeline.n_jobs) if isinstance(pipeline.n_jobs, int) and pipeline.n_jobs > 0 else 0
    metric = resolve_metric(pipeline.metric, task)
    n_classes = len(pipeline.classes_) if task != "regression" else 0
    validation = None
    split, how = validation_split(pipeline, df, y_codes, groups, int(rng.integers(2**31 - 1)))
    if split is not None:
        tr, va = split
        deadline = start + VALIDATION_SHARE * time_budget
        member, _, _ = _train_student(pipeline, df[tr], y_codes[tr], student, deadline, rng, n_threads)
        valid = df[va]
        validation = {
            "split": how, "n_train": int(len(tr)), "n_valid": int(len(va)),
            "student_score": _score(metric, task, y_codes[va], member.output(pipeline.transform(valid)), n_classes),
            "teacher_score": _score(metric, task, y_codes[va], _teacher(pipeline, valid), n_classes),
        }
    member, n_aug, size = _train_student(pipeline, df, y_codes, student, start + time_budget, rng, n_threads)
    out = copy.copy(pipeline)
    out.model_ = WeightedModel([(1.0, member)], task)
    out.ensemble_ = pd.DataFrame([{"trial": None, "model": f"{student} student", "weight": 1.0,
                                   "refit": "distilled"}])
    if validation is not None:
        out.best_score_ = float(validation["student_score"])
    out.distillation_ = {
        "student": student, "teacher_members": int(len(pipeline.ensemble_)), "n_rows": int(df.height),
        "n_augmented": n_aug, **size, "metric": metric.name, "validation": validation,
        "seconds": time.perf_counter() - start,
    }
    logger.info("AutoPipeline.distill: %s student on %d + %d augmented rows in %.1fs%s", student, df.height, n_aug,
                out.distillation_["seconds"],
                "" if validation is None else f"; {metric.name} on {how}: student {validation['student_score']:.5g}"
                f", teacher {validation['teacher_score']:.5g}")
    return out
