"""hypothesis strategies for the messy tables users bring, built as pandas, polars or pyarrow.

A generated table is a :class:`MessyTable`: named columns of one *kind* each (see ``KINDS``),
a target, and the frame library to build it in. ``tables()`` draws one; ``MessyTable.frame()``
builds it. The kinds follow what real files hold: numbers with NaN and +-inf, nullable
integers, booleans, low- and high-cardinality strings (pandas' ``string`` dtype too), object
columns mixing numbers, strings and None, pandas categoricals with unused levels, naive and timezone-aware datetimes,
durations, constant and all-missing columns, very long strings; column names with unicode and
whitespace; duplicated rows; targets with only 1-3 rows for some classes.

Examples
--------
>>> from hypothesis import given
>>> @given(tables())
... def test(table):
...     X, y = table.frame(), table.y
"""

from __future__ import annotations

import datetime
import logging
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st

LIBRARIES = ("pandas", "polars", "pyarrow")
KINDS = (
    "float", "int_nulls", "bool", "low_card", "high_card", "mixed_object", "categorical",
    "datetime", "datetime_tz", "duration", "constant", "all_missing", "long_text", "string_dtype",
)
# Names a user's CSV header gives: unicode, inner and outer whitespace, symbols.
_NAME_PARTS = ("x", "Größe", "価格", "col a", " pad ", "tab\tname", "ñ-ü", "émoji 🙂", "a.b", "1st")
_WORDS = ("red", "green", "blue", " spaced ", "Ünïcode", "", "日本", "a,b", 'quo"te')
_EPOCH = datetime.datetime(2020, 1, 1)
# More warnings than this from one fit or predict is a storm (one per problem column is fine).
MAX_WARNINGS = 3


@dataclass
class MessyTable:
    """Columns as Python lists (None is missing), their kinds, the target and the library."""

    columns: dict
    kinds: dict
    y: np.ndarray
    library: str = "pandas"
    task: str = "classification"
    unused_levels: dict = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.y)

    def frame(self, rows=None, library=None):
        """The table (``rows``: positions to keep) in ``library`` (default: its own)."""
        library = library or self.library
        cols = {n: (v if rows is None else [v[i] for i in rows]) for n, v in self.columns.items()}
        return {"pandas": self._pandas, "polars": self._polars, "pyarrow": self._arrow}[library](cols)

    def _pandas(self, cols):
        out = {}
        for name, values in cols.items():
            kind = self.kinds[name]
            if kind == "int_nulls":
                out[name] = pd.array(values, dtype="Int64")
            elif kind == "categorical":
                levels = sorted({v for v in self.columns[name] if v is not None}) + self.unused_levels.get(name, [])
                out[name] = pd.Categorical(values, categories=levels)
            elif kind in ("mixed_object", "all_missing"):
                out[name] = pd.Series(values, dtype=object)
            elif kind == "datetime_tz":
                out[name] = pd.to_datetime(pd.Series(values, dtype=object)).dt.tz_localize("Asia/Kolkata")
            elif kind == "float":
                out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            elif kind == "string_dtype":  # pandas' own string dtype, missing as pd.NA
                out[name] = pd.array(values, dtype="string")
            else:
                out[name] = pd.Series(values)
        return pd.DataFrame(out)

    def _polars(self, cols):
        series = []
        for name, values in cols.items():
            kind = self.kinds[name]
            if kind == "mixed_object":
                series.append(pl.Series(name, values, dtype=pl.Object))
            elif kind == "categorical":
                series.append(pl.Series(name, values, dtype=pl.Categorical))
            elif kind == "datetime_tz":
                series.append(pl.Series(name, values, dtype=pl.Datetime("us")).dt.replace_time_zone("Asia/Kolkata"))
            elif kind == "all_missing":
                series.append(pl.Series(name, values, dtype=pl.Float64))
            elif kind == "float":
                series.append(pl.Series(name, [float("nan") if v is None else v for v in values], dtype=pl.Float64))
            else:
                series.append(pl.Series(name, values, strict=False))
        return pl.DataFrame(series)

    def _arrow(self, cols):
        arrays, names = [], []
        for name, values in cols.items():
            kind = self.kinds[name]
            if kind == "mixed_object":  # Arrow holds one type per column: what a CSV reader gives
                arr = pa.array([None if v is None else str(v) for v in values], type=pa.string())
            elif kind == "categorical":
                arr = pa.array(values, type=pa.string()).dictionary_encode()
            elif kind == "datetime_tz":
                # Wall-clock times in that zone, as pandas' tz_localize reads them.
                arr = pl.Series(values, dtype=pl.Datetime("us")).dt.replace_time_zone("Asia/Kolkata").to_arrow()
            elif kind == "all_missing":
                arr = pa.nulls(len(values), type=pa.float64())
            else:
                arr = pa.array(values)
            arrays.append(arr)
            names.append(name)
        return pa.Table.from_arrays(arrays, names=names)


def _column(kind: str, n: int, rng: np.random.Generator) -> list:
    """``n`` values of one kind (None is missing), drawn from ``rng``."""
    missing = rng.random(n) < rng.choice([0.0, 0.1, 0.5])
    if kind == "float":
        v = rng.normal(size=n) * 10.0 ** rng.choice([-300, -3, 0, 2, 5, 300])  # sensor units to overflow
        special = rng.random(n)
        v[special < 0.08] = np.inf
        v[(special >= 0.08) & (special < 0.14)] = -np.inf
        values = v.tolist()
    elif kind == "int_nulls":
        values = rng.integers(-5, 50, n).tolist()
    elif kind == "bool":
        values = (rng.random(n) < 0.5).tolist()
    elif kind in ("low_card", "categorical", "string_dtype"):
        values = [str(w) for w in rng.choice(_WORDS[:4], n)]
    elif kind == "high_card":
        values = [f"id-{i}-{w}" for i, w in zip(rng.permutation(n * 3)[:n], rng.choice(_WORDS, n))]
    elif kind == "mixed_object":
        pool = [1, 2, "x", "y", 3.0, "3", 2.5, True, "Ünï"]
        values = [pool[i] for i in rng.integers(0, len(pool), n)]
    elif kind in ("datetime", "datetime_tz"):
        values = [_EPOCH + datetime.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 800, n)]
    elif kind == "duration":
        values = [datetime.timedelta(minutes=int(m)) for m in rng.integers(0, 10_000, n)]
    elif kind == "constant":
        values = [7.0] * n
    elif kind == "all_missing":
        return [None] * n
    elif kind == "long_text":
        values = [" ".join(rng.choice(_WORDS[:5], int(k))) for k in rng.integers(200, 2000, n)]
    else:
        raise ValueError(f"unknown column kind {kind!r}")
    if kind != "constant":
        values = [None if m else v for v, m in zip(values, missing)]
    return values


# Class labels as files spell them: strings, integer codes, booleans.
_LABELS = {"str": ["no", "yes", "maybe"], "int": [0, 1, 2], "bool": [False, True]}


def _target(task: str, n_rows: int, rng: np.random.Generator, tiny_classes: bool, labels: str) -> np.ndarray:
    if task == "regression":
        return rng.normal(size=n_rows) * 3 + 1
    names = np.array(_LABELS[labels])
    if tiny_classes:  # classes of 1-3 rows, like rare labels in a small file
        rare = [min(int(k), max(1, (n_rows - 1) // 2)) for k in rng.integers(1, 4, size=len(names) - 1)]
        return rng.permutation(np.repeat(names, [n_rows - sum(rare)] + rare))
    return names[:2][rng.permutation(np.arange(n_rows) % 2)]


@st.composite
def tables(draw, libraries=LIBRARIES, kinds=KINDS, min_rows=12, max_rows=60, max_columns=5,
           tasks=("classification", "regression")):
    """A :class:`MessyTable` with 1..``max_columns`` columns of ``kinds`` in one of ``libraries``.

    The values come from a numpy generator seeded by hypothesis (so shrinking works on the
    seed, the kinds, the names and the sizes), which keeps the strategy cheap for wide tables.
    """
    library = draw(st.sampled_from(libraries))
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=max_columns))
    n_rows = draw(st.integers(min_rows, max_rows))
    task = draw(st.sampled_from(tasks))
    tiny = task == "classification" and draw(st.booleans())
    labels = draw(st.sampled_from(sorted(_LABELS)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    names = draw(st.lists(st.sampled_from(_NAME_PARTS), min_size=len(chosen), max_size=len(chosen), unique=True))
    columns, kinds_of, unused = {}, {}, {}
    for name, kind in zip(names, chosen):
        columns[name] = _column(kind, n_rows, rng)
        kinds_of[name] = kind
        if kind == "categorical":
            unused[name] = ["never", "seen"]
    y = _target(task, n_rows, rng, tiny, labels)
    if draw(st.booleans()):  # duplicated rows, target included
        dup = rng.integers(0, n_rows, size=max(1, n_rows // 4))
        columns = {k: v + [v[i] for i in dup] for k, v in columns.items()}
        y = np.concatenate([y, y[dup]])
    return MessyTable(columns, kinds_of, y, library, task, unused)


def drift_column(table: MessyTable, rng: np.random.Generator):
    """A copy of ``table`` whose first int or float column arrives as another type (int at fit:
    float or string now; float at fit: string now), as the README's type drift rule covers; None
    when it has no such column."""
    for name, kind in table.kinds.items():
        if kind in ("int_nulls", "float"):
            values = table.columns[name]
            if kind == "int_nulls" and rng.random() < 0.5:
                new = [None if v is None else float(v) + 0.5 for v in values]
                new_kind = "float"
            else:
                new = [None if v is None else str(v) for v in values]
                new_kind = "low_card"
            columns = dict(table.columns, **{name: new})
            kinds = dict(table.kinds, **{name: new_kind})
            return name, MessyTable(columns, kinds, table.y, table.library, table.task, table.unused_levels)
    return None


def with_unseen_categories(table: MessyTable) -> MessyTable:
    """A copy whose string-like columns hold values never seen in training."""
    columns = {}
    for name, values in table.columns.items():
        if table.kinds[name] in ("low_card", "high_card", "categorical", "mixed_object", "string_dtype"):
            values = [f"unseen-{i % 3}" if i % 2 == 0 else v for i, v in enumerate(values)]
        columns[name] = values
    return MessyTable(columns, dict(table.kinds), table.y, table.library, table.task, table.unused_levels)


def reorder_with_extra(X):
    """``X`` with its columns reversed and an extra column it did not have at fit."""
    if isinstance(X, pd.DataFrame):
        return X[X.columns[::-1]].assign(**{"extra column": 1.0})
    if isinstance(X, pl.DataFrame):
        return X.select(X.columns[::-1]).with_columns(pl.lit(1.0).alias("extra column"))
    names = X.column_names[::-1]
    out = X.select(names)
    return out.append_column("extra column", pa.array(np.ones(out.num_rows)))


# scikit-learn's checks that fit twice and compare the predictions: under a wall-clock budget
# that binds, the two fits differ (the deep profile saw each of these fail at 1-2 s budgets).
TWO_FIT_CHECKS = (
    "check_fit_idempotent", "check_supervised_y_2d", "check_regressors_int",
    "check_regressor_data_not_an_array", "check_classifier_data_not_an_array",
)


def run_estimator_check(check, estimator, ci_checks) -> None:
    """Run one scikit-learn estimator check at a tiny budget: every check with
    ``HYPOTHESIS_PROFILE=deep``, only those named in ``ci_checks`` otherwise (the rest skip)."""
    name = check.func.__name__ if hasattr(check, "func") else check.__name__
    if os.environ.get("HYPOTHESIS_PROFILE") != "deep" and name not in ci_checks:
        pytest.skip("every check at a tiny budget runs with HYPOTHESIS_PROFILE=deep")
    check(estimator)


def fit_examples(share: int = 10) -> int:
    """Examples for a property that fits models: a ``share`` of the profile's ``max_examples``."""
    return max(2, settings().max_examples // share)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def outcome(fn, table: MessyTable):
    """Run ``fn()`` as the README promises for messy input: it works, or it raises a
    ``ValueError``/``TypeError`` naming a column of ``table`` (or the target) and the fix.

    Returns ``(result, None)`` or ``(None, error)``; any other exception propagates, and more
    than ``MAX_WARNINGS`` warnings (Python warnings plus the ``featsmith`` logger's) fail.
    """
    logger = logging.getLogger("featsmith")
    handler = _Records()
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result, error = fn(), None
            except (ValueError, TypeError) as exc:
                result, error = None, exc
    finally:
        logger.removeHandler(handler)
    messages = [str(w.message)[:120] for w in caught] + [r.getMessage()[:120] for r in handler.records]
    assert len(messages) <= MAX_WARNINGS, f"{len(messages)} warnings: {messages[:5]}"
    event("raised " + type(error).__name__ if error is not None else "worked")
    if error is not None:
        text = str(error)
        names = [repr(n) for n in table.columns] + ["y ", "target", "class"]
        assert any(n in text for n in names), f"error names no column: {text}"
        assert ";" in text or ". " in text, f"error gives no fix: {text}"
    return result, error


def assert_probabilities(proba, n_rows: int, classes) -> None:
    """Finite probabilities, one row per input row, one column per class, rows summing to 1."""
    proba = np.asarray(proba)
    assert proba.shape == (n_rows, len(classes)), (proba.shape, n_rows, len(classes))
    assert np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
