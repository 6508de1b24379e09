"""scikit-learn estimators whose ``fit`` searches the tabular head space within a time budget."""

from __future__ import annotations

import copy
import logging
import os
import time
from numbers import Integral, Real

import numpy as np
import pandas as pd
import polars as pl
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from featsmith.tuners.nas._cream import CreamStrategy
from featsmith.tuners.nas._data import TabularPreprocessor
from featsmith.tuners.nas._oneshot import OneShotStrategy
from featsmith.tuners.nas._search import run_multi_trial
from featsmith.tuners.nas._space import TabularHeadSpace
from featsmith.tuners.nas._strategies import RandomStrategy, RegularizedEvolution, Strategy, TPEStrategy
from featsmith.tuners.nas._train import TrainingData

logger = logging.getLogger("featsmith")

_STRATEGIES = {
    "random": RandomStrategy,
    "evolution": RegularizedEvolution,
    "tpe": TPEStrategy,
    "oneshot": OneShotStrategy,
    "cream": CreamStrategy,
}
# Below this many rows a held-out split would be too small to rank anything: early
# stopping and ranking then use the training rows themselves.
_MIN_ROWS_FOR_VALIDATION = 20
_PREDICT_CHUNK = 16384


def _resolve_threads(n_jobs) -> int:
    if n_jobs is None:
        return 1
    cpus = os.cpu_count() or 1
    return max(1, cpus + 1 + n_jobs if n_jobs < 0 else n_jobs)


class _TorchThreads:
    """Set torch's intra-op thread count for a block and restore the caller's afterwards."""

    def __init__(self, n_jobs):
        self.n = _resolve_threads(n_jobs)

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def _seed_generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state.integers(2**63 - 1))
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    return np.random.default_rng(random_state)


def _check_frame_columns(X):
    """A clear error for frames with text or datetime columns (the head takes numbers only)."""
    # An all-missing column (object or Null dtype when every value is None) reads as NaN.
    if isinstance(X, pd.DataFrame):
        bad = [c for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
                                            or X[c].isna().all())]
    elif isinstance(X, pl.DataFrame):
        bad = [c for c, t in X.schema.items() if not (t.is_numeric() or t in (pl.Boolean, pl.Null))
               and X.get_column(c).null_count() < X.height]
    else:
        return
    if bad:
        raise TypeError(
            f"X has non-numeric columns {bad}; the NAS head takes numbers only. Encode categories as "
            "integer codes and name those columns in categorical_features, and turn datetimes into numbers."
        )


class _NASHeadBase(BaseEstimator):
    _parameter_constraints: dict = {
        "time_budget": [Interval(Real, 0, None, closed="neither"), None],
        "strategy": [StrOptions(set(_STRATEGIES)), Strategy, OneShotStrategy],
        "max_candidates": [Interval(Integral, 1, None, closed="left"), None],
        "categorical_features": ["array-like", None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "device": [str, torch.device],
        "n_jobs": [Integral, None],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        time_budget=30,
        strategy="evolution",
        max_candidates=None,
        categorical_features=None,
        max_epochs=40,
        patience=6,
        validation_fraction=0.15,
        device="cpu",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.time_budget = time_budget
        self.strategy = strategy
        self.max_candidates = max_candidates
        self.categorical_features = categorical_features
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- validation ----------------------------------------------------------------------
    def _device(self) -> torch.device:
        try:
            dev = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device={self.device!r} is not a torch device; use 'cpu' or 'cuda'.") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was requested but torch sees no CUDA device; use device='cpu'.")
        return dev

    def _categorical_indices(self) -> list[int]:
        spec = self.categorical_features
        if spec is None:
            return []
        items = list(np.asarray(spec, dtype=object).ravel())
        names = getattr(self, "feature_names_in_", None)
        out = []
        for item in items:
            if isinstance(item, (str, np.str_)):
                if names is None:
                    raise ValueError(
                        f"categorical_features names column {item!r}, but X has no column names; "
                        "pass column indices for numpy input."
                    )
                hits = np.flatnonzero(names == item)
                if not len(hits):
                    raise ValueError(f"categorical_features names {item!r}, which is not a column of X.")
                out.append(int(hits[0]))
            elif isinstance(item, (Integral, np.integer)) and not isinstance(item, (bool, np.bool_)):
                j = int(item)
                if not -self.n_features_in_ <= j < self.n_features_in_:
                    raise ValueError(
                        f"categorical_features index {j} is out of range for X with {self.n_features_in_} columns."
                    )
                out.append(j % self.n_features_in_)
            else:
                raise TypeError(
                    f"categorical_features must hold column indices or names, got {item!r} "
                    f"({type(item).__name__})."
                )
        if len(set(out)) != len(out):
            raise ValueError(f"categorical_features lists a column twice: {items}.")
        return sorted(out)

    def _validate_X(self, X, reset):
        _check_frame_columns(X)
        return validate_data(self, X, reset=reset, ensure_all_finite=False, dtype=np.float64)

    # -- fit -----------------------------------------------------------------------------
    def _search(self, X, y_train_values, task, n_outputs, stratify):
        """Preprocess, split, run the strategy and keep the best candidate."""
        if self.time_budget is None and self.max_candidates is None:
            raise ValueError("time_budget and max_candidates are both None; set at least one to bound the search.")
        start = time.perf_counter()
        deadline = None if self.time_budget is None else start + float(self.time_budget)
        device = self._device()
        rng = _seed_generator(self.random_state)
        cat = self._categorical_indices()
        self.categorical_features_ = cat
        self.preprocessor_ = TabularPreprocessor(cat, random_state=int(rng.integers(2**31 - 1))).fit(X)
        x_num, x_cat = self.preprocessor_.transform(X)
        n = X.shape[0]
        idx = np.arange(n)
        if n >= _MIN_ROWS_FOR_VALIDATION:
            can_stratify = stratify is not None and np.bincount(stratify).min() >= 2
            tr, va = train_test_split(
                idx,
                test_size=self.validation_fraction,
                random_state=int(rng.integers(2**31 - 1)),
                stratify=stratify if can_stratify else None,
            )
        else:
            tr = va = idx
        x_num, x_cat = torch.as_tensor(x_num, device=device), torch.as_tensor(x_cat, device=device)
        y_t = torch.as_tensor(y_train_values, device=device)

        def rows(a):
            a = torch.as_tensor(a, device=device)
            return x_num[:, a], x_cat[a], y_t[a]

        data = TrainingData(task, n_outputs, list(self.preprocessor_.cardinalities_), *rows(tr), *rows(va))
        space = TabularHeadSpace.search_space(self.preprocessor_.n_numeric, self.preprocessor_.cardinalities_, n_outputs)
        strategy = self.strategy
        strategy = _STRATEGIES[strategy]() if isinstance(strategy, str) else copy.deepcopy(strategy)
        kwargs = dict(rng=rng, deadline=deadline, max_candidates=self.max_candidates,
                      max_epochs=self.max_epochs, patience=self.patience)
        with _TorchThreads(self.n_jobs):
            if isinstance(strategy, OneShotStrategy):
                result = strategy.search(data, space, **kwargs)
            else:
                result = run_multi_trial(data, space, strategy, **kwargs)
        best = result.best
        self.model_ = best.model.to(torch.float64).eval()
        self.best_architecture_ = best.arch
        self.best_validation_loss_ = best.val_loss
        history = pd.DataFrame(result.history)
        history["best"] = history["candidate"] == next(
            h["candidate"] for h in result.history if h["architecture"] == best.arch and h["status"] != "ranked"
        )
        self.search_history_ = history
        self.search_seconds_ = time.perf_counter() - start
        logger.log(
            logging.INFO if self.verbose else logging.DEBUG,
            "%s: %d candidates in %.1f s, best validation loss %.5g with %s",
            type(self).__name__, len(history), self.search_seconds_, best.val_loss, best.arch.to_json(),
        )

    def _raw_predict(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = self._validate_X(X, reset=False)
        # Only the scaling this head uses (the preprocessor can compute both).
        x_num, x_cat = self.preprocessor_.transform_one(X, self.best_architecture_["scaler"])
        first = next(p for p in self.model_.parameters() if p.is_floating_point())
        # In the model's own dtype: a float32 (compressed) head would otherwise get the float32
        # inputs copied to float64 and back, a tenth of its predict time at 4096 rows.
        dev, dtype = first.device, first.dtype
        outs = []
        with _TorchThreads(self.n_jobs), torch.no_grad():
            for s in range(0, X.shape[0], _PREDICT_CHUNK):
                xn = torch.as_tensor(x_num[s : s + _PREDICT_CHUNK], dtype=dtype, device=dev)
                xc = torch.as_tensor(x_cat[s : s + _PREDICT_CHUNK], device=dev)
                outs.append(self.model_(xn, xc).cpu().numpy().astype(np.float64, copy=False))
        return np.concatenate(outs) if outs else np.zeros((0, self.model_.head.out_features))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # A wall-clock budget decides how many candidates train, so two fits with one
        # random_state differ when it binds; max_candidates with time_budget=None does not.
        tags.non_deterministic = self.time_budget is not None
        return tags


_PARAMS_DOC = """
    Parameters
    ----------
    time_budget : float or None, default=30
        Wall-clock seconds for the search. The first round trains the space's default
        architecture (and a variant with other training choices) for at least one epoch, so a
        model is returned even when the budget is too small for anything else; the budget may
        then be exceeded by that epoch. Each later round trains up to 8 proposed architectures
        plus one training-choice variant of each, batched together where shapes allow.
        ``None`` means no time limit (set ``max_candidates``).
    strategy : {"evolution", "random", "tpe", "oneshot", "cream"} or strategy object, default="evolution"
        Regularised evolution, uniform random sampling, TPE through
        :class:`featsmith.tuners.TPETuner`, one-shot weight sharing, or one-shot with a board
        of the best paths distilling into the sampled ones (:class:`CreamStrategy`).
    max_candidates : int or None, default=None
        Most architectures to train (for "oneshot": to rank with shared weights).
        Results are reproducible for a fixed ``random_state`` when the search is bounded
        by ``max_candidates`` rather than by time (``time_budget=None``): how many
        candidates a wall-clock budget trains depends on the machine's load.
    categorical_features : array-like of int or str, default=None
        Indices or names of integer-coded categorical columns; they get learned embeddings.
        Codes unseen in training (and missing codes) map to a shared "unknown" embedding.
    max_epochs : int, default=40
        Epoch limit per candidate (early stopping usually ends training sooner).
    patience : int, default=6
        Epochs without a better validation loss before a candidate stops.
    validation_fraction : float, default=0.15
        Rows held out for early stopping and ranking; the returned model is the best
        candidate as trained on the other rows (with fewer than 20 rows all rows are used
        for both).
    device : str, default="cpu"
        Torch device; "cuda" when a GPU is present.
    n_jobs : int or None, default=None
        Torch threads during fit and predict (None means 1, -1 all cores); the caller's
        setting is restored afterwards.
    random_state : int, numpy Generator or None, default=None
    verbose : int, default=0
        Log a summary of the search at INFO level on the ``featsmith`` logger.

    Missing values: NaN and +/-inf in numeric columns are imputed with the training median and
    a missing-indicator column is added for each column that had missing values in training.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    model_ : torch.nn.Module
        The best candidate's concrete module (a :class:`TabularHeadSpace` instance, float64, eval mode).
    best_architecture_ : Architecture
        Its architecture: a hashable ``dict`` of plain values.
    best_validation_loss_ : float
    search_history_ : pandas.DataFrame
        One row per evaluated candidate: candidate, round, status, val_loss, epochs, seconds,
        architecture, best.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
"""


class NASHeadClassifier(ClassifierMixin, _NASHeadBase):
    __doc__ = (
        """A neural-network classifier whose architecture is searched on the training data.
"""
        + _PARAMS_DOC
        + _ATTRS_DOC
        + """    classes_ : ndarray

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = NASHeadClassifier(max_candidates=2, max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape
    (200, 2)
"""
    )

    def fit(self, X, y):
        """Search architectures on (X, y) and keep the best one."""
        self._validate_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        _check_frame_columns(X)
        X, y = validate_data(self, X, y, ensure_all_finite=False, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only 1 class ({self.classes_[0]!r}); a classifier needs at least two classes."
            )
        binary = len(self.classes_) == 2
        y_values = y_enc.astype(np.float32) if binary else y_enc.astype(np.int64)
        self._search(X, y_values, "binary" if binary else "multiclass", 1 if binary else len(self.classes_), y_enc)
        return self

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "model_")
        logits = self._raw_predict(X)
        if len(self.classes_) == 2:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1.0 - p, p])
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class NASHeadRegressor(RegressorMixin, _NASHeadBase):
    __doc__ = (
        """A neural-network regressor whose architecture is searched on the training data.

    The target is standardised for training (mean and scale of the training rows) and
    predictions are mapped back.
"""
        + _PARAMS_DOC
        + _ATTRS_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    >>> reg = NASHeadRegressor(max_candidates=2, max_epochs=5, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
"""
    )

    def fit(self, X, y):
        """Search architectures on (X, y) and keep the best one."""
        self._validate_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        _check_frame_columns(X)
        X, y = validate_data(
            self, X, y, ensure_all_finite=False, dtype=np.float64, y_numeric=True, ensure_min_samples=2
        )
        y = column_or_1d(y, warn=True).astype(np.float64)
        self.y_mean_ = float(y.mean())
        std = float(y.std())
        self.y_scale_ = std if std > 1e-12 else 1.0
        self._search(X, ((y - self.y_mean_) / self.y_scale_).astype(np.float32), "regression", 1, None)
        return self

    def predict(self, X):
        """Predicted target values."""
        return self._raw_predict(X)[:, 0] * self.y_scale_ + self.y_mean_
