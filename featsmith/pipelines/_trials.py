"""What every model family shares: out-of-fold trials on fixed splits, their results, and the
weighted model the pipeline ships."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

logger = logging.getLogger("featsmith")


def row_log_loss(y, proba):
    """Each row's log loss: ``-log`` of the probability given to its class (clipped at 1e-15)."""
    return -np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0))


@dataclass(frozen=True, eq=False)
class TrialResult:
    """One validated configuration: its score, cost and (while the fit needs them) its fold
    models and out-of-fold predictions. Frozen: a stage that needs a changed copy makes one
    with :func:`dataclasses.replace`."""

    params: dict
    value: float  # scorer value, higher is better (-inf when the trial failed or diverged)
    n_rounds: int
    seconds: float
    status: str
    oof: np.ndarray | None = field(default=None, repr=False)
    models: list = field(default_factory=list, repr=False)
    family: str = "lightgbm"
    started: float = 0.0
    runner: object = field(default=None, repr=False)
    view: str = "raw"  # the feature view (column set) it was validated on
    # A fold stopped at the trial's deadline: ``n_rounds`` is where time ran out, not where
    # the validation rows stopped improving.
    stopped: bool = False


def usable(trial: TrialResult) -> bool:
    """Validated on every fold: comparable with the others and fit for the ensemble."""
    return np.isfinite(trial.value) and trial.status == "ok"


def best_trial(trials) -> TrialResult:
    """The best usable trial; the best truncated one when none is usable; else the first."""
    for ok in (usable, lambda tr: np.isfinite(tr.value) and tr.status == "truncated"):
        candidates = [tr for tr in trials if ok(tr)]
        if candidates:
            return max(candidates, key=lambda tr: tr.value)
    return trials[0]


def without_models(trial: TrialResult) -> TrialResult:
    """A copy of ``trial`` without its fold models and predictions (to free memory)."""
    return replace(trial, models=[], oof=None)


# Within float32, and small enough that scikit-learn's finiteness check (a float32 sum over
# X) does not overflow into inf - inf; trees use only the order of the values.
TREE_VALUE_LIMIT = 1e30


def clip_for_trees(X):
    """``X`` within :data:`TREE_VALUE_LIMIT`: what scikit-learn's and CatBoost's trees accept."""
    return np.clip(X, -TREE_VALUE_LIMIT, TREE_VALUE_LIMIT)


def booster_output(raw: np.ndarray, task: str) -> np.ndarray:
    """LightGBM's prediction as probabilities ``(n, n_classes)`` or values ``(n,)``."""
    if task == "binary":
        return np.column_stack([1.0 - raw, raw])
    return raw


def estimator_output(model, X, task: str, n_classes: int) -> np.ndarray:
    """A scikit-learn model's prediction as probabilities over all ``n_classes`` (columns in
    class-code order, zero for a class the model never saw) or values."""
    if task == "regression":
        return np.asarray(model.predict(X), dtype=np.float64)
    proba = model.predict_proba(X)
    out = np.zeros((len(proba), n_classes))
    out[:, np.asarray(model.classes_, dtype=int)] = proba
    return out


class ColumnSubset:
    """A fitted model that reads only ``columns`` of the matrix it is given: a fold model of a
    view whose features were chosen on that fold's training rows (see
    :class:`featsmith.pipelines._views.FeatureViews`). Everything else passes through."""

    def __init__(self, model, columns, width):
        self.model = model
        self.columns = np.asarray(columns, dtype=np.int64)
        self.width = width

    def predict(self, X, **kwargs):
        return self.model.predict(X[:, self.columns], **kwargs)

    def predict_proba(self, X):
        return self.model.predict_proba(X[:, self.columns])

    @property
    def feature_importance(self):
        """The model's importance over all ``width`` columns (an AttributeError, like the
        model's own, when it has none)."""
        own = self.model.feature_importance

        def importance(importance_type="gain"):
            full = np.zeros(self.width)
            full[self.columns] = own(importance_type)
            return full

        return importance

    def __getattr__(self, name):
        if name in ("model", "columns", "width") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.model, name)


class BoosterAverage:
    """The fold models of one LightGBM configuration, averaged: the fallback when a refit on
    all rows would not finish within the budget."""

    def __init__(self, boosters, n_iterations):
        self.boosters = boosters
        self.n_iterations = n_iterations

    def predict(self, X):
        preds = [b.predict(X, num_iteration=k) for b, k in zip(self.boosters, self.n_iterations)]
        return np.mean(preds, axis=0)

    def feature_importance(self, importance_type="gain"):
        return np.mean([b.feature_importance(importance_type) for b in self.boosters], axis=0)


class WeightedModel:
    """The final predictor: a weighted average of each member's probabilities (or values).

    ``members`` is a list of ``(weight, output)`` where ``output(X)`` gives probabilities
    ``(n, n_classes)`` or values ``(n,)``; see :class:`MemberOutput`.
    """

    def __init__(self, members, task):
        self.members = members
        self.task = task

    def predict(self, X):
        total = None
        for weight, member in self.members:
            pred = weight * member.output(X)
            total = pred if total is None else total + pred
        return total

    def feature_importance(self, importance_type="gain", n_features=None):
        """Gain importance averaged over the LightGBM members (weights renormalised), over the
        ``n_features`` columns of the matrix ``predict`` takes (members on a view of fewer
        columns count zero for the others)."""
        parts = [(w, m) for w, m in self.members if hasattr(m.model, "feature_importance")]
        if not parts:
            return None

        def importance(member):
            if isinstance(member, MemberOutput):
                return member.feature_importance(importance_type, n_features)
            return np.asarray(member.model.feature_importance(importance_type), dtype=float)

        total = sum(w for w, _ in parts)
        return sum(w / total * importance(m) for w, m in parts)


class MemberOutput:
    """A fitted model of any family, answering ``output(X)`` in the pipeline's format.

    ``kind`` is ``"booster"`` (LightGBM's raw ``predict``) or ``"estimator"`` (scikit-learn's
    ``predict_proba`` / ``predict``)."""

    def __init__(self, model, kind, task, n_classes, columns=None):
        self.model = model
        self.kind = kind
        self.task = task
        self.n_classes = n_classes
        # The columns of the final matrix this member reads (its feature view); None: all.
        self.columns = columns

    def output(self, X):
        if self.columns is not None:
            X = X[:, self.columns]
        if self.kind == "booster":
            return booster_output(self.model.predict(X), self.task)
        return estimator_output(self.model, X, self.task, self.n_classes)

    def feature_importance(self, importance_type="gain", n_features=None):
        """The model's importance per column of the final matrix (``n_features`` wide)."""
        own = np.asarray(self.model.feature_importance(importance_type), dtype=float)
        if self.columns is None or n_features is None:
            return own
        full = np.zeros(n_features)
        full[self.columns] = own
        return full

    def __setstate__(self, state):
        self.__dict__.update({"columns": None, **state})  # models saved before feature views


class FoldRunner:
    """Out-of-fold trials of one model family on fixed splits.

    Subclasses implement ``_fit_fold`` (fit on the training rows of one split and predict its
    validation rows, stopping at a wall-clock deadline) and ``refit`` (fit on every row).
    """

    family = "model"
    output_kind = "estimator"
    # The feature view (see :class:`featsmith.pipelines._views.FeatureViews`) ``X`` holds.
    view = "raw"

    def __init__(self, X, y, *, task, n_classes, metric, splits, n_threads, seed):
        self.X = X
        self.y = y
        # Columns of X each fold's model reads, and the refit's (None: all): a view whose
        # features are chosen on each fold's training rows, so its validation stays honest.
        self.fold_columns = None
        self.refit_columns = None
        self.task = task
        self.n_classes = n_classes
        self.metric = metric
        self.splits = splits
        self.n_threads = n_threads
        self.seed = seed
        self.valid_mask = np.zeros(len(y), dtype=bool)
        for _, va in splits:
            self.valid_mask[va] = True
        if task == "multiclass":
            prior = np.bincount(y, minlength=n_classes) / len(y)
            self.prior_log_loss = float(-np.mean(np.log(np.clip(prior[y], 1e-15, 1))))

    def _fit_fold(self, config, index, train_rows, valid_rows, deadline):
        """Return ``(model, validation predictions, rounds, deadline_hit)``."""
        raise NotImplementedError

    def fold_matrix(self, index, rows):
        """``X[rows]``, in the columns fold ``index``'s model reads."""
        if self.fold_columns is None:
            return self.X[rows]
        return self.X[np.ix_(rows, self.fold_columns[index])]

    def refit_matrix(self):
        """The rows a refit trains on, in the columns it reads."""
        return self.X if self.refit_columns is None else self.X[:, self.refit_columns]

    def with_columns(self, model, index=None):
        """``model`` (fitted on fold ``index``, or a refit when None) reading its own columns
        of :attr:`X`."""
        columns = self.refit_columns if index is None else (
            None if self.fold_columns is None else self.fold_columns[index])
        return model if columns is None or model is None else ColumnSubset(model, columns, self.X.shape[1])

    def refit(self, config, n_rounds, deadline):
        """Fit on every row; ``None`` when the deadline stopped it first."""
        raise NotImplementedError

    def fold_average(self, models):
        """A model averaging the fold models (used when a refit would overrun)."""
        raise NotImplementedError

    def restrict_folds(self, n_folds: int) -> None:
        """Keep only the first ``n_folds`` splits (validation on fewer rows, for budgets
        where k-fold is too slow)."""
        self.splits = self.splits[:n_folds]
        self.valid_mask[:] = False
        for _, va in self.splits:
            self.valid_mask[va] = True

    def run(self, config: dict, deadline: float, folds_budget: float | None = None) -> TrialResult:
        """Evaluate ``config`` out of fold, stopping at ``deadline`` (``time.perf_counter``).

        With ``folds_budget`` (seconds), no further fold starts once the folds done so far
        project the whole trial past it; the trial is then ``"truncated"`` after a whole fold.
        """
        start = time.perf_counter()
        n = len(self.y)
        oof = np.zeros(n) if self.task == "regression" else np.zeros((n, self.n_classes))
        rounds, models, scored = [], [], np.zeros(n, dtype=bool)
        status, stopped = "ok", False
        total_rows, done_rows = sum(len(tr) for tr, _ in self.splits), 0
        try:
            for index, (tr, va) in enumerate(self.splits):
                model, pred, n_rounds, hit = self._fit_fold(config, index, tr, va, deadline)
                stopped |= bool(hit)
                models.append(model)
                rounds.append(n_rounds)
                oof[va] = pred
                scored[va] = True
                now = time.perf_counter()
                # By training rows, not folds: forward-chaining folds grow with each period,
                # so the first (one period of six) projected a fifth of a trial's time.
                done_rows += len(tr)
                projected = (now - start) * total_rows / max(done_rows, 1)
                if hit or now > deadline or (folds_budget is not None and projected > folds_budget):
                    if index < len(self.splits) - 1:
                        status = "truncated"  # later folds never ran: the score covers fewer rows
                    break
        except (ValueError, ArithmeticError, MemoryError) as exc:
            logger.warning("%s trial %s failed: %s", self.family, config, exc)
            status = "failed"
        value = -np.inf
        if status != "failed" and scored.any():
            value, status = self.score_oof(oof, scored, status)
        return TrialResult(
            params=dict(config), value=float(value), n_rounds=int(np.mean(rounds)) if rounds else 0,
            seconds=time.perf_counter() - start, status=status, oof=oof, models=models,
            family=self.family, runner=self, view=self.view, stopped=stopped,
        )

    def score_oof(self, oof, rows, status="ok"):
        """Score out-of-fold predictions on ``rows`` (a mask); returns ``(value, status)``."""
        y_scored, pred_scored = self.y[rows], oof[rows]
        classes = None if self.task == "regression" else np.arange(self.n_classes)
        try:
            value = self.metric.score_predictions(y_scored, pred_scored, classes=classes)
        except ValueError as exc:  # e.g. a fold with one class for ROC AUC
            logger.debug("Scoring failed: %s", exc)
            return -np.inf, "failed"
        if self.task == "multiclass":
            # Guard against a multiclass blow-up (log loss above the class prior's).
            if float(np.mean(row_log_loss(y_scored, pred_scored))) > self.prior_log_loss:
                return -np.inf, "diverged"
        return (value, status) if np.isfinite(value) else (-np.inf, "failed")

    def member(self, model, columns=None):
        """``model`` as a member of the final model, reading ``columns`` of the matrix it is
        given (None: all)."""
        return MemberOutput(model, self.output_kind, self.task, self.n_classes, columns)

    def predict_cost(self, config: dict, n_rounds: int) -> float:
        """Estimated work to predict one row with the model ``config`` refits to, in tree-node
        visits (a LightGBM tree of 31 leaves is about 5). A deterministic estimate rather than
        a timing, so that the ensemble a cost limit allows is reproducible."""
        return 1.0

    def free(self):
        """Release cached data (the runner is not part of the fitted model)."""
