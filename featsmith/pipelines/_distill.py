"""Distillation: one small student trained on a fitted pipeline's predictions over augmented rows.

As in AutoGluon's ``TabularPredictor.distill`` (Fakoor et al., "Fast, Accurate, and Simple
Models for Tabular Data via Augmented Distillation", NeurIPS 2020), the student learns the
ensemble's soft predictions rather than the labels: on the training rows and on synthetic rows
near them, where the ensemble's function is informative and the labels say nothing. The
synthetic rows follow AutoGluon's simplified MUNGE ("spunge"): each copies a real row and
replaces a few of its columns with values drawn from that column's training distribution,
numeric values jittered by a tenth of the column's spread.

On the training rows the targets are the ensemble's out-of-fold predictions where the fit kept
them (``oof_predictions_``): what it predicts for rows it has not seen. Refitted on every row,
it predicts its own training rows near their labels, which would teach the student the labels'
noise rather than the ensemble's function.

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
from sklearn.utils.validation import check_is_fitted

from featsmith._validation import check_frame, check_target, extract_target
from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._stages.refit import rows_key
from featsmith.pipelines._stages.validation import make_splits, time_ordered_splits
from featsmith.pipelines._trials import MemberOutput, WeightedModel

logger = logging.getLogger("featsmith")

STUDENTS = ("lightgbm", "nas_head")
# Synthetic rows per training row, and their cap (AutoGluon's defaults are 5x and 100k).
AUGMENT_FACTOR = 4
MAX_AUGMENTED = 100_000
# At most this share of each phase's time goes to the teacher labelling synthetic rows.
LABEL_SHARE = 0.25
FRAC_PERTURB = 0.1
NUMERIC_NOISE = 0.1
# The student's model may take at most this share of the ensemble's model time to predict
# (the feature transform before both is shared and not counted): candidates are compared at
# the rounds that fit in it. A tree's predict cost grows with its depth (about the log of its
# leaves), so fewer, larger trees may fit more in it: hence a large-leaf, fast-learning candidate.
MAX_PREDICT_RATIO = 1 / 3
# Rows the predict times are measured on: as many as the ensemble predicts in about 0.3 s within
# these bounds (per-call overheads weigh less on more rows; a slow ensemble gets the fewest).
_TIMING_ROWS = (256, 2000)
_TIMING_SECONDS = 0.3
# As AutoGluon's distillation labels: keep soft targets off 0 and 1.
LABEL_SMOOTHING = 0.01
# Share of the budget spent choosing the student on one split of the pipeline's plan (several
# candidates there, one fit on every row after).
VALIDATION_SHARE = 0.6
# LightGBM students tried on the validation split, in this order while time lasts (the first
# is LightGBM's defaults); each early-stopped on how closely it follows the teacher on the
# held-out rows.
CANDIDATES = (
    {"num_leaves": 31, "learning_rate": 0.1, "min_data_in_leaf": 20},
    {"num_leaves": 127, "learning_rate": 0.2, "min_data_in_leaf": 10},
    {"num_leaves": 63, "learning_rate": 0.1, "min_data_in_leaf": 10},
    {"num_leaves": 15, "learning_rate": 0.05, "min_data_in_leaf": 20},
)
MAX_ROUNDS = 2000
EARLY_STOPPING = 50
# Rounds of a student trained without a validation split (too few rows to hold any out).
DEFAULT_ROUNDS = 100


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


def _objective(task, target, n_classes):
    """LightGBM parameters, label and starting scores for learning ``target`` (soft probabilities
    or values)."""
    if task == "binary":
        return {"objective": "cross_entropy"}, target[:, 1], None
    if task == "regression":
        return {"objective": "regression"}, target, None
    # Start from the class priors, as LightGBM's own objectives do (a custom one starts at 0:
    # uniform over the classes, far from the answer with many classes and few rounds).
    init = np.log(np.clip(target.mean(axis=0), 1e-6, None))
    return {"objective": _soft_multiclass, "num_class": n_classes, "metric": "None"}, np.argmax(target, axis=1), init


def _soft_logloss(preds, data):
    p = _softmax(preds)
    return "soft_logloss", float(-(data.get_label_soft * np.log(np.clip(p, 1e-15, 1))).sum(1).mean()), False


def _dataset(F, label, init, soft, categorical, reference=None):
    data = lgb.Dataset(F, label, init_score=None if init is None else np.tile(init, (len(F), 1)),
                       categorical_feature=categorical, reference=reference, free_raw_data=False)
    if soft is not None:  # the custom multiclass objective reads the soft labels
        data.get_label_soft = soft
    return data


def _fit_lightgbm(F, target, task, n_classes, categorical, config, deadline, seed, n_threads, *, valid=None,
                  n_rounds=MAX_ROUNDS):
    """A LightGBM student of ``config`` learning ``target`` on ``F``, stopped at ``deadline``.

    With ``valid=(F_valid, target_valid)`` (held-out rows and the teacher's predictions for
    them), boosting stops early on the objective's loss against those predictions; otherwise
    it runs ``n_rounds``. Returns the student and its rounds."""
    objective, label, init = _objective(task, target, n_classes)
    params = {**config, **objective, "feature_fraction": 0.9, "verbosity": -1, "seed": seed,
              "num_threads": n_threads, "deterministic": True, "force_col_wise": True}
    multiclass = task == "multiclass"
    dtrain = _dataset(F, label, init, target if multiclass else None, categorical)
    valid_sets, callbacks = [], []
    if valid is not None:
        F_va, target_va = valid
        _, label_va, _ = _objective(task, target_va, n_classes)
        valid_sets = [_dataset(F_va, label_va, init, target_va if multiclass else None, categorical, reference=dtrain)]
        callbacks.append(lgb.early_stopping(EARLY_STOPPING, first_metric_only=True, verbose=False))

    def stop_at_deadline(env):
        if time.perf_counter() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    booster = lgb.train(params, dtrain, num_boost_round=n_rounds, valid_sets=valid_sets,
                        feval=_soft_logloss if multiclass and valid_sets else None,
                        callbacks=callbacks + [stop_at_deadline])
    rounds = booster.best_iteration if valid is not None and booster.best_iteration > 0 else booster.current_iteration()
    if rounds < booster.current_iteration():
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))
    booster.free_dataset()
    model = SoftmaxBooster(booster, init) if multiclass else booster
    return MemberOutput(model, "booster", task, n_classes), int(rounds)


def _model_seconds(model, F) -> float:
    """CPU seconds ``model`` takes to predict ``F`` (CPU time: neighbours on a shared machine
    would otherwise decide the cut): the median of three calls, or one call when it is slow
    (a large ensemble takes seconds)."""
    runs = []
    for _ in range(3):
        t = time.process_time()
        model.predict(F)
        runs.append(time.process_time() - t)
        if runs[0] > 0.1:
            break
    return float(np.median(runs))


def _truncate(member, keep):
    """``member`` with only its first ``keep`` boosting rounds."""
    model = member.model
    booster = getattr(model, "booster", model)
    short = lgb.Booster(model_str=booster.model_to_string(num_iteration=keep))
    model = SoftmaxBooster(short, model.init) if isinstance(model, SoftmaxBooster) else short
    return MemberOutput(model, member.kind, member.task, member.n_classes)




def _within_cost(member, rounds, F, budget):
    """The most rounds (up to ``rounds``) of ``member`` that predict ``F`` in ``budget`` CPU
    seconds (prediction time is linear in the rounds), and the member cut to them."""
    if not np.isfinite(budget) or rounds <= 1:
        return rounds, member
    spent = _model_seconds(member.model, F)
    if spent <= budget:
        return rounds, member
    keep = max(1, int(rounds * budget / spent))
    return keep, _truncate(member, keep)


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


def _stored_oof(pipeline, y_codes):
    """The fit's out-of-fold predictions in the teacher's format (``(n, n_classes)``
    probabilities or ``(n,)`` values, NaN where there are none), or None when the pipeline kept
    none or ``y`` is not the target it was fitted on (other rows)."""
    oof = getattr(pipeline, "oof_predictions_", None)
    if oof is None or getattr(pipeline, "_fit_rows_key", None) != rows_key(y_codes):
        return None
    oof = np.asarray(oof, dtype=np.float64)
    if pipeline.task_ == "multiclass":  # stored in float32: sums off 1 by its rounding
        return oof / oof.sum(axis=1, keepdims=True)
    return np.column_stack([1.0 - oof, oof]) if pipeline.task_ == "binary" else oof


def _soft_targets(pipeline, df, oof, smooth=LABEL_SMOOTHING):
    """The student's targets for the real rows ``df``: the ensemble's out-of-fold predictions
    where the fit kept them, else (other rows, a holdout plan's training rows) the refitted
    ensemble's own; returns the targets and how many rows are out of fold.

    Out of fold is what the ensemble predicts for rows it has not seen; refitted on every row it
    predicts its training rows near their labels, which teaches the student the labels (noise
    included) rather than the ensemble's function."""
    if oof is None:
        return _teacher(pipeline, df, smooth), 0
    have = np.isfinite(oof).all(axis=1) if oof.ndim == 2 else np.isfinite(oof)
    target = (1.0 - smooth) * oof + smooth / oof.shape[1] if oof.ndim == 2 else oof.copy()
    if not have.all():  # the ensemble predicts only the rows it has no out-of-fold prediction for
        target[~have] = _teacher(pipeline, df.filter(pl.Series(~have)), smooth)
    return target, int(have.sum())


def _teacher_seconds_per_row(pipeline, df) -> float:
    """Wall seconds the ensemble takes per row (transform included), on up to 256 rows."""
    rows = df[: min(df.height, 256)]
    t = time.perf_counter()
    _teacher(pipeline, rows)
    return (time.perf_counter() - t) / max(rows.height, 1)


def _distillation_rows(pipeline, df, oof, rng, label_seconds=np.inf, per_row=0.0):
    """``df`` and synthetic rows near it, as the feature matrix, with their soft targets.

    The synthetic rows are as many as the teacher labels in ``label_seconds`` at ``per_row``
    seconds a row, up to ``AUGMENT_FACTOR`` per real row: a large ensemble (a thousand rounds of
    32 classes) labels a few hundred rows a second, and labelling must not eat the budget."""
    n = df.height
    affordable = label_seconds / per_row if per_row > 0 else np.inf
    # A power-of-two fraction of AUGMENT_FACTOR rows per real row: timing noise should not
    # change the rows (and so the student) from one run with the same random_state to the next.
    factor = float(AUGMENT_FACTOR)
    while factor * n > affordable and factor > 1 / 64:
        factor /= 2
    n_aug = int(min(MAX_AUGMENTED, factor * n, affordable))
    synthetic = spunge(df, n_aug, rng)
    real_target, n_oof = _soft_targets(pipeline, df, oof)
    F = np.vstack([pipeline.transform(df), pipeline.transform(synthetic)])
    target = np.concatenate([real_target, _teacher(pipeline, synthetic, LABEL_SMOOTHING)])
    return F, target, n_aug, n_oof


def _score(metric, task, y_codes, pred, n_classes):
    if task == "regression":
        return metric.natural(metric.score_predictions(y_codes, pred))
    return metric.natural(metric.score_predictions(y_codes, pred, classes=np.arange(n_classes)))


def _fidelity(task, target, pred):
    """How far the student's predictions are from the teacher's: cross-entropy against its
    probabilities, or mean squared difference from its values (lower is closer)."""
    if task == "regression":
        return float(np.mean((pred - target) ** 2))
    return float(-(target * np.log(np.clip(pred, 1e-15, 1.0))).sum(axis=1).mean())


def _choose_lightgbm(F, target, F_va, target_va, task, n_classes, categorical, cost_budget, n_time, deadline, seed,
                     n_threads):
    """Train each of ``CANDIDATES`` on the validation split's training rows, early-stopped on
    how closely it follows the teacher on the held-out rows, until ``deadline``; each is cut to
    the rounds that predict the first ``n_time`` rows of ``F`` in ``cost_budget``
    seconds. Returns one record per candidate tried (config, rounds, fidelity, member), the
    closest first.

    Closeness to the teacher, not the labels, decides: the ensemble was refitted on the
    held-out rows too, so a student that learns its predictions there learns those rows'
    labels, and the labels would reward exactly that leak (more rounds, more memorising). The
    teacher's out-of-fold predictions on those rows, where kept, carry no such leak."""
    tried = []
    F_time = F[:n_time]
    for config in CANDIDATES:
        if tried and time.perf_counter() > deadline:
            break
        member, rounds = _fit_lightgbm(F, target, task, n_classes, categorical, config, deadline, seed, n_threads,
                                       valid=(F_va, target_va))
        kept, member = _within_cost(member, rounds, F_time, cost_budget)
        tried.append({"config": dict(config), "rounds": kept, "rounds_early_stopping": rounds,
                      "stopped_by_time": time.perf_counter() > deadline,
                      "fidelity": _fidelity(task, target_va, member.output(F_va)), "member": member})
    return sorted(tried, key=lambda r: r["fidelity"])


def distill(pipeline, X, y, *, student="lightgbm", time_budget=60.0, max_predict_cost=MAX_PREDICT_RATIO, groups=None,
            random_state=None):
    """The body of :meth:`featsmith.AutoPipeline.distill` (see there)."""
    check_is_fitted(pipeline, "model_")
    if student not in STUDENTS:
        raise ValueError(f"student={student!r} must be one of {list(STUDENTS)}.")
    if max_predict_cost is not None and (isinstance(max_predict_cost, bool) or not isinstance(
            max_predict_cost, (int, float)) or not max_predict_cost > 0):
        raise ValueError(f"max_predict_cost={max_predict_cost!r} must be a positive share of the ensemble's "
                         "predict time (1/3: a third) or None for no limit.")
    cost_share = np.inf if max_predict_cost is None else float(max_predict_cost)
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
    categorical = list(pipeline.encoder_.categorical_features_)
    seed = int(rng.integers(2**31 - 1))
    oof = _stored_oof(pipeline, y_codes)
    per_row = _teacher_seconds_per_row(pipeline, df)
    n_time = int(np.clip(_TIMING_SECONDS / per_row if per_row > 0 else np.inf, *_TIMING_ROWS))
    measured = {}

    def teacher_cost(F):
        """CPU seconds of the ensemble's model on ``len(F)`` rows, measured once (it may be slow)."""
        if not np.isfinite(cost_share):
            return np.inf
        if "per_row" not in measured:
            measured["per_row"] = _model_seconds(pipeline.model_, F) / max(len(F), 1)
        return measured["per_row"] * len(F)
    validation, config, rounds, n_train, tried = None, CANDIDATES[0], None, df.height, None
    split, how = validation_split(pipeline, df, y_codes, groups, int(rng.integers(2**31 - 1)))
    if split is not None:
        tr, va = split
        # The final phase labels every real row the fit has no out-of-fold prediction for, and
        # its synthetic rows, before it trains: with a slow teacher (a holdout plan's 32-class
        # booster: 4 ms a row) that took most of its share, and the final student got 1 round.
        # The choice ends early enough to leave the final student at least a quarter of the time.
        n_unlabelled = df.height if oof is None else int((~np.isfinite(oof.reshape(df.height, -1)).all(axis=1)).sum())
        final_labels = per_row * n_unlabelled + LABEL_SHARE * (1 - VALIDATION_SHARE) * time_budget
        deadline = start + min(VALIDATION_SHARE, 0.75 - final_labels / time_budget) * time_budget
        F, target, _, _ = _distillation_rows(pipeline, df[tr], None if oof is None else oof[tr], rng,
                                             LABEL_SHARE * VALIDATION_SHARE * time_budget, per_row)
        F_va = pipeline.transform(df[va])
        cost_budget = cost_share * teacher_cost(F[:n_time])
        # The teacher on the held-out rows: out of fold where the fit kept it.
        teacher, n_oof_va = _soft_targets(pipeline, df[va], None if oof is None else oof[va], smooth=0.0)
        if student == "lightgbm":
            tried = _choose_lightgbm(F, target, F_va, teacher, task, n_classes, categorical, cost_budget, n_time,
                                     deadline, seed, n_threads)
            config, rounds, n_train, member = tried[0]["config"], tried[0]["rounds"], len(tr), tried[0]["member"]
            tried = [{k: v for k, v in r.items() if k != "member"} for r in tried]
        else:
            member = _fit_nas_head(F, target, len(tr), y_codes[tr], task, n_classes, categorical, deadline, seed,
                                   n_threads)
        pred = member.output(F_va)
        validation = {
            "split": how, "n_train": int(len(tr)), "n_valid": int(len(va)),
            "student_score": _score(metric, task, y_codes[va], pred, n_classes),
            "teacher_score": _score(metric, task, y_codes[va], teacher, n_classes),
            "teacher_out_of_fold": n_oof_va == len(va), "fidelity": _fidelity(task, teacher, pred), "candidates": tried,
        }
    F, target, n_aug, n_oof = _distillation_rows(pipeline, df, oof, rng,
                                                 LABEL_SHARE * (1 - VALIDATION_SHARE) * time_budget, per_row)
    deadline = start + time_budget
    info = {}
    if student == "nas_head":
        member = _fit_nas_head(F, target, df.height, y_codes, task, n_classes, categorical, deadline, seed, n_threads)
    else:
        # The rounds early stopping chose, scaled to the rows (as the pipeline's own refit does).
        n_rounds = DEFAULT_ROUNDS if rounds is None else int(np.ceil(max(rounds, 1) * df.height / n_train))
        if tried and tried[0]["stopped_by_time"]:
            # The clock, not early stopping, ended the chosen candidate (many classes, slow
            # teacher): its rounds say nothing; train until the deadline, then cut to the limit.
            n_rounds = MAX_ROUNDS
        member, done = _fit_lightgbm(F, target, task, n_classes, categorical, config, deadline, seed, n_threads,
                                     n_rounds=n_rounds)
        # Still cut to the cost limit: the rounds scaled up with the rows may exceed it.
        F_time = F[: min(df.height, n_time)]
        kept, member = _within_cost(member, done, F_time, cost_share * teacher_cost(F_time))
        info = {"config": dict(config), "rounds": kept, "rounds_cut_for_speed": kept < done}
    out = copy.copy(pipeline)
    out.model_ = WeightedModel([(1.0, member)], task)
    out.ensemble_ = pd.DataFrame([{"trial": None, "model": f"{student} student", "weight": 1.0,
                                   "refit": "distilled"}])
    # The student does not need the teacher's out-of-fold predictions (and is meant to be small).
    out.oof_predictions_ = None
    if validation is not None:
        out.best_score_ = float(validation["student_score"])
    out.distillation_ = {
        "student": student, "teacher_members": int(len(pipeline.ensemble_)), "n_rows": int(df.height),
        "n_augmented": n_aug, "n_out_of_fold": n_oof, "max_predict_cost": max_predict_cost, **info,
        "metric": metric.name, "validation": validation, "seconds": time.perf_counter() - start,
    }
    logger.info("AutoPipeline.distill: %s student on %d + %d augmented rows (%d with out-of-fold targets) "
                "in %.1fs%s",
                student, df.height, n_aug, n_oof, out.distillation_["seconds"],
                "" if validation is None else f"; {metric.name} on {how}: student {validation['student_score']:.5g}"
                f", teacher {validation['teacher_score']:.5g}")
    return out
