"""Raw columns -> the arrays every operator works on.

Numeric and boolean columns become float64 (infinite values are missing), categorical columns
become int32 codes over the training vocabulary (the code ``len(vocabulary)`` is the shared
"unknown" slot for categories never seen in training), datetimes become float64 seconds since
the epoch and free text stays a polars string Series. The coding is fitted once on the
training rows and stored as plain lists, so it serialises with the :class:`FeaturePlan`.
Rows whose columns changed type after fit are read as in :class:`TableEncoder`.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from featsmith._frame import strings_of, to_strings
from featsmith.featurize._schema import (
    check_predict_types, dtype_class, infer_schema, read_booleans, read_datetimes, read_numbers,
)

logger = logging.getLogger("featsmith")

# Missing categorical values are a category of their own (their rows often behave alike).
NULL_TOKEN = "\x00<missing>"
# An identifier column that repeats this often is a useful group key (user, store, movie).
_ID_AS_KEY_MAX_UNIQUE_RATIO = 0.5


class ColumnCoder:
    """Fitted coding of raw columns into numpy arrays (see the module docstring).

    ``kinds`` maps each used column to ``num``, ``cat``, ``dt`` or ``text``; ``vocab`` holds the
    categories of every ``cat`` column in code order; ``missing`` lists the columns that had
    missing values in training; ``classes`` holds each column's dtype class at fit
    (:func:`~featsmith.featurize._schema.dtype_class`), to recognise type changes at predict.
    """

    def __init__(self, kinds=None, vocab=None, missing=None, dtypes=None, classes=None):
        self.kinds = dict(kinds or {})
        self.vocab = {k: list(v) for k, v in (vocab or {}).items()}
        self.missing = list(missing or [])
        self.dtypes = dict(dtypes or {})
        self.classes = dict(classes or {})

    @classmethod
    def fit(cls, df: pl.DataFrame, overrides=None) -> "ColumnCoder":
        schema = infer_schema(df, overrides)
        kinds, vocab, missing, dtypes, classes = {}, {}, [], {}, {}
        n = max(df.height, 1)
        for name, kind in schema.items():
            col = df.get_column(name)
            if kind == "id":
                ratio = col.n_unique() / n
                if ratio > _ID_AS_KEY_MAX_UNIQUE_RATIO:
                    continue
                kind = "categorical"
            if kind == "drop":
                continue
            if kind in ("numeric", "boolean"):
                kinds[name] = "num"
            elif kind == "categorical":
                kinds[name] = "cat"
                counts = (
                    strings_of(col)
                    .fill_null(NULL_TOKEN)
                    .value_counts(sort=True, name="n")
                    .sort(["n", name], descending=[True, False])
                )
                vocab[name] = counts.get_column(name).to_list()
            elif kind == "datetime":
                kinds[name] = "dt"
            else:
                kinds[name] = "text"
            dtypes[name] = "bool" if kind == "boolean" else ("temporal" if col.dtype.is_temporal() else "other")
            classes[name] = dtype_class(col.dtype)
            miss = col.null_count() > 0
            if col.dtype.is_float():
                miss = miss or bool((~col.is_finite()).any())
            if miss:
                missing.append(name)
        return cls(kinds, vocab, missing, dtypes, classes)

    def card(self, name: str) -> int:
        return len(self.vocab[name])

    def subset(self, names) -> "ColumnCoder":
        names = [n for n in self.kinds if n in set(names)]
        return ColumnCoder(
            {n: self.kinds[n] for n in names},
            {n: self.vocab[n] for n in names if n in self.vocab},
            [n for n in self.missing if n in names],
            {n: self.dtypes.get(n, "other") for n in names},
            {n: self.classes[n] for n in names if n in self.classes},
        )

    def check_columns(self, df: pl.DataFrame, what="X") -> None:
        missing = [c for c in self.kinds if c not in df.columns]
        if missing:
            raise ValueError(
                f"{what} is missing column(s) {missing} that were present at fit time; pass every "
                "training column (extra or reordered columns are fine)."
            )

    def encode(self, df: pl.DataFrame) -> dict:
        """Return ``{column: array}`` for every coded column of ``df``."""
        self.check_columns(df)
        check_predict_types(df, {n: self._schema_kind(n) for n in self.kinds}, self.classes)
        exprs = []
        schema = df.schema  # built anew on every access: once, not once per column
        for name, kind in self.kinds.items():
            col = pl.col(name)
            if kind == "num":
                read = read_booleans if self.dtypes.get(name) == "bool" else read_numbers
                exprs.append(read(col, schema[name]).alias(name))
            elif kind == "cat":
                vocab = self.vocab[name]
                exprs.append(
                    to_strings(col, schema[name])
                    .fill_null(NULL_TOKEN)
                    .replace_strict(vocab, list(range(len(vocab))), default=len(vocab), return_dtype=pl.Int32)
                    .alias(name)
                )
            elif kind == "dt":
                ts = pl.lit(read_datetimes(df.get_column(name)))
                exprs.append((ts.dt.epoch("us").cast(pl.Float64) / 1e6).alias(name))
            else:
                exprs.append(to_strings(col, schema[name]).alias(name))
        coded = df.select(exprs)
        out = {}
        for name, kind in self.kinds.items():
            s = coded.get_column(name)
            if kind == "text":
                out[name] = s
            elif kind == "cat":
                out[name] = s.to_numpy().astype(np.int32, copy=False)
            else:
                out[name] = s.to_numpy().astype(np.float64, copy=False)
        return out

    def _schema_kind(self, name: str) -> str:
        kind = self.kinds[name]
        if kind == "num":
            return "boolean" if self.dtypes.get(name) == "bool" else "numeric"
        return {"cat": "categorical", "dt": "datetime"}.get(kind, kind)

    def to_dict(self) -> dict:
        return {"kinds": self.kinds, "vocab": self.vocab, "missing": self.missing, "dtypes": self.dtypes,
                "classes": self.classes}

    @classmethod
    def from_dict(cls, d: dict) -> "ColumnCoder":
        return cls(d["kinds"], d["vocab"], d["missing"], d.get("dtypes"), d.get("classes"))


def take_rows(base: dict, rows) -> dict:
    """Restrict coded columns to ``rows`` (``None`` keeps all)."""
    if rows is None:
        return base
    rows = np.asarray(rows)
    return {k: (v.gather(rows) if isinstance(v, pl.Series) else v[rows]) for k, v in base.items()}
