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
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from featsmith._types import ArrayCandidateSource, CandidateSource
from featsmith.selectors._booster import crossfit_gain
from featsmith.selectors._confirm import confirm_selection, cv_row_loss
from featsmith.selectors._common import (
    check_n_jobs,
    check_target,
    draw_seed,
    encode_target,
    lgb_params,
    logger,
    make_rng,
)
from featsmith.selectors._importance import fit_booster, raw_predict
from featsmith.selectors._joint import joint_permutation_gain
from featsmith.selectors._losses import kind_of, prior_raw, recalibrate, row_loss

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
    then swapped); the better half survives and the next round uses twice the rows. Two
    optional stages follow: a joint stage (OpenFE's stage II) judges the finalists together,
    next to the base columns, in one LightGBM model trained on top of the base scores; a
    confirmation stage (with ``base`` columns) asks the question a selection is finally judged
    by: does a model trained from scratch on the base columns plus the selection predict
    held-out rows better?

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
    3. Each round keeps the better half (never fewer than the finalists' number,
       ``max(2 * n_keep, n_joint)`` with the joint stage, ``2 * n_keep`` without) and doubles
       the rows, until the survivors fit and the rows reach all rows (or ``max_rows``).
    4. Finalists that are near-duplicates of a better one are dropped (absolute Spearman
       correlation >= ``dedup_threshold`` with it or with a ``base`` column, or a function of
       a better finalist with at most 1,024 distinct values, as two statistics grouped by one
       key are; those that pass step 5 count as better than those that do not).
    5. Stage-I test: a finalist whose held-out gain alone in the last round beats noise
       (above ``min_gain`` and ``z_threshold`` standard errors) passes; ``z_threshold=0``
       keeps any positive gain instead (OpenFE's rule).
    6. Joint stage (``joint=True``): one LightGBM model on the base columns (when ``base`` is
       given) and all remaining finalists, trained on top of the base scores (``init_score``)
       and early-stopped, is cross-fitted on two halves of the rows; a finalist whose
       held-out permutation importance (the loss increase when its column is shuffled, over
       rows the model did not train on) is significantly above zero passes too: one-sided
       p-values from its z-score (importance over its standard error across rows), cut by
       the Benjamini-Hochberg procedure at false discovery rate ``joint_fdr`` over the
       finalists tested (those that did not pass stage I), so that among many noise
       finalists few pass by chance. This finds candidates that help only next to others or
       next to the base columns, and candidates whose gain alone is masked by noise in the
       single-feature score (multiclass targets with rare classes).
    7. The incumbent selection: stage-I passes in stage-I score order, then joint-only passes
       in order of their joint p-value, the first ``n_keep`` of them.
    8. Confirmation (``confirm=True`` and ``base`` given; off by default): the remaining
       finalists are ranked after the incumbent by their gain importance in one LightGBM
       model trained from scratch on the base columns and all finalists (those with no gain
       are left out; inside the cross-validation each fold ranks on its own rows).
       Prefixes of that ranking (none, the incumbent, the incumbent plus 1, 2, 4, ... more,
       up to ``n_keep``) are scored by the out-of-fold loss of LightGBM trained from scratch
       on the base columns plus the prefix (``confirm_cv`` folds, ``base_estimators``
       rounds, at most ``confirm_max_rows`` rows). The prefix with the lowest loss replaces
       the incumbent if its per-row loss is lower than the incumbent's by more than
       ``confirm_z`` standard errors (paired over rows); of the prefixes that do, the
       smallest within one standard error of the best is kept. This looks for candidates that
       help a model learn from the start although the base model's out-of-fold scores
       already carry their signal (stage I cannot see those), and drops an incumbent that
       makes the from-scratch model worse beyond noise.

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
        weak features get in, and noise with them. On the dev tasks neither setting gave
        LightGBM consistently better scores (0 won on repeated splits of the training rows,
        2.0 on the test splits, both by less than the splits' noise; see BENCHMARKS.md), so
        the default is the one that keeps noise out.
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
    task : {"auto", "regression", "classification"}, default="auto"
    random_state : int, numpy.random.Generator or None, default=None
    n_jobs : int, default=1
        LightGBM threads for the base model and the joint model.
    joint : bool, default=False
        Run the joint second stage (step 6); ``False`` gives the stage-I selection alone. Off
        by default: on the dev tasks it changed (c) "raw + selection" for the better on one
        task and for the worse on another, and it costs more time (see BENCHMARKS.md).
    n_joint : int, default=100
        Finalists of the halving that enter the joint stage (at least ``2 * n_keep``).
    joint_fdr : float in (0, 1), default=0.1
        False discovery rate of the joint stage's test (Benjamini-Hochberg).
    joint_max_rows : int or None, default=None
        Cap on the rows of the joint stage (a random subset; ``None``: the last round's rows).
        Its cost grows with rows times finalists; at 100,000 rows it can take longer than
        the halving itself.
    confirm : bool, default=False
        Run the confirmation stage (step 8) when ``base`` is given (with at least one
        column). It costs ``confirm_cv + 1`` ranking fits and ``confirm_cv`` fits per prefix
        size tried (about 5-10 sizes), each of ``base_estimators`` rounds. It did more with a
        larger ``n_keep`` (more finalists, which also lose fewer real candidates to the small
        samples of the early rounds): with ``n_keep=50`` or ``200`` it raised the mean
        gain over raw columns on repeated splits of the dev tasks' training rows to +0.42 /
        +0.50 standard errors (``n_keep=20`` without it: +0.19), but on the test splits it
        was better on 3 / 4 of 9 tasks and worse on 2 (``n_keep=20`` without it: 3 better,
        1 worse), and the screen with it took up to 0.24 / 0.66 of OpenFE's time on
        multiclass tasks, so it stays off by default (see BENCHMARKS.md).
    confirm_z : float, default=1.5
        Standard errors by which a prefix's out-of-fold loss must beat the incumbent's.
    confirm_max_rows : int or None, default=20_000
        Cap on the rows of the confirmation stage (a random subset).
    confirm_cv : int, default=3
        Folds of the confirmation stage's refits.
    recalibrate : bool, default=True
        Recalibrate the base scores before screening (step 1): two parameters (``K + 1`` for
        ``K`` classes) fitted on all rows. ``False`` scores candidates against the base
        scores as they are: if those are biased or over-confident, noise candidates gain by
        correcting them (see BENCHMARKS.md).

    Attributes
    ----------
    scores_ : pandas.DataFrame
        One row per candidate: ``name``, ``score`` (held-out relative loss reduction in the
        last round it took part in), ``round``, ``n_rows`` (rows of that round), ``se`` (the
        score's standard error), ``joint_score`` and ``joint_se`` (held-out permutation
        importance in the joint model relative to its loss, and its standard error; NaN for
        candidates that did not reach it), ``stage`` (``"I"``, ``"joint"`` or
        ``"confirm"``: the test a selected candidate passed, stage I first; ``""``
        otherwise) and ``status`` (``selected``, ``no_gain``, ``halved``, ``duplicate``,
        ``near_duplicate``, ``not_in_top``, ``not_confirmed``: an incumbent the
        confirmation stage dropped). Sorted best first.
    selected_names_ : list of str
        The selected candidates, best first.
    init_score_ : ndarray
        The base raw scores the candidates were scored against (out-of-fold when fitted,
        after recalibration).
    rounds_ : list of dict
        Per round: candidates, rows and seconds.
    joint_ : dict or None
        The joint stage: ``candidates``, ``rows``, ``iterations`` (boosting rounds of the two
        cross-fitted models) and ``seconds``; None when it did not run.
    confirm_ : dict or None
        The confirmation stage: ``rows``, ``incumbent`` (size of the selection before it),
        ``chosen`` (size after it), ``trials`` (per size tried: ``size``, mean out-of-fold
        ``loss``, and ``z``, its paired loss reduction against the incumbent in standard
        errors) and ``seconds``; None when it did not run.
    task_, classes_

    Examples
    --------
    >>> import numpy as np
    >>> from featsmith.selectors import HalvingScreen
    >>> rng = np.random.default_rng(0)
    >>> C = rng.normal(size=(4000, 200))
    >>> y = C[:, 7] + np.abs(C[:, 42]) + 0.5 * rng.normal(size=4000)
    >>> screen = HalvingScreen(n_keep=2, joint=True, random_state=0).fit(C, y)
    >>> sorted(screen.selected_names_)
    ['f42', 'f7']
    >>> screen.scores_.set_index("name").loc[["f7", "f42"], "stage"].tolist()  # passed alone
    ['I', 'I']
    >>> screen.joint_["candidates"]  # finalists judged together in the joint stage
    100
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
        "task": [StrOptions({"auto", "regression", "classification"})],
        "random_state": [None, numbers.Integral, np.random.Generator],
        "n_jobs": [numbers.Integral],
        "joint": ["boolean"],
        "n_joint": [Interval(numbers.Integral, 1, None, closed="left")],
        "joint_fdr": [Interval(numbers.Real, 0, 1, closed="neither")],
        "joint_max_rows": [Interval(numbers.Integral, 100, None, closed="left"), None],
        "confirm": ["boolean"],
        "confirm_z": [Interval(numbers.Real, 0, None, closed="left")],
        "confirm_max_rows": [Interval(numbers.Integral, 100, None, closed="left"), None],
        "confirm_cv": [Interval(numbers.Integral, 2, None, closed="left")],
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
        joint=False,
        n_joint=100,
        joint_fdr=0.1,
        joint_max_rows=None,
        confirm=False,
        confirm_z=1.5,
        confirm_max_rows=20_000,
        confirm_cv=3,
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
        self.joint = joint
        self.n_joint = n_joint
        self.joint_fdr = joint_fdr
        self.joint_max_rows = joint_max_rows
        self.confirm = confirm
        self.confirm_z = confirm_z
        self.confirm_max_rows = confirm_max_rows
        self.confirm_cv = confirm_cv
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
            scores candidates must improve on (unless ``init_score`` is given too), copies of
            them are not selected, and the joint stage uses them as columns. Text /
            categorical columns of a DataFrame are used as LightGBM categoricals.
        init_score : array-like, optional
            Base raw scores given directly: predictions (regression), logits (binary) or
            per-class logits of shape ``(n_rows, n_classes)``. They must not come from a model
            fitted on these rows' targets, or every candidate will look useless. They are
            recalibrated like a base model's scores (``recalibrate``). With ``base``
            as well, these scores are used and no base model is fitted.
        categorical_features : list of int, optional
            Columns of an array ``base`` that hold integer category codes (LightGBM
            categoricals in the base and joint models). A DataFrame ``base`` marks its own.

        Returns
        -------
        self
        """
        self._validate_params()
        n_jobs = check_n_jobs(self.n_jobs)
        source = as_candidate_source(candidates)
        n = source.n_rows
        y = check_target(y, n_rows=n)
        base_X, categorical, base_folds = None, [], None
        rng = make_rng(self.random_state)
        self.task_, self.classes_, y_enc, n_classes = encode_target(y, self.task)
        kind = kind_of(self.task_, n_classes)
        t0 = time.perf_counter()
        if base is not None:
            base_X, categorical = _base_matrix(base, n, categorical_features)
        if init_score is not None:
            raw0 = _check_init_score(init_score, n, kind, n_classes)
        elif base is not None:
            raw0, base_folds = self._oof_base_scores(base_X, categorical, y_enc, n, n_classes,
                                                     rng, n_jobs)
        else:
            raw0 = prior_raw(kind, y_enc, n_classes)
        # The scores candidates are judged against; the confirmation stage compares
        # from-scratch refits with the base model's own (uncalibrated) out-of-fold loss.
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
        target = min(len(names), max(2 * self.n_keep, self.n_joint if self.joint else 0))
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
        gaining = [a for a in finalists
                   if last[a][0] > self.min_gain and last[a][0] > self.z_threshold * last[a][3]]
        gaining_set = set(gaining)
        for a in set(finalists) - gaining_set:
            status[a] = "no_gain"
        confirming = self.confirm and base_X is not None and base_X.shape[1] > 0
        # Stage-I passes rank before the rest when near-duplicates are resolved.
        ranked = gaining + ([a for a in finalists if a not in gaining_set]
                            if self.joint or confirming else [])
        distinct = self._drop_near_duplicates(source, ranked, order[:min(n_max, DEDUP_ROWS)],
                                              base_X)
        for a in set(ranked) - set(distinct):
            status[a] = "near_duplicate"
        passed = [a for a in distinct if a in gaining_set]
        stage = dict.fromkeys(passed, "I")
        joint_scores = {}
        self.joint_ = None
        if self.joint and distinct:
            joint_scores = self._joint_stage(source, distinct, base_X, categorical, y_enc, scored,
                                             order[:min(n_max, self.joint_max_rows or n_max)],
                                             half, kind, n_classes, rng, n_jobs)
            tested = [a for a in distinct if a not in stage]
            extra = _benjamini_hochberg(tested, joint_scores, self.joint_fdr)
            stage.update(dict.fromkeys(extra, "joint"))
            passed += extra
        self.confirm_ = None
        selected, not_in_top = passed[: self.n_keep], passed[self.n_keep:]
        if confirming and distinct:
            confirmed = self._confirm_stage(source, selected, distinct, base_X, categorical,
                                            y_enc, raw0, base_folds, order[:n_max], kind,
                                            n_classes, rng, n_jobs)
            confirmed_set = set(confirmed)
            for a in selected:
                if a not in confirmed_set:
                    status[a] = "not_confirmed"
            for a in confirmed:
                stage.setdefault(a, "confirm")
            # The refits judged the selection as a whole: untested passes do not refill it.
            not_in_top = [a for a in not_in_top if a not in confirmed_set]
            selected = confirmed
        self.selected_names_ = selected
        for a in not_in_top:
            status[a] = "not_in_top"
        for a in selected:
            status[a] = "selected"
        stage = {a: stage[a] for a in selected}

        table = pd.DataFrame({
            "name": names,
            "score": [last.get(a, (np.nan,))[0] for a in names],
            "round": [last.get(a, (None, -1))[1] for a in names],
            "n_rows": [last.get(a, (None, None, 0))[2] for a in names],
            "se": [last.get(a, (None, None, None, np.nan))[3] for a in names],
            "joint_score": [joint_scores.get(a, (np.nan,))[0] for a in names],
            "joint_se": [joint_scores.get(a, (np.nan, np.nan))[1] for a in names],
            "stage": [stage.get(a, "") for a in names],
            "status": [status[a] for a in names],
        })
        self.scores_ = table.sort_values(["round", "score"], ascending=[False, False],
                                         kind="stable").reset_index(drop=True)
        self.n_candidates_ = len(names)
        return self

    def _oof_base_scores(self, X, categorical, y_enc, n, n_classes, rng, n_jobs):
        params = lgb_params(self.task_, n_classes, draw_seed(rng), n_jobs)
        splits = self._shuffled_folds(self.cv, y_enc, rng)
        oof = np.zeros(n) if n_classes <= 2 else np.zeros((n_classes, n))
        for fit_idx, pred_idx in splits:
            booster = fit_booster(X[fit_idx], y_enc[fit_idx], params, self.base_estimators,
                                  categorical=categorical)
            oof[..., pred_idx] = raw_predict(booster, X[pred_idx])
        return oof, splits

    def _shuffled_folds(self, n_splits, y_enc, rng):
        """(fit rows, predict rows) of shuffled k-fold, stratified for classification."""
        splitter = (StratifiedKFold if self.task_ == "classification" else KFold)(
            n_splits=n_splits, shuffle=True, random_state=draw_seed(rng))
        return list(splitter.split(np.zeros((y_enc.shape[0], 1)), y_enc))

    def _confirm_stage(self, source, passed, distinct, base_X, categorical, y_enc, raw0, folds,
                       rows, kind, n_classes, rng, n_jobs):
        """The selection confirmed by from-scratch cross-validated refits (see ``_confirm``)."""
        t = time.perf_counter()
        n = y_enc.shape[0]
        n_rows = min(rows.size, self.confirm_max_rows or rows.size)
        params = lgb_params(self.task_, n_classes, draw_seed(rng), n_jobs)
        if n_rows == n and folds is not None and len(folds) == self.confirm_cv:
            # The base model's own folds on all rows: its out-of-fold scores are the base loss.
            rows, base_loss = np.arange(n), row_loss(kind, y_enc, raw0)
        else:
            rows = np.sort(rows[:n_rows])
            folds = self._shuffled_folds(self.confirm_cv, y_enc[rows], rng)
            base_loss = cv_row_loss(base_X[rows], categorical, y_enc[rows], folds, params,
                                    self.base_estimators, kind)
        # The incumbent is drawn from the distinct finalists; it ranks first.
        incumbent = set(passed)
        names = list(passed) + [a for a in distinct if a not in incumbent]
        values = source.evaluate(names, rows).astype(np.float64)
        values[~np.isfinite(values)] = np.nan
        order, chosen, trials = confirm_selection(
            base_X[rows], categorical, values, y_enc[rows], folds, base_loss, kind, params,
            self.base_estimators, len(passed), self.n_keep, float(self.confirm_z))
        confirmed = [names[j] for j in order[:chosen]]
        self.confirm_ = {"rows": int(rows.size), "incumbent": len(passed), "chosen": chosen,
                         "trials": trials, "seconds": time.perf_counter() - t}
        logger.info("HalvingScreen confirmation: %d refits on %d rows keep %d (stage I: %d) "
                    "(%.2fs)", len(trials) - 1, rows.size, chosen, len(passed),
                    self.confirm_["seconds"])
        return confirmed

    def _joint_stage(self, source, distinct, base_X, categorical, y_enc, raw0, rows, half, kind,
                     n_classes, rng, n_jobs):
        """{name: (joint score, its standard error)} for the distinct finalists."""
        t = time.perf_counter()
        rows = np.sort(rows)
        values = source.evaluate(distinct, rows)
        if base_X is not None:
            X = np.column_stack([base_X[rows], values.astype(np.float64)])
        else:
            X, categorical = values.astype(np.float64), []
        X[~np.isfinite(X)] = np.nan
        score, se, iterations = joint_permutation_gain(
            X, categorical, y_enc[rows], raw0[..., rows], half[rows], kind, self.task_,
            n_classes, len(distinct), rng, n_jobs)
        self.joint_ = {"candidates": len(distinct), "rows": int(rows.size),
                       "iterations": iterations, "seconds": time.perf_counter() - t}
        logger.info("HalvingScreen joint stage: %d candidates on %d rows, %s rounds (%.2fs)",
                    len(distinct), rows.size, iterations, self.joint_["seconds"])
        return {a: (float(g), float(e)) for a, g, e in zip(distinct, score, se)}

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


def _benjamini_hochberg(names, scores, fdr):
    """The names whose one-sided p-value (from ``score / se``) passes the Benjamini-Hochberg
    cut at ``fdr``, smallest p-value first."""
    from scipy.stats import norm

    if not names:
        return []
    p = np.array([norm.sf(scores[a][0] / scores[a][1]) if scores[a][1] > 0 else 1.0
                  for a in names])
    order = np.argsort(p, kind="stable")
    ok = p[order] <= fdr * np.arange(1, len(names) + 1) / len(names)
    n_pass = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
    return [names[j] for j in order[:n_pass]]


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
