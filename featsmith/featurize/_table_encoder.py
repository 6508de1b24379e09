"""The first feature step: typed raw columns -> one numeric matrix a GBDT can use directly."""

from __future__ import annotations

import copy
import logging

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from featsmith._frame import strings_of, to_strings
from featsmith._validation import check_columns_present, check_frame, check_n_features
from featsmith.featurize._schema import (
    KINDS,
    check_predict_types,
    dtype_class,
    infer_schema,
    read_booleans,
    read_datetimes,
    read_numbers,
)

logger = logging.getLogger("featsmith")


class TableEncoder(TransformerMixin, BaseEstimator):
    """Turn a raw table into numeric features: typed columns, native categorical codes,
    frequency encodings, datetime parts, text statistics and missing indicators.

    Categorical columns become integer codes (most frequent category = 0) that LightGBM
    treats natively (their positions are in ``categorical_features_``). The 255 most frequent
    categories, and every other category seen in at least ``min_frequency`` training rows,
    keep a code of their own, however many there are: a column with thousands of levels keeps
    them all, as LightGBM on pandas categoricals would. Rarer categories beyond the first 255
    (and those beyond ``max_categories``, when set) are grouped by how
    often they occur, one code per band of counts (1, 2-3, 4-7, 8-15, ...), so a category seen
    once shares its code with the other single-row categories rather than becoming missing.
    Categories never seen in training become missing (NaN), which LightGBM routes like any
    missing value. Their frequency encoding (``freq(col)``, the training share of the
    category) is 0 for unseen categories.
    Infinite numbers are treated as missing. Identifier columns and columns that are all
    missing or constant in training are left out (see ``schema_``).

    Object columns that mix numbers, strings and None are categorical (each value compared as
    its string: ``3``, ``3.0`` and ``"3"`` are one category). A column whose type changes after
    fit is read as its fit-time kind: numbers or booleans arriving as strings are parsed (the
    values that do not parse are missing, with one logged warning), categories arriving as
    numbers are compared as strings; types the kind cannot read (dates in a numeric column,
    numbers in a datetime column) raise a ``ValueError`` naming the column.

    Parameters
    ----------
    schema : dict, optional
        ``{column: kind}`` overrides for :func:`infer_schema`.
    max_categories : int, default=None
        Most categories with a code of their own per column (the most frequent); the rest are
        grouped by frequency like rare ones. ``None`` for no limit.
    min_frequency : int, default=10
        Training rows a category beyond the 255 most frequent needs for a code of its own.
    frequency_encoding : bool, default=True
        Add ``freq(col)`` for categorical columns.
    datetime_parts : bool, default=True
        Add year, month, day, day of week, day of year, hour (when times are not all midnight)
        and the timestamp in seconds for datetime columns.
    missing_indicators : bool, default=True
        Add ``missing(col)`` for every column that had missing values in training.
    text_stats : bool, default=True
        Add ``len(col)`` and ``words(col)`` for free-text columns.

    Attributes
    ----------
    schema_ : dict
        The kind of every input column.
    categories_ : dict
        Categories with a code of their own per categorical column, in code order.
    grouped_categories_ : dict
        Per categorical column, ``{category: code}`` of the categories grouped by frequency
        (their codes follow those of ``categories_``).
    feature_names_in_ : ndarray of str
    feature_names_out_ : list of str
    categorical_features_ : list of int
        Positions of the native categorical codes in the output.
    feature_inputs_ : dict
        Output feature name -> the input column it is computed from.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"city": ["a", "b", "a", None], "x": [1.0, None, 3.0, 4.0]})
    >>> enc = TableEncoder().fit(X)
    >>> enc.get_feature_names_out().tolist()
    ['city', 'freq(city)', 'missing(city)', 'x', 'missing(x)']
    >>> enc.transform(pd.DataFrame({"city": ["zzz"], "x": [2.0]}))[0].tolist()
    [nan, 0.0, 0.0, 2.0, 0.0]
    """

    def __init__(
        self,
        schema=None,
        max_categories=None,
        min_frequency=10,
        frequency_encoding=True,
        datetime_parts=True,
        missing_indicators=True,
        text_stats=True,
    ):
        self.schema = schema
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.frequency_encoding = frequency_encoding
        self.datetime_parts = datetime_parts
        self.missing_indicators = missing_indicators
        self.text_stats = text_stats

    def fit(self, X, y=None):
        for param in ("max_categories", "min_frequency"):
            value = getattr(self, param)
            if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{param}={value!r} must be a positive integer{' or None' if param == 'max_categories' else ''}.")
        df = check_frame(X, estimator_name="TableEncoder")
        self.schema_ = infer_schema(df, self.schema)
        self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        self.n_features_in_ = df.width
        self.input_dtypes_ = dict(df.schema)
        self.categories_ = {}
        self.grouped_categories_ = {}
        self.frequencies_ = {}
        self.has_time_of_day_ = {}
        self.missing_columns_ = []
        n = df.height
        for name, kind in self.schema_.items():
            col = df.get_column(name)
            if kind in ("drop", "id"):
                continue
            if kind == "categorical":
                counts = (
                    strings_of(col)
                    .drop_nulls()
                    .value_counts(sort=True, name="n")
                    .sort(["n", name], descending=[True, False])
                )
                cats = counts.get_column(name).to_list()
                self.categories_[name], self.grouped_categories_[name] = _code_categories(
                    cats, counts.get_column("n").to_numpy(), self.min_frequency, self.max_categories
                )
                self.frequencies_[name] = dict(
                    zip(cats, (counts.get_column("n") / n).to_list())
                )
            elif kind == "datetime":
                ts = read_datetimes(col)
                self.has_time_of_day_[name] = bool(
                    (ts.dt.hour().fill_null(0) + ts.dt.minute().fill_null(0)).max() or 0
                )
            missing = col.null_count() > 0
            if col.dtype.is_float():
                missing = missing or bool(col.is_nan().any())
            if missing:
                self.missing_columns_.append(name)
        self._build_output_spec(df.schema)
        return self

    def _build_output_spec(self, dtypes):
        names, cat_idx, inputs = [], [], {}
        for name, kind in self.schema_.items():
            outs = []
            if kind == "numeric" or kind == "boolean":
                outs.append(name)
            elif kind == "categorical":
                cat_idx.append(len(names))
                outs.append(name)
                if self.frequency_encoding:
                    outs.append(f"freq({name})")
            elif kind == "datetime":
                if self.datetime_parts:
                    parts = ["year", "month", "day", "dayofweek", "dayofyear"]
                    if self.has_time_of_day_[name]:
                        parts.append("hour")
                    outs += [f"{p}({name})" for p in parts]
                outs.append(f"timestamp({name})")
            elif kind == "text" and self.text_stats:
                outs += [f"len({name})", f"words({name})"]
            if self.missing_indicators and name in self.missing_columns_:
                outs.append(f"missing({name})")
            names += outs
            inputs.update({o: name for o in outs})
        self.feature_names_out_ = names
        self.categorical_features_ = cat_idx
        self.feature_inputs_ = inputs

    def subset(self, names) -> "TableEncoder":
        """A copy that outputs only ``names`` (some of :attr:`feature_names_out_`, in their
        order there) and encodes only the input columns they come from; each output is the
        one this encoder gives. A model that reads a few of the encoded columns predicts from
        the copy's output without encoding the rest.

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"city": ["a", "b", "a", None], "x": [1.0, None, 3.0, 4.0]})
        >>> enc = TableEncoder().fit(X).subset(["x", "city"])
        >>> enc.get_feature_names_out().tolist(), enc.categorical_features_
        (['city', 'x'], [0])
        >>> enc.transform(pd.DataFrame({"city": ["zzz"], "x": [2.0]}))[0].tolist()
        [nan, 2.0]
        """
        check_is_fitted(self, "schema_")
        unknown = [n for n in names if n not in self.feature_inputs_]
        if unknown:
            raise ValueError(f"Output(s) {unknown[:5]} are not this encoder's; pick names from get_feature_names_out().")
        wanted = set(names)
        categorical = {self.feature_names_out_[i] for i in self.categorical_features_}
        out = copy.copy(self)
        out.feature_names_out_ = [n for n in self.feature_names_out_ if n in wanted]
        out.categorical_features_ = [i for i, n in enumerate(out.feature_names_out_) if n in categorical]
        out.feature_inputs_ = {n: self.feature_inputs_[n] for n in out.feature_names_out_}
        out._outputs = set(out.feature_names_out_)
        return out

    def columns_read(self) -> list:
        """The input columns :meth:`transform` needs: every column seen at fit (it checks they
        are all there), or for a :meth:`subset` those its outputs come from."""
        check_is_fitted(self, "schema_")
        if getattr(self, "_outputs", None) is None:
            return list(self.feature_names_in_)
        read = set(self.feature_inputs_.values())
        return [c for c in self.feature_names_in_ if c in read]

    def _expressions(self, df: pl.DataFrame):
        dtypes = df.schema
        exprs = []
        outputs = getattr(self, "_outputs", None)  # a subset's outputs; None: all
        read = set(self.columns_read())
        for name, kind in self.schema_.items():
            if name not in read:
                continue
            col = pl.col(name)
            if kind == "numeric":
                exprs.append(read_numbers(col, dtypes[name]).alias(name))
            elif kind == "boolean":
                exprs.append(read_booleans(col, dtypes[name]).alias(name))
            elif kind == "categorical":
                s = to_strings(col, dtypes[name])
                cats = self.categories_[name]
                grouped = getattr(self, "grouped_categories_", {}).get(name, {})
                exprs.append(
                    s.replace_strict(cats + list(grouped), list(range(len(cats))) + list(grouped.values()),
                                     default=None, return_dtype=pl.Float64).alias(name)
                )
                if self.frequency_encoding:
                    freq = self.frequencies_[name]
                    exprs.append(
                        s.replace_strict(list(freq), list(freq.values()), default=0.0, return_dtype=pl.Float64)
                        .alias(f"freq({name})")
                    )
            elif kind == "datetime":
                ts = pl.lit(read_datetimes(df.get_column(name)))
                if self.datetime_parts:
                    exprs += [
                        ts.dt.year().cast(pl.Float64).alias(f"year({name})"),
                        ts.dt.month().cast(pl.Float64).alias(f"month({name})"),
                        ts.dt.day().cast(pl.Float64).alias(f"day({name})"),
                        ts.dt.weekday().cast(pl.Float64).alias(f"dayofweek({name})"),
                        ts.dt.ordinal_day().cast(pl.Float64).alias(f"dayofyear({name})"),
                    ]
                    if self.has_time_of_day_[name]:
                        exprs.append(ts.dt.hour().cast(pl.Float64).alias(f"hour({name})"))
                exprs.append(ts.dt.epoch("s").cast(pl.Float64).alias(f"timestamp({name})"))
            elif kind == "text" and self.text_stats:
                s = to_strings(col, dtypes[name])
                exprs += [
                    s.str.len_chars().cast(pl.Float64).alias(f"len({name})"),
                    s.str.count_matches(r"\S+").cast(pl.Float64).alias(f"words({name})"),
                ]
            if self.missing_indicators and name in self.missing_columns_:
                miss = col.is_null()
                if dtypes[name].is_float():
                    miss = miss | col.is_nan()
                exprs.append(miss.cast(pl.Float64).alias(f"missing({name})"))
        if outputs is not None:
            exprs = [e for e in exprs if e.meta.output_name() in outputs]
        return exprs

    def transform_frame(self, X) -> pl.DataFrame:
        """Like :meth:`transform` but return a polars DataFrame (the internal path)."""
        check_is_fitted(self, "schema_")
        check_n_features(X, self.n_features_in_, estimator_name="TableEncoder")
        df = check_frame(X, estimator_name="TableEncoder", column_names=self.feature_names_in_)
        read = self.columns_read()  # a subset checks only the columns it encodes
        check_columns_present(read, set(df.columns))
        read = set(read)
        used = {c: k for c, k in self.schema_.items() if k not in ("drop", "id") and c in read}
        check_predict_types(df, used, {c: dtype_class(self.input_dtypes_[c]) for c in used})
        exprs = self._expressions(df)
        # Selecting nothing gives a 0x0 frame; a table whose columns were all dropped at fit
        # still has its rows (and transform returns (n_rows, 0)).
        return df.select(exprs) if exprs else df.drop(df.columns)

    def transform(self, X):
        """Encode ``X`` as a float64 array of shape ``(n_rows, len(feature_names_out_))``."""
        out = self.transform_frame(X)
        return out.to_numpy().astype(np.float64, copy=False) if out.width else np.empty((out.height, 0))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "schema_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


# The most frequent categories always keep a code of their own, however rare (LightGBM bins up
# to 255 values of a feature separately anyway); the frequency rule only thins out the long tail.
ALWAYS_CODED = 255


def _code_categories(cats, counts, min_frequency, max_categories):
    """``(kept, grouped)``: the categories (sorted by count, most frequent first) with a code of
    their own, and ``{category: code}`` for the others, one code per power-of-two band of
    counts that occurs, after the kept codes."""
    counts = np.asarray(counts, dtype=np.int64)
    n_kept = max(int(np.searchsorted(-counts, -min_frequency, side="right")), min(ALWAYS_CODED, len(cats)))
    if max_categories is not None:
        n_kept = min(n_kept, max_categories)
    rest = counts[n_kept:]
    if not len(rest):
        return cats, {}
    bands = np.floor(np.log2(rest)).astype(np.int64)
    # Bands that occur, numbered from the most frequent down: dense codes after the kept ones.
    codes = n_kept + np.unique(-bands, return_inverse=True)[1]
    return cats[:n_kept], dict(zip(cats[n_kept:], codes.tolist()))


__all__ = ["TableEncoder", "KINDS"]
