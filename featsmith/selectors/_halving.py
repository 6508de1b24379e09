"""HalvingScreen: keep the few candidate features that add held-out gain over a base model."""

from __future__ import annotations

import hashlib
import math
import numbers
import time

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from featsmith._types import ArrayCandidateSource, CandidateSource
from featsmith.selectors._booster import crossfit_gain
from featsmith.selectors._common import (
    TASK_OPTIONS,
    check_n_jobs,
    check_target,
    draw_seed,
    encode_target,
    lgb_params,
    logger,
    make_rng,
)
from featsmith.selectors._importance import fit_booster, raw_predict
from featsmith.selectors._losses import kind_of, prior_raw, recalibrate

# Rows used to find near-duplicates among the final survivors (rank correlation).
DEDUP_ROWS = 20_000
# Candidates with at most this many distinct values are compared as groupings of the rows.
MAX_GROUPS = 1024


class HalvingScreen(BaseEstimator):
    """Screen thousands of candidate features by the held-out gain each adds to a base model.

    The idea is OpenFE's (Zhang et al., 2023): a candidate is worth keeping if a booster
    trained on it alone, starting from the base model's predictions (LightGBM ``init_score``),
    lowers the loss on held-out rows (FeatureBoost), and most candidates can be discarded on a
    small sample of rows (successive featurewise halving). Here all candidates of a round are
    scored at once by a vectorised single-feature booster (quantile bins, Newton steps from the
    base scores' gradients, fitted on one half of the round's rows and scored on the other,
    then swapped); the better half survives and the next round uses twice the rows.

    1. The base scores come from ``init_score``, or from an out-of-fold LightGBM model on
       ``base`` (so no row is scored by a model that saw its target), or from the class priors /
       the mean when neither is given. They are then recalibrated (``recalibrate=True``): the
       loss-minimising ``a + b * score`` (an intercept per class for multiclass) replaces
       them. Out-of-fold boosted scores are rarely calibrated, and against miscalibrated
       scores any candidate, noise included, earns gain by correcting the bias in each of its
       bins.
    2. Round 0 scores every candidate on ``init_rows`` rows; exact duplicates (identical values
       on those rows) are dropped first, and so are copies of a ``base`` column (absolute
       Spearman correlation >= ``dedup_threshold`` on those rows: ``log1p(x)``, ``rank(x)``),
       which on wide tables would otherwise fill the finalists.
    3. Each round keeps the better half (never fewer than the ``2 * n_keep`` finalists) and
       doubles the rows, until the survivors fit and the rows reach all rows (or
       ``max_rows``).
    4. The test: a finalist passes if its held-out gain in the last round beats noise (above
       ``min_gain`` and ``z_threshold`` standard errors); ``z_threshold=0`` keeps any positive
       gain instead (OpenFE's rule).
    5. Passes that are near-duplicates of a better pass are dropped: absolute Spearman
       correlation >= ``dedup_threshold`` with it or with a ``base`` column, or a function of
       it with at most 1,024 distinct values (as two statistics grouped by one key are).
    6. The selection: the first ``n_keep`` of the remaining passes, best score first.

    Parameters
    ----------
    n_keep : int, default=50
        Number of candidates to select (fewer if fewer add gain).
    init_rows : int or None, default=None
        Rows in round 0. ``None`` picks it so that the last round uses all rows.
    min_gain : float, default=0.0
        Relative held-out loss reduction a selected candidate must exceed in the last round.
    z_threshold : float, default=2.0
        ... and it must exceed ``z_threshold`` standard errors (over held-out rows): the test
        that a candidate beats noise (about 2% of pure-noise candidates pass at 2.0). Set 0 to
        keep every finalist with positive gain, up to ``n_keep``, as OpenFE does: more of the
        weak features get in, and noise with them.
    dedup_threshold : float in (0, 1], default=0.99
        Absolute rank correlation at which two candidates count as near-duplicates.
    n_bins : int, default=16
        Quantile bins per candidate in the single-feature booster (plus one for missing).
    reg_lambda : float, default=1.0
        L2 regularisation of the per-bin Newton steps (in hessian units).
    n_newton_steps : int or None, default=None
        Newton steps per candidate; ``None``: 2 for binary targets, 1 otherwise (one step is
        exact for squared loss).
    max_rows : int or None, default=None
        Cap on the rows of the last round.
    cv : int, default=5
        Folds for the out-of-fold base model on ``base``.
    base_estimators : int, default=100
        Boosting rounds of the base model.
    task : {"auto", "classification", "binary", "multiclass", "regression"}, default="auto"
        ``"auto"`` infers it from ``y`` by the rule of :func:`featsmith.pipelines.infer_task`.
    random_state : int, numpy.random.Generator or None, default=None
    n_jobs : int, default=1
        LightGBM threads for the base model.
    recalibrate : bool, default=True
        Recalibrate the base scores before screening (step 1): two parameters (``K + 1`` for
        ``K`` classes) fitted on all rows. ``False`` scores candidates against the base
        scores as they are: if those are biased or over-confident, noise candidates gain by
        correcting them.

    Attributes
    ----------
    scores_ : pandas.DataFrame
        One row per candidate, sorted best first: ``name``; ``score``, the held-out relative
        loss reduction in the last round it took part in (NaN if it was dropped before round
        0 scored it); ``round``, that round (-1: none); ``n_rows``, the rows of that round;
        ``se``, the score's standard error; ``status``: ``selected``, ``no_gain`` (a finalist
        that failed the test of step 4), ``halved`` (dropped by a round), ``duplicate`` (an
        exact copy of an earlier candidate), ``near_duplicate`` (a copy of a ``base`` column
        or of a better pass), ``not_in_top`` (a pass beyond the first ``n_keep``).
    selected_names_ : list of str
        The selected candidates, best first.
    init_score_ : ndarray
        The base raw scores the candidates were scored against (out-of-fold when fitted,
        after recalibration); shape ``(n_rows,)``, or ``(n_rows, n_classes)`` for multiclass.
    base_seconds_ : float
        Seconds spent on the base scores (the out-of-fold model and the recalibration).
    rounds_ : list of dict
        Per round: ``round``, ``candidates``, ``rows`` and ``seconds``.
    n_candidates_ : int
        Number of candidates screened.
    task_ : str
        ``"regression"`` or ``"classification"``.
    classes_ : ndarray or None
        The class labels (classification).

    Examples
    --------
    >>> import numpy as np
    >>> from featsmith.selectors import HalvingScreen
    >>> rng = np.random.default_rng(0)
    >>> C = rng.normal(size=(4000, 200))
    >>> y = C[:, 7] + np.abs(C[:, 42]) + 0.5 * rng.normal(size=4000)
    >>> screen = HalvingScreen(n_keep=2, random_state=0).fit(C, y)
    >>> sorted(screen.selected_names_)
    ['f42', 'f7']
    >>> screen.scores_.set_index("name").loc[["f7", "f42", "f0"], "status"].tolist()
    ['selected', 'selected', 'halved']
    """

    _parameter_constraints = {
        "n_keep": [Interval(numbers.Integral, 1, None, closed="left")],
        "init_rows": [Interval(numbers.Integral, 100, None, closed="left"), None],
        "min_gain": [numbers.Real],
        "z_threshold": [Interval(numbers.Real, 0, None, closed="left")],
        "dedup_threshold": [Interval(numbers.Real, 0, 1, closed="right")],
        "n_bins": [Interval(numbers.Integral, 2, 255, closed="both")],
        "reg_lambda": [Interval(numbers.Real, 0, None, closed="left")],
        "n_newton_steps": [Interval(numbers.Integral, 1, 10, closed="both"), None],
        "max_rows": [Interval(numbers.Integral, 100, None, closed="left"), None],
        "cv": [Interval(numbers.Integral, 2, None, closed="left")],
        "base_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "task": [TASK_OPTIONS],
        "random_state": [None, numbers.Integral, np.random.Generator],
        "n_jobs": [numbers.Integral],
        "recalibrate": ["boolean"],
    }

    def __init__(
        self,
        n_keep=50,
        init_rows=None,
        min_gain=0.0,
        z_threshold=2.0,
        dedup_threshold=0.99,
        n_bins=16,
        reg_lambda=1.0,
        n_newton_steps=None,
        max_rows=None,
        cv=5,
        base_estimators=100,
        task="auto",
        random_state=None,
        n_jobs=1,
        recalibrate=True,
    ):
        self.n_keep = n_keep
        self.init_rows = init_rows
        self.min_gain = min_gain
        self.z_threshold = z_threshold
        self.dedup_threshold = dedup_threshold
        self.n_bins = n_bins
        self.reg_lambda = reg_lambda
        self.n_newton_steps = n_newton_steps
        self.max_rows = max_rows
        self.cv = cv
        self.base_estimators = base_estimators
        self.task = task
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.recalibrate = recalibrate

    # ------------------------------------------------------------------ fit
    def fit(self, candidates, y, base=None, init_score=None, categorical_features=None):
        """Screen the candidates.

        Parameters
        ----------
        candidates : CandidateSource, 2-D array or DataFrame
            The candidate features (a :class:`featsmith._types.CandidateSource` such as
            ``FeatureGenerator``'s, or a numeric table whose columns are the candidates).
        y : array-like of shape (n_rows,)
        base : 2-D array or DataFrame of shape (n_rows, n_base), optional
            Base features on the same rows; an out-of-fold LightGBM model on them gives the
            scores candidates must improve on (unless ``init_score`` is given too), and
            copies of them are not selected. Text / categorical columns of a DataFrame are
            used as LightGBM categoricals.
        init_score : array-like, optional
            Base raw scores given directly: predictions (regression), logits (binary) or
            per-class logits of shape ``(n_rows, n_classes)``. They must not come from a model
            fitted on these rows' targets, or every candidate will look useless. They are
            recalibrated like a base model's scores (``recalibrate``). With ``base``
            as well, these scores are used and no base model is fitted.
        categorical_features : list of int, optional
            Columns of an array ``base`` that hold integer category codes (LightGBM
            categoricals in the base model). A DataFrame ``base`` marks its own.

        Returns
        -------
        self
        """
        self._validate_params()
        n_jobs = check_n_jobs(self.n_jobs)
        source = as_candidate_source(candidates)
        n = source.n_rows
        y = check_target(y, n_rows=n)
        base_X, categorical = None, []
        rng = make_rng(self.random_state)
        self.task_, self.classes_, y_enc, n_classes = encode_target(y, self.task)
        kind = kind_of(self.task_, n_classes)
        t0 = time.perf_counter()
        if base is not None:
            base_X, categorical = _base_matrix(base, n, categorical_features)
        if init_score is not None:
            raw0 = _check_init_score(init_score, n, kind, n_classes)
        elif base is not None:
            raw0 = self._oof_base_scores(base_X, categorical, y_enc, n, n_classes, rng, n_jobs)
        else:
            raw0 = prior_raw(kind, y_enc, n_classes)
        scored = recalibrate(kind, y_enc, raw0) if self.recalibrate else raw0
        self.init_score_ = scored.T if scored.ndim == 2 else scored
        self.base_seconds_ = time.perf_counter() - t0

        n_steps = self.n_newton_steps or (2 if kind == "binary" else 1)
        names = list(source.names)
        if len(set(names)) != len(names):
            raise ValueError("candidates has duplicate names; every candidate needs a unique name.")
        order = rng.permutation(n)
        half = rng.random(n) < 0.5
        n_max = min(n, self.max_rows) if self.max_rows else n
        target = min(len(names), 2 * self.n_keep)
        n_rounds = 1 + max(0, math.ceil(math.log2(max(len(names), 1) / max(target, 1))))
        rows = self.init_rows or max(1000, math.ceil(n_max / 2 ** (n_rounds - 1)))
        rows = min(rows, n_max)

        status = {name: "halved" for name in names}
        last = {}
        alive = names
        self.rounds_ = []
        rnd = 0
        while True:
            t_round = time.perf_counter()
            sel = np.sort(order[:rows])  # sorted row indices read faster from most sources
            values = source.evaluate(alive, sel)
            if rnd == 0:
                keep = _drop_exact_duplicates(values)
                for j in np.flatnonzero(~keep):
                    status[alive[j]] = "duplicate"
                alive = [a for a, k in zip(alive, keep) if k]
                values = values[:, keep]
                if base_X is not None and self.dedup_threshold < 1.0 and alive:
                    # Monotone transforms of a base column (log1p(x), rank(x), 1/x) would
                    # fill the finalists on wide tables while adding nothing to a tree.
                    copies = _copies_of_base(values, base_X[sel], self.dedup_threshold)
                    for j in np.flatnonzero(copies):
                        status[alive[j]] = "near_duplicate"
                    alive = [a for a, c in zip(alive, copies) if not c]
                    values = values[:, ~copies]
            r0 = scored[..., sel]
            gains, ses = crossfit_gain(values, y_enc[sel], r0, half[sel], kind, n_bins=self.n_bins,
                                       reg_lambda=float(self.reg_lambda), n_steps=n_steps)
            for a, g, e in zip(alive, gains, ses):
                last[a] = (float(g), rnd, rows, float(e))
            self.rounds_.append({"round": rnd, "candidates": len(alive), "rows": rows,
                                 "seconds": time.perf_counter() - t_round})
            logger.info("HalvingScreen round %d: %d candidates on %d rows (%.2fs)",
                        rnd, len(alive), rows, self.rounds_[-1]["seconds"])
            final = rows >= n_max and len(alive) <= target
            if final or not alive:
                break
            n_next = len(alive) if len(alive) <= target else max(target, math.ceil(len(alive) / 2))
            best = np.argsort(-gains, kind="stable")[:n_next]
            alive = [alive[j] for j in np.sort(best)]
            rows = min(n_max, rows * 2)
            rnd += 1

        finalists = sorted(alive, key=lambda a: -last[a][0])
        passed = [a for a in finalists
                  if last[a][0] > self.min_gain and last[a][0] > self.z_threshold * last[a][3]]
        for a in set(finalists) - set(passed):
            status[a] = "no_gain"
        distinct = self._drop_near_duplicates(source, passed, order[:min(n_max, DEDUP_ROWS)],
                                              base_X)
        for a in set(passed) - set(distinct):
            status[a] = "near_duplicate"
        self.selected_names_ = distinct[: self.n_keep]
        for a in distinct[self.n_keep:]:
            status[a] = "not_in_top"
        for a in self.selected_names_:
            status[a] = "selected"

        table = pd.DataFrame({
            "name": names,
            "score": [last.get(a, (np.nan,))[0] for a in names],
            "round": [last.get(a, (None, -1))[1] for a in names],
            "n_rows": [last.get(a, (None, None, 0))[2] for a in names],
            "se": [last.get(a, (None, None, None, np.nan))[3] for a in names],
            "status": [status[a] for a in names],
        })
        self.scores_ = table.sort_values(["round", "score"], ascending=[False, False],
                                         kind="stable").reset_index(drop=True)
        self.n_candidates_ = len(names)
        return self

    def _oof_base_scores(self, X, categorical, y_enc, n, n_classes, rng, n_jobs):
        """Out-of-fold raw scores of LightGBM on ``X`` (shuffled folds, stratified for
        classification)."""
        params = lgb_params(self.task_, n_classes, draw_seed(rng), n_jobs)
        splitter = (StratifiedKFold if self.task_ == "classification" else KFold)(
            n_splits=self.cv, shuffle=True, random_state=draw_seed(rng))
        oof = np.zeros(n) if n_classes <= 2 else np.zeros((n_classes, n))
        for fit_idx, pred_idx in splitter.split(np.zeros((n, 1)), y_enc):
            booster = fit_booster(X[fit_idx], y_enc[fit_idx], params, self.base_estimators,
                                  categorical=categorical)
            oof[..., pred_idx] = raw_predict(booster, X[pred_idx])
        return oof

    def _drop_near_duplicates(self, source, ranked, rows, base_X=None):
        """Greedy in score order: drop a candidate that is too rank-correlated with a kept one
        or a base column (``log1p(x)`` is ``x`` to a tree), or that is a function of a kept
        candidate with few distinct values (two statistics grouped by the same key split the
        rows into the same groups: the same feature to a tree, whatever their values)."""
        n_anchor = 0 if base_X is None else base_X.shape[1]
        if not ranked or self.dedup_threshold >= 1.0 or (len(ranked) < 2 and not n_anchor):
            return list(ranked)
        rows = np.sort(rows)
        values = source.evaluate(ranked, rows).astype(np.float64)
        if n_anchor:
            values = np.column_stack([base_X[rows].astype(np.float64), values])
        # Missing values rank below every observed one, so the missing pattern counts too.
        values[np.isnan(values)] = -np.inf
        ranks = _spearman_ranks(values)
        constant = ~ranks.any(axis=0)
        corr = np.abs(ranks.T @ ranks)
        codes, n_unique = [], []
        for j in range(values.shape[1]):
            uniq, inverse = np.unique(values[:, j], return_inverse=True)
            codes.append(inverse.astype(np.int64))
            n_unique.append(uniq.size)

        def determined_by(j, i):
            """Is candidate j a function of candidate i (j's groups unions of i's)?"""
            if n_unique[i] > MAX_GROUPS or n_unique[j] > n_unique[i]:
                return False
            return np.unique(codes[i] * n_unique[j] + codes[j]).size == n_unique[i]

        # Base columns are kept from the start: a candidate that copies one (a monotone
        # transform) adds nothing. A function of a base column is not dropped, though: a
        # statistic grouped by a many-valued base key orders its categories in a way the
        # key's codes do not.
        kept = [i for i in range(n_anchor) if not constant[i]]
        for j in range(n_anchor, values.shape[1]):
            if constant[j]:
                continue
            if kept and (corr[j, kept].max() >= self.dedup_threshold
                         or any(determined_by(j, i) for i in kept if i >= n_anchor)):
                continue
            kept.append(j)
        return [ranked[j - n_anchor] for j in kept if j >= n_anchor]

    # ------------------------------------------------------------ transform
    def get_feature_names_out(self, input_features=None):
        """Names of the selected candidates, best first."""
        check_is_fitted(self, "selected_names_")
        return np.asarray(self.selected_names_, dtype=object)

    def transform(self, candidates):
        """Evaluate the selected candidates on all rows of ``candidates``.

        ``candidates`` is a CandidateSource bound to the rows to transform (e.g. a
        FeatureGenerator's source on new data) or a table with the candidate columns.
        """
        check_is_fitted(self, "selected_names_")
        source = as_candidate_source(candidates)
        missing = [a for a in self.selected_names_ if a not in set(source.names)]
        if missing:
            raise ValueError(
                f"candidates lacks the selected features {missing[:5]}; pass the same candidate "
                "set the screen was fitted on."
            )
        return source.evaluate(self.selected_names_, None)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags


# ---------------------------------------------------------------- helpers
def as_candidate_source(candidates):
    """A CandidateSource from a source, a numeric 2-D array or a DataFrame."""
    if isinstance(candidates, CandidateSource) and not hasattr(candidates, "shape"):
        return candidates
    columns = getattr(candidates, "columns", None)
    if columns is not None:
        from featsmith._frame import to_polars

        frame = to_polars(candidates)
        bad = [c for c, dt in frame.schema.items() if not dt.is_numeric() and str(dt) != "Boolean"]
        if bad:
            raise TypeError(
                f"candidates must be numeric, but columns {bad[:5]} are not; encode them or "
                "pass a CandidateSource."
            )
        return ArrayCandidateSource(frame.to_numpy().astype(np.float32), list(frame.columns))
    if isinstance(candidates, np.ndarray) or hasattr(candidates, "__array__"):
        arr = np.asarray(candidates)
        if arr.ndim != 2:
            raise ValueError(
                f"candidates must be 2-D (rows x candidates), got shape {arr.shape}."
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"candidates must be numeric, got dtype {arr.dtype}.")
        return ArrayCandidateSource(arr)
    raise TypeError(
        f"candidates must be a CandidateSource, a 2-D array or a DataFrame, got "
        f"{type(candidates).__name__}."
    )


def _base_matrix(base, n, categorical_features=None):
    """Float matrix for LightGBM plus the indices of categorical columns (as integer codes)."""
    columns = getattr(base, "columns", None)
    if columns is not None:
        import polars as pl

        from featsmith._frame import to_polars

        frame = to_polars(base)
        cols, categorical = [], []
        for i, (name, dt) in enumerate(frame.schema.items()):
            s = frame.get_column(name)
            if dt.is_numeric() or dt == pl.Boolean:
                cols.append(s.cast(pl.Float64).to_numpy())
            elif dt.is_temporal():
                cols.append(s.dt.epoch("s").cast(pl.Float64).to_numpy())
            else:
                codes = s.cast(pl.String).cast(pl.Categorical).to_physical().cast(pl.Float64)
                cols.append(codes.to_numpy())
                categorical.append(i)
        X = np.column_stack(cols) if cols else np.empty((frame.height, 0))
    else:
        X = np.asarray(base)
        if X.ndim != 2:
            raise ValueError(f"base must be 2-D (rows x features), got shape {X.shape}.")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"base must be numeric, got dtype {X.dtype}; pass a DataFrame to "
                            "use categorical columns.")
        X, categorical = X.astype(np.float64), sorted(int(i) for i in categorical_features or ())
        if categorical and not 0 <= categorical[0] <= categorical[-1] < X.shape[1]:
            raise ValueError(f"categorical_features {categorical} must index base's "
                             f"{X.shape[1]} columns.")
    if X.shape[0] != n:
        raise ValueError(f"base has {X.shape[0]} rows but candidates have {n}; pass the same rows.")
    return X, categorical


def _check_init_score(init_score, n, kind, n_classes):
    raw = np.asarray(init_score, dtype=np.float64)
    expected = (n,) if kind != "multiclass" else (n, n_classes)
    if raw.ndim == 2 and raw.shape[1] == 1 and kind != "multiclass":
        raw = raw.ravel()
    if raw.shape != expected:
        raise ValueError(f"init_score has shape {raw.shape}; expected {expected} raw scores.")
    if not np.isfinite(raw).all():
        raise ValueError("init_score contains NaN or infinite values.")
    return raw.T.copy() if kind == "multiclass" else raw


def _spearman_ranks(values):
    """Centred, unit-norm column ranks (missing values rank lowest), so that a product of
    two of them is the Spearman correlation; constant columns are all zero."""
    values = values.astype(np.float64)
    values[np.isnan(values)] = -np.inf
    ranks = rankdata(values, axis=0)
    ranks -= ranks.mean(axis=0)
    norms = np.sqrt((ranks ** 2).sum(axis=0))
    return ranks / np.where(norms == 0, 1.0, norms)


def _copies_of_base(values, base_rows, threshold):
    """Mask of candidate columns whose absolute rank correlation with some base column
    reaches ``threshold`` (on the given rows)."""
    corr = np.abs(_spearman_ranks(values).T @ _spearman_ranks(base_rows))
    return (corr >= threshold).any(axis=1) if corr.size else np.zeros(values.shape[1], bool)


def _drop_exact_duplicates(values):
    """Keep mask: the first of every group of columns with identical values (NaN equal)."""
    keep = np.ones(values.shape[1], dtype=bool)
    seen = set()
    canon = np.where(np.isnan(values), np.float32(np.inf), values + np.float32(0.0))
    canon = np.ascontiguousarray(canon.T)
    for j in range(canon.shape[0]):
        col = canon[j]
        if col.size and (col == col[0]).all():
            continue  # constant on the sample: scored (and dropped) like any other
        digest = hashlib.blake2b(col.tobytes(), digest_size=16).digest()
        if digest in seen:
            keep[j] = False
        else:
            seen.add(digest)
    return keep
