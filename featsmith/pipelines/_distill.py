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

The student learns from the columns the teacher reads (its predictions are a function of those
alone), and predicts computing only the columns it splits on: its encoder and feature plan are
the pipeline's restricted to them, its trees renumbered to read them. Its predict cost is
counted whole (input conversion, encoding, features, model) against the ensemble's, on the
caller's kind of input: what a user deploying it pays. The cost is modelled, not timed (see
``featsmith/pipelines/_predict_cost.py``): a function of the fitted objects, so that the same
``random_state`` gives the same student on every run.
"""

from __future__ import annotations

import copy
import logging
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from sklearn.utils.validation import check_is_fitted

from featsmith._threads import fit_threads
from featsmith._validation import check_frame, check_target, extract_target
from featsmith.pipelines._lightgbm_text import tree_fields
from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._predict_cost import (cost_of, ensemble_counts, feature_counts, lightgbm_round_costs,
                                               predict_cost)
from featsmith.pipelines._stages.refit import rows_key
from featsmith.pipelines._stages.validation import make_splits, time_ordered_splits
from featsmith.pipelines._trials import MemberOutput, WeightedModel

logger = logging.getLogger("featsmith")

STUDENTS = ("lightgbm", "nas_head")
# Synthetic rows per training row, and their cap (AutoGluon's defaults are 5x and 100k).
AUGMENT_FACTOR = 4
MAX_AUGMENTED = 100_000
# At most this share of the time goes to the teacher labelling synthetic rows.
LABEL_SHARE = 0.25
FRAC_PERTURB = 0.1
NUMERIC_NOISE = 0.1
# The student's predict (its features and its model) may cost at most this share of the
# ensemble's (its features and its models), by the predict cost model: candidates are compared
# at the rounds that fit in it. A tree's predict cost grows with its depth (about the log of its
# leaves), so fewer, larger trees may fit more in it: hence a large-leaf, fast-learning candidate.
MAX_PREDICT_RATIO = 1 / 3
# Rows of X the student restricted to the columns it reads is checked on (it must predict as
# it does on all of them).
_CHECK_ROWS = 2000
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
# The highest learning rate a candidate cut by the cost limit is retrained at (in its kept rounds).
MAX_CUT_RATE = 0.5
# A final student cut to fewer than this share of its rounds is logged as a warning.
CUT_WARNING = 0.1
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
              "num_threads": fit_threads(n_threads, *F.shape), "deterministic": True, "force_col_wise": True}
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


def _booster(model):
    return getattr(model, "booster", model)


def _truncate(member, keep):
    """``member`` with only its first ``keep`` boosting rounds."""
    model = member.model
    short = lgb.Booster(model_str=_booster(model).model_to_string(num_iteration=keep))
    model = SoftmaxBooster(short, model.init) if isinstance(model, SoftmaxBooster) else short
    return MemberOutput(model, member.kind, member.task, member.n_classes, member.columns)


def _first_rounds(booster) -> np.ndarray:
    """For each of ``booster``'s columns, the first boosting round whose trees split on it
    (``np.iinfo(np.int64).max`` for a column no tree splits on)."""
    per_round = booster.num_model_per_iteration()
    first = np.full(booster.num_feature(), np.iinfo(np.int64).max)
    for tree, fields in enumerate(tree_fields(booster, ("split_feature",))):
        split = np.asarray(fields.get("split_feature", "").split(), dtype=np.int64)
        np.minimum.at(first, split, tree // per_round)
    return first


def _narrow(model, keep):
    """``model`` (a LightGBM booster or :class:`SoftmaxBooster`) as the same trees reading only
    its columns ``keep`` (sorted, every column a tree splits on), in that order.

    The trees' split columns are renumbered in LightGBM's text format; the thresholds,
    categories and leaves are untouched, so predictions on those columns are the ones the
    model gives on all of them (a tree never reads a column it does not split on)."""
    booster = _booster(model)
    position = np.full(booster.num_feature(), -1, dtype=np.int64)
    position[keep] = np.arange(len(keep))
    lines = []
    for line in booster.model_to_string().split("\n"):
        key, _, value = line.partition("=")
        if key == "max_feature_idx":
            line = f"max_feature_idx={len(keep) - 1}"
        elif key in ("feature_names", "feature_infos"):
            values = value.split(" ")
            line = f"{key}=" + " ".join(values[i] for i in keep)
        elif key == "tree_sizes":
            continue  # byte sizes of the trees, which renumbering changes; LightGBM reads trees without them
        elif key == "split_feature" and value:
            split = position[np.asarray(value.split(), dtype=np.int64)]
            if (split < 0).any():
                raise ValueError("keep must hold every column the model splits on.")
            line = f"{key}=" + " ".join(map(str, split))
        elif line.startswith("[categorical_feature: ") and line.endswith("]"):
            # The training parameter, kept consistent for anyone who continues training.
            cats = [int(c) for c in line[len("[categorical_feature: "):-1].split(",") if c]
            line = "[categorical_feature: " + ",".join(str(position[c]) for c in cats if position[c] >= 0) + "]"
        lines.append(line)
    narrow = lgb.Booster(model_str="\n".join(lines))
    return SoftmaxBooster(narrow, model.init) if isinstance(model, SoftmaxBooster) else narrow


def _teacher_columns(pipeline, width) -> np.ndarray:
    """The columns of the pipeline's matrix (``width`` wide) its ensemble reads: those its
    LightGBM members split on, and every column of its other members (a linear model or a
    neural head reads all of its columns). The ensemble's predictions are a function of these
    alone, so a student learning them has nothing to learn from the others."""
    read = np.zeros(width, dtype=bool)
    for _, member in pipeline.model_.members:
        columns = np.arange(width) if member.columns is None else np.asarray(member.columns)
        if member.kind == "booster" and hasattr(member.model, "feature_importance"):
            columns = columns[np.asarray(member.model.feature_importance("split")) > 0]
        read[columns] = True
    return np.flatnonzero(read) if read.any() else np.arange(width)


def _n_raw(pipeline) -> int:
    """How many of the pipeline's matrix columns are encoded raw columns (the first ones)."""
    return len(pipeline.get_feature_names_out()) - len(pipeline.feature_plan_ or [])


def _reading(pipeline, used):
    """A copy of ``pipeline`` whose matrix holds only the columns ``used`` (sorted columns of
    the pipeline's matrix), in their order: its encoder outputs only the encoded raw columns
    among them (:meth:`TableEncoder.subset`), its plan only the generated features among them
    (:meth:`FeaturePlan.subset`), each as the pipeline computes it. Its ``model_`` is the
    pipeline's, to be replaced."""
    names = list(pipeline.get_feature_names_out())
    n_raw = _n_raw(pipeline)
    raw = [names[c] for c in used if c < n_raw]
    generated = [names[c] for c in used if c >= n_raw]
    out = copy.copy(pipeline)
    if len(raw) < n_raw:
        out.encoder_ = pipeline.encoder_.subset(raw)
    out.feature_plan_ = pipeline.feature_plan_.subset(generated) if generated else None
    out._feature_names = raw + generated
    return out


def student_pipeline(pipeline, member, columns, narrow=True):
    """A copy of ``pipeline`` predicting with ``member`` alone, which was trained on
    ``columns`` of the pipeline's matrix, and computing only the columns it reads.

    A LightGBM student reads the columns it splits on (with ``narrow``: its trees are
    renumbered to them, see :func:`_narrow`), another student all of ``columns``; the copy's
    matrix is those columns (see :func:`_reading`)."""
    columns = np.asarray(columns)
    model = member.model
    if member.kind == "booster" and narrow:
        split = np.flatnonzero(_booster(model).feature_importance("split") > 0)
        keep = split if len(split) else np.arange(1)  # a student of no split still reads a column
        model, columns = _narrow(model, keep), columns[keep]
    out = _reading(pipeline, columns)
    out.model_ = WeightedModel([(1.0, MemberOutput(model, member.kind, member.task, member.n_classes))],
                               pipeline.task_)
    return out


class _CostLimit:
    """``max_predict_cost`` of a LightGBM student: its predict (its features and its model) in
    at most ``share`` of the ensemble's, both by the predict cost model
    (``featsmith/pipelines/_predict_cost.py``: counts of the work each does, from the fitted
    objects, times unit costs measured once), so that the rounds kept are the same on every run.
    ``columns`` are the student's training columns (of the pipeline's matrix).

    Where even the student's features with one round exceed that (the input checks and the
    encoding of the raw columns, which every student needs, take more), no student meets it,
    and its model is held to ``share`` of the ensemble's model cost instead."""

    def __init__(self, pipeline, share, columns):
        self.pipeline, self.share, self.columns = pipeline, share, np.asarray(columns)
        self._features = {}
        if np.isfinite(share):
            self.teacher_features = cost_of(feature_counts(pipeline))
            self.teacher_model = cost_of(ensemble_counts(pipeline.model_))

    def features_cost(self, used):
        """The modelled cost of the features of a student reading ``used`` (columns of the
        pipeline's matrix), once per set of columns."""
        key = tuple(int(c) for c in used) or (0,)  # a student of no split still reads a column
        if key not in self._features:
            self._features[key] = cost_of(feature_counts(_reading(self.pipeline, key)))
        return self._features[key]

    def model_costs(self, member, rounds):
        """The modelled cost of ``member``'s first ``r`` rounds, for ``r`` = 1 to ``rounds``,
        each reading only the columns its rounds split on (as the student will)."""
        booster = _booster(member.model)
        first = np.sort(_first_rounds(booster))
        n_read = np.searchsorted(first, np.arange(1, rounds + 1))  # the columns split on before round r
        return lightgbm_round_costs(booster, rounds, np.maximum(n_read, 1))

    def cut(self, member, rounds):
        """The most rounds (up to ``rounds``) of ``member`` within the limit, the member cut to
        them, and the student's modelled share of the ensemble's predict cost (NaN with no
        limit); its features are those the kept rounds split on."""
        if not np.isfinite(self.share):
            return rounds, member, float("nan")
        first = _first_rounds(_booster(member.model))
        model = self.model_costs(member, rounds)

        def cost(r):
            return self.features_cost(self.columns[first < r]) + model[r - 1]

        teacher = self.teacher_features + self.teacher_model
        budget = self.share * teacher
        if cost(rounds) <= budget:
            keep = rounds
        elif cost(1) > budget:  # not within reach: the model part alone held to the share
            keep = max(1, int(np.searchsorted(model, self.share * self.teacher_model, side="right")))
        else:  # the most rounds within the budget (cost grows with the rounds)
            lo, hi = 1, rounds
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if cost(mid) <= budget else (lo, mid - 1)
            keep = lo
        return keep, (member if keep == rounds else _truncate(member, keep)), cost(keep) / teacher


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


def _teacher(pipeline, df):
    """The ensemble's predictions: probabilities or values, as they are.

    Not smoothed towards the uniform distribution (AutoGluon mixes in 1%; so did this module):
    where the teacher is unsure its predictions are soft already, and on the dev tasks the
    smoothing made the students worse (2026-12-06, one 60 s fit per task, 30 s students):
    leaf_species' (32 classes) test log loss 0.330 -> 0.295 with the default cost limit and
    0.325 -> 0.255 without; credit_data's student kept 91% of the ensemble's gain over
    LightGBM's defaults instead of 80%, caravan_insurance's 72% instead of 71%. Its one-hot
    labels learnt through the student's objective (100 rounds): 0.2015 unsmoothed (LightGBM's
    own multiclass objective 0.2037), 0.233 at 0.1%, 0.302 at 1%. (On a synthetic 6-class task
    where 100 rounds overfit, smoothing one-hot labels helped instead: it regularises.)"""
    if pipeline.task_ == "regression":
        return np.asarray(pipeline.predict(df), dtype=np.float64)
    return np.asarray(pipeline.predict_proba(df), dtype=np.float64)


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


def _soft_targets(pipeline, df, oof):
    """The student's targets for the real rows ``df``: the ensemble's out-of-fold predictions
    where the fit kept them, else (other rows, a holdout plan's training rows) the refitted
    ensemble's own; returns the targets and which rows are out of fold.

    Out of fold is what the ensemble predicts for rows it has not seen; refitted on every row it
    predicts its training rows near their labels, which teaches the student the labels (noise
    included) rather than the ensemble's function."""
    if oof is None:
        return _teacher(pipeline, df), np.zeros(df.height, dtype=bool)
    have = np.isfinite(oof).all(axis=1) if oof.ndim == 2 else np.isfinite(oof)
    target = oof.copy()
    if not have.all():  # the ensemble predicts only the rows it has no out-of-fold prediction for
        target[~have] = _teacher(pipeline, df.filter(pl.Series(~have)))
    return target, have


def _head(X, df, n):
    """The first ``n`` rows as the caller passes them (a pandas, polars or pyarrow table or a
    numpy array; else ``df``'s, the checked frame): the student is checked on the caller's kind
    of input."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[:n]
    if isinstance(X, (pl.DataFrame, np.ndarray)):
        return X[:n]
    if isinstance(X, pa.Table):
        return X.slice(0, n)
    return df[:n]


def _teacher_seconds_per_row(pipeline) -> float:
    """Seconds the ensemble takes per row (transform included), as the predict cost model puts
    it (its unit costs are nanoseconds of the machine they were measured on): a model rather
    than a timing, so that the synthetic rows it sizes are the same on every run."""
    return 1e-9 * predict_cost(pipeline)


def _synthetic_rows(pipeline, df, rng, label_seconds=np.inf, per_row=0.0, columns=None):
    """Synthetic rows near ``df``'s as the feature matrix (its ``columns``; all when None), with
    the teacher's predictions for them and the row of ``df`` each was made from.

    They are as many as the teacher labels in ``label_seconds`` at ``per_row`` seconds a row,
    up to ``AUGMENT_FACTOR`` per real row: a large ensemble (a thousand rounds of 32 classes)
    labels a few hundred rows a second, and labelling must not eat the budget. Fewer than the
    real rows are made from rows drawn in a random order (not the first rows: on time-ordered
    data those are the oldest)."""
    n = df.height
    affordable = label_seconds / per_row if per_row > 0 else np.inf
    # A power-of-two fraction of AUGMENT_FACTOR rows per real row: timing noise should not
    # change the rows (and so the student) from one run with the same random_state to the next.
    factor = float(AUGMENT_FACTOR)
    while factor * n > affordable and factor > 1 / 64:
        factor /= 2
    n_aug = int(min(MAX_AUGMENTED, factor * n, affordable))
    order = rng.permutation(n)
    if n_aug == 0:  # (a budget too short for one label) empty, in the shapes of one real row's
        F, target = pipeline._features(df[:1])[:0], _teacher(pipeline, df[:1])[:0]
        return (F if columns is None else F[:, columns]), target, order[:0]
    synthetic = spunge(df[order], n_aug, rng)  # row i copies df[order][i % n]
    F = pipeline._features(synthetic)
    if columns is not None:
        F = np.ascontiguousarray(F[:, columns])
    return F, _teacher(pipeline, synthetic), order[np.arange(n_aug) % n]


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


def _choose_lightgbm(F, target, F_va, target_va, task, n_classes, categorical, limit, deadline, seed, n_threads):
    """Train each of ``CANDIDATES`` on the validation split's training rows, early-stopped on
    how closely it follows the teacher on the held-out rows, until ``deadline``; each is cut to
    the rounds within the cost ``limit`` (a :class:`_CostLimit`). Returns one record per
    candidate tried (config, rounds, fidelity, member), the closest first.

    Closeness to the teacher, not the labels, decides: the ensemble was refitted on the
    held-out rows too, so a student that learns its predictions there learns those rows'
    labels, and the labels would reward exactly that leak (more rounds, more memorising). The
    teacher's out-of-fold predictions on those rows, where kept, carry no such leak."""
    tried = []

    def fit(config, n_rounds=MAX_ROUNDS):
        member, rounds = _fit_lightgbm(F, target, task, n_classes, categorical, config, deadline, seed, n_threads,
                                       valid=(F_va, target_va), n_rounds=n_rounds)
        kept, member, cost = limit.cut(member, rounds)
        return {"config": dict(config), "rounds": kept, "rounds_early_stopping": rounds,
                "stopped_by_time": time.perf_counter() > deadline, "predict_cost": cost,
                "fidelity": _fidelity(task, target_va, member.output(F_va)), "member": member}

    for config in CANDIDATES:
        if tried and time.perf_counter() > deadline:
            break
        record = fit(config)
        if record["rounds"] < record["rounds_early_stopping"] and time.perf_counter() < deadline:
            # The limit cut the rounds: the first rounds of a slow learner stop short of what it
            # learnt. Boosted for the kept rounds at a rate raised in proportion (rounds times
            # rate about constant, as the pipeline's refit does), it may learn more in them.
            rate = config["learning_rate"] * record["rounds_early_stopping"] / max(record["rounds"], 1)
            faster = fit({**config, "learning_rate": float(min(MAX_CUT_RATE, rate))}, n_rounds=record["rounds"])
            if faster["fidelity"] < record["fidelity"]:
                record = faster
        tried.append(record)
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
                         "modelled predict cost (1/3: a third) or None for no limit.")
    cost_share = np.inf if max_predict_cost is None else float(max_predict_cost)
    if isinstance(time_budget, bool) or not isinstance(time_budget, (int, float)) or not time_budget > 0:
        raise ValueError(f"time_budget={time_budget!r} must be a positive number of seconds.")
    start = time.perf_counter()
    df = check_frame(X, estimator_name="AutoPipeline.distill")
    given = X
    if isinstance(y, str):
        df, y = extract_target(df, y)
        given = df
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
    per_row = _teacher_seconds_per_row(pipeline)
    # The student learns from the columns the ensemble reads (fewer features to compute, no
    # noise to fit).
    columns = _teacher_columns(pipeline, len(pipeline.get_feature_names_out()))
    categorical = set(categorical)
    categorical = [j for j, c in enumerate(columns) if c in categorical]
    limit = _CostLimit(pipeline, cost_share if student == "lightgbm" else np.inf, columns)
    validation, config, rounds, n_train, tried = None, CANDIDATES[0], None, df.height, None
    # The real rows' targets, once for both phases: the ensemble labels each row the fit has no
    # out-of-fold prediction for (a holdout plan's training rows: with leaf_species' 32-class
    # teacher, 4 ms a row, labelling them in each phase took a third of a 30 s budget).
    label_start = time.perf_counter()
    real_target, out_of_fold = _soft_targets(pipeline, df, oof)
    F_real = np.ascontiguousarray(pipeline._features(df)[:, columns])
    # The synthetic rows too, labelled once (the teacher's labels were half of leaf_species'
    # 30 s budget when each phase made its own): the choice learns from those made from its
    # training rows, the final student from all of them.
    F_syn, target_syn, source = _synthetic_rows(pipeline, df, rng, LABEL_SHARE * time_budget, per_row, columns)
    n_aug = len(target_syn)
    label_seconds = time.perf_counter() - label_start
    split, how = validation_split(pipeline, df, y_codes, groups, int(rng.integers(2**31 - 1)))
    if split is not None:
        tr, va = split
        deadline = start + VALIDATION_SHARE * time_budget
        from_tr = np.isin(source, tr)
        F = np.vstack([F_real[tr], F_syn[from_tr]])
        target = np.concatenate([real_target[tr], target_syn[from_tr]])
        F_va = F_real[va]
        # The teacher on the held-out rows: out of fold where the fit kept it.
        teacher, n_oof_va = real_target[va], int(out_of_fold[va].sum())
        if student == "lightgbm":
            tried = _choose_lightgbm(F, target, F_va, teacher, task, n_classes, categorical, limit, deadline, seed,
                                     n_threads)
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
    F, target = np.vstack([F_real, F_syn]), np.concatenate([real_target, target_syn])
    n_oof = int(out_of_fold.sum())
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
        stopped_by_time = done < n_rounds and time.perf_counter() > deadline
        # Still cut to the cost limit: the rounds scaled up with the rows may exceed it.
        kept, member, cost = limit.cut(member, done)
        info = {"config": dict(config), "rounds": kept, "rounds_trained": done, "rounds_cut_for_speed": kept < done,
                "stopped_by_time": stopped_by_time, "predict_cost": cost}
        if stopped_by_time:
            logger.warning("AutoPipeline.distill: time_budget=%.3g s ended the student after %d rounds, still "
                           "learning (the ensemble's labels and features took %.1f s of it); a larger time_budget "
                           "follows the ensemble more closely.", time_budget, done, label_seconds)
        if kept < CUT_WARNING * done:
            logger.warning("AutoPipeline.distill: max_predict_cost=%.2g cut the student to %d of its %d rounds (its "
                           "features alone take most of that share): it may follow the ensemble poorly; a larger "
                           "share, or None, keeps more.", cost_share, kept, done)
        if cost > cost_share:
            logger.info("AutoPipeline.distill: no student predicts in %.2g of the ensemble's modelled cost here (the "
                        "input checks and encoding every student needs exceed it; this one takes %.2g); its model is "
                        "held to %.2g of the ensemble's model cost instead.", cost_share, cost, cost_share)
    out = student_pipeline(pipeline, member, columns)
    X_check = _head(given, df, min(df.height, _CHECK_ROWS))
    if student == "lightgbm" and not np.array_equal(out.model_.predict(out._features(X_check)),
                                                    member.output(pipeline._features(X_check)[:, columns])):
        # Renumbering the trees is checked, not assumed: should a LightGBM version's model
        # text defeat it, the student reads its training columns as trained.
        logger.warning("AutoPipeline.distill: the student restricted to the columns it splits on predicted "
                       "differently; it computes every feature it was trained on.")
        out = student_pipeline(pipeline, member, columns, narrow=False)
    info.update(n_columns=len(out.get_feature_names_out()), teacher_columns=len(pipeline.get_feature_names_out()),
                n_generated=len(out.feature_plan_ or []), teacher_generated=len(pipeline.feature_plan_ or []))
    out.ensemble_ = pd.DataFrame([{"trial": None, "model": f"{student} student", "weight": 1.0,
                                   "refit": "distilled"}])
    # The student does not need the teacher's out-of-fold predictions (and is meant to be small).
    out.oof_predictions_ = None
    if validation is not None:
        out.best_score_ = float(validation["student_score"])
    out.distillation_ = {
        "student": student, "teacher_members": int(len(pipeline.ensemble_)), "n_rows": int(df.height),
        "n_augmented": n_aug, "n_out_of_fold": n_oof, "label_seconds": label_seconds,
        "max_predict_cost": max_predict_cost, **info,
        "metric": metric.name, "validation": validation, "seconds": time.perf_counter() - start,
    }
    logger.info("AutoPipeline.distill: %s student on %d + %d augmented rows (%d with out-of-fold targets) "
                "in %.1fs%s",
                student, df.height, n_aug, n_oof, out.distillation_["seconds"],
                "" if validation is None else f"; {metric.name} on {how}: student {validation['student_score']:.5g}"
                f", teacher {validation['teacher_score']:.5g}")
    return out
