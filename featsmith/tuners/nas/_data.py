"""Numeric preprocessing for the tabular head: missing values, scaling, category codes.

Everything here is fitted on the rows given to ``fit`` and uses no target, so fitting it on
all training rows (including the rows later held out for early stopping) leaks nothing.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import ndtri
from sklearn.preprocessing import QuantileTransformer

from featsmith.tuners.nas._space import SCALERS

# Scaled values beyond this are clipped: a test row far outside the training range must not
# push a ReLU network into wild extrapolation.
_CLIP = 8.0
# scikit-learn's QuantileTransformer bound (sklearn.preprocessing._data.BOUNDS_THRESHOLD).
_BOUNDS = 1e-7


def quantile_normal(qt: QuantileTransformer, X: np.ndarray) -> np.ndarray:
    """``qt.transform(X)`` for a fitted ``QuantileTransformer(output_distribution="normal")``
    and finite ``X``, with one vectorised inverse normal CDF instead of scipy's per-column
    ``norm.ppf``, whose fixed cost was most of the head's predict time on small batches and wide
    tables (85 columns: 14 ms for one row). Same interpolation, bounds and clipping.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.exponential(size=(200, 3))
    >>> qt = QuantileTransformer(n_quantiles=50, output_distribution="normal").fit(X)
    >>> bool(np.allclose(quantile_normal(qt, X), qt.transform(X)))
    True
    """
    out = np.empty(X.shape, dtype=np.float64)
    for j in range(X.shape[1]):
        out[:, j] = _quantile_column(qt, j, X[:, j])
    return _normal(out)


def _repeated_quantiles(qt, j):
    """Column ``j``'s quantiles that occur more than once (sorted, each once)."""
    qj = qt.quantiles_[:, j]
    return np.unique(qj[1:][qj[1:] == qj[:-1]])


def _quantile_column(qt, j, col, ties=True):
    """Column ``j``'s uniform quantiles of the values ``col`` (before the inverse normal CDF);
    ``ties=False`` when no value of ``col`` is a repeated quantile."""
    qj, ref = qt.quantiles_[:, j], qt.references_
    v = np.interp(col, qj, ref)
    # scikit-learn averages both interpolation directions so that a value equal to a repeated
    # quantile (ties) maps to the middle of its run. Elsewhere both directions give the same
    # value (to the last bit or two), so only those values take the second interpolation:
    # it was half of the scaling's time on continuous columns.
    repeated = _repeated_quantiles(qt, j) if ties else ()
    if len(repeated):
        tie = repeated[np.minimum(np.searchsorted(repeated, col), len(repeated) - 1)] == col
        if tie.any():
            c = col[tie]
            v[tie] = 0.5 * (v[tie] - np.interp(-c, -qj[::-1], -ref[::-1]))
    v[col + _BOUNDS > qj[-1]] = 1.0
    v[col - _BOUNDS < qj[0]] = 0.0
    return v


def _normal(u):
    limit = _BOUNDS - np.spacing(1)
    return np.clip(ndtri(u), ndtri(limit), ndtri(1 - limit))


class QuantileLookup:
    """The quantile-normal scaling of :func:`quantile_normal`, with the results for the values
    most cells hold computed once at fit: every training value of a column with few distinct
    ones (codes, counts, ratings), and the repeated quantiles (ties) of the others. Those cells
    are a table lookup instead of two interpolations and an inverse normal CDF (4096 rows x 85
    coded columns: 14 ms -> 2 ms); the rest take the general path, so the result is the same as
    :func:`quantile_normal`'s.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.integers(0, 5, 300), rng.normal(size=300)]).astype(float)
    >>> qt = QuantileTransformer(n_quantiles=100, output_distribution="normal").fit(X)
    >>> lookup = QuantileLookup(qt, X)
    >>> Z = np.vstack([X, [[2.5, 0.0]]])
    >>> bool(np.array_equal(lookup.transform(Z), quantile_normal(qt, Z)))
    True
    """

    max_values = 256

    def __init__(self, qt, X):
        self.qt = qt
        self.tables, self.tie_tables = [], []
        positional = []
        for j in range(X.shape[1]):
            values = np.unique(X[:, j])
            if len(values) > self.max_values:
                self.tables.append(None)
                ties = _repeated_quantiles(qt, j)
                self.tie_tables.append((ties, _normal(_quantile_column(qt, j, ties))) if len(ties) else None)
                continue
            scaled = _normal(_quantile_column(qt, j, values))
            self.tables.append((values, scaled))
            self.tie_tables.append(None)
            if _integers_within(values):
                positional.append((j, values, scaled))
        # Integer-valued tables also by position, all columns together (4096 rows x 85 coded
        # columns: 8.6 -> 4.8 ms; one row: 0.33 -> 0.03 ms). NaN where a column's value is not
        # in its table: those values take the general path.
        self.positional_columns = np.array([j for j, _, _ in positional], dtype=np.intp)
        self.positional = _PositionalTables([(values, scaled) for _, values, scaled in positional], np.nan)

    def transform(self, X):
        # Column-major, as the caller's numeric columns are (``X[:, columns]`` is): each column
        # is read and written contiguously, not one value per cache line.
        out = np.empty(X.shape, dtype=np.float64, order="F")
        done = np.zeros(X.shape[1], dtype=bool)
        cols = getattr(self, "positional_columns", None)  # absent from heads pickled before it
        if cols is not None and len(cols):
            done[cols] = True
            missed = np.empty((X.shape[0], len(cols)), dtype=bool)
            for rows, scaled, found in self.positional.blocks(X, cols):
                missed[rows] = ~found | np.isnan(scaled)
                out[rows, cols] = scaled
            for k in np.flatnonzero(missed.any(axis=0)):  # values the column never took
                j, m = cols[k], missed[:, k]
                out[m, j] = _normal(_quantile_column(self.qt, j, X[m, j]))
        # A head pickled before the tie tables: a column without one may still have ties.
        ties_unknown = getattr(self, "tie_tables", None) is None
        tie_tables = [None] * len(self.tables) if ties_unknown else self.tie_tables
        for j, (table, ties) in enumerate(zip(self.tables, tie_tables)):
            if done[j]:
                continue
            col = X[:, j]
            if table is None and ties is None:
                out[:, j] = _normal(_quantile_column(self.qt, j, col, ties=ties_unknown))
                continue
            values, scaled = table if table is not None else ties
            pos = np.minimum(np.searchsorted(values, col), len(values) - 1)
            out[:, j] = scaled[pos]
            rest = values[pos] != col
            if rest.any():
                # With the ties looked up, the rest of a continuous column needs one interpolation.
                out[rest, j] = _normal(_quantile_column(self.qt, j, col[rest], ties=table is not None))
        return out


# Tables of integer values spanning at most this many integers are laid out by position ...
_MAX_SPAN = 4096
# ... and read in blocks of this many rows: whole-batch temporaries (megabytes each) cost more
# in fresh memory pages than the arithmetic (4096 x 85: 12 ms whole, 4 ms in blocks).
_BLOCK_ROWS = 256


def _integers_within(values, span=_MAX_SPAN) -> bool:
    """Whether sorted ``values`` are integers spanning fewer than ``span`` integers."""
    return bool(len(values)) and np.array_equal(values, np.round(values)) and values[-1] - values[0] < span


class _PositionalTables:
    """Tables ``(values, results)`` of sorted integer values, one per column, laid out by
    position in one array, so that every column's cells are looked up together by a
    subtraction instead of a binary search per column: the result for value ``v`` of table
    ``i`` at ``offsets[i] + v - below[i]``, ``missing`` at the integers a table lacks and at
    both ends of its slice (where values beyond its range clip to)."""

    def __init__(self, tables, missing):
        self.below = np.array([values[0] - 1 for values, _ in tables], dtype=np.float64)
        sizes = np.array([int(values[-1] - values[0]) + 3 for values, _ in tables], dtype=np.intp)
        self.last = (sizes - 1).astype(np.float64)
        self.offsets = (np.cumsum(sizes) - sizes).astype(np.intp)
        self.flat = np.full(int(sizes.sum()), missing, dtype=np.result_type(missing, *(r for _, r in tables)))
        for (values, results), low, offset in zip(tables, self.below, self.offsets):
            self.flat[offset + (values - low).astype(np.intp)] = results

    def blocks(self, X, cols):
        """For each block of rows of ``X[:, cols]`` (table ``i`` for column ``cols[i]``):
        ``(rows, results, found)``, ``found`` False where a cell is not finite, not an integer
        or beyond its table's range (its result is then ``missing``; a value inside the range
        the table lacks gets ``missing`` too, with ``found`` True)."""
        for start in range(0, X.shape[0], _BLOCK_ROWS):
            rows = slice(start, start + _BLOCK_ROWS)
            pos = np.subtract(X[rows, cols], self.below)
            finite = np.isfinite(pos)
            if not finite.all():
                pos[~finite] = 0.0
            np.clip(pos, 0.0, self.last, out=pos)
            idx = pos.astype(np.intp)
            found = (idx == pos) & finite
            idx += self.offsets
            yield rows, self.flat.take(idx), found


class TabularPreprocessor:
    """Turn a float matrix into the head's inputs.

    * NaN and +/-inf count as missing. Numeric columns are imputed with the training median
      and, when they had missing values in training, get a 0/1 missing-indicator column.
    * Numeric columns are scaled both ways the search can choose (``SCALERS``): standard
      (mean 0, variance 1) and quantile (to a normal distribution).
    * Categorical columns map each training value to a code ``1..cardinality``; missing and
      values not seen in training map to 0, the "unknown" category.

    Parameters
    ----------
    categorical : sequence of int
        Indices of the categorical columns.
    random_state : int, default=0
        Seed of the quantile transformer's row subsample.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 3.0], [np.nan, 5.0], [2.0, 3.0]])
    >>> prep = TabularPreprocessor([1]).fit(X)
    >>> x_num, x_cat = prep.transform(np.array([[np.inf, 7.0]]))
    >>> x_num.shape, x_cat.tolist()
    ((2, 1, 2), [[0]])
    """

    def __init__(self, categorical=(), random_state=0):
        self.categorical = list(categorical)
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> "TabularPreprocessor":
        X = np.asarray(X, dtype=np.float64)
        n_cols = X.shape[1]
        cat = set(self.categorical)
        self.numeric_ = [j for j in range(n_cols) if j not in cat]
        num = np.where(np.isfinite(X[:, self.numeric_]), X[:, self.numeric_], np.nan)
        missing = np.isnan(num)
        with warnings.catch_warnings():
            # An all-missing column's median is NaN (imputed as 0 below); nanmedian says so
            # with a RuntimeWarning that errstate does not silence.
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(num, axis=0) if num.shape[0] else np.zeros(num.shape[1])
        self.medians_ = np.where(np.isfinite(med), med, 0.0)
        self.indicators_ = np.flatnonzero(missing.any(axis=0))
        full = self._imputed_in_place(num)
        self.mean_ = full.mean(axis=0) if full.size else np.zeros(full.shape[1])
        # Squares of 1e200-scale values overflow: the spread is taken in units of the column's
        # largest magnitude (an inf scale would turn the column into zeros).
        peak = np.abs(full).max(axis=0) if full.size else np.ones(full.shape[1])
        peak = np.where(peak > 0, peak, 1.0)
        std = (full / peak).std(axis=0) * peak if full.size else np.ones(full.shape[1])
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self.quantile_ = self.quantile_lookup_ = None
        if full.shape[1]:
            self.quantile_ = QuantileTransformer(
                n_quantiles=max(2, min(1000, full.shape[0])),
                output_distribution="normal",
                subsample=100_000,
                random_state=self.random_state,
            ).fit(full)
            self.quantile_lookup_ = QuantileLookup(self.quantile_, full)
        self.vocabularies_ = []
        for j in self.categorical:
            col = X[:, j]
            self.vocabularies_.append(np.unique(col[np.isfinite(col)]))
        self.cardinalities_ = [len(v) for v in self.vocabularies_]
        self.codes_by_position_ = _CodesByPosition(self.vocabularies_)
        return self

    def _imputed_in_place(self, num):
        """``num`` (numeric columns, a copy the caller owns) with its non-finite values replaced
        by the training medians in place, and the missing-indicator columns appended (in
        place: full-size temporaries were most of the quantile scaling's time outside the
        lookup on complete tables)."""
        bad = ~np.isfinite(num)
        if bad.any():
            np.copyto(num, np.broadcast_to(self.medians_, num.shape), where=bad)
        if not len(self.indicators_):
            return num
        k = num.shape[1]
        out = np.empty((num.shape[0], k + len(self.indicators_)), order="F")
        out[:, :k] = num
        out[:, k:] = bad[:, self.indicators_]
        return out

    @property
    def n_numeric(self) -> int:
        return len(self.numeric_) + len(self.indicators_)

    def transform(self, X: np.ndarray):
        """Return ``(x_num, x_cat)``: float32 ``(len(SCALERS), n, n_numeric)`` and int64 ``(n, n_cat)``."""
        X = np.asarray(X, dtype=np.float64)
        x_num = np.stack([self._scaled(X, scaler) for scaler in SCALERS])
        return x_num, self._codes(X)

    def transform_one(self, X: np.ndarray, scaler: str):
        """``(x_num, x_cat)`` with only the ``scaler`` variant: float32 ``(n, n_numeric)``, equal
        to ``transform(X)[0][SCALERS.index(scaler)]``. A fitted head uses one scaling, and the
        other (the quantile one above all) is most of the predict time on wide tables.

        Examples
        --------
        >>> X = np.array([[1.0, 3.0], [np.nan, 5.0], [2.0, 3.0]])
        >>> prep = TabularPreprocessor([1]).fit(X)
        >>> bool(np.array_equal(prep.transform_one(X, "standard")[0], prep.transform(X)[0][0]))
        True
        """
        if scaler not in SCALERS:
            raise ValueError(f"scaler={scaler!r} must be one of {list(SCALERS)}.")
        X = np.asarray(X, dtype=np.float64)
        return self._scaled(X, scaler), self._codes(X)

    def _scaled(self, X, scaler):
        num = X[:, self.numeric_]
        if scaler == "standard":
            return self._standard(num)
        full = self._imputed_in_place(num)
        lookup = getattr(self, "quantile_lookup_", None)  # absent from heads pickled before it
        if self.quantile_ is None:
            v = full
        elif lookup is not None and lookup.qt is self.quantile_:
            v = lookup.transform(full)
        else:
            v = quantile_normal(self.quantile_, full)
        # v is this call's own array. Column-major, as computed: the head's first layer reads
        # either layout, and a row-major copy here cost more than it saved there.
        return np.clip(v, -_CLIP, _CLIP, out=v).astype(np.float32)

    def _standard(self, num):
        """Imputed, indicator columns added and standardised in one preallocated array: the
        same float64 operations on the same values as imputing first (so the same result),
        without the temporaries that made it most of a small head's predict time."""
        k, bad = num.shape[1], ~np.isfinite(num)
        mean, scale = self.mean_, self.scale_
        # Column-major like ``num`` (``X[:, columns]`` is): no operation reads across layouts.
        out = np.empty((num.shape[0], k + len(self.indicators_)), order="F")
        np.divide(np.subtract(num, mean[:k], out=out[:, :k]), scale[:k], out=out[:, :k])
        # A missing value's scaled value is its median's.
        np.copyto(out[:, :k], ((self.medians_ - mean[:k]) / scale[:k])[None, :], where=bad)
        if len(self.indicators_):
            out[:, k:] = (bad[:, self.indicators_] - mean[k:]) / scale[k:]
        return np.clip(out, -_CLIP, _CLIP, out=out).astype(np.float32)

    def _codes(self, X):
        x_cat = np.zeros((X.shape[0], len(self.categorical)), dtype=np.int64)
        by_position = getattr(self, "codes_by_position_", None)  # absent from heads pickled before it
        done = by_position.fill(X, self.categorical, x_cat) if by_position is not None else ()
        for i, (j, vocab) in enumerate(zip(self.categorical, self.vocabularies_)):
            col = X[:, j]
            if len(vocab) == 0 or i in done:
                continue
            pos = np.clip(np.searchsorted(vocab, col), 0, len(vocab) - 1)
            known = np.isfinite(col) & (vocab[pos] == col)
            x_cat[:, i] = np.where(known, pos + 1, 0)
        return x_cat


class _CodesByPosition:
    """Category codes of the vocabularies of integers (spanning fewer than ``_MAX_SPAN``), found
    together by position instead of a binary search per column: 40 coded columns of one row
    took 0.36 ms, most of a small head's predict."""

    def __init__(self, vocabularies):
        picked = [(i, v) for i, v in enumerate(vocabularies) if _integers_within(v)]
        self.columns = [i for i, _ in picked]
        self.done = frozenset(self.columns)
        # Code 0 (unknown) where a vocabulary lacks the value.
        self.tables = _PositionalTables([(v, np.arange(1, len(v) + 1)) for _, v in picked], 0)

    def fill(self, X, categorical, x_cat):
        """Write the codes of its columns into ``x_cat``; return the indices it wrote."""
        if not self.columns:
            return self.done
        cols = np.asarray(categorical, dtype=np.intp)[self.columns]
        for rows, codes, found in self.tables.blocks(X, cols):
            codes[~found] = 0
            x_cat[rows, self.columns] = codes
        return self.done
